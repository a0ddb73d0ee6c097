"""Attention flow: the max-flow solver agrees with networkx, and the flows behave as flows must
(between 0 and 1, the skip path's share on the diagonal, nothing flowing backwards in a decoder)."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.flow import attention_flow
from analysis.flow import RESIDUAL, capacities, flow_into

nx = pytest.importorskip("networkx")


def random_weights(rng, layers: int, heads: int, tokens: int, causal: bool = False) -> np.ndarray:
    """(layers, heads, T, T) softmax rows, sharp enough to make some pipes bottlenecks."""
    scores = rng.normal(size=(layers, heads, tokens, tokens)) * 2.5
    if causal:
        scores = np.where(np.tril(np.ones((tokens, tokens), dtype=bool)), scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return weights / weights.sum(axis=-1, keepdims=True)


def networkx_graph(weights: np.ndarray, residual: float = RESIDUAL):
    """The same layered graph, built pipe by pipe from the definition, in networkx."""
    layers, _, tokens, _ = weights.shape
    mean = weights.mean(axis=1)                                          # (L, T, T)
    graph = nx.DiGraph()
    for layer in range(layers):
        for i in range(tokens):
            for j in range(tokens):
                capacity = (1 - residual) * mean[layer, i, j] + residual * (i == j)
                if capacity > 0:
                    graph.add_edge((layer, j), (layer + 1, i), capacity=capacity)
    return graph


CASES = [(seed, layers, tokens, causal) for seed, (layers, tokens) in enumerate(
    [(2, 3), (2, 5), (3, 4), (3, 6), (2, 6), (3, 3)]) for causal in (False, True)]


@pytest.mark.parametrize("seed,layers,tokens,causal", CASES)
def test_flow_equals_networkx_maximum_flow(seed, layers, tokens, causal):
    weights = random_weights(np.random.default_rng(seed), layers, 3, tokens, causal)
    graph = networkx_graph(weights)
    expected = np.array([[nx.maximum_flow_value(graph, (0, j), (layers, i)) if graph.has_node((0, j)) else 0.0
                          for j in range(tokens)] for i in range(tokens)])
    # Integer capacities (× 2²⁴, rounded) move a flow by at most (edges in the cut) / 2²⁵ < 4e-6 here.
    np.testing.assert_allclose(attention_flow(weights), expected, atol=1e-5)


def test_flow_into_a_pooled_output_equals_networkx_with_a_readout_node():
    """An embedding that averages the last layer is one more layer of pipes (1/T each) into one node."""
    rng = np.random.default_rng(7)
    weights = random_weights(rng, 3, 2, 5)
    readout = rng.dirichlet(np.ones(5))
    graph = networkx_graph(weights)
    for i, share in enumerate(readout):
        graph.add_edge((3, i), "output", capacity=share)
    expected = [nx.maximum_flow_value(graph, (0, j), "output") for j in range(5)]
    np.testing.assert_allclose(flow_into(weights, readout), expected, atol=1e-5)


def test_flow_into_one_position_is_that_row_of_the_matrix():
    weights = random_weights(np.random.default_rng(3), 3, 4, 6)
    flow = attention_flow(weights)
    for i in range(6):
        np.testing.assert_allclose(flow_into(weights, i), flow[i], atol=1e-6)


def test_flows_are_bounded_and_the_skip_path_carries_its_share():
    """Whatever reaches token i comes through pipes whose capacities sum to 1, so no flow exceeds 1,
    nor can a row (all of i's sources together, one at a time) exceed 1 per source; the path
    j → j → … → j has capacity ≥ r in every layer, so flow[j, j] ≥ r."""
    for seed in range(5):
        weights = random_weights(np.random.default_rng(seed), 3, 4, 6)
        flow = attention_flow(weights)
        assert (flow >= -1e-7).all() and (flow <= 1 + 1e-6).all()
        assert (np.diag(flow) >= RESIDUAL - 1e-6).all()
        # Token j can send no more than its pipes into layer 1 hold.
        assert (flow <= capacities(weights)[0].sum(axis=0)[None, :] + 1e-6).all()


def test_one_layer_flow_is_the_pipe_itself():
    """With one layer every path is a single pipe: flow[i, j] = 0.5·A[i, j] + 0.5·[i = j]."""
    weights = random_weights(np.random.default_rng(11), 1, 4, 5)
    np.testing.assert_allclose(attention_flow(weights), capacities(weights)[0], atol=1e-6)


def test_nothing_flows_backwards_in_a_decoder():
    flow = attention_flow(random_weights(np.random.default_rng(5), 3, 2, 6, causal=True))
    assert np.allclose(np.triu(flow, 1), 0.0)
    assert (np.diag(flow) >= RESIDUAL - 1e-6).all()


def test_renaming_the_tokens_renames_the_flow():
    """Flow depends on the graph, not on token order: permuting the tokens in every layer permutes
    the flow's rows and columns the same way."""
    weights = random_weights(np.random.default_rng(13), 2, 3, 5)
    order = np.array([3, 0, 4, 1, 2])
    shuffled = weights[:, :, order][:, :, :, order]
    np.testing.assert_allclose(attention_flow(shuffled), attention_flow(weights)[order][:, order], atol=1e-6)


def test_attention_to_oneself_flows_only_to_oneself():
    weights = np.broadcast_to(np.eye(4), (3, 2, 4, 4))
    np.testing.assert_allclose(attention_flow(weights), np.eye(4), atol=1e-6)


def test_long_texts_are_refused_with_a_reason():
    weights = np.full((1, 1, 8, 8), 1 / 8)
    with pytest.raises(ValueError, match="up to 4 tokens"):
        attention_flow(weights, limit=4)
    with pytest.raises(ValueError, match="up to 4 tokens"):
        flow_into(weights, 0, limit=4)
    with pytest.raises(ValueError, match="sum to 1"):
        flow_into(weights, np.ones(8))


def test_flow_on_minilm(minilm):
    trace = minilm.trace("Time flies like an arrow.")
    flow = attention_flow(trace.attentions)
    assert flow.shape == (len(trace), len(trace))
    assert (flow <= 1 + 1e-6).all() and (np.diag(flow) >= RESIDUAL - 1e-6).all()
    pooled = flow_into(trace.attentions, np.full(len(trace), 1 / len(trace)))
    # The pooled output reads each token through a pipe of 1/T: what j sends it through token i is at most
    # min(1/T, flow[i, j]), and sending it all through one token i is possible.
    n = len(trace)
    assert (pooled <= np.minimum(1 / n, flow).sum(axis=0) + 1e-6).all()
    assert (pooled >= np.minimum(1 / n, flow).max(axis=0) - 1e-6).all()


def test_core_does_not_need_networkx():
    from pathlib import Path

    from test_layering import imported_modules

    core = Path(__file__).resolve().parents[1] / "core"
    assert not [f.name for f in core.glob("*.py") if any(m.split(".")[0] == "networkx" for m in imported_modules(f))]


# -- beside rollout on the aggregates page ----------------------------------------------------------------
def chart_titles(at) -> list[str]:
    import json

    return [json.loads(c.proto.spec)["layout"].get("title", {}).get("text", "") for c in at.get("plotly_chart")]


def test_aggregates_page_draws_the_flow_matrix_of_a_sentence():
    from page_helpers import run_page

    at = run_page("attention_aggregate", sentence="Time flies like an arrow.", layer=5)
    assert not at.exception
    assert any(title.startswith("Attention flow through layer 5") for title in chart_titles(at))


def test_aggregates_page_draws_flow_into_one_token_of_a_paragraph():
    import sys
    from pathlib import Path

    from page_helpers import run_page

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from screenshots import PARAGRAPH

    at = run_page("attention_aggregate", sentence=PARAGRAPH, layer=2)
    assert not at.exception
    assert any(title.startswith("Attention flow into #1 through layer 2") for title in chart_titles(at))
