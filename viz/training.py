"""Figures for training: loss curves, next-token probabilities, one step's numbers,
cross-attention, and the embedding table before and after training."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from .common import HEAD_COLOURS, base_layout, colour, safe, shorten


def loss_curve(steps: Sequence[int], train: Sequence[float], val: Sequence[float],
               target: Optional[float] = None, uniform: Optional[float] = None,
               title: str = "Loss while training") -> go.Figure:
    """Training and validation cross-entropy per report; flat lines for a target and for guessing."""
    fig = go.Figure()
    fig.add_scatter(x=list(steps), y=list(train), mode="lines+markers", name="training loss",
                    line=dict(color=HEAD_COLOURS[0]), marker=dict(size=4),
                    hovertemplate="step %{x}: training loss %{y:.3f}<extra></extra>")
    fig.add_scatter(x=list(steps), y=list(val), mode="lines+markers", name="validation loss (held out)",
                    line=dict(color=HEAD_COLOURS[1]), marker=dict(size=4),
                    hovertemplate="step %{x}: validation loss %{y:.3f}<extra></extra>")
    if uniform is not None:
        fig.add_hline(y=uniform, line=dict(color="#adb5bd", dash="dot"),
                      annotation_text=f"guessing uniformly: ln(vocab) = {uniform:.2f}",
                      annotation_position="top right")
    if target is not None:
        fig.add_hline(y=target, line=dict(color="#2b8a3e", dash="dash"),
                      annotation_text=f"target {target:.2f}", annotation_position="bottom right")
    base_layout(fig, title, height=360)
    fig.update_xaxes(title="step (optimizer updates)", rangemode="tozero")
    fig.update_yaxes(title="cross-entropy (nats per token)", rangemode="tozero")
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


def accuracy_curve(steps: Sequence[int], loss: Sequence[float], acc: Sequence[float],
                   title: str = "Encoder–decoder training") -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=list(steps), y=list(loss), name="training loss", mode="lines+markers",
                    line=dict(color=HEAD_COLOURS[0]), hovertemplate="step %{x}: loss %{y:.3f}<extra></extra>")
    fig.add_scatter(x=list(steps), y=[100 * a for a in acc], name="held-out exact match (%)", yaxis="y2",
                    mode="lines+markers", line=dict(color=HEAD_COLOURS[2]),
                    hovertemplate="step %{x}: %{y:.1f}% exactly right<extra></extra>")
    base_layout(fig, title, height=340)
    fig.update_layout(xaxis=dict(title="step"), yaxis=dict(title="loss", rangemode="tozero"),
                      yaxis2=dict(title="exact match (%)", overlaying="y", side="right", range=[0, 102]),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


def token_probabilities(probs: np.ndarray, vocabulary: Sequence[str], k: int = 15,
                        highlight: Optional[int] = None, title: Optional[str] = None) -> go.Figure:
    """The k most likely next tokens as horizontal bars, the most likely on top."""
    probs = np.asarray(probs, dtype=np.float64)
    top = np.argsort(-probs)[:k]
    labels = [safe(shorten(vocabulary[i], 24)) for i in top]
    colours = [HEAD_COLOURS[1] if i == highlight else HEAD_COLOURS[0] for i in top]
    fig = go.Figure(go.Bar(
        x=probs[top], y=list(range(len(top))), orientation="h", marker_color=colours,
        customdata=np.array(labels, dtype=object), text=[f"{p:.1%}" for p in probs[top]],
        textposition="auto", cliponaxis=False,   # inside a long bar (a 99 % bar reaches the edge), outside a short one
        hovertemplate="%{customdata}: %{x:.4f}<extra></extra>"))
    base_layout(fig, title, height=max(260, 60 + 24 * len(top)))
    fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=list(range(len(top))), ticktext=labels)
    fig.update_xaxes(title="probability", range=[0, min(1.0, float(probs[top].max()) * 1.25 + 0.02)])
    return fig


def logits_to_loss(logits: np.ndarray, probs: np.ndarray, vocabulary: Sequence[str], target: int,
                   k: int = 12) -> go.Figure:
    """Side by side for the top-k tokens (and the target): the logit, then softmax's probability."""
    order = list(np.argsort(-probs)[:k])
    if target not in order:
        order.append(target)
    labels = [safe(shorten(vocabulary[i], 20)) + (" ◀ target" if i == target else "") for i in order]
    colours = [HEAD_COLOURS[1] if i == target else HEAD_COLOURS[0] for i in order]
    fig = go.Figure()
    fig.add_bar(x=[float(logits[i]) for i in order], y=list(range(len(order))), orientation="h",
                marker_color=colours, name="logit", xaxis="x", customdata=np.array(labels, dtype=object),
                hovertemplate="%{customdata}: logit %{x:.3f}<extra></extra>")
    fig.add_bar(x=[float(probs[i]) for i in order], y=list(range(len(order))), orientation="h",
                marker_color=colours, name="probability", xaxis="x2", customdata=np.array(labels, dtype=object),
                hovertemplate="%{customdata}: p = %{x:.4f}<extra></extra>")
    base_layout(fig, None, height=max(300, 70 + 26 * len(order)))
    fig.update_layout(showlegend=False, bargap=0.25,
                      xaxis=dict(domain=[0, 0.46], title="logit (score)"),
                      xaxis2=dict(domain=[0.54, 1], title="softmax probability", range=[0, 1]),
                      yaxis=dict(autorange="reversed", tickmode="array", tickvals=list(range(len(order))),
                                 ticktext=labels))
    return fig


def gradient_norms(norms: Mapping[str, float], title: str = "Gradient norm of each part") -> go.Figure:
    names = list(norms)
    fig = go.Figure(go.Bar(x=names, y=[norms[n] for n in names], marker_color=HEAD_COLOURS[4],
                           text=[f"{norms[n]:.3g}" for n in names], textposition="outside", cliponaxis=False,
                           hovertemplate="%{x}: ‖∇‖ = %{y:.4g}<extra></extra>"))
    base_layout(fig, title, height=320)
    fig.update_yaxes(title="‖gradient‖ (L2)")
    return fig


def embedding_move(before: np.ndarray, after: np.ndarray, token: str, max_dims: int = 64) -> go.Figure:
    """Each dimension of one token's embedding before and after the step, and the change."""
    d = min(len(before), max_dims)
    dims = list(range(d))
    fig = go.Figure()
    fig.add_bar(x=dims, y=(after - before)[:d], name="change (after − before)", marker_color=HEAD_COLOURS[1],
                yaxis="y2", opacity=0.6, hovertemplate="dim %{x}: change %{y:.2e}<extra></extra>")
    fig.add_scatter(x=dims, y=before[:d], mode="markers", name="before", marker=dict(color="#868e96", size=7),
                    hovertemplate="dim %{x}: before %{y:.4f}<extra></extra>")
    fig.add_scatter(x=dims, y=after[:d], mode="markers", name="after", marker=dict(color=HEAD_COLOURS[0], size=4),
                    hovertemplate="dim %{x}: after %{y:.4f}<extra></extra>")
    base_layout(fig, f"Embedding of {shorten(token, 24)!r}, dimension by dimension", height=340)
    fig.update_layout(xaxis=dict(title="dimension"), yaxis=dict(title="value"),
                      yaxis2=dict(title="change", overlaying="y", side="right", showgrid=False),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


def embedding_map(points: np.ndarray, words: Sequence[str], groups: Sequence[str],
                  title: Optional[str] = None, explained: Optional[Sequence[float]] = None) -> go.Figure:
    """Words as points in a 2-D PCA of an embedding table, coloured by group."""
    fig = go.Figure()
    for g_index, group in enumerate(dict.fromkeys(groups)):
        idx = [i for i, g in enumerate(groups) if g == group]
        labels = [safe(words[i]) for i in idx]
        fig.add_scatter(x=points[idx, 0], y=points[idx, 1], mode="markers+text", name=safe(group),
                        text=labels, textposition="top center", customdata=np.array(labels, dtype=object),
                        marker=dict(size=9, color=colour(g_index)),
                        hovertemplate="%{customdata}<extra></extra>")
    base_layout(fig, title, height=440)
    ex = explained if explained is not None else (None, None)
    fig.update_xaxes(title="PC 1" + (f" ({ex[0]:.0%} of variance)" if ex[0] is not None else ""), zeroline=False)
    fig.update_yaxes(title="PC 2" + (f" ({ex[1]:.0%})" if ex[1] is not None else ""), zeroline=False)
    fig.update_layout(legend=dict(orientation="h", y=-0.15))
    return fig
