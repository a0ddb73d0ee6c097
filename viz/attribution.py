"""Figures for "which tokens drove it": the sentence shaded by attribution, and methods compared.

Token text goes through safe() into text and customdata, never into a hovertemplate.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from .common import DIVERGING_SCALE, PLOT_WIDTH, base_layout, label_depth, safe, shorten, token_axis

MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"


def _limit(values: np.ndarray) -> float:
    finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    return float(finite.max()) if finite.size and finite.max() > 0 else 1.0


def shaded_tokens(tokens: Sequence[str], scores: Sequence[float], title: str | None = None,
                  positions: Sequence[int] | None = None, width: int = 64, value_name: str = "attribution",
                  limit: float | None = None) -> go.Figure:
    """The tokens left to right in rows of about `width` characters, each on a box shaded by its
    score: red pushes the target up, blue pushes it down, white is zero (scale symmetric about 0,
    ±`limit`, default the largest |score|). Hover gives the position, the token and the value."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(tokens),):
        raise ValueError(f"need one score per token ({len(tokens)}), got shape {scores.shape}")
    positions = list(range(len(tokens))) if positions is None else list(positions)
    limit = limit or _limit(scores)
    boxes, col, line = [], 0, 0
    for tok in tokens:
        n = max(len(shorten(tok, 16)), 1) + 1
        if col and col + n > width:
            col, line = 0, line + 1
        boxes.append((col, n, line))
        col += n + 0.6
    shade = np.clip((np.nan_to_num(scores) / limit + 1) / 2, 0, 1)
    fills = sample_colorscale(DIVERGING_SCALE, list(shade))
    fig = go.Figure()
    for (x, n, y), fill in zip(boxes, fills):   # shapes, not bars: bars would shrink the text
        fig.add_shape(type="rect", x0=x, x1=x + n, y0=-y - 0.4, y1=-y + 0.4, fillcolor=fill,
                      line=dict(width=1, color="#ced4da"), layer="below")
    dark = np.abs(shade - 0.5) > 0.33      # white text on the deepest colours
    fig.add_trace(go.Scatter(
        x=[x + n / 2 for x, n, _ in boxes], y=[-y for _, _, y in boxes], mode="text",
        text=[safe(shorten(t, 16)) for t in tokens], showlegend=False,
        textfont=dict(family=MONO, size=15, color=["#ffffff" if d else "#212529" for d in dark]),
        customdata=[[p, safe(t), f"{s:+.4g}"] for p, t, s in zip(positions, tokens, scores)],
        hovertemplate="#%{customdata[0]} %{customdata[1]}<br>" + value_name + ": %{customdata[2]}<extra></extra>"))
    fig.add_trace(go.Scatter(   # an invisible point that carries the colour bar
        x=[0], y=[0], mode="markers", showlegend=False, hoverinfo="skip",
        marker=dict(size=0.1, opacity=0, color=[0], colorscale=DIVERGING_SCALE, cmin=-limit, cmax=limit,
                    showscale=True, colorbar=dict(title=dict(text=value_name, side="right"), thickness=12,
                                                  lenmode="pixels", len=110, yanchor="top", y=1))))
    n_lines = line + 1
    base_layout(fig, title, height=max(190, (60 if title else 30) + 46 * n_lines + 30))
    fig.update_xaxes(visible=False, range=[-0.5, width + 1])
    fig.update_yaxes(visible=False, range=[-max(n_lines, 2) + 0.45, 0.55])   # boxes keep their height
    return fig


def methods_heatmap(matrix: np.ndarray, methods: Sequence[str], tokens: Sequence[str],
                    positions: Sequence[int] | None = None, title: str | None = None) -> go.Figure:
    """(methods, T) scores, each row divided by its largest |value| so methods with different units
    share one diverging scale (-1 … 1); hover shows the raw value."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.shape != (len(methods), len(tokens)):
        raise ValueError(f"need ({len(methods)}, {len(tokens)}) scores, got {matrix.shape}")
    positions = list(range(len(tokens))) if positions is None else list(positions)
    scaled = matrix / np.array([_limit(row) for row in matrix])[:, None]
    custom = np.array([[[f"#{p} {safe(t)}", f"{v:+.4g}"] for p, t, v in zip(positions, tokens, row)]
                       for row in matrix], dtype=object)
    fig = go.Figure(go.Heatmap(
        z=scaled, x=list(range(len(tokens))), y=list(range(len(methods))), customdata=custom,
        colorscale=DIVERGING_SCALE, zmin=-1, zmax=1, xgap=1, ygap=1,
        # the title written along the bar: above it, it was wider than the margin and cut to "÷ row m"
        colorbar=dict(title=dict(text="÷ row max |·|", side="right"), thickness=12, tickvals=[-1, 0, 1]),
        hovertemplate="%{customdata[0]}<br>%{customdata[1]}  (scaled %{z:.2f})<extra></extra>"))
    x_ticks = token_axis(tokens, PLOT_WIDTH * 0.7, across=True, limit=14)   # level when they fit, else upright
    rows_px = max(150, 48 * len(methods))                                   # the colour bar's title fits along it
    base_layout(fig, title, height=int((60 if title else 30) + rows_px + label_depth(tokens, x_ticks) + 10))
    fig.update_xaxes(**x_ticks)
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(methods))), ticktext=[safe(m) for m in methods],
                     autorange="reversed")
    return fig
