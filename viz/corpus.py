"""Figures of a corpus's head statistics: the L×H map of mean ± spread, and one head's sentences."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import WEIGHT_SCALE, base_layout, safe


def mean_spread_heatmap(mean: np.ndarray, spread: np.ndarray, label: str, title: str | None = None) -> go.Figure:
    """(L, H) means coloured, each cell written "mean ± spread" (standard deviation over sentences)."""
    mean = np.asarray(mean, dtype=np.float64)
    spread = np.asarray(spread, dtype=np.float64)
    if mean.shape != spread.shape or mean.ndim != 2:
        raise ValueError(f"mean and spread must both be (layers, heads), got {mean.shape} and {spread.shape}")
    n_layers, n_heads = mean.shape
    cells = [[f"{m:.2f}<br>±{s:.2f}" for m, s in zip(row_m, row_s)] for row_m, row_s in zip(mean, spread)]
    fig = go.Figure(go.Heatmap(
        # zmax beside zmin, or Plotly ignores zmin and the colour bar starts at the smallest mean, not at 0
        z=mean, x=list(range(n_heads)), y=list(range(n_layers)), colorscale=WEIGHT_SCALE, zmin=0.0,
        zmax=max(float(np.nanmax(mean)), 1e-9) if np.isfinite(mean).any() else 1.0,
        text=cells, texttemplate="%{text}", textfont=dict(size=10), customdata=spread,
        colorbar=dict(title=dict(text=f"mean {label}", side="right")),
        hovertemplate=f"layer %{{y}} · head %{{x}}<br>mean {label}: %{{z:.3f}}<br>"
                      "spread (std over sentences): %{customdata:.3f}<extra></extra>",
    ))
    base_layout(fig, title, height=180 + 56 * n_layers)
    if title:
        fig.update_layout(title=dict(yref="container", y=0.98, yanchor="top"), margin=dict(t=80))
    fig.update_xaxes(title="head", tickmode="array", tickvals=list(range(n_heads)), side="top")
    fig.update_yaxes(title="layer", tickmode="array", tickvals=list(range(n_layers)), autorange="reversed")
    return fig


def head_distribution(values: np.ndarray, label: str, title: str | None = None, bins: int = 40,
                      share: bool = False) -> go.Figure:
    """One head's statistic on every sentence (a histogram), its mean marked: the distribution behind
    one cell of the map. share: the statistic is a share of attention, drawn on its whole 0–100 % axis,
    so sentences between 99.92 % and 99.99 % read as the one bar they are, not as a wide spread."""
    values = np.asarray(values, dtype=np.float64).ravel()
    fixed = dict(xbins=dict(start=0.0, end=1.0 + 1e-9, size=1.0 / bins)) if share else dict(nbinsx=bins)
    fig = go.Figure(go.Histogram(x=values, marker_color="#4c6ef5", **fixed,
                                 hovertemplate=f"{label} %{{x}}<br>%{{y}} sentences<extra></extra>"))
    mean = float(values.mean()) if values.size else 0.0
    fig.add_vline(x=mean, line=dict(color="#e03131", dash="dash"), annotation_text=f"mean {mean:.3f}",
                  annotation_position="top left" if share and mean > 0.5 else "top right")
    base_layout(fig, title, height=300)
    fig.update_xaxes(title=label, **(dict(range=[0, 1.0], tickformat=".0%") if share else {}))
    fig.update_yaxes(title="sentences")
    return fig


def attention_strip(tokens, weights, focus: int, title: str | None = None) -> go.Figure:
    """Where one token (`focus`) looks in its sentence: its attention row as bars over the tokens,
    the token itself in orange. For a search hit: the context and what the head did there."""
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if len(tokens) != len(weights):
        raise ValueError(f"{len(tokens)} tokens but {len(weights)} weights")
    labels = [f"{i} · {safe(t)}" for i, t in enumerate(tokens)]     # positions keep repeated tokens apart
    colours = ["#f76707" if i == focus else "#4c6ef5" for i in range(len(tokens))]
    fig = go.Figure(go.Bar(x=labels, y=weights, marker_color=colours,
                           hovertemplate="%{x}<br>weight %{y:.3f}<extra></extra>"))
    base_layout(fig, title, height=190)
    fig.update_xaxes(type="category", tickangle=0 if len(tokens) <= 12 else -45, tickfont=dict(size=11))
    fig.update_yaxes(title="weight", range=[0, max(1e-9, float(weights.max())) * 1.1])
    return fig


def corpus_qk_figure(space, colour_by: str = "kind", top_tokens: Sequence[str] = (),
                     title: str | None = None, height: int = 640) -> go.Figure:
    """A corpus's sampled queries (circles) and keys (diamonds) at one head, in one projection
    (analysis/corpus_qk.CorpusQK). colour_by: "kind" (queries one colour, keys another), "position"
    (a colour scale by the token's position in its passage) or "token" (each of top_tokens its own
    colour, the rest grey). WebGL markers: thousands of points stay light in the browser."""
    from .qk_space import KEY_COLOUR, QUERY_COLOUR

    if colour_by not in ("kind", "position", "token"):
        raise ValueError(f"colour_by must be kind, position or token, got {colour_by!r}")
    names = np.asarray([safe(t) for t in space.tokens], dtype=object)
    hover = [f"{n} · passage {s} · position {p}" for n, s, p in zip(names, space.sentence, space.position)]
    fig = go.Figure()
    for kind, plural, xy, symbol, colour in (("query", "queries", space.query_xy, "circle", QUERY_COLOUR),
                                             ("key", "keys", space.key_xy, "diamond", KEY_COLOUR)):
        groups = [(plural, np.ones(len(names), dtype=bool), colour)]
        if colour_by == "token":
            palette = ["#1971c2", "#e8590c", "#2f9e44", "#9c36b5", "#f08c00", "#0c8599", "#c2255c", "#5c940d",
                       "#364fc7", "#862e9c"]
            chosen = list(top_tokens)[:len(palette)]
            rest = ~np.isin(np.asarray(space.tokens, dtype=object), chosen)
            groups = [(f"{plural}: other tokens", rest, "#ced4da")] + [
                (f"{plural}: {safe(t)}", np.asarray(space.tokens, dtype=object) == t, c)
                for t, c in zip(chosen, palette)]
        for name, inside, group_colour in groups:
            if not inside.any():
                continue
            marker = dict(size=6, symbol=symbol, opacity=0.75, color=group_colour)
            if colour_by == "position":
                marker.update(color=space.position[inside], colorscale="Viridis", cmin=0,
                              cmax=int(space.position.max()) if len(space.position) else 1,
                              showscale=kind == "query", colorbar=dict(title=dict(text="position", side="right")))
            fig.add_trace(go.Scattergl(
                x=xy[inside, 0], y=xy[inside, 1], mode="markers", name=name, marker=marker,
                customdata=[hover[i] for i in np.flatnonzero(inside)],
                hovertemplate=f"{kind} %{{customdata}}<extra></extra>"))
    base_layout(fig, title, height=height)
    axes = [f"PC {i + 1} ({space.explained[i]:.0%} of the spread)" for i in range(2)]
    fig.update_xaxes(title=axes[0], zeroline=False)
    fig.update_yaxes(title=axes[1], zeroline=False, scaleanchor="x", scaleratio=1)
    fig.update_layout(legend=dict(orientation="h", y=1.02, yanchor="bottom", x=1, xanchor="right"))
    return fig
