"""Real encoder–decoders (T5, T5 v1.1 / Flan-T5, BART, Marian) in our core equal transformers (eager) at 1e-4.

Tiny random checkpoints of each (tests/hf_tiny.py) are loaded by `load_model` and traced with a
source and a target. Compared with transformers run on the same ids (decoder_input_ids = the start
token, then the target): the encoder's self-attention and hidden states, the decoder's masked
self-attention, its cross-attention, its hidden states and the logits. How hidden states line up:
- T5 (pre-LN, a final norm per stack): transformers' hidden_states[0..n-1] are our resid[0..n-1]
  and its last entry is the final norm's output (the encoder's memory; the decoder's trace.final);
- BART, Marian (post-LN, no final norm): hidden_states[0..n] == trace.hidden_states[0..n].
The model's own greedy output equals transformers' greedy generate.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import CASES, LAYERS, SENTENCES, SPECIALS, case_id, hf_model, save_checkpoint, tokenizer_for  # noqa: E402

from core import count_parameters  # noqa: E402
from core.seq2seq import Seq2SeqTrace  # noqa: E402
from models import load_model  # noqa: E402
from models.families import FAMILIES  # noqa: E402
from models.seq2seq import LoadedSeq2Seq  # noqa: E402

ATOL = 1e-4
SEQ2SEQ = [family for family, f in FAMILIES.items() if f.encoder_decoder]
ALL = [(family, variant) for family in SEQ2SEQ for variant in CASES[family]]
TARGETS = {"plain": "Le temps file comme une flèche.", "emoji_cjk": "我爱 🍕 和 東京!",
           "accents": "crème brûlée",
           "long": SENTENCES["long"]}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    made = {}

    def get(family: str, variant: dict):
        key = case_id(family, variant)
        if key not in made:
            model = hf_model(family, **variant)
            folder = save_checkpoint(model, tokenizer_for(family), tmp_path_factory.mktemp(key))
            made[key] = (model, load_model(str(folder)))
        return made[key]

    return get


def test_the_encoder_decoder_families_are_registered():
    assert set(SEQ2SEQ) == {"t5", "bart", "marian"}
    # Steps 3 and 4 recompute the encoder blocks of all three (tests/test_t5_steps.py); step 2 does not apply.
    assert FAMILIES["t5"].step_pages == ("step_head", "step_layer") and FAMILIES["t5"].page_applies("step_layer")
    assert all(FAMILIES[f].step_pages == ("step_head", "step_layer") and not FAMILIES[f].page_applies("step_embeddings")
               for f in ("bart", "marian"))
    assert all(FAMILIES[f].page_applies("attention_head") for f in SEQ2SEQ)     # on the encoder


def reference(model, trace: Seq2SeqTrace):
    with torch.no_grad():
        return model(input_ids=torch.tensor([trace.encoder.ids]), decoder_input_ids=torch.tensor([trace.decoder.ids]),
                     output_attentions=True, output_hidden_states=True)


def close(ours, theirs, what: str):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert np.shape(ours) == np.shape(theirs), what
    assert np.abs(np.asarray(ours) - theirs).max() < ATOL, f"{what}: {np.abs(np.asarray(ours) - theirs).max()}"


def assert_matches(model, trace: Seq2SeqTrace, pre_ln: bool):
    out = reference(model, trace)
    enc, dec = trace.encoder, trace.decoder
    for layer in range(LAYERS):
        close(enc.layers[layer].weights, out.encoder_attentions[layer][0], f"encoder self-attention {layer}")
        close(dec.layers[layer].weights, out.decoder_attentions[layer][0], f"decoder self-attention {layer}")
        close(dec.layers[layer].cross.weights, out.cross_attentions[layer][0], f"cross-attention {layer}")
    for ours, theirs, name in ((enc, out.encoder_hidden_states, "encoder"),
                               (dec, out.decoder_hidden_states, "decoder")):
        n = LAYERS if pre_ln else LAYERS + 1
        for i in range(n):
            close(ours.hidden_states[i], theirs[i][0], f"{name} hidden state {i}")
    if pre_ln:
        close(dec.final, out.decoder_hidden_states[-1][0], "decoder final norm")
        memory = dec.layers[0].cross.k            # keys read from the encoder's output: its final norm agrees
        assert memory.shape[1] == len(enc)
    close(dec.logits, out.logits[0], "logits")


@pytest.mark.parametrize("case", ALL, ids=[case_id(f, v) for f, v in ALL])
@pytest.mark.parametrize("sentence", sorted(SENTENCES))
def test_forced_decoding_matches_transformers(case, sentence, built):
    family, variant = case
    model, ours = built(family, variant)
    assert isinstance(ours, LoadedSeq2Seq)
    trace = ours.trace(SENTENCES[sentence], TARGETS[sentence])
    assert trace.typed and trace.decoder.ids[0] == model.config.decoder_start_token_id
    assert trace.encoder.tokens[-1] == "</s>" and [t for t, s in zip(trace.encoder.tokens, trace.encoder.special_mask)
                                                    if s] == SPECIALS[family]
    assert_matches(model, trace, pre_ln=family == "t5")


@pytest.mark.parametrize("case", ALL, ids=[case_id(f, v) for f, v in ALL])
def test_greedy_output_is_transformers_greedy_generate(case, built):
    family, variant = case
    model, ours = built(family, variant)
    for sentence in ("plain", "emoji_cjk"):
        source = ours.tokenizer.encode(SENTENCES[sentence]).ids
        with torch.no_grad():
            theirs = model.generate(torch.tensor([source]), max_new_tokens=12, do_sample=False, num_beams=1)[0].tolist()
        mine = ours.write(source, 12)
        assert [model.generation_config.decoder_start_token_id] + mine == theirs
        trace = ours.trace(SENTENCES[sentence], max_new=12)
        ended = len(theirs) > 1 and theirs[-1] == model.config.eos_token_id
        assert not trace.typed and trace.decoder.ids == (theirs[:-1] if ended else theirs)   # the end token: no row
        assert_matches(model, trace, pre_ln=family == "t5")


@pytest.mark.parametrize("case", ALL, ids=[case_id(f, v) for f, v in ALL])
def test_parameter_count_is_the_checkpoints(case, built):
    """Our count holds what the net holds: transformers' parameters and final_logits_bias, with the shared
    token table once per stack, without BART's two unused position rows per stack, and without Marian's
    sinusoid tables (transformers holds them as frozen parameters; here they are computed)."""
    family, variant = case
    model, ours = built(family, variant)
    assert count_parameters(ours.config) == sum(p.numel() for p in ours.net.parameters())
    table = model.get_input_embeddings().weight.numel()
    theirs = sum(p.numel() for p in model.parameters()) + (model.final_logits_bias.numel()
                                                            if hasattr(model, "final_logits_bias") else 0)
    d = ours.config.d_model
    unused = {"bart": 2 * 2 * d, "marian": 2 * ours.config.max_positions * d}.get(family, 0)
    assert count_parameters(ours.config) == theirs + table - unused


def test_relative_buckets_are_t5s():
    """Our bucket function equals transformers' on distances out to past max_distance, both directions."""
    from transformers.models.t5.modeling_t5 import T5Attention

    from core.attention import relative_bucket

    distance = torch.arange(-300, 300)[None, :]
    for bidirectional in (True, False):
        for buckets, far in ((32, 128), (8, 20)):
            theirs = T5Attention._relative_position_bucket(distance, bidirectional, buckets, far)
            assert torch.equal(relative_bucket(distance, bidirectional, buckets, far), theirs)


def test_a_typed_target_and_an_empty_one(built):
    from models import EmptyTextError

    _, ours = built("bart", CASES["bart"][0])
    with pytest.raises(EmptyTextError):
        ours.trace("", "x")
    with pytest.raises(EmptyTextError):
        ours.trace("a cat", "   ")
    trace = ours.trace("a cat", "un chat")
    assert trace.output == "un chat" and trace.decoder.tokens[:2] == ["</s>", "<s>"]


def test_core_switches_of_the_encoder_decoders():
    """Each new switch does what its comment says, on a bare core (no loader)."""
    from core import TransformerConfig, attend, sinusoidal_encoding

    interleaved, halves = sinusoidal_encoding(7, 8), sinusoidal_encoding(7, 8, "halves")
    np.testing.assert_array_equal(halves[:, :4], interleaved[:, 0::2])        # every sin, then every cos
    np.testing.assert_array_equal(halves[:, 4:], interleaved[:, 1::2])
    q, k, v = torch.randn(3, 1, 2, 5, 4).unbind(0)
    bias = torch.randn(1, 2, 5, 5)
    scores = attend(q, k, v, None, bias, scaled=False)[0]
    torch.testing.assert_close(scores, q @ k.transpose(-2, -1) + bias)        # T5: no ÷ √d_head
    with pytest.raises(ValueError, match="encoder–decoders only"):
        TransformerConfig(vocab_size=10, d_model=8, n_heads=2, n_layers=1, d_ff=8, max_positions=8,
                          positional="relative")
    with pytest.raises(ValueError, match="output_scale"):
        TransformerConfig(vocab_size=10, d_model=8, n_heads=2, n_layers=1, d_ff=8, max_positions=8, output_scale=0)


def test_a_different_decoder_depth_is_refused_by_name(built, tmp_path):
    import json
    import shutil

    _, ours = built("t5", CASES["t5"][0])
    folder = tmp_path / "t5"
    shutil.copytree(ours.folder, folder)
    config = json.loads((folder / "config.json").read_text())
    config["num_decoder_layers"] = 1
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="num_decoder_layers 1 differs"):
        load_model(str(folder))


def test_the_original_t5s_unused_cross_attention_table_is_ignored(built, tmp_path):
    """t5-small and its siblings store a relative-position table in the first cross-attention, which T5
    never reads: it loads, and the numbers are unchanged."""
    import shutil

    from safetensors.torch import load_file, save_file

    model, ours = built("t5", CASES["t5"][0])
    folder = tmp_path / "t5"
    shutil.copytree(ours.folder, folder)
    tensors = load_file(folder / "model.safetensors")
    tensors["decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"] = torch.randn(8, 4)
    tensors["lm_head.weight"] = tensors["shared.weight"].clone()          # a stored copy of the tied head
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    again = load_model(str(folder)).trace(SENTENCES["plain"], TARGETS["plain"])
    assert_matches(model, again, pre_ln=True)


def test_flan_t5s_own_output_matrix(tmp_path):
    """v1.1 / Flan-T5 checkpoints say tie_word_embeddings false and store their own lm_head (transformers 5
    ties it on load; the released checkpoints do not): our logits read that matrix, unscaled."""
    import copy
    import json

    from safetensors.torch import load_file, save_file

    model = hf_model("t5", **CASES["t5"][1])
    folder = save_checkpoint(model, tokenizer_for("t5"), tmp_path / "flan")
    untied = copy.deepcopy(model)
    untied.lm_head.weight = torch.nn.Parameter(0.1 * torch.randn_like(model.shared.weight))
    tensors = load_file(folder / "model.safetensors")
    tensors["lm_head.weight"] = untied.lm_head.weight.detach().clone()
    save_file(tensors, folder / "model.safetensors", metadata={"format": "pt"})
    config = json.loads((folder / "config.json").read_text())
    config.pop("scale_decoder_outputs")
    config["tie_word_embeddings"] = False                      # as flan-t5-small's config.json says
    (folder / "config.json").write_text(json.dumps(config))
    ours = load_model(str(folder))
    assert not ours.config.tie_embeddings and ours.config.output_scale == 1.0
    trace = ours.trace(SENTENCES["emoji_cjk"], TARGETS["emoji_cjk"])
    assert_matches(untied, trace, pre_ln=True)
