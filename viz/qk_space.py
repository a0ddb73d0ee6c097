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

from .common import (LINE, PLOT_WIDTH, base_layout, place_labels, safe, shorten, text_offset, text_width,
                     to_pixels)

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


LABEL_FONT = 12


def _ranges(points: np.ndarray) -> list[list[float]]:
    """Each axis's range with room around the points (labels are placed for exactly these ranges)."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    pad = 0.1 * np.where(hi - lo > 0, hi - lo, 1.0)
    return [[float(a), float(b)] for a, b in zip(lo - pad, hi + pad)]


def _label_spots(query_xy: np.ndarray, key_xy: np.ndarray, tokens: Sequence[str], labelled: Sequence[int],
                 ranges, height: int, marker: int, keys_labelled: Sequence[int] | None = None,
                 only_labelled_block: bool = False) -> tuple[list, list]:
    """Where each labelled query's and key's label goes (None: hover only), most important first, so that
    no label covers another label or a point (issue 26: at 141 tokens "studied" and "who" collided).
    only_labelled_block: only the labelled points are obstacles (the others are faded: a label may cross them)."""
    area = (PLOT_WIDTH, height - 160)
    every = to_pixels(np.concatenate([query_xy, key_xy]), ranges, *area, equal=True)        # (2n, 2)
    n = len(tokens)
    keys_labelled = labelled if keys_labelled is None else keys_labelled
    order = [(i, 0) for i in labelled] + [(i, 1) for i in keys_labelled]   # queries first, then keys
    points = np.array([every[i + side * n] for i, side in order]).reshape(-1, 2)
    sizes = np.array([[text_width(shorten(tokens[i], 14), LABEL_FONT), LABEL_FONT * LINE] for i, _ in order])
    r = marker / 2 + 1
    markers = np.concatenate([every - r, every + r], axis=1)                                 # every point's box
    if only_labelled_block:
        markers = markers[[i + side * n for i, side in order]]
    # Every point is an obstacle, its own too: the pad keeps a label clear of its own marker as well.
    spots = place_labels(points, sizes.reshape(-1, 2), markers, pad=text_offset(marker) + 3,
                         bounds=(-area[0] / 2, -area[1] / 2, area[0] / 2, area[1] / 2))
    query_spots, key_spots = [None] * n, [None] * n
    for (i, side), where in zip(order, spots):
        (key_spots if side else query_spots)[i] = where
    return query_spots, key_spots


FADED = 0.18        # opacity of the points away from the followed query and its keys


def _points(xy: np.ndarray, tokens: Sequence[str], positions: Sequence[int], labelled: set[int],
            kind: str, name: str, colour: str, symbol: str, textposition,
            bright: set[int] | None = None, big: set[int] = frozenset()) -> go.Scatter:
    names = [safe(t) for t in tokens]
    size = 10 if len(tokens) <= 60 else 7
    return go.Scatter(
        x=xy[:, 0], y=xy[:, 1], mode="markers+text", name=name,
        marker=dict(size=[size + 6 if i in big else size for i in range(len(tokens))], color=colour, symbol=symbol,
                    opacity=None if bright is None else [1.0 if i in bright else FADED for i in range(len(tokens))],
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
              title: str | None = None, height: int = 640, focus: int | None = None) -> go.Figure:
    """query_xy, key_xy (n, 2) for the n tokens shown; links (query, key, weight) index into them.

    labelled: the positions (0..n-1) whose query and key get a text label (all when None).
    focus: one query (0..n-1) followed: it is drawn larger, and every point but it and the keys its
      lines reach is faded, so the eye finds one query's choice among hundreds of points.
    explained: the share of variance on each axis, for the axis titles.
    """
    query_xy = np.asarray(query_xy, dtype=np.float64)
    key_xy = np.asarray(key_xy, dtype=np.float64)
    n = len(tokens)
    if query_xy.shape != (n, 2) or key_xy.shape != (n, 2):
        raise ValueError(f"need (n, 2) query and key points for {n} tokens, got {query_xy.shape}, {key_xy.shape}")
    positions = list(range(n)) if positions is None else list(positions)
    shown = set(range(n)) if labelled is None else {int(i) for i in labelled}
    q_where, k_where = "top center", "bottom center"
    ranges = _ranges(np.concatenate([query_xy, key_xy]))
    if focus is not None:           # one query followed: its label and its keys' labels, nothing else
        q_spots, k_spots = _label_spots(query_xy, key_xy, tokens, [int(focus)], ranges, height,
                                        10 if n <= 60 else 7, [int(k) for k in links[1]], only_labelled_block=True)
        q_where = [w or "top center" for w in q_spots]
        k_where = [w or "bottom center" for w in k_spots]
        shown_q, shown_k = {i for i, w in enumerate(q_spots) if w}, {i for i, w in enumerate(k_spots) if w}
    elif labelled is not None:      # a long text: only the chosen labels, each where it covers nothing
        q_spots, k_spots = _label_spots(query_xy, key_xy, tokens, sorted(shown), ranges, height,
                                        10 if n <= 60 else 7)
        q_where = [w or "top center" for w in q_spots]
        k_where = [w or "bottom center" for w in k_spots]
        shown_q, shown_k = {i for i, w in enumerate(q_spots) if w}, {i for i, w in enumerate(k_spots) if w}
    else:
        shown_q = shown_k = shown
    bright_q = bright_k = None
    if focus is not None:
        bright_q, bright_k = {int(focus)}, {int(k) for k in links[1]}
    fig = go.Figure(_lines(query_xy, key_xy, links))
    if focus is not None:           # the legend's symbols at full colour, not faded like most points
        for name, colour, symbol in (("queries", QUERY_COLOUR, "circle"), ("keys", KEY_COLOUR, "diamond")):
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name, hoverinfo="skip",
                                     marker=dict(size=10, color=colour, symbol=symbol)))
    fig.add_trace(_points(query_xy, tokens, positions, shown_q, "query", "queries", QUERY_COLOUR, "circle", q_where,
                          bright_q, bright_q or set()))
    fig.add_trace(_points(key_xy, tokens, positions, shown_k, "key", "keys", KEY_COLOUR, "diamond", k_where,
                          bright_k))
    if focus is not None:
        fig.update_traces(showlegend=False, selector=dict(mode="markers+text"))
    base_layout(fig, title, height=height)
    if labelled is not None or focus is not None:    # the ranges the labels were placed for
        fig.update_xaxes(range=ranges[0])
        fig.update_yaxes(range=ranges[1])
    axes = [f"PC {i + 1}" + (f" ({explained[i]:.0%} of the spread)" if i < len(explained) else "")
            for i in range(2)]
    fig.update_xaxes(title=axes[0], zeroline=False)
    # Equal units on both axes: a distance in the picture is the same distance either way.
    fig.update_yaxes(title=axes[1], zeroline=False, scaleanchor="x", scaleratio=1)
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig
