"""Every page of the app runs with one small model of each Hugging Face family picked in the sidebar.

The families come from the family list (models/families.py), each as the first tiny checkpoint
tests/hf_tiny.py builds for it (GPT-2, Llama with grouped-query attention, GPT-NeoX with Pythia's
parallel layout and partial rotary, RoBERTa, DistilBERT; BERT is MiniLM's family, run by
test_pages_smoke), plus Qwen2 for its q/k/v biases. Each page must run without an exception; pages
with their own input (OWN_INPUT) owe nothing more.
"""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from page_helpers import run_page

pytest.importorskip("transformers")

from hf_tiny import CASES, hf_model, save_checkpoint, tokenizer_for  # noqa: E402
from test_pages_smoke import OWN_INPUT, PAGES, frame_errors  # noqa: E402

from models.families import FAMILY_LIST  # noqa: E402

FAMILIES = [next(iter(f.model_types)) for f in FAMILY_LIST if f.name != "bert" and not f.encoder_decoder] + ["qwen2"]
# The encoder–decoders have their own page (Encoder–decoder) and their own test: tests/test_seq2seq_pages.py.
SENTENCE = "Time flies like an arrow; fruit flies like a banana."


@pytest.fixture(scope="module")
def family_folders(tmp_path_factory) -> dict[str, str]:
    """family -> folder of a tiny random checkpoint, each saved once for the module."""
    root = tmp_path_factory.mktemp("families")
    return {family: str(save_checkpoint(hf_model(family, **CASES[family][0]), tokenizer_for(family), root / family))
            for family in FAMILIES}


# Pages that never read the picked model's family: they run with the first family only (every page also runs with
# MiniLM in test_pages_smoke). Induction trains its own decoder, Across training checkpoints reads its own repo,
# One training step its own run, Embedding space GloVe or MiniLM; Encoder–decoder asks only whether the model is an
# encoder–decoder (none here is), so every family here gets the same letter-reversal toy.
MODEL_FREE = {"pages/induction.py", "pages/checkpoints.py", "pages/train_step.py", "pages/embeddings.py",
              "pages/seq2seq.py"}
PAGE_FAMILY = [(page, family) for page in PAGES for family in FAMILIES
               if page not in MODEL_FREE or family == FAMILIES[0]]


@pytest.mark.parametrize("page, family", PAGE_FAMILY)
def test_every_page_runs_for_every_family(page, family, family_folders):
    at = run_page(page, SENTENCE, family_folders[family])
    assert not at.exception, f"{page} raised with {family}: {at.exception}"
    assert not frame_errors(at), f"{page} failed with {family}: {frame_errors(at)}"
    if page not in OWN_INPUT:
        assert "removed from the model picker" not in " ".join(str(w.value) for w in at.warning)


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def chart_specs(at: AppTest) -> str:
    return " ".join(chart.proto.spec for chart in at.get("plotly_chart"))


def test_rotary_models_get_the_rotary_figures(family_folders):
    at = run_page("pages/step_embeddings.py", SENTENCE, family_folders["llama"])
    assert not at.exception
    assert "Rotary positions (Llama)" in texts(at.subheader)
    specs = chart_specs(at)
    assert "pair 0 (dims 0 \\u0026 8)" in specs or "pair 0 (dims 0 & 8)" in specs
    assert "Twilight" in specs or "angle" in specs
    gpt2 = run_page("pages/step_embeddings.py", SENTENCE, family_folders["gpt2"])
    assert "Learned positions (GPT-2)" in texts(gpt2.subheader) and "pair 0" not in chart_specs(gpt2)


@pytest.mark.parametrize("page", ["pages/step_head.py", "pages/attention_head.py"])
def test_grouped_query_heads_say_which_share_a_kv_head(page, family_folders):
    at = run_page(page, SENTENCE, family_folders["llama"], head=3)
    assert not at.exception
    assert "query heads 2–3 share key/value head 1" in texts(at.caption)
    plain = run_page(page, SENTENCE, family_folders["gpt2"], head=3)
    assert "share key/value head" not in texts(plain.caption)


def test_layer_page_uses_the_familys_words(family_folders):
    llama = run_page("pages/step_layer.py", SENTENCE, family_folders["llama"])
    shown = texts(llama.markdown) + texts(llama.caption) + texts(llama.subheader)
    assert "RMSNorm" in shown and "LayerNorm" not in shown
    assert "W_gate, W_up, W_down" in shown and "SiLU" in shown and "Grouped-query attention saves" in shown
    steps = llama.dataframe[0].value["step"].tolist()
    assert "RMSNorm before attention" in steps and "feed-forward gate (W_gate)" in steps
    gpt2 = run_page("pages/step_layer.py", SENTENCE, family_folders["gpt2"])
    shown = texts(gpt2.markdown) + texts(gpt2.caption)
    assert "LayerNorm" in shown and "RMSNorm" not in shown and "tanh" in shown and "W_gate" not in shown


@pytest.mark.parametrize("family,label", [("gpt2", None), ("llama", "Hide <s>"), ("roberta", "Hide <s> and </s>"),
                                          ("distilbert", "Hide [CLS] and [SEP]")])
def test_special_token_toggles_follow_the_tokenizer(family, label, family_folders):
    at = run_page("pages/attention_head.py", SENTENCE, family_folders[family])
    labels = [t.label for t in at.toggle if t.label != "Whole words"      # every tokenizer has words
              and not t.label.startswith("🤔 Predict first")]               # nor a tokenizer's: the quiz switch
    assert labels == ([label] if label else [])
    stats = run_page("pages/head_stats.py", SENTENCE, family_folders[family])
    columns = list(stats.dataframe[0].value.columns)
    assert ("on [CLS]" in columns) == (family == "distilbert")
    assert ("on <s>" in columns) == (family in ("llama", "roberta"))
    if family == "gpt2":                                   # no special tokens: no special-token columns
        assert not [c for c in columns if c.startswith(("on [", "on <"))]


def test_rotary_figures_have_the_expected_shapes():
    import numpy as np

    from analysis.recompute import rope_angles, rotate
    from core.config import TransformerConfig
    from viz.rotary import rotary_angle_heatmap, rotary_arrows

    config = TransformerConfig(vocab_size=10, d_model=32, n_heads=2, n_layers=1, d_ff=8, max_positions=16,
                               positional="rotary")
    angles = rope_angles(config, 12)                                  # (12, 8)
    heat = rotary_angle_heatmap(angles, "angles")
    assert np.asarray(heat.data[0].z).shape == (12, 8)
    assert np.asarray(heat.data[0].z).max() < 2 * np.pi and np.asarray(heat.data[0].z)[0].max() == 0
    q_raw = np.random.default_rng(0).normal(size=(12, 16))
    fig = rotary_arrows(q_raw, rotate(q_raw, angles), [0, 5, 11], [0, 1, 4], ["<b>"] * 12, "arrows")
    assert len(fig.data) == 3 * 3 * 2                               # pairs × positions × (before, after)
    before, after = fig.data[2], fig.data[3]                        # position 5, pair 0
    assert np.hypot(before.x[1], before.y[1]) == pytest.approx(np.hypot(after.x[1], after.y[1]))
    turn = np.arctan2(after.y[1], after.x[1]) - np.arctan2(before.y[1], before.x[1])
    assert np.mod(turn, 2 * np.pi) == pytest.approx(np.mod(5.0, 2 * np.pi))   # pair 0: one radian per position
    assert "<b>" not in str(fig.to_plotly_json())


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_masks_page_uses_the_picked_decoder(family, family_folders):
    """Issue 26: with GPT-2 or Llama picked, 5 · Masks said "No causal model trained in this session yet"
    and built a random decoder. The picked causal model is the decoder shown."""
    at = run_page("pages/step_mask.py", SENTENCE, family_folders[family])
    assert not at.exception, at.exception
    assert "untrained" not in texts(at.info) and "random" not in texts(at.info)
    assert any("picked in the sidebar" in str(t.value) for t in at.text)
    # A decoder never looks ahead: no "weight on later tokens" section that can only read 0 %, one mask figure set.
    assert not at.metric and "never looks ahead" in texts(at.caption)
    assert [s.value for s in at.subheader] == ["A decoder: the causal mask"]


def test_masks_page_draws_the_sliding_window_and_the_soft_cap(family_folders):
    """Gemma 2: the sliding layer's band beside the global layer's triangle, and the cap as a curve whose
    markers are the real scores before and after the cap."""
    import base64
    import json

    import numpy as np

    at = run_page("pages/step_mask.py", SENTENCE, family_folders["gemma2"])
    assert not at.exception, at.exception
    assert "A sliding window beside the causal mask" in texts(at.subheader)
    shown = texts(at.markdown) + texts(at.caption)
    assert "only the last **5** keys" in shown and "sees 5 of its" in shown
    assert "2 · tanh(x / 2)" in shown
    curve = [c for c in at.get("plotly_chart") if "before the cap" in str(c.proto.spec)]
    assert len(curve) == 1
    markers = [d for d in json.loads(curve[0].proto.spec)["data"] if d.get("mode") == "markers"][0]
    # Plotly writes numpy arrays as base64 ("bdata") with their dtype.
    x, y = (np.frombuffer(base64.b64decode(markers[a]["bdata"]), dtype=markers[a]["dtype"]) for a in "xy")
    np.testing.assert_allclose(y, 2.0 * np.tanh(x / 2.0), atol=1e-9)
    assert 1 <= len(x) <= 5                                  # the query sees at most its window of 5 keys


@pytest.mark.parametrize("family, words", [
    ("olmo2", "resid_mid = layer input + RMSNorm(attention output)"),
    ("gemma2", "resid_mid = layer input + RMSNorm₂(attention output)")])
def test_norms_on_the_sublayer_outputs_on_the_layer_page(family, words, family_folders):
    """OLMo 2 and Gemma 2 normalise what each sublayer adds: the page says so, and the strip's second row is
    what was added (the normalised output), so the rows above '= sum' add up."""
    import numpy as np

    at = run_page("pages/step_layer.py", SENTENCE, family_folders[family])
    assert not at.exception, at.exception
    assert "does not apply" not in texts(at.info) + texts(at.warning)
    shown = texts(at.markdown) + texts(at.caption)
    assert words in shown
    assert "+ RMSNorm(attention output)" in chart_specs(at)
    from analysis.recompute import layer_steps
    from models import load_model
    model = load_model(family_folders[family])
    trace = model.trace(SENTENCE)
    block = layer_steps(model.net, trace, 0)
    assert np.abs(block.attn_sum - block.resid_pre - block.attn_out).max() > 1e-3   # the norm changes what is added


@pytest.mark.parametrize("family", ["gemma", "gemma2"])
def test_embeddings_page_names_the_square_root_scale(family, family_folders):
    """Gemma multiplies the token rows by √d_model: the page says so and draws the row and its scaled copy."""
    at = run_page("pages/step_embeddings.py", SENTENCE, family_folders[family])
    assert not at.exception, at.exception
    assert "does not apply" not in texts(at.info) + texts(at.warning)
    shown = texts(at.markdown)
    assert "multiplied by √d_model = √64 = 8.00" in shown and "· √64 (= 8.00)" in shown
    import json
    assert any("× √64 (= 8.00)" in json.dumps(json.loads(chart.proto.spec), ensure_ascii=False)
               for chart in at.get("plotly_chart"))


def test_one_score_page_divides_and_caps_as_gemma2_does(family_folders):
    """Inside one score: ÷ √query_pre_attn_scalar and the soft cap, equal to the traced score (no warning)."""
    at = run_page("pages/score_anatomy.py", SENTENCE, family_folders["gemma2"])
    assert not at.exception, at.exception
    assert not at.warning
    assert "÷ √24" in [m.label for m in at.metric]
    assert "soft-capped to 2 · tanh(… / 2)" in texts(at.caption)


def test_parallel_layout_on_the_layer_page(family_folders):
    """Pythia's block: the page says both branches read the layer input, and its recomputation agrees."""
    at = run_page("pages/step_layer.py", SENTENCE, family_folders["gpt_neox"])
    assert not at.exception
    shown = texts(at.markdown) + texts(at.caption)
    assert "in parallel" in shown and "resid_post = layer input + attention output + feed-forward output" in shown
    assert "LayerNorm₂(layer input)" in shown and "RMSNorm" not in shown
    steps = at.dataframe[0].value["step"].tolist()
    assert steps[:2] == ["LayerNorm before attention", "W_Q (query)"]
    gpt2 = run_page("pages/step_layer.py", SENTENCE, family_folders["gpt2"])
    assert "in parallel" not in texts(gpt2.markdown) + texts(gpt2.caption)


def test_partial_rotary_on_the_step_pages(family_folders):
    """Pythia turns 4 of each head's 16 dimensions: the pages say so and draw only those pairs."""
    at = run_page("pages/step_embeddings.py", SENTENCE, family_folders["gpt_neox"])
    assert not at.exception
    assert "Rotary positions (GPT-NeoX)" in texts(at.subheader)
    assert "only the first 4 of its 16 dimensions" in texts(at.markdown)
    specs = chart_specs(at)
    assert "pair 0 (dims 0 \\u0026 2)" in specs or "pair 0 (dims 0 & 2)" in specs
    head = run_page("pages/step_head.py", SENTENCE, family_folders["gpt_neox"])
    assert not head.exception
    assert "the first 4 dimensions of each row of Q and K (the other 12 are not turned)" in texts(head.markdown)


@pytest.mark.parametrize("family", FAMILIES)
def test_step_recomputation_agrees_with_every_family(family, family_folders):
    """The numbers the step pages recompute by hand equal the model's own, for every registered family."""
    from analysis.recompute import head_steps, layer_steps
    from models import load_model

    model = load_model(family_folders[family])
    trace = model.trace(SENTENCE)
    for layer in range(model.config.n_layers):
        assert max(layer_steps(model.net, trace, layer).agreement(trace).values()) < 1e-5
        for head in range(model.config.n_heads):
            assert max(head_steps(model.net, trace, layer, head, len(trace) - 1).agreement(trace).values()) < 1e-5


def test_a_step_page_a_family_does_not_follow_says_so(family_folders, monkeypatch):
    """A family that lists fewer step pages gets a plain message there, not wrong numbers."""
    from dataclasses import replace

    from models import families

    neox = families.FAMILIES["gpt_neox"]
    monkeypatch.setitem(families.FAMILIES, "gpt_neox", replace(neox, step_pages=("step_embeddings",)))
    for page in ("pages/step_layer.py", "pages/step_head.py"):
        at = run_page(page, SENTENCE, family_folders["gpt_neox"])
        assert not at.exception
        assert "not shown for GPT-NeoX models yet" in texts(at.info)
        assert not at.dataframe and not at.get("plotly_chart")
    assert "not shown" not in texts(run_page("pages/step_embeddings.py", SENTENCE, family_folders["gpt_neox"]).info)
