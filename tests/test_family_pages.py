"""Every page of the app runs with one small model of each Hugging Face family picked in the sidebar.

The tiny checkpoints (tests/hf_tiny.py) are built once per module: GPT-2, Llama with grouped-query
attention, Qwen2 (q/k/v biases), RoBERTa and DistilBERT. Each page must run without an exception;
pages with their own input (OWN_INPUT) owe nothing more.
"""
from __future__ import annotations


import pytest
from streamlit.testing.v1 import AppTest

from page_helpers import run_page

pytest.importorskip("transformers")

from hf_tiny import hf_model, save_checkpoint, tokenizer_for  # noqa: E402
from test_pages_smoke import OWN_INPUT, PAGES, frame_errors  # noqa: E402

FAMILIES = ["gpt2", "llama", "qwen2", "roberta", "distilbert"]
SENTENCE = "Time flies like an arrow; fruit flies like a banana."


@pytest.fixture(scope="module")
def family_folders(tmp_path_factory) -> dict[str, str]:
    """family -> folder of a tiny random checkpoint, each saved once for the module."""
    root = tmp_path_factory.mktemp("families")
    return {family: str(save_checkpoint(hf_model(family, tied=family != "qwen2"), tokenizer_for(family),
                                        root / family))
            for family in FAMILIES}



@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("page", PAGES)
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
    labels = [t.label for t in at.toggle if t.label != "Whole words"]     # every tokenizer has words
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
