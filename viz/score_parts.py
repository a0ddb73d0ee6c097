"""Figures for "inside one score": q, k and q ⊙ k as bars; what each key token's value writes.

Token text goes through safe() into text and customdata, never into a hovertemplate.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import PLOT_WIDTH, base_layout, colour, label_depth, safe, shorten, token_axis


def score_bars(q: np.ndarray, k: np.ndarray, product: np.ndarray, query: str, key: str,
               title: str | None = None) -> go.Figure:
    """Three rows of bars over the d_head dimensions: q of the query, k of the key, and q ⊙ k
    (green adds to the score, red takes away)."""
    q, k, product = (np.asarray(a, dtype=np.float64) for a in (q, k, product))
    dims = list(range(len(q)))
    fig = make_subplots(rows=3, cols=1, shared_xaxes=True, vertical_spacing=0.07,
                        subplot_titles=[f"q of {safe(shorten(query, 24))}", f"k of {safe(shorten(key, 24))}",
                                        "q ⊙ k  (their sum ÷ √d_head is the score)"])
    for row, (values, col) in enumerate(((q, colour(0)), (k, colour(1))), start=1):
        fig.add_trace(go.Bar(x=dims, y=values, marker_color=col, showlegend=False,
                             hovertemplate="dimension %{x}: %{y:.4f}<extra></extra>"), row=row, col=1)
    fig.add_trace(go.Bar(x=dims, y=product, showlegend=False,
                         marker_color=np.where(product >= 0, "#2b8a3e", "#e03131").tolist(),
                         hovertemplate="dimension %{x}: q·k = %{y:.4f}<extra></extra>"), row=3, col=1)
    base_layout(fig, title, height=560)
    fig.update_xaxes(title_text="dimension of the head", row=3, col=1)
    for ann in fig.layout.annotations:
        ann.update(x=0.0, xanchor="left", font=dict(size=13))
    return fig


def key_shares(weights: np.ndarray, norms: np.ndarray, tokens: Sequence[str],
               positions: Sequence[int] | None = None, title: str | None = None) -> go.Figure:
    """Per key token: its share of the attention weight and its share of what the head writes
    (‖α v W_O‖), each summed over the queries and divided by the total. A token with a tall
    weight bar but a short norm bar is looked at and ignored."""
    weights, norms = np.asarray(weights, dtype=np.float64), np.asarray(norms, dtype=np.float64)
    w_share = weights.sum(axis=0) / max(weights.sum(), 1e-30)
    n_share = norms.sum(axis=0) / max(norms.sum(), 1e-30)
    positions = list(range(len(tokens))) if positions is None else list(positions)
    labels = [f"#{p} {safe(t)}" for p, t in zip(positions, tokens)]
    x = list(range(len(tokens)))
    fig = go.Figure([
        go.Bar(x=x, y=w_share, name="share of attention weight", marker_color="#74c0fc", customdata=labels,
               hovertemplate="%{customdata}: %{y:.1%} of the weight<extra></extra>"),
        go.Bar(x=x, y=n_share, name="share of what the head writes (‖α·v·W_O‖)", marker_color="#e8590c",
               customdata=labels, hovertemplate="%{customdata}: %{y:.1%} of the norm<extra></extra>")])
    x_ticks = token_axis(tokens, PLOT_WIDTH * 0.9, across=True, limit=14)     # thinned, never on each other
    base_layout(fig, title, height=int(320 + label_depth(tokens, x_ticks)))
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
                      margin=dict(t=95 if title else 45))
    fig.update_xaxes(**x_ticks)
    fig.update_yaxes(tickformat=".0%", title="share (summed over queries)")
    return fig
