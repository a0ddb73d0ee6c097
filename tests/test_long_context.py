"""The long-context page's numbers: each head's share on the first token, how far it looks at each
position, and the stretches of text its attention lands on, as a learner reads them.

The page reads the summary streamed during the forward pass, so these tests check that what it reads
equals what the full attention says, and that its sentences quote those numbers.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from analysis.long_context import (busiest_stretches, distance_by_query, even_distance, even_first_share,
                                   even_received, first_token_share)
from core import Transformer, TransformerConfig
from page_helpers import run_page, texts

LLAMA_LIKE = dict(vocab_size=60, d_model=32, n_heads=4, n_kv_heads=2, n_layers=3, d_ff=48, max_positions=2048,
                  positional="rotary", norm="pre", activation="silu", eps=1e-6, embed_norm=False, causal=True,
                  lm_head=True, tie_embeddings=False, norm_kind="rmsnorm", mlp="gated", bias=False,
                  qkv_bias=False)
BERT_LIKE = dict(vocab_size=60, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_positions=512, type_vocab_size=2)


def traced(config: dict, n: int):
    torch.manual_seed(0)
    net = Transformer(TransformerConfig(**config)).eval()
    ids = torch.randint(0, 60, (n,), generator=torch.Generator().manual_seed(1)).tolist()
    return net.trace(ids)


def even_rows(t: int, causal: bool) -> np.ndarray:
    """(T, T) a head that spreads each query's attention evenly over the keys it can see."""
    seen = np.tril(np.ones((t, t))) if causal else np.ones((t, t))
    return seen / seen.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("config", [LLAMA_LIKE, BERT_LIKE], ids=["causal", "encoder"])
def test_streamed_first_token_share_and_distances_equal_the_full_attention(config):
    trace = traced(config, 300)
    attentions = trace.attentions                                                # (L, H, T, T)
    np.testing.assert_allclose(first_token_share(trace.summary.received), attentions[..., 0].mean(-1), atol=1e-6)
    t = attentions.shape[-1]
    gap = np.abs(np.arange(t)[:, None] - np.arange(t)[None, :])
    for layer, head in [(0, 0), (1, 3)]:
        weights = trace.head(layer, head).weights
        np.testing.assert_allclose(distance_by_query(weights), (weights * gap).sum(-1), rtol=1e-5, atol=1e-4)
        # averaged over the queries, the per-position curve is the streamed per-head mean distance
        assert distance_by_query(weights).mean() == pytest.approx(trace.summary.distance[layer, head], rel=1e-4)


@pytest.mark.parametrize("causal", [True, False])
def test_the_even_references_are_what_an_even_head_gives(causal):
    t = 50
    weights = even_rows(t, causal)
    np.testing.assert_allclose(distance_by_query(weights), even_distance(t, causal), atol=1e-4)
    assert weights[:, 0].mean() == pytest.approx(even_first_share(t, causal))
    np.testing.assert_allclose(even_received(t, causal), weights.mean(axis=0), atol=1e-12)
    assert even_received(t, causal).sum() == pytest.approx(1.0)


def test_a_previous_token_head_looks_one_position_back_and_a_sink_looks_all_the_way():
    t = 40
    previous, sink = np.zeros((t, t)), np.zeros((t, t))
    previous[0, 0] = 1.0
    previous[np.arange(1, t), np.arange(t - 1)] = 1.0
    sink[:, 0] = 1.0
    assert np.allclose(distance_by_query(previous)[1:], 1.0)
    np.testing.assert_allclose(distance_by_query(sink), np.arange(t))         # the diagonal y = x


def test_the_busiest_stretches_find_planted_text_not_the_sink():
    t, width = 400, 10
    received = np.full(t, 0.2 / t)
    received[0] = 0.5                                        # a sink on the first token
    received[200:210] += 0.02                                # the stretch this head reads: 20%
    received[50:60] += 0.01                                  # and a weaker one: 10%
    stretches = busiest_stretches(received, width, top=3, skip=[0])
    assert (stretches[0].start, stretches[0].stop) == (200, 210)
    assert (stretches[1].start, stretches[1].stop) == (50, 60)
    assert stretches[0].share == pytest.approx(0.2 + 10 * 0.2 / t)
    assert stretches[0].share / stretches[0].even > 8             # far more than even attention gives it
    spans = [set(range(s.start, s.stop)) for s in stretches]
    assert all(not a & b for i, a in enumerate(spans) for b in spans[i + 1:])   # no two overlap
    assert all(0 not in span for span in spans)


def test_the_page_at_8_tokens_quotes_the_models_own_numbers(minilm):
    sentence = "The cat sat on the mat."
    at = run_page("pages/long_context.py", sentence)
    assert not at.exception and len(at.get("plotly_chart")) == 4
    trace = minilm.trace(sentence)
    shares = first_token_share(trace.summary.received)
    shown = texts(at.markdown)
    sinks = int((shares >= 0.5).sum())
    assert f"**{sinks} of the {shares.size} heads**" in shown and r"(\[CLS\])" in shown   # escaped: read literally
    best = divmod(int(shares.argmax()), shares.shape[1])
    assert f"**layer {best[0]}, head {best[1]}** ({shares.max():.1%})" in shown
    quoted = re.search(r"Layer (\d+), head (\d+) puts ([\d.]+)% of its attention on the first token", shown)
    layer, head, share = int(quoted[1]), int(quoted[2]), float(quoted[3])
    assert share == pytest.approx(100 * shares[layer, head], abs=0.051)
    table = at.dataframe[0].value
    assert len(table) >= 1 and table["text"].iloc[0].strip()
    assert "[CLS]" not in " ".join(table["text"]) and "[SEP]" not in " ".join(table["text"])
