"""Figures for the causal tools: patching maps, direct logit attribution, head detector maps.

Plain numbers in, go.Figure out. Signed quantities (a patch's recovered share, a logit
contribution) share one diverging scale centred at 0; token text goes through `safe()` and
into customdata, never into a hovertemplate.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import (DIVERGING_SCALE, WEIGHT_SCALE, base_layout, clickable_cells, safe, token_axis, PLOT_WIDTH,
                     label_depth)


UP, DOWN = "#b2182b", "#2166ac"     # the ends of DIVERGING_SCALE (RdBu_r): red up, blue down


def _symmetric(values: np.ndarray) -> float:
    finite = np.abs(values[np.isfinite(values)])
    return float(max(finite.max(), 1e-6)) if finite.size else 1.0


def layer_position_map(values: np.ndarray, tokens: Sequence[str], title: str, value_name: str) -> go.Figure:
    """(L, T) values, one per layer and position: layers down, the tokens along the top."""
    values = np.asarray(values, dtype=np.float32)
    n_layers, t = values.shape
    labels = [f"{safe(tok)} (#{i})" for i, tok in enumerate(tokens)]
    custom = np.array([[labels[p] for p in range(t)] for _ in range(n_layers)], dtype=object)   # (L, T)
    zmax = _symmetric(values)
    fig = go.Figure(go.Heatmap(
        z=values, x=list(range(t)), y=list(range(n_layers)), customdata=custom,
        colorscale=DIVERGING_SCALE, zmid=0.0, zmin=-zmax, zmax=zmax,
        colorbar=dict(title=dict(text=safe(value_name), side="right")),
        hovertemplate="layer %{y} · %{customdata}<br>" + safe(value_name) + ": %{z:.3f}<extra></extra>",
    ))
    x_ticks = token_axis(list(tokens), PLOT_WIDTH * 0.85, across=True)
    top = 46 + label_depth(list(tokens), x_ticks) + 24
    base_layout(fig, title, height=int(top + 40 + 34 * n_layers))
    fig.update_layout(margin=dict(t=int(top), b=20), title=dict(yref="container", y=0.99, yanchor="top"))
    fig.update_xaxes(side="top", **x_ticks)
    fig.update_yaxes(title="layer", tickmode="array", tickvals=list(range(n_layers)), autorange="reversed")
    return fig


def layer_head_map(values: np.ndarray, title: str, value_name: str, diverging: bool = True,
                   zmax: float | None = None, clickable: bool = False) -> go.Figure:
    """(L, H) values, one per head, written in each cell (hover names the head). Scores that are
    shares (0 to 1) pass zmax=1, so a map of small scores looks pale rather than stretched dark.
    clickable: a marker on every cell opens that head (common.clickable_cells; ui.attention.head_map)."""
    values = np.asarray(values, dtype=np.float32)
    n_layers, n_heads = values.shape
    if diverging:
        zmax = _symmetric(values)
        colours = dict(colorscale=DIVERGING_SCALE, zmid=0.0, zmin=-zmax, zmax=zmax)
    else:
        finite = values[np.isfinite(values)]
        top = zmax if zmax is not None else (float(max(finite.max(), 1e-6)) if finite.size else 1.0)
        colours = dict(colorscale=WEIGHT_SCALE, zmin=0.0, zmax=top)
    cells = dict(texttemplate="%{z:.2f}", textfont=dict(size=11)) if n_heads <= 16 else {}
    fig = go.Figure(go.Heatmap(
        z=values, x=list(range(n_heads)), y=list(range(n_layers)), **colours, **cells,
        colorbar=dict(title=dict(text=safe(value_name), side="right")),
        hovertemplate="layer %{y} · head %{x}<br>" + safe(value_name) + ": %{z:.3f}<extra></extra>",
    ))
    base_layout(fig, title, height=150 + 40 * n_layers)
    fig.update_layout(title=dict(yref="container", y=0.98, yanchor="top"), margin=dict(t=80))
    fig.update_xaxes(title="head", tickmode="array", tickvals=list(range(n_heads)), side="top")
    fig.update_yaxes(title="layer", tickmode="array", tickvals=list(range(n_layers)), autorange="reversed")
    return clickable_cells(fig, value_name) if clickable else fig


def contribution_bars(names: Sequence[str], values: np.ndarray, title: str, value_name: str) -> go.Figure:
    """One bar per part in the order the parts write (embed, attn 0, mlp 0, ...), signed colours."""
    values = np.asarray(values, dtype=np.float64)
    colours = [UP if v >= 0 else DOWN for v in values]
    fig = go.Figure(go.Bar(
        x=list(range(len(names))), y=values, marker_color=colours, customdata=[safe(n) for n in names],
        hovertemplate="%{customdata}: %{y:.3f}<extra></extra>",
    ))
    base_layout(fig, title, height=340)
    fig.update_xaxes(tickmode="array", tickvals=list(range(len(names))), ticktext=[safe(n) for n in names],
                     tickangle=-45 if len(names) > 14 else 0)
    fig.update_yaxes(title=safe(value_name), zeroline=True, zerolinecolor="#868e96")
    return fig


def loss_by_position(loss: np.ndarray, n: int, start: int, title: str) -> go.Figure:
    """Per-token loss along a repeated sequence, the repeat shaded: low there where induction works."""
    loss = np.asarray(loss, dtype=np.float64)
    fig = go.Figure(go.Scatter(x=list(range(1, len(loss) + 1)), y=loss, mode="lines+markers",
                               hovertemplate="predicting token %{x}: %{y:.2f} nats<extra></extra>"))
    fig.add_vrect(x0=start + n - 0.5, x1=start + 2 * n - 0.5, fillcolor="#74c0fc", opacity=0.18, line_width=0,
                  annotation_text="the repeat", annotation_position="top left")
    base_layout(fig, title, height=300)
    fig.update_xaxes(title="position of the predicted token")
    fig.update_yaxes(title="loss (nats)", rangemode="tozero")
    return fig
