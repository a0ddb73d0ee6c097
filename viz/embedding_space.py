"""Figures of the embedding space: the analogy parallelogram and the projector's scatter.

Words are user text: labels and hover text go through safe() and ride in `text`/`customdata`,
never inside a hovertemplate string.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from core.projection import AnalogyPicture, Projection

from .common import base_layout, colour, safe, shorten

ROLE_STYLE = {   # role -> (legend name, colour, marker size)
    "a": ("a", "#1971c2", 13), "b": ("b", "#1971c2", 13), "c": ("c", "#e8590c", 13),
    "answer": ("answers", "#2b8a3e", 10), "expected": ("your expected answer", "#d6336c", 12),
    "neighbour": ("neighbours of a, b, c", "#adb5bd", 7),
}
OFFSET_COLOUR = "#7048e8"


def _axes(fig: go.Figure, titles: Sequence[str], dims: int) -> None:
    if dims == 3:
        fig.update_layout(scene=dict(xaxis_title=titles[0], yaxis_title=titles[1], zaxis_title=titles[2],
                                     aspectmode="cube"))
    else:
        fig.update_xaxes(title=titles[0], zeroline=False)
        fig.update_yaxes(title=titles[1], zeroline=False, scaleanchor="x", scaleratio=1)


def _scatter(coords: np.ndarray, labels: Sequence[str], name: str, colour: str, size: int,
             bold: bool = False) -> go.BaseTraceType:
    text = [safe(shorten(w, 24)) for w in labels]
    shown = [f"<b>{t}</b>" for t in text] if bold else text      # markup only around escaped text
    common = dict(name=name, mode="markers+text", text=shown, customdata=[safe(w) for w in labels],
                  textposition="top center", hovertemplate="%{customdata}<extra>" + name + "</extra>")
    if coords.shape[1] == 3:
        return go.Scatter3d(x=coords[:, 0], y=coords[:, 1], z=coords[:, 2],
                            marker=dict(size=size * 0.6, color=colour), **common)
    return go.Scatter(x=coords[:, 0], y=coords[:, 1], marker=dict(size=size, color=colour,
                                                                  line=dict(width=1, color="white")), **common)


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
    for role, (name, role_colour, size) in ROLE_STYLE.items():
        keep = np.flatnonzero(roles == role)
        if keep.size:
            fig.add_trace(_scatter(pic.coords[keep], [pic.words[i] for i in keep], name, role_colour, size,
                                   bold=role in ("a", "b", "c")))
    target = pic.target[None, :]
    fig.add_trace(_scatter(target, ["c + (b − a)"], "c + (b − a)", OFFSET_COLOUR, 12))
    fig.data[-1].marker.symbol = "x"
    fig.data[-1].textposition = "middle left"     # the answer usually sits just above or below it
    titles = [f"PC{i + 1} · {100 * r:.1f}% of variance" for i, r in enumerate(pic.explained)]
    _axes(fig, titles, dims)
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
    for g, group in enumerate(dict.fromkeys(groups)):
        keep = np.flatnonzero(groups == group)
        fig.add_trace(_scatter(proj.coords[keep], [labels[i] for i in keep], str(group),
                               colour(g), 10))
        fig.data[-1].name = safe(group)
    if highlight is not None and highlight in labels:
        i = list(labels).index(highlight)
        ring = _scatter(proj.coords[i:i + 1], [highlight], "selected", "rgba(0,0,0,0)", 22)
        ring.marker.line = dict(width=3, color="#212529")
        ring.mode = "markers"
        fig.add_trace(ring)
    _axes(fig, proj.axis_titles(), proj.coords.shape[1])
    base_layout(fig, title, height)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.1, xanchor="left", x=0),
                      clickmode="event+select")
    return fig
