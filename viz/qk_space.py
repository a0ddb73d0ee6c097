"""Queries and keys of one head in one 2-D picture, with lines for the strongest weights.

Queries are circles, keys diamonds, each set in its own colour; a line joins a query to a key it
attends to, wider and darker for a larger weight. Every point carries its token in the hover text;
only some are labelled on the figure (a few hundred labels would cover each other). Token text is
escaped with safe() and travels in customdata, never inside a template.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import base_layout, safe, shorten

QUERY_COLOUR = "#1971c2"
KEY_COLOUR = "#e8590c"
LINE_COLOUR = "#495057"
BANDS = (0.0, 0.1, 0.3, 0.6, 1.01)       # weight band edges: one line trace per band
WIDTHS = (0.8, 1.6, 2.8, 4.2)
OPACITIES = (0.25, 0.4, 0.6, 0.8)


def _lines(query_xy: np.ndarray, key_xy: np.ndarray, links: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list:
    """One Scatter per weight band, each a path of segments separated by None gaps."""
    queries, keys, weights = (np.asarray(a) for a in links)
    traces = []
    for band, (lo, hi) in enumerate(zip(BANDS[:-1], BANDS[1:])):
        inside = (weights >= lo) & (weights < hi)
        if not inside.any():
            continue
        x = np.full(3 * inside.sum(), None, dtype=object)
        y = np.full(3 * inside.sum(), None, dtype=object)
        x[0::3], x[1::3] = query_xy[queries[inside], 0], key_xy[keys[inside], 0]
        y[0::3], y[1::3] = query_xy[queries[inside], 1], key_xy[keys[inside], 1]
        traces.append(go.Scatter(
            x=x.tolist(), y=y.tolist(), mode="lines", hoverinfo="skip", opacity=OPACITIES[band],
            line=dict(color=LINE_COLOUR, width=WIDTHS[band]), showlegend=False,
        ))
    return traces


def _points(xy: np.ndarray, tokens: Sequence[str], positions: Sequence[int], labelled: set[int],
            kind: str, name: str, colour: str, symbol: str, textposition: str) -> go.Scatter:
    names = [safe(t) for t in tokens]
    return go.Scatter(
        x=xy[:, 0], y=xy[:, 1], mode="markers+text", name=name,
        marker=dict(size=10 if len(tokens) <= 60 else 7, color=colour, symbol=symbol,
                    line=dict(width=1, color="white")),
        text=[safe(shorten(t, 14)) if i in labelled else "" for i, t in enumerate(tokens)],
        textposition=textposition,
        # A white halo keeps a label readable where lines cross it.
        textfont=dict(size=12, color=colour, shadow="1px 1px 1px white, -1px -1px 1px white, 1px -1px 1px white, "
                                                     "-1px 1px 1px white"),
        customdata=[f"{kind} #{p} {n}" for p, n in zip(positions, names)],
        hovertemplate="%{customdata}<extra></extra>",
    )


def qk_figure(query_xy: np.ndarray, key_xy: np.ndarray, tokens: Sequence[str],
              links: tuple[np.ndarray, np.ndarray, np.ndarray], *, positions: Sequence[int] | None = None,
              labelled: Sequence[int] | None = None, explained: Sequence[float] = (),
              title: str | None = None, height: int = 640) -> go.Figure:
    """query_xy, key_xy (n, 2) for the n tokens shown; links (query, key, weight) index into them.

    labelled: the positions (0..n-1) whose query and key get a text label (all when None).
    explained: the share of variance on each axis, for the axis titles.
    """
    query_xy = np.asarray(query_xy, dtype=np.float64)
    key_xy = np.asarray(key_xy, dtype=np.float64)
    n = len(tokens)
    if query_xy.shape != (n, 2) or key_xy.shape != (n, 2):
        raise ValueError(f"need (n, 2) query and key points for {n} tokens, got {query_xy.shape}, {key_xy.shape}")
    positions = list(range(n)) if positions is None else list(positions)
    shown = set(range(n)) if labelled is None else {int(i) for i in labelled}
    fig = go.Figure(_lines(query_xy, key_xy, links))
    fig.add_trace(_points(query_xy, tokens, positions, shown, "query", "queries", QUERY_COLOUR, "circle", "top center"))
    fig.add_trace(_points(key_xy, tokens, positions, shown, "key", "keys", KEY_COLOUR, "diamond", "bottom center"))
    base_layout(fig, title, height=height)
    axes = [f"PC {i + 1}" + (f" ({explained[i]:.0%} of the spread)" if i < len(explained) else "")
            for i in range(2)]
    fig.update_xaxes(title=axes[0], zeroline=False)
    # Equal units on both axes: a distance in the picture is the same distance either way.
    fig.update_yaxes(title=axes[1], zeroline=False, scaleanchor="x", scaleratio=1)
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig
