"""Rotary position embeddings (RoPE) drawn: the angle of every dimension pair at every position,
and one head's query pairs as 2-D arrows before and after the turn.

Plain arrays in (angles, q before and after the rotation), go.Figure out; token text through safe().
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import base_layout, colour, safe, shorten

PHASE_SCALE = "Twilight"   # cyclic: 0 and 2π get the same colour, as they are the same turn


def rotary_angle_heatmap(angles: np.ndarray, title: str) -> go.Figure:
    """angles (T, d_head/2) in radians -> heatmap of each pair's angle modulo 2π, positions × pairs.
    Pair 0 turns one radian per position (the colours cycle fast); the last pairs barely move."""
    angles = np.asarray(angles, dtype=np.float64)
    t, pairs = angles.shape
    turned = np.mod(angles, 2 * np.pi)
    hover = np.array([[f"position {p}, pair {i}: {angles[p, i]:.3f} rad = {np.degrees(turned[p, i]):.0f}° "
                       f"(mod 360°)" for i in range(pairs)] for p in range(t)], dtype=object)
    fig = go.Figure(go.Heatmap(z=turned, x=list(range(pairs)), y=list(range(t)), zmin=0, zmax=2 * np.pi,
                               colorscale=PHASE_SCALE, customdata=hover,
                               hovertemplate="%{customdata}<extra></extra>",
                               colorbar=dict(title=dict(text="angle", side="right"),
                                             tickvals=[0, np.pi / 2, np.pi, 3 * np.pi / 2, 2 * np.pi],
                                             ticktext=["0", "90°", "180°", "270°", "360°"])))
    base_layout(fig, title, height=380)
    fig.update_xaxes(title_text="dimension pair i (fast → slow)")
    fig.update_yaxes(title_text="position", autorange="reversed")
    return fig


def rotary_arrows(q_raw: np.ndarray, q_rot: np.ndarray, positions: Sequence[int], pairs: Sequence[int],
                  tokens: Sequence[str], title: str) -> go.Figure:
    """One subplot per dimension pair: for each chosen position, the query's pair as a 2-D arrow
    before the rotation (dashed, faint) and after it (solid), same colour per token.

    q_raw, q_rot: (T, d_head) one head's query before and after RoPE; pair i is (dim i, dim i + d_head/2).
    Rotation keeps each arrow's length: only its direction changes, by position × frequency of the pair.
    """
    q_raw, q_rot = np.asarray(q_raw, dtype=np.float64), np.asarray(q_rot, dtype=np.float64)
    half = q_raw.shape[1] // 2
    fig = make_subplots(rows=1, cols=len(pairs), horizontal_spacing=0.08,
                        subplot_titles=[f"pair {i} (dims {i} & {i + half})" for i in pairs])
    for c, pair in enumerate(pairs, start=1):
        reach = 1e-9
        for n, pos in enumerate(positions):
            label = safe(f"{pos} · {shorten(tokens[pos], 14)}")
            for vec, before in ((q_raw[pos], True), (q_rot[pos], False)):
                x, y = vec[pair], vec[pair + half]
                reach = max(reach, abs(x), abs(y))
                fig.add_trace(go.Scatter(
                    x=[0, x], y=[0, y], mode="lines+markers", legendgroup=label, name=label,
                    showlegend=c == 1 and not before,
                    line=dict(color=colour(n), width=1.5 if before else 3, dash="dot" if before else "solid"),
                    opacity=0.45 if before else 1.0,
                    marker=dict(symbol="arrow", size=[0, 11], angleref="previous", color=colour(n)),
                    customdata=[label, label],
                    hovertemplate=("before" if before else "after") + " the rotation, %{customdata}: "
                                  "(%{x:.3f}, %{y:.3f})<extra></extra>"), row=1, col=c)
        lim = reach * 1.15
        fig.update_xaxes(range=[-lim, lim], zeroline=True, row=1, col=c)
        fig.update_yaxes(range=[-lim, lim], zeroline=True, scaleanchor=f"x{c if c > 1 else ''}", row=1, col=c)
    base_layout(fig, title, height=420)
    fig.update_layout(legend=dict(title_text="after the turn (dotted: before)", orientation="h", y=-0.12))
    return fig
