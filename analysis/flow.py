"""Attention flow (Abnar & Zuidema, 2020): attention as pipes, and how much can get through them.

The layers of a model become a graph. Its nodes are every token at every layer, (l, t) for
l = 0 … L (layer 0 = the input tokens, layer l + 1 = the output of block l). Block l joins
token j at layer l to token i at layer l + 1 by a pipe of capacity

    C_l[i, j] = (1 − r)·(mean over heads of layer l's weights)[i, j] + r·[i = j]     r = 0.5

the layer's mean head plus the skip connection, as in rollout (analysis/rollout.py). Rows of the
weights sum to 1, so each row of C_l sums to 1 as it is: unlike `add_residual`, nothing is
renormalised here (renormalising such rows would change nothing anyway).

    flow[i, j] = the maximum flow from input token j, node (0, j), to output position i, node (L, i)

Rollout multiplies the matrices: it adds up every path, each the product of its pipes. Flow asks
how much can really get through at once when pipes are shared by many paths: a bottleneck in any
layer limits it. Everything that reaches (L, i) comes through pipes whose capacities sum to 1,
so a flow is between 0 and 1, and the skip path j → j → … → j alone carries r, so flow[i, i] ≥ r.

How it is solved: one maximum-flow problem per (output, input) pair, with scipy's Dinic
algorithm (scipy.sparse.csgraph.maximum_flow). That solver needs integer capacities, so each
capacity is multiplied by SCALE = 2²⁴ and rounded. A flow's value is the capacity of a minimum
cut, so the rounding moves it by at most (edges in that cut) / 2²⁵: under 4·10⁻⁶ for 6 tokens in
3 layers (at most 108 edges), under 4·10⁻³ in the very worst case of 143 tokens in 6 layers.

Cost: a graph of (L + 1)·T nodes and L·T² pipes; measured for MiniLM (6 layers), CPU seconds on
one core (bench/flow.py): one output (T problems) 0.02 s at 8 tokens, 1 s at 143 and 5 s at 256;
the whole (T, T) matrix (T² problems) 0.7 s at 32 tokens, 2.4 s at 48, 6 s at 64 and about two
minutes at 143. Hence the two limits below.

No networkx here (the tests check this solver against networkx's on small graphs).
"""
from __future__ import annotations

from typing import Callable, Optional

import numpy as np

RESIDUAL = 0.5          # the skip connection's share, as in the paper
SCALE = 2 ** 24         # capacities × SCALE, rounded: the solver works on integers
FULL_LIMIT = 48         # the whole (T, T) matrix up to this many tokens (T² problems, ≈2.4 s at 48)
ROW_LIMIT = 160         # flow into one output up to this many tokens (T problems, ≈1 s at 143)


def capacities(attentions: np.ndarray, residual: float = RESIDUAL) -> np.ndarray:
    """(L, H, T, T) weights -> (L, T, T) pipes: (1 − residual)·mean over heads + residual·I."""
    attentions = np.asarray(attentions, dtype=np.float64)
    if attentions.ndim != 4 or attentions.shape[-1] != attentions.shape[-2]:
        raise ValueError(f"attentions must be (layers, heads, T, T), got {attentions.shape}")
    if not 0.0 <= residual <= 1.0:
        raise ValueError(f"residual must be between 0 and 1, got {residual}")
    eye = np.eye(attentions.shape[-1])
    return (1.0 - residual) * attentions.mean(axis=1) + residual * eye   # (L, T, T)


def _graph(capacity: np.ndarray, readout: Optional[np.ndarray] = None):
    """The layered graph as a sparse matrix: entry [u, v] is the integer capacity of the pipe u → v.

    Node (l, t) is number l·T + t. With `readout` (T,), one more node, number (L + 1)·T, is
    added after the last layer and each (L, i) feeds it by a pipe of capacity readout[i].
    """
    from scipy.sparse import csr_array   # here, not at the top: scipy's graph module takes a second to import
    n_layers, n_tokens, _ = capacity.shape
    starts, ends, values = [], [], []
    for layer in range(n_layers):
        i, j = np.nonzero(capacity[layer] > 0)          # a causal mask leaves half the pipes out
        starts.append(layer * n_tokens + j)              # from token j at layer l …
        ends.append((layer + 1) * n_tokens + i)          # … to token i at layer l + 1
        values.append(capacity[layer][i, j])
    n_nodes = (n_layers + 1) * n_tokens
    if readout is not None:
        i = np.flatnonzero(readout > 0)
        starts.append(n_layers * n_tokens + i)
        ends.append(np.full(len(i), n_nodes))
        values.append(readout[i])
        n_nodes += 1
    ints = np.rint(np.concatenate(values) * SCALE).astype(np.int32)
    return csr_array((ints, (np.concatenate(starts), np.concatenate(ends))), shape=(n_nodes, n_nodes))


def _max_flow(graph, source: int, sink: int) -> float:
    from scipy.sparse.csgraph import maximum_flow

    return maximum_flow(graph, source, sink, method="dinic").flow_value / SCALE


def attention_flow(attentions: np.ndarray, residual: float = RESIDUAL, limit: int = FULL_LIMIT,
                   progress: Optional[Callable[[float], None]] = None) -> np.ndarray:
    """(L, H, T, T) -> (T, T): entry [i, j] is the maximum flow from input token j to output position i.

    T² max-flow problems: refused above `limit` tokens (ValueError; use `flow_into` for one output).
    The paper's code then divides each row by its sum; these are the raw flows (each between 0 and 1).
    progress(fraction) after every output row (a page's progress bar).
    """
    capacity = capacities(attentions, residual)                  # (L, T, T)
    n_layers, n_tokens, _ = capacity.shape
    if n_tokens > limit:
        raise ValueError(f"the whole flow matrix is {n_tokens}² = {n_tokens ** 2:,} max-flow problems; it is "
                         f"computed up to {limit} tokens (this text has {n_tokens}). Flow into one output "
                         "position is offered instead.")
    flow = np.zeros((n_tokens, n_tokens))
    if n_layers == 0:                                            # no layers: each token is only itself
        return np.eye(n_tokens)
    graph = _graph(capacity)
    # In a causal model nothing flows from a later token (no pipe ever points back): skip those.
    causal = all(not np.triu(capacity[layer], 1).any() for layer in range(n_layers))
    for i in range(n_tokens):
        for j in range(i + 1 if causal else n_tokens):
            flow[i, j] = _max_flow(graph, j, n_layers * n_tokens + i)
        if progress is not None:
            progress((i + 1) / n_tokens)
    return flow


def flow_into(attentions: np.ndarray, readout, residual: float = RESIDUAL, limit: int = ROW_LIMIT,
              progress: Optional[Callable[[float], None]] = None) -> np.ndarray:
    """(L, H, T, T) -> (T,): the maximum flow from each input token into one output.

    readout: an output position i (then the result is row i of `attention_flow`), or (T,)
    non-negative weights that sum to 1, how the output reads the last layer: 1/T each for a
    sentence embedding that averages every token. The readout is then one more layer of pipes,
    into a single node, and the flow goes into that node. T problems: refused above `limit` tokens.
    progress(fraction) every 16 problems. Memory is no concern here: the graph has L·T² pipes,
    under 2 MB at the limit; the cost is CPU time, which the job queue bounds.
    """
    capacity = capacities(attentions, residual)                  # (L, T, T)
    n_layers, n_tokens, _ = capacity.shape
    if np.ndim(readout) == 0:
        position = int(readout)
        if not -n_tokens <= position < n_tokens:
            raise ValueError(f"output position must be in 0..{n_tokens - 1}, got {position}")
        weights = np.zeros(n_tokens)
        weights[position] = 1.0
    else:
        weights = np.asarray(readout, dtype=np.float64)
        if weights.shape != (n_tokens,) or (weights < 0).any() or not np.isclose(weights.sum(), 1.0):
            raise ValueError(f"readout must be {n_tokens} non-negative weights that sum to 1")
    if n_tokens > limit:
        raise ValueError(f"flow into one output is {n_tokens} max-flow problems on a graph of "
                         f"{n_layers * n_tokens ** 2:,} pipes; it is computed up to {limit} tokens "
                         f"(this text has {n_tokens}).")
    if n_layers == 0:
        return weights.copy()
    graph = _graph(capacity, weights)
    sink = (n_layers + 1) * n_tokens
    flow = np.zeros(n_tokens)
    for j in range(n_tokens):
        flow[j] = _max_flow(graph, j, sink)
        if progress is not None and (j % 16 == 15 or j == n_tokens - 1):
            progress((j + 1) / n_tokens)
    return flow
