"""Steps 3 (One head with numbers) and 4 (Heads to next layer) with a real T5 picked in the sidebar.

T5 scores are q·k plus a learned bias per bucket of the distance key − query (layer 0's table, added
by every layer), not divided by √d_head; its norms are RMSNorm without β and its feed-forward is ReLU
(T5) or gated GELU (v1.1, Flan-T5). The pages recompute the encoder's head and block by hand: these
tests check that the numbers they show are the trace's, for both feed-forwards, and that BART's and
Marian's post-LN encoder blocks are recomputed too.
"""
from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from page_helpers import run_page, spec_array, texts

pytest.importorskip("transformers")

from hf_tiny import CASES, hf_model, save_checkpoint, tokenizer_for  # noqa: E402

from analysis.recompute import head_steps, layer_parameter_counts, layer_steps  # noqa: E402
from core.attention import relative_bucket  # noqa: E402
from models import load_model  # noqa: E402

SENTENCE = "Time flies like an arrow; fruit flies like a banana, far beyond twenty tokens 東京 🍕."
VARIANTS = {"relu": CASES["t5"][0], "gated-gelu": CASES["t5"][1]}   # T5 v1.0 and v1.1 / Flan-T5
TOL = dict(atol=1e-5, rtol=1e-5)
NOT_SHOWN = ("not shown for", "does not apply")


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("t5steps")
    return {name: str(save_checkpoint(hf_model("t5", **variant), tokenizer_for("t5"), root / name))
            for name, variant in VARIANTS.items()}


@pytest.fixture(scope="module")
def loaded(folders):
    return {name: load_model(folder) for name, folder in folders.items()}


def figure(at, title: str) -> dict:
    """The page's one figure whose title contains `title`, as its Plotly JSON."""
    found = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    found = [f for f in found if title in f["layout"].get("title", {}).get("text", "")]
    assert len(found) == 1, f"{len(found)} figures titled {title!r}"
    return found[0]


def bars(fig: dict) -> tuple[np.ndarray, np.ndarray]:
    """A bar chart's key positions (a window of a long sentence) and their values."""
    bar = fig["data"][0]
    return np.asarray(spec_array(bar["x"]), dtype=int), np.asarray(spec_array(bar["y"]), dtype=float)


def assert_bars(at, title: str, expected: np.ndarray) -> None:
    keys, values = bars(figure(at, title))
    np.testing.assert_allclose(values, expected[keys], err_msg=title, **TOL)


def gaps(caption: str) -> dict[str, float]:
    """"agrees to 1.2e-06 (scores), 3e-07 (weights)" -> {"scores": 1.2e-06, "weights": 3e-07}."""
    return {name: float(value) for value, name in re.findall(r"(\d(?:\.\d+)?e[-+]\d+) \((\w+)\)", caption)}


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_head_recomputation_is_t5s_scores(variant, loaded):
    """q·k + the bucket's bias, undivided, for every layer and head: equal to the model's own scores,
    weights and output; the bias row is core's table for this query whatever the layer."""
    model = loaded[variant]
    trace = model.encoder_trace(SENTENCE)
    t = len(trace)
    with torch.inference_mode():
        table = model.net.encoder_bias(t, t)[0].numpy()                           # (H, T, T)
    buckets = set()
    for layer in range(model.config.n_layers):
        for head in range(model.config.n_heads):
            for query in (0, t // 2, t - 1):
                hs = head_steps(model.net, trace, layer, head, query)
                own = trace.layers[layer]
                assert hs.scale == 1.0
                np.testing.assert_allclose(hs.bias, table[head, query], **TOL)
                np.testing.assert_allclose(hs.dots, own.q[head, query] @ own.k[head].T, **TOL)
                np.testing.assert_allclose(hs.scaled, hs.dots + hs.bias, atol=1e-12)
                np.testing.assert_allclose(hs.scaled, own.scores[head, query], **TOL)
                np.testing.assert_allclose(hs.weights, own.weights[head, query], **TOL)
                np.testing.assert_allclose(hs.head_out, own.head_out[head, query], **TOL)
                buckets |= set(hs.buckets.tolist())
    config = model.config           # the sentence reaches every bucket a distance can fall in, both ways
    reach = torch.arange(-4 * config.relative_max_distance, 4 * config.relative_max_distance)
    assert buckets == set(relative_bucket(reach, True, config.relative_buckets, config.relative_max_distance).tolist())


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_layer_recomputation_is_t5s_block(variant, loaded):
    """RMSNorm (no mean, no β), the bias in every layer, ReLU or gated GELU: every stretch equals the trace."""
    model = loaded[variant]
    trace = model.encoder_trace(SENTENCE)
    for layer in range(model.config.n_layers):
        ls, own = layer_steps(model.net, trace, layer), trace.layers[layer]
        for field in ("q", "k", "v", "scores", "weights", "head_out", "attn_out", "resid_mid", "mlp_in",
                      "mlp_pre", "mlp_hidden", "mlp_out", "resid_post"):
            np.testing.assert_allclose(getattr(ls, field), getattr(own, field), err_msg=field, **TOL)
        assert (ls.mlp_up is not None) == (variant == "gated-gelu")
        counts = layer_parameter_counts(model.net, layer)
        assert sum(c.count for c in counts) == sum(p.numel() for p in model.net.encoder[layer].parameters())
        assert ("W_gate" in " ".join(c.step for c in counts)) == (variant == "gated-gelu")


@pytest.mark.parametrize("variant", VARIANTS)
def test_one_head_page_shows_the_bias_and_the_traces_numbers(variant, folders, loaded):
    at = run_page("pages/step_head.py", SENTENCE, folders[variant])
    assert not at.exception, at.exception
    assert not any(words in texts(at.info) for words in NOT_SHOWN)
    layer, head = at.slider(key="step_head_layer").value, at.slider(key="step_head_head").value
    query = next(s for s in at.selectbox if s.key.startswith("step_head_query_")).value
    trace = loaded[variant].encoder_trace(SENTENCE)
    own = trace.layers[layer]
    assert_bars(at, "Dot products", own.q[head, query] @ own.k[head].T)
    assert_bars(at, "= the score", own.scores[head, query])
    assert_bars(at, "Softmax", own.weights[head, query])
    with torch.inference_mode():
        bias = loaded[variant].net.encoder_bias(len(trace), len(trace))[0, head, query].numpy()
    assert_bars(at, "position bias", bias)
    assert not [f for f in map(json.loads, (c.proto.spec for c in at.get("plotly_chart")))
                if "Divided by √d_head" in f["layout"].get("title", {}).get("text", "")]
    agreement = gaps(next(c.value for c in at.caption if c.value.startswith("Recomputed")))
    assert set(agreement) == {"scores", "weights", "output"} and max(agreement.values()) < 1e-5, agreement
    why = next(c.value for c in at.caption if c.value.startswith("No ÷√d_head"))
    dh = loaded[variant].config.d_head
    assert f"√{dh} = {np.sqrt(dh):.2f}" in why and "initialisation" in why
    assert "SelfAttention.q" in texts(at.caption)                               # the checkpoint's own names


@pytest.mark.parametrize("variant", VARIANTS)
def test_layer_page_names_t5s_norm_and_feed_forward_and_agrees(variant, folders, loaded):
    at = run_page("pages/step_layer.py", SENTENCE, folders[variant])
    assert not at.exception, at.exception
    assert not any(words in texts(at.info) for words in NOT_SHOWN)
    shown = texts(at.markdown) + texts(at.caption) + texts(at.subheader)
    assert "RMSNorm" in shown and "LayerNorm" not in shown and "cross-attention" in shown
    if variant == "gated-gelu":
        assert "GeGLU" in shown and "DenseReluDense.wi_0" in shown and "DenseReluDense.wi_1" in shown
    else:
        assert "ReLU" in shown and "W_gate" not in shown and "DenseReluDense.wi," in shown
    agreement = gaps(next(c.value for c in at.caption if c.value.startswith("Recomputed")))
    assert set(agreement) == {"concat", "attn_out", "resid_mid", "mlp_out", "resid_post"}
    assert max(agreement.values()) < 1e-5, agreement
    layer = at.slider(key="step_layer_layer").value
    token = next(s for s in at.selectbox if s.key.startswith("step_layer_token_")).value
    hidden = loaded[variant].encoder_trace(SENTENCE).layers[layer].mlp_hidden[token]
    top = figure(at, "Most active neurons")["data"][0]
    np.testing.assert_allclose(np.asarray(spec_array(top["x"]), dtype=float), np.sort(hidden)[::-1][:10], **TOL)


@pytest.mark.parametrize("family", ["bart", "marian"])
def test_bart_and_marian_steps_recompute_their_encoder_blocks(family, tmp_path):
    """Post-LN blocks with biases, scaled scores and GELU: both step pages show the encoder's own numbers,
    name the checkpoint's weights, and the embeddings step still says it does not apply."""
    folder = str(save_checkpoint(hf_model(family, **CASES[family][0]), tokenizer_for(family), tmp_path / family))
    trace = load_model(folder).encoder_trace(SENTENCE)
    at = run_page("pages/step_head.py", SENTENCE, folder)
    assert not at.exception, at.exception
    assert not any(words in texts(at.info) for words in NOT_SHOWN)
    layer, head = at.slider(key="step_head_layer").value, at.slider(key="step_head_head").value
    query = next(s for s in at.selectbox if s.key.startswith("step_head_query_")).value
    own = trace.layers[layer]
    assert_bars(at, "Dot products", own.q[head, query] @ own.k[head].T)
    assert_bars(at, "Softmax", own.weights[head, query])
    assert figure(at, "Divided by √d_head")
    agreement = gaps(next(c.value for c in at.caption if c.value.startswith("Recomputed")))
    assert set(agreement) == {"scores", "weights", "output"} and max(agreement.values()) < 1e-5, agreement
    assert "W_Q = self_attn.q_proj" in texts(at.caption)

    at = run_page("pages/step_layer.py", SENTENCE, folder)
    assert not at.exception, at.exception
    shown = texts(at.markdown) + texts(at.caption) + texts(at.subheader)
    assert "LayerNorm" in shown and "RMSNorm" not in shown and "cross-attention" in shown
    assert "W_up = fc1" in shown and "W_down = fc2" in shown and "self_attn_layer_norm" in shown
    agreement = gaps(next(c.value for c in at.caption if c.value.startswith("Recomputed")))
    assert set(agreement) == {"concat", "attn_out", "resid_mid", "mlp_out", "resid_post"}
    assert max(agreement.values()) < 1e-5, agreement

    at = run_page("pages/step_embeddings.py", SENTENCE, folder)
    assert not at.exception and "does not apply to it" in texts(at.info) and not at.get("plotly_chart")
