"""The lines view (BertViz's head view, in Plotly): queries on the left, keys on the right,
one line per (query, key) pair, thicker and darker where the weight is larger.

Lines are grouped into a few weight bands per head, one trace each, so a 64-token
sentence with 12 heads draws in dozens of traces, not tens of thousands.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import base_layout, colour, safe, safe_all, shorten

MIN_WEIGHT = 0.02          # lines below this weight are skipped (invisible anyway, and slow)
BANDS = (0.02, 0.1, 0.25, 0.5, 0.75, 1.01)   # weight band edges
WIDTHS = (0.6, 1.2, 2.2, 3.5, 5.0)
OPACITIES = (0.18, 0.32, 0.5, 0.7, 0.85)


def _segments(weights: np.ndarray, lo: float, hi: float, rows: np.ndarray) -> tuple[list, list]:
    """x/y of every line with lo <= weight < hi, joined by None gaps into one path."""
    q, k = np.nonzero((weights >= lo) & (weights < hi))
    q = rows[q]
    x = np.tile(np.array([0.0, 1.0, None], dtype=object), len(q)).tolist()
    y = np.empty(3 * len(q), dtype=object)
    y[0::3], y[1::3], y[2::3] = q, k, None
    return x, y.tolist()


def lines_figure(weights: np.ndarray, tokens: Sequence[str], heads: Sequence[int],
                 focus: Sequence[int] | None = None, min_weight: float = MIN_WEIGHT,
                 title: str | None = None, positions: Sequence[int] | None = None) -> go.Figure:
    """weights (H, T, T) of one layer; draw the listed heads, each in its own colour.

    focus: only these query rows (all when None), as hovering a token does in BertViz.
    positions: the tokens' places in the sentence (for a window of a long one), shown on hover.
    """
    weights = np.asarray(weights, dtype=np.float32)
    t = len(tokens)
    if weights.ndim != 3 or weights.shape[1:] != (t, t):
        raise ValueError(f"weights must be (heads, {t}, {t}), got {weights.shape}")
    positions = range(t) if positions is None else positions
    rows = np.arange(t) if focus is None or len(focus) == 0 else np.asarray(sorted(focus))
    fig = go.Figure()
    for head in heads:
        line_colour = colour(head)
        chosen = weights[head][rows]                                  # (rows, T)
        for band, (lo, hi) in enumerate(zip(BANDS[:-1], BANDS[1:])):
            x, y = _segments(chosen, max(lo, min_weight), hi, rows)
            if not x:
                continue
            fig.add_trace(go.Scatter(
                x=x, y=y, mode="lines", hoverinfo="skip", legendgroup=f"h{head}",
                line=dict(color=line_colour, width=WIDTHS[band]), opacity=OPACITIES[band],
                name=f"head {head}", showlegend=False,
            ))
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", line=dict(color=line_colour, width=4),
                                 name=f"head {head}", legendgroup=f"h{head}"))
    labels = [safe(shorten(s, 16)) for s in tokens]   # cut first: never split an &entity;
    for side in (0.0, 1.0):
        fig.add_trace(go.Scatter(
            x=[side] * t, y=list(range(t)), mode="markers+text", text=labels,
            textposition="middle left" if side == 0.0 else "middle right",
            marker=dict(size=6, color="#495057"), customdata=[f"#{i} {s}" for i, s in zip(positions, safe_all(tokens))],
            hovertemplate="%{customdata}<extra></extra>", showlegend=False,
            textfont=dict(size=14 if t <= 40 else 11),
        ))
    base_layout(fig, title, height=int(max(420, min(2400, 130 + (34 if t <= 24 else 24 if t <= 40 else 15) * t))))
    fig.update_xaxes(range=[-0.6, 1.6], visible=False, fixedrange=True)
    fig.update_yaxes(range=[t - 0.5, -0.5], visible=False)
    fig.update_layout(legend=dict(orientation="h", y=-0.02, yanchor="top"),
                      annotations=[dict(x=0, y=1.0, yref="paper", yanchor="bottom", text="<b>query</b>",
                                        showarrow=False),
                                   dict(x=1, y=1.0, yref="paper", yanchor="bottom", text="<b>key</b>",
                                        showarrow=False)])
    return fig
