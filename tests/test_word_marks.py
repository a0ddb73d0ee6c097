"""The tokenization page explains the word marks of the tokenizer in use (##, Ġ), and the special-token
toggle appears only for a model whose sentences have special tokens."""
import pytest

from hf_tiny import hf_model, save_checkpoint, tokenizer_for
from page_helpers import run_page, texts

SENTENCE = "Time flies like an arrow; fruit flies like a banana."


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory) -> str:
    return str(save_checkpoint(hf_model("gpt2"), tokenizer_for("gpt2"), tmp_path_factory.mktemp("gpt2") / "gpt2"))


def test_a_byte_level_tokenizer_explains_its_space_mark(gpt2_folder):
    at = run_page("step_tokens", SENTENCE, gpt2_folder)
    assert not at.exception
    pieces = [c.value for c in at.caption if c.value.startswith("Each box holds")][0]
    assert "Ġ" in pieces and "starts with a space" in pieces and "##" not in pieces
    assert "WordPiece takes" not in texts(at.markdown)


def test_minilm_keeps_the_wordpiece_explanation():
    at = run_page("step_tokens", "He created a miniature Eiffel tower lego model.")
    shown = texts(at.caption) + texts(at.markdown)
    assert "`##` marks a piece that continues the word" in shown and "Ġ" not in shown


def test_no_special_token_toggle_or_sink_claim_for_gpt2(gpt2_folder):
    for page in ("attention_head", "attention_compare", "attention_aggregate"):
        at = run_page(page, SENTENCE, gpt2_folder)
        assert not at.exception and not [t for t in at.toggle if t.label.startswith("Hide")], page
    grid = run_page("attention_grid", SENTENCE, gpt2_folder)
    assert "sink on" not in texts(grid.markdown) and "[CLS]" not in texts(grid.markdown)
