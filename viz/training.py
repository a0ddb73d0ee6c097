"""Figures for training: loss curves, next-token probabilities, one step's numbers,
cross-attention, and the embedding table before and after training."""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import HEAD_COLOURS, base_layout, colour, percent_ticks, safe, shorten


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
                      yaxis2=dict(title="exact match (%)", overlaying="y", side="right", range=[0, 102],
                                  tickvals=[0, 20, 40, 60, 80, 100], showgrid=False),
                      legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


def token_probabilities(probs: np.ndarray, vocabulary: Sequence[str], k: int = 15,
                        highlight: Optional[int] = None, title: Optional[str] = None,
                        xmax: Optional[float] = None) -> go.Figure:
    """The k most likely next tokens as horizontal bars, the most likely on top.
    xmax: the probability axis's end; give two charts the same one to compare them by eye."""
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
    fig.update_xaxes(title="probability", range=[0, xmax or probability_axis_end(probs[top].max())])
    return fig


def probability_axis_end(*largest: float) -> float:
    """The end of a probability axis that fits the largest bar (and its label) of every chart given."""
    return min(1.0, float(max(largest)) * 1.25 + 0.02)


def logits_to_loss(logits: np.ndarray, probs: np.ndarray, vocabulary: Sequence[str], target: int,
                   k: int = 12) -> go.Figure:
    """Side by side for the top-k tokens (and the target): the logit, then softmax's probability.
    The probability axis ends just past the largest bar: an untrained model's probabilities are all
    near 1/vocab, and on a 0–1 axis that panel would look empty."""
    order = list(np.argsort(-probs)[:k])
    if target not in order:
        order.append(target)
    labels = [safe(shorten(vocabulary[i], 20)) + (" ◀ target" if i == target else "") for i in order]
    colours = [HEAD_COLOURS[1] if i == target else HEAD_COLOURS[0] for i in order]
    rows = list(range(len(order)))
    custom = np.array(labels, dtype=object)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.06,
                        subplot_titles=["logit (score)", "softmax probability"])
    fig.add_bar(x=[float(logits[i]) for i in order], y=rows, orientation="h", marker_color=colours,
                customdata=custom, text=[f"{logits[i]:.2f}" for i in order], textposition="auto",
                hovertemplate="%{customdata}: logit %{x:.3f}<extra></extra>", row=1, col=1)
    fig.add_bar(x=[float(probs[i]) for i in order], y=rows, orientation="h", marker_color=colours,
                customdata=custom, text=[f"{probs[i]:.2%}" if probs[i] >= 1e-3 else f"{probs[i]:.1e}" for i in order],
                textposition="outside",
                cliponaxis=False, hovertemplate="%{customdata}: p = %{x:.4f}<extra></extra>", row=1, col=2)
    base_layout(fig, None, height=max(320, 90 + 26 * len(order)))
    fig.update_layout(showlegend=False, bargap=0.25, margin=dict(t=40))
    fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=rows, ticktext=labels, row=1, col=1)
    fig.update_xaxes(title="logit", zeroline=True, zerolinecolor="#868e96", row=1, col=1)
    end = min(1.0, float(probs[order].max()) * 1.3) or 1.0
    fig.update_xaxes(title="probability", range=[0, end], **percent_ticks(end), row=1, col=2)
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
    """Each dimension of one token's embedding before and after the step (top), and the change
    (bottom): the change is often a thousand times smaller than the values, so it gets its own panel."""
    d = min(len(before), max_dims)
    dims = list(range(d))
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.55, 0.45],
                        subplot_titles=["value before and after", "change (after − before)"])
    # The two sit almost on top of each other (a step moves little): "before" a ring, "after" a dot
    # that shows inside it, each big enough to see.
    fig.add_scatter(x=dims, y=before[:d], mode="markers", name="before",
                    marker=dict(color="#868e96", size=11, symbol="circle-open", line=dict(width=2)),
                    hovertemplate="dim %{x}: before %{y:.4f}<extra></extra>", row=1, col=1)
    fig.add_scatter(x=dims, y=after[:d], mode="markers", name="after", marker=dict(color=HEAD_COLOURS[0], size=6),
                    hovertemplate="dim %{x}: after %{y:.4f}<extra></extra>", row=1, col=1)
    fig.add_bar(x=dims, y=(after - before)[:d], name="change", marker_color=HEAD_COLOURS[1], showlegend=False,
                hovertemplate="dim %{x}: change %{y:.2e}<extra></extra>", row=2, col=1)
    shown = "" if d == len(before) else f" (first {d} of {len(before)} dimensions)"
    base_layout(fig, f"Embedding of {shorten(token, 24)!r}, dimension by dimension{shown}", height=460)
    fig.update_xaxes(title="dimension", row=2, col=1)
    fig.update_yaxes(title="value", row=1, col=1)
    fig.update_yaxes(title="change", exponentformat="power", row=2, col=1)
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig


def embedding_map(points: np.ndarray, words: Sequence[str], groups: Sequence[str],
                  title: Optional[str] = None, explained: Optional[Sequence[float]] = None,
                  ranges: Optional[tuple[Sequence[float], Sequence[float]]] = None) -> go.Figure:
    """Words as points in a 2-D PCA of an embedding table, coloured by group. A word is written
    beside its point only where it does not cover another word; every point names itself on hover.
    ranges: fixed (x, y) axis ranges, so maps of several training steps can be compared."""
    points = np.asarray(points, dtype=np.float64)
    spans = ranges if ranges is not None else (_span(points[:, 0]), _span(points[:, 1]))
    # The plot area of a half-width column (two maps side by side), the smallest this map is drawn at:
    # a label kept there never touches another at any width.
    written = labels_that_fit(points, words, spans, width_px=340, height_px=280)
    fig = go.Figure()
    for g_index, group in enumerate(dict.fromkeys(groups)):
        idx = [i for i, g in enumerate(groups) if g == group]
        labels = [safe(words[i]) for i in idx]
        fig.add_scatter(x=points[idx, 0], y=points[idx, 1], mode="markers+text", name=safe(group),
                        text=[label if i in written else "" for i, label in zip(idx, labels)],
                        textposition="top center", customdata=np.array(labels, dtype=object),
                        marker=dict(size=9, color=colour(g_index)),
                        hovertemplate="%{customdata}<extra></extra>")
    base_layout(fig, title, height=440)
    ex = explained if explained is not None else (None, None)
    fig.update_xaxes(title="PC 1" + (f" ({ex[0]:.0%} of variance)" if ex[0] is not None else ""), zeroline=False)
    fig.update_yaxes(title="PC 2" + (f" ({ex[1]:.0%})" if ex[1] is not None else ""), zeroline=False)
    fig.update_layout(legend=dict(orientation="h", y=-0.15))
    if ranges is not None:
        fig.update_xaxes(range=list(ranges[0]))
        fig.update_yaxes(range=list(ranges[1]))
    return fig


def _span(values: np.ndarray) -> tuple[float, float]:
    low, high = float(values.min()), float(values.max())
    return low, (high if high > low else low + 1.0)


def labels_that_fit(points: np.ndarray, words: Sequence[str], spans, width_px: float = 460,
                    height_px: float = 340, char_px: float = 7.5, line_px: float = 16) -> set[int]:
    """Which points get a written label: greedily, in order, each label box (above its point, in pixels
    of a plot about `width_px` × `height_px`) must not overlap a box already placed."""
    (x0, x1), (y0, y1) = spans
    sx, sy = width_px / max(x1 - x0, 1e-12), height_px / max(y1 - y0, 1e-12)
    placed: list[tuple[float, float, float, float]] = []
    kept = set()
    for i, (x, y) in enumerate(points[:, :2]):
        half = len(str(words[i])) * char_px / 2
        box = (x * sx - half - 2, y * sy + 6, x * sx + half + 2, y * sy + 6 + line_px)   # 2 px apart at least
        if all(box[2] <= b[0] or box[0] >= b[2] or box[3] <= b[1] or box[1] >= b[3] for b in placed):
            placed.append(box)
            kept.add(i)
    return kept


def statistic_curve(steps: Sequence[int], values: np.ndarray, current: int, statistic: str,
                    names: Sequence[str], highlight: Optional[int] = None, title: Optional[str] = None) -> go.Figure:
    """One line per head of a statistic across training steps (values: (N steps, H)), their mean dashed,
    and a marker at the step shown: the step where a head forms is where its line climbs."""
    values = np.asarray(values, dtype=np.float64)
    fig = go.Figure()
    for h in range(values.shape[1]):
        wide = h == highlight
        fig.add_scatter(x=list(steps), y=values[:, h], mode="lines", name=safe(names[h]),
                        line=dict(color=colour(h), width=3.5 if wide else 1.5), opacity=1.0 if wide else 0.75,
                        hovertemplate=f"{safe(names[h])}, step %{{x}}: %{{y:.2f}}<extra></extra>")
    fig.add_scatter(x=list(steps), y=values.mean(axis=1), mode="lines", name="mean of heads",
                    line=dict(color="#495057", dash="dash", width=2),
                    hovertemplate="mean of heads, step %{x}: %{y:.2f}<extra></extra>")
    fig.add_vline(x=current, line=dict(color="#e03131", width=2),
                  annotation_text=f"step {current:,}", annotation_position="top")
    base_layout(fig, title, height=300)
    fig.update_xaxes(title="training step", rangemode="tozero")
    fig.update_yaxes(title=safe(statistic), range=[0, 1.05], tickformat=".0%")
    fig.update_layout(legend=dict(orientation="h", y=-0.3, yanchor="top", x=0))
    return fig


def square_cells(fig: go.Figure, n_rows: int, n_cols: int, cell: int = 40) -> go.Figure:
    """Size a heatmap to its cells (a dozen letters at most), so that its colour bar sits right beside
    it instead of at the far edge of a wide column. Draw it at its own width (not stretched)."""
    fig.update_layout(width=n_cols * cell + 260, height=n_rows * cell + 190)
    return fig
