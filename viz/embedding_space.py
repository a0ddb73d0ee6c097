"""Figures of the embedding space: the analogy parallelogram and the projector's scatter.

Words are user text: labels and hover text go through safe() and ride in `text`/`customdata`,
never inside a hovertemplate string.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from analysis.projection import AnalogyPicture, Projection

from .common import (LINE, PLOT_WIDTH, base_layout, category_style, place_labels, safe, shorten, text_offset,
                     text_width, to_pixels)

ROLE_STYLE = {   # role -> (legend name, colour, marker size, symbol), in the order labels are placed
    "a": ("a", "#1971c2", 13, "circle"), "b": ("b", "#0c8599", 13, "square"),
    "c": ("c", "#e8590c", 13, "diamond"), "expected": ("your expected answer", "#d6336c", 13, "star"),
    "answer": ("answers", "#2b8a3e", 10, "circle"), "neighbour": ("neighbours of a, b, c", "#adb5bd", 7, "circle"),
}
OFFSET_COLOUR = "#7048e8"
ANALOGY_WIDTH = 480  # px: the analogy figure's plot area in its column of a narrow window
LABEL_FONT = 12      # px: the words written beside their points
MAX_3D_LABELS = 30   # 3-D labels cannot be kept apart: only this many are written, the rest in hover


def _ranges(coords: np.ndarray) -> list[list[float]]:
    """Each axis's range with room around the points (labels are placed for exactly these ranges)."""
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    pad = 0.12 * np.where(hi - lo > 0, hi - lo, 1.0)
    return [[float(a), float(b)] for a, b in zip(lo - pad, hi + pad)]


def _spots(coords: np.ndarray, labels: Sequence[str], sizes: Sequence[float], area: tuple[float, float],
           bold: Sequence[bool] = (), lines: Sequence[tuple[np.ndarray, np.ndarray]] = (),
           rings: Sequence[float] | None = None) -> list[str | None]:
    """Where each label goes (textposition) or None, in the order given (most important first):
    no label covers another, a marker, an arrow, or leaves the plot (equal scales on both axes).
    sizes: each point's marker size (its label sits text_offset from it); rings: what each point
    covers, when more than its marker (the ring around the chosen word)."""
    ranges = _ranges(coords)
    pixels = to_pixels(coords, ranges, *area, equal=True)                           # (N, 2)
    radii = np.asarray(sizes if rings is None else rings, dtype=float) / 2 + 1      # markers (and the ring)
    obstacles = [np.empty((0, 4))]
    for start, end in lines:                                                         # arrows: a box every ~8 px
        ends = to_pixels(np.stack([start, end]), ranges, *area, equal=True)          # (2, 2)
        steps = np.linspace(0, 1, max(2, int(np.linalg.norm(ends[1] - ends[0]) / 8)))[:, None]
        along = ends[0] + steps * (ends[1] - ends[0])
        obstacles.append(np.concatenate([along - 4, along + 4], axis=1))
        # The arrowhead, unless it sits on a word's own marker (a → b ends on b): that marker is already
        # kept clear, and a box around it would leave b's label nowhere to go (issue 26: "king" unlabelled).
        if not (np.linalg.norm(pixels - ends[1], axis=1) < 2).any():
            obstacles.append(np.concatenate([ends[1:] - 9, ends[1:] + 9], axis=1))
    bold = list(bold) or [False] * len(labels)
    boxes = np.array([[text_width(t, LABEL_FONT) * (1.15 if b else 1.0), LABEL_FONT * LINE]
                      for t, b in zip(labels, bold)]).reshape(-1, 2)
    return place_labels(pixels, boxes, np.concatenate(obstacles), pad=[text_offset(s) for s in sizes],
                        bounds=(-area[0] / 2, -area[1] / 2, area[0] / 2, area[1] / 2), radii=radii)


def _axes(fig: go.Figure, titles: Sequence[str], dims: int) -> None:
    if dims == 3:
        fig.update_layout(scene=dict(xaxis_title=titles[0], yaxis_title=titles[1], zaxis_title=titles[2],
                                     aspectmode="cube"))
    else:
        fig.update_xaxes(title=titles[0], zeroline=False)
        fig.update_yaxes(title=titles[1], zeroline=False, scaleanchor="x", scaleratio=1)


def _scatter(coords: np.ndarray, labels: Sequence[str], name: str, colour: str, size: int,
             bold: bool = False, symbol: str = "circle", spots: Sequence[str | None] | None = None) -> go.BaseTraceType:
    """Labelled points. spots: each label's textposition, None to leave it to the hover (default: all above)."""
    text = [safe(shorten(w, 24)) for w in labels]
    shown = [f"<b>{t}</b>" for t in text] if bold else text      # markup only around escaped text
    spots = ["top center"] * len(labels) if spots is None else list(spots)
    shown = [t if where else "" for t, where in zip(shown, spots)]
    common = dict(name=name, mode="markers+text", text=shown, customdata=[safe(w) for w in labels],
                  textposition=[where or "top center" for where in spots], textfont=dict(size=LABEL_FONT),
                  hovertemplate="%{customdata}<extra>" + name + "</extra>")
    if coords.shape[1] == 3:
        return go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2],
                            marker=dict(size=size * 0.6, color=colour, symbol=_symbol_3d(symbol)), **common)
    return go.Scatter(x=coords[:, 0], y=coords[:, 1], marker=dict(size=size, color=colour, symbol=symbol,
                                                                  line=dict(width=1, color="white")), **common)


def _symbol_3d(symbol: str) -> str:
    """Scatter3d knows only a few symbols: the nearest of them."""
    return {"square": "square", "diamond": "diamond", "x": "x", "cross": "cross"}.get(symbol, "circle")


def _segment(start: np.ndarray, end: np.ndarray, name: str, colour: str, dash: str | None,
             show_legend: bool) -> go.BaseTraceType:
    line = dict(color=colour, width=4 if dash is None else 2, dash=dash)
    points = np.stack([start, end])                                    # (2, dims)
    if points.shape[1] == 3:
        return go.Scatter3d(x=points[:, 0], y=points[:, 1], z=points[:, 2], mode="lines", line=line,
                            name=name, legendgroup=name, showlegend=show_legend, hoverinfo="skip")
    return go.Scatter(x=points[:, 0], y=points[:, 1], mode="lines", line=line, name=name,
                      legendgroup=name, showlegend=show_legend, hoverinfo="skip")


def analogy_figure(pic: AnalogyPicture, title: str | None = None, height: int = 620) -> go.Figure:
    """The words, the offset b − a drawn from a (to b) and from c (to c + b − a), and the closing sides."""
    fig = go.Figure()
    dims = pic.coords.shape[1]
    roles = np.array(pic.roles)
    a, b, c = pic.point("a"), pic.point("b"), pic.point("c")
    # faint sides a -> c and b -> c + (b - a) close the parallelogram
    fig.add_trace(_segment(a, c, "parallelogram sides", "#ced4da", "dot", True))
    fig.add_trace(_segment(b, pic.target, "parallelogram sides", "#ced4da", "dot", False))
    for i, (start, end) in enumerate(pic.arrows):
        fig.add_trace(_segment(start, end, "offset b − a", OFFSET_COLOUR, None, i == 0))
    # Every point in the order its label matters (a, b, c, expected, c + (b − a), answers, neighbours),
    # so a crowded picture drops the neighbours' labels first (they stay in the hover).
    order = [i for role in ROLE_STYLE for i in np.flatnonzero(roles == role)]
    points = np.concatenate([pic.coords[order], pic.target[None, :]])
    labels = [pic.words[i] for i in order] + ["c + (b − a)"]
    sizes = [ROLE_STYLE[roles[i]][2] for i in order] + [12]
    bold = [roles[i] in ("a", "b", "c") for i in order] + [False]
    priority = list(range(len(order)))
    cut = sum(roles[i] in ("a", "b", "c", "expected") for i in order)
    priority = priority[:cut] + [len(order)] + priority[cut:]                    # c + (b − a) after the inputs
    if dims == 2:
        placed = _spots(points[priority], [labels[i] for i in priority], [sizes[i] for i in priority],
                        (ANALOGY_WIDTH, height - 200), [bold[i] for i in priority], lines=pic.arrows)
        spots = [None] * len(points)
        for rank, i in enumerate(priority):
            spots[i] = placed[rank]
    else:
        spots = ["top center" if i < MAX_3D_LABELS else None for i in range(len(points))]
    where = dict(zip(order, spots))
    for role, (name, role_colour, size, symbol) in ROLE_STYLE.items():
        keep = np.flatnonzero(roles == role)
        if keep.size:
            fig.add_trace(_scatter(pic.coords[keep], [pic.words[i] for i in keep], name, role_colour, size,
                                   bold=role in ("a", "b", "c"), symbol=symbol, spots=[where[i] for i in keep]))
    fig.add_trace(_scatter(pic.target[None, :], ["c + (b − a)"], "c + (b − a)", OFFSET_COLOUR, 12, symbol="x",
                           spots=spots[-1:]))
    titles = [f"PC{i + 1} · {100 * r:.1f}% of variance" for i, r in enumerate(pic.explained)]
    _axes(fig, titles, dims)
    if dims == 2:
        ranges = _ranges(points)
        fig.update_xaxes(range=ranges[0])
        fig.update_yaxes(range=ranges[1])
    if dims == 2:   # arrowheads; the arrows' numbers also sit in the line traces above
        for start, end in pic.arrows:
            fig.add_annotation(x=end[0], y=end[1], ax=start[0], ay=start[1], xref="x", yref="y",
                               axref="x", ayref="y", showarrow=True, arrowhead=3, arrowsize=1.4,
                               arrowwidth=2.5, arrowcolor=OFFSET_COLOUR, text="")
    else:
        for start, end in pic.arrows:
            direction = end - start
            fig.add_trace(go.Cone(x=[end[0]], y=[end[1]], z=[end[2]], u=[direction[0]], v=[direction[1]],
                                  w=[direction[2]], sizemode="absolute", sizeref=0.08, anchor="tip",
                                  showscale=False, colorscale=[[0, OFFSET_COLOUR], [1, OFFSET_COLOUR]],
                                  hoverinfo="skip", showlegend=False))
    base_layout(fig, title, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.1, xanchor="left", x=0))
    return fig


def projection_figure(proj: Projection, labels: Sequence[str], groups: Sequence[str],
                      highlight: str | None = None, title: str | None = None, height: int = 640) -> go.Figure:
    """Every word a labelled point, one colour per group; the highlighted word drawn larger."""
    fig = go.Figure()
    groups = np.asarray(groups, dtype=object)
    dims = proj.coords.shape[1]
    # Labels most important first: the highlighted word, then the words in the order given
    # (presets, your words, the sentence's tokens); one that fits nowhere is left to the hover.
    first = list(labels).index(highlight) if highlight is not None and highlight in labels else None
    order = ([first] if first is not None else []) + [i for i in range(len(labels)) if i != first]
    if dims == 2:
        rings = [22 if i == first else 10 for i in order]       # the chosen word's label sits outside its ring
        placed = _spots(proj.coords[order], [labels[i] for i in order], rings, (PLOT_WIDTH, height - 200))
    else:
        placed = ["top center" if rank < MAX_3D_LABELS else None for rank in range(len(order))]
    spots = dict(zip(order, placed))
    for g, group in enumerate(dict.fromkeys(groups)):
        keep = np.flatnonzero(groups == group)
        group_colour, symbol = category_style(g)
        fig.add_trace(_scatter(proj.coords[keep], [labels[i] for i in keep], str(group), group_colour, 10,
                               symbol=symbol, spots=[None if i == first else spots[i] for i in keep]))
        fig.data[-1].name = safe(group)
    if first is not None:
        ring = _scatter(proj.coords[first:first + 1], [highlight], "selected", "rgba(0,0,0,0)", 22,
                        spots=[spots[first] if dims == 2 else "top center"])
        ring.marker.line = dict(width=3, color="#212529")
        fig.add_trace(ring)
    if dims == 2:
        ranges = _ranges(proj.coords)
        fig.update_xaxes(range=ranges[0])
        fig.update_yaxes(range=ranges[1])
    _axes(fig, proj.axis_titles(), proj.coords.shape[1])
    base_layout(fig, title, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.1, xanchor="left", x=0),
                      clickmode="event+select")
    return fig
