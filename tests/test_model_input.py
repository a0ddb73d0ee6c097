"""Bad input and broken files get errors a person can act on."""
from __future__ import annotations

import shutil
import threading

import numpy as np
import pytest

from models import EmptyTextError, load_model
from models.registry import minilm_folder


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n"])
def test_empty_text_is_a_clear_value_error(minilm, text):
    with pytest.raises(EmptyTextError, match="empty"):
        minilm.trace(text)
    assert issubclass(EmptyTextError, ValueError)


def test_text_of_only_control_characters_is_refused(minilm):
    with pytest.raises(EmptyTextError, match="control"):
        minilm.trace("\x00\x01\x02\u200b")


def test_control_characters_are_cleaned_like_the_reference(minilm, reference_bert):
    _, tokenizer = reference_bert
    text = "tab\there\x07 and\x00 bell"
    trace = minilm.trace(text)
    assert trace.tokens == tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])


def test_ten_thousand_characters_are_truncated_to_512_tokens(minilm):
    text = ("abcdefghi " * 1000)[:10_000]
    trace = minilm.trace(text)
    assert trace.truncated is True
    assert len(trace.tokens) == 512 and trace.attentions.shape[-1] == 512
    assert trace.tokens[0] == "[CLS]" and trace.tokens[-1] == "[SEP]"
    assert trace.n_input_tokens > 512


def test_short_text_is_not_truncated(minilm):
    trace = minilm.trace("short")
    assert trace.truncated is False and trace.n_input_tokens == len(trace.tokens)


def test_offsets_point_at_the_tokens_characters(minilm):
    text = "Fruit flies like a banana."
    trace = minilm.trace(text)
    pieces = [text[a:b].lower() for (a, b), s in zip(trace.offsets, trace.special_mask) if not s]
    assert pieces == [t for t, s in zip(trace.tokens, trace.special_mask) if not s]
    assert trace.special_mask[0] and trace.special_mask[-1]


@pytest.fixture()
def model_copy(tmp_path):
    folder = tmp_path / "minilm"
    shutil.copytree(minilm_folder(), folder)
    return folder


def test_missing_weights_file_is_named(model_copy):
    (model_copy / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        load_model(str(model_copy))


def test_corrupted_weights_file_is_named(model_copy):
    weights = model_copy / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="model.safetensors"):
        load_model(str(model_copy))


def test_garbage_weights_file_is_named(model_copy):
    (model_copy / "model.safetensors").write_bytes(b"this is not a safetensors file")
    with pytest.raises(ValueError, match="model.safetensors"):
        load_model(str(model_copy))


def test_missing_tokenizer_is_named(model_copy):
    (model_copy / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        load_model(str(model_copy))


def test_unknown_model_name_says_what_is_possible():
    with pytest.raises(ValueError, match="minilm"):
        load_model("gpt-17")


def test_eight_threads_share_one_model(minilm):
    sentences = [f"Sentence number {i} is about {w}." for i, w in enumerate(
        ["rivers", "banks", "arrows", "bananas", "towers", "birds", "worms", "models"])]
    sentences[7] = "word " * 700  # one long, truncated input in the mix
    alone = {s: minilm.trace(s) for s in sentences}
    results: dict[str, object] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(sentences))

    def work(text):
        try:
            barrier.wait()
            for _ in range(3):
                results[text] = minilm.trace(text)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in sentences]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for s in sentences:
        assert results[s].tokens == alone[s].tokens
        assert results[s].truncated == alone[s].truncated
        np.testing.assert_allclose(results[s].hidden_states, alone[s].hidden_states, atol=1e-5)
