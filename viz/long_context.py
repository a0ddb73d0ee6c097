"""Figures for long texts: a pooled overview of one head's whole matrix, attention sinks across layers,
how far each head looks against position, and where in the text one head's attention goes.

Each figure draws a fixed number of cells or points whatever the length of the text (blocks of
tokens beyond it), so a 4,096-token text sends the browser about as much as a 512-token one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import PALETTE, WEIGHT_SCALE, base_layout, log_colourscale, log_key, place_log_key, safe, shorten
from .heads import KEY_SHARE, block_pool

OVERVIEW_SIDE = 256   # an overview of one head has at most this many rows and columns of blocks
PROFILE_POINTS = 256  # a curve along the text has at most this many points


def pooled_overview(weights: np.ndarray, positions: Sequence[int] | None = None, window: range | None = None,
                    title: str | None = None, side: int = OVERVIEW_SIDE) -> go.Figure:
    """One head's whole (n, n) matrix, block-pooled to at most side × side: a block's query rows are
    averaged and its key columns summed (viz.heads.block_pool), so rows still sum to 1 and a sink
    column or a diagonal keeps its strength. Log colours; `window` (indices into the matrix) is outlined."""
    weights = np.asarray(weights, dtype=np.float32)
    n = weights.shape[-1]
    pooled, starts = block_pool(weights, side)                                   # (S, S), (S,)
    positions = np.arange(n) if positions is None else np.asarray(positions)
    first = positions[starts]                                                    # (S,) text position of each block
    last = np.append(positions[starts[1:] - 1], positions[-1])                   # (S,) and of its last token
    # Numbers, not strings, in the hover: a typed array of 4·S² small ints is sent as binary (0.7 MB),
    # where S² pairs of labels took seconds to build and validate at 4,096 tokens.
    custom = np.stack(np.broadcast_arrays(first[:, None], last[:, None], first[None, :], last[None, :]),
                      axis=-1)                                                   # (S, S, 4)
    custom = custom.astype(np.uint16 if positions.max() < 2**16 else np.int32)
    zmax = float(max(pooled.max(), 1e-6))
    scale = log_colourscale(WEIGHT_SCALE)
    fig = go.Figure(go.Heatmap(
        z=pooled, x=starts, y=starts, customdata=custom, colorscale=scale, zmin=0.0, zmax=zmax, showscale=False,
        hovertemplate="queries #%{customdata[0]}–%{customdata[1]} → keys #%{customdata[2]}–%{customdata[3]}: "
                      "%{z:.3f}<extra></extra>"))
    if window is not None and len(window) < n:
        edge = dict(color="#e8590c", width=2)
        fig.add_shape(type="rect", x0=window.start - 0.5, x1=window.stop - 0.5, y0=window.start - 0.5,
                      y1=window.stop - 0.5, line=edge)
    fig.add_trace(log_key(zmax, "weight (log scale)", scale))
    place_log_key(fig, zmax, "weight (log scale)", main=KEY_SHARE)
    base_layout(fig, title, height=560)
    fig.update_xaxes(title="key position (attended to)", side="top", range=[-0.5, n - 0.5])
    fig.update_yaxes(title="query position (attending)", autorange="reversed", range=[n - 0.5, -0.5])
    return fig


def percent_cells(shares: np.ndarray) -> list[list[str]]:
    """Each share as a percent for the cell's text: whole percents, tenths when every share is under 10 %."""
    digits = 0 if shares.max() >= 0.1 else 1
    return [[f"{100 * v:.{digits}f}" for v in row] for row in np.asarray(shares, dtype=np.float64)]


def sink_heatmap(first_share: np.ndarray, first_token: str, title: str | None = None) -> go.Figure:
    """(L, H) share of each head's attention on the first token: layers down, heads across."""
    first_share = np.asarray(first_share, dtype=np.float32)
    n_layers, n_heads = first_share.shape
    fig = go.Figure(go.Heatmap(
        z=first_share, x=list(range(n_heads)), y=list(range(n_layers)), colorscale=WEIGHT_SCALE, zmin=0.0,
        zmax=1.0, colorbar=dict(title="share", tickformat=".0%"),
        text=percent_cells(first_share) if first_share.size <= 400 else None,
        texttemplate="%{text}" if first_share.size <= 400 else None,
        hovertemplate="layer %{y} · head %{x}: %{z:.1%} of its attention on the first token<extra></extra>"))
    base_layout(fig, title, height=int(min(900, 170 + 26 * n_layers)))
    fig.update_xaxes(title=f"head (share on the first token, {safe(shorten(first_token, 12))})", dtick=1)
    fig.update_yaxes(title="layer", dtick=1, autorange="reversed")
    return fig


def binned(values: np.ndarray, points: int = PROFILE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """(…, T) -> (…, B) means over B bins of consecutive positions, and each bin's middle position."""
    values = np.asarray(values, dtype=np.float64)
    t = values.shape[-1]
    if t <= points:
        return values, np.arange(t, dtype=np.float64)
    starts = np.linspace(0, t, points + 1).astype(int)
    widths = np.diff(starts)
    sums = np.add.reduceat(values, starts[:-1], axis=-1)                    # (…, B)
    return sums / widths, (starts[:-1] + (widths - 1) / 2)


def sinks_by_layer(first_share: np.ndarray, even: float, title: str | None = None) -> go.Figure:
    """(L, H) share on the first token -> across layers: the mean over a layer's heads and its strongest
    head, beside the share a head spreading its attention evenly would give (`even`)."""
    first_share = np.asarray(first_share, dtype=np.float64)
    layers = np.arange(first_share.shape[0])
    strongest = first_share.argmax(axis=1)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=layers, y=first_share.max(axis=1), mode="lines+markers", name="strongest head",
                             customdata=strongest, line=dict(color=PALETTE[1], width=1.6),
                             hovertemplate="layer %{x}: head %{customdata}, %{y:.1%}<extra></extra>"))
    fig.add_trace(go.Scatter(x=layers, y=first_share.mean(axis=1), mode="lines+markers", name="mean of the heads",
                             line=dict(color=PALETTE[0], width=2.2),
                             hovertemplate="layer %{x}: %{y:.1%} on average<extra></extra>"))
    fig.add_trace(go.Scatter(x=[layers[0], layers[-1]], y=[even, even], mode="lines", name="attention spread evenly",
                             line=dict(color="#868e96", dash="dot", width=1), hoverinfo="skip"))
    base_layout(fig, title, height=340)
    fig.update_xaxes(title="layer", dtick=1 if len(layers) <= 32 else None)
    fig.update_yaxes(title="share on the first token", tickformat=".0%", range=[0, 1.02])
    return fig


def distance_profile(distances: np.ndarray, heads: Sequence[int], layer: int, title: str | None = None,
                     even: np.ndarray | None = None, chosen: int | None = None) -> go.Figure:
    """(H, T) each head's mean attention distance Σ_k w_ik |i − k| at each query position i, one line per
    head of `layer`, averaged over bins of positions; the diagonal y = x is a head that looks at the start,
    `even` (T,) a head spreading its attention evenly, and the `chosen` head is drawn thicker."""
    curves, middle = binned(distances)                                       # (H, B), (B,)
    fig = go.Figure()
    for i, head in enumerate(heads):
        fig.add_trace(go.Scatter(x=middle, y=curves[i], mode="lines", name=f"head {head}",
                                 line=dict(color=PALETTE[head % len(PALETTE)], width=3.2 if head == chosen else 1.4),
                                 hovertemplate=f"head {head}<br>query ≈ #%{{x:.0f}}: looks %{{y:.1f}} "
                                               "positions away<extra></extra>"))
    top = float(middle[-1]) if len(middle) else 1.0
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="all on the first token",
                             line=dict(color="#868e96", dash="dot", width=1), hoverinfo="skip"))
    if even is not None:
        flat, _ = binned(even)
        fig.add_trace(go.Scatter(x=middle, y=flat, mode="lines", name="spread evenly",
                                 line=dict(color="#868e96", dash="dash", width=1), hoverinfo="skip"))
    base_layout(fig, title, height=420)
    fig.update_xaxes(title="query position")
    fig.update_yaxes(title=f"mean distance looked (layer {layer})", rangemode="tozero")
    return fig


def received_profile(received: np.ndarray, stretches: Sequence[tuple[int, int, str]] = (),
                     title: str | None = None) -> go.Figure:
    """(T,) the share of one head's attention each key position receives (averaged over queries), summed
    over bins of positions, with its busiest stretches shaded and numbered (`stretches`: start, stop, label)."""
    received = np.asarray(received, dtype=np.float64)
    t = received.shape[-1]
    means, middle = binned(received)
    width = t / len(means)
    fig = go.Figure(go.Scatter(x=middle, y=means * width, mode="lines", fill="tozeroy", name="share",
                               line=dict(color="#1c7ed6", width=1.4), showlegend=False,
                               hovertemplate="keys ≈ #%{x:.0f}: %{y:.2%} of the attention<extra></extra>"))
    for start, stop, label in stretches:
        fig.add_vrect(x0=start - 0.5, x1=stop - 0.5, fillcolor="#e8590c", opacity=0.18, line_width=0,
                      annotation_text=safe(label), annotation_position="top left",
                      annotation_font=dict(color="#c2410c", size=12))
    base_layout(fig, title, height=360)
    fig.update_xaxes(title="key position in the text", range=[-0.5, t - 0.5])
    fig.update_yaxes(title="share of the attention" + (f" (per {width:.0f} positions)" if width > 1 else ""),
                     tickformat=".1%", rangemode="tozero")
    return fig
