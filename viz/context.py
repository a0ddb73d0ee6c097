"""Figures for "context at work": trajectories through the layers, the vocabulary lens,
the same word in two sentences, and how much each layer moves a token."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import (HEAD_COLOURS, LINE, PLOT_WIDTH, WEIGHT_SCALE, base_layout, category_style, colour,
                     place_labels, safe, safe_all, shorten, state_label, text_offset, text_width, to_pixels)

LABEL_FONT = 11      # px: layer numbers and token names beside the paths


def _padded_range(values: np.ndarray) -> list[float]:
    lo, hi = float(np.min(values)), float(np.max(values))
    pad = 0.08 * (hi - lo or 1.0)
    return [lo - pad, hi + pad]


# -- trajectories ----------------------------------------------------------------------------------
def trajectory_figure(coords: np.ndarray, labels: Sequence[str], explained: Sequence[float] = (),
                      title: str | None = None, colours: Sequence[str] | None = None,
                      dashes: Sequence[str] | None = None, height: int = 640,
                      hidden: Sequence[bool] | None = None) -> go.Figure:
    """Each token's path from layer 0 (embeddings) to the last layer, in a shared PCA basis.

    coords: (L+1, N, 2 or 3) projected hidden states of the N tokens to draw. Every token has
    its own colour and start marker (12 distinct pairs, see category_style); the path's head is
    named and its points numbered with their layer wherever a label fits without covering another
    (the rest is in the hover); arrows point the way the vector moved. hidden[j]: path j starts
    out of sight, one click on its legend entry away. A slider (Plotly frames) replays the paths
    layer by layer; the axes stay fixed meanwhile, so motion on screen is motion in the model's space.
    """
    coords = np.asarray(coords, dtype=np.float64)
    if coords.ndim != 3 or coords.shape[1] != len(labels) or coords.shape[2] not in (2, 3):
        raise ValueError(f"coords must be (layers + 1, {len(labels)} tokens, 2 or 3), got {coords.shape}")
    n_states, n_tokens, dims = coords.shape
    names = safe_all(shorten(label, 24) for label in labels)
    styles = [category_style(j) for j in range(n_tokens)]
    colours = list(colours) if colours is not None else [c for c, _ in styles]
    symbols = [s for _, s in styles]
    dashes = list(dashes) if dashes is not None else ["solid"] * n_tokens
    hidden = list(hidden) if hidden is not None else [False] * n_tokens
    ranges = [_padded_range(coords[..., i]) for i in range(dims)]
    texts = _path_labels(coords, names, hidden, ranges, height) if dims == 2 else None

    def path(j: int, last: int) -> dict:
        """What changes from frame to frame: token j's points 0..last and their labels."""
        pts = coords[: last + 1, j]                                            # (last+1, dims)
        if dims == 2:
            text, where = texts[last][j]
        else:   # 3-D text cannot be kept apart: the name at the head only
            text, where = [""] * last + [names[j]], "top center"
        trace = dict(type="scatter" if dims == 2 else "scatter3d", x=pts[:, 0], y=pts[:, 1], text=text,
                     textposition=where)
        if dims == 3:
            trace["z"] = pts[:, 2]
        return trace

    def full_path(j: int) -> dict:
        trace = path(j, n_states - 1)
        hover = "%{customdata[0]} · %{customdata[1]}<br>PC1 %{x:.2f}, PC2 %{y:.2f}"
        trace.update(name=names[j], legendgroup=str(j), mode="lines+markers+text",
                     customdata=[[names[j], state_label(l)] for l in range(n_states)],   # a prefix serves every frame
                     textfont=dict(size=LABEL_FONT, color=colours[j]), visible="legendonly" if hidden[j] else True)
        if dims == 2:
            # an arrow at each layer, pointing along the step that reached it (layer 0 has no
            # step: its marker is the token's own symbol, which the legend shows too)
            trace.update(line=dict(color=colours[j], width=2, dash=dashes[j]),
                         marker=dict(size=[11] + [13] * (n_states - 1), color=colours[j], angleref="previous",
                                     symbol=[symbols[j]] + ["arrow"] * (n_states - 1), line=dict(width=0)),
                         hovertemplate=hover + "<extra></extra>")
        else:
            trace.update(line=dict(color=colours[j], width=5, dash=dashes[j]),
                         marker=dict(size=3, color=colours[j]),
                         hovertemplate=hover + ", PC3 %{z:.2f}<extra></extra>")
        return trace

    data = [full_path(j) for j in range(n_tokens)]
    if dims == 2:
        shown = [j for j in range(n_tokens) if not hidden[j]]
        data.append(dict(type="scatter", x=coords[0, shown, 0], y=coords[0, shown, 1], mode="markers",
                          marker=dict(size=11, color=[colours[j] for j in shown], symbol=[symbols[j] for j in shown],
                                      line=dict(width=1, color="white")),
                          customdata=[names[j] for j in shown], showlegend=False,
                          hovertemplate="%{customdata} · embeddings<extra></extra>"))
        frames = [dict(name=str(l), data=[path(j, l) for j in range(n_tokens)], traces=list(range(n_tokens)))
                  for l in range(n_states)]
    else:
        data += _cones(coords, n_states - 1, colours)
        frames = [dict(name=str(l), data=[path(j, l) for j in range(n_tokens)] + _cones(coords, l, colours))
                  for l in range(n_states)]

    axis_names = [f"PC{i + 1}" + (f" ({100 * explained[i]:.0f}% of variance)" if len(explained) > i else "")
                  for i in range(dims)]
    shell = go.Figure()   # the layout, built with Plotly's checks (and its template expanded)
    base_layout(shell, title, height=height if dims == 2 else height + 140)
    if dims == 2:
        shell.update_layout(xaxis=dict(title=axis_names[0], range=ranges[0], zeroline=False),
                            yaxis=dict(title=axis_names[1], range=ranges[1], zeroline=False))
    else:
        shell.update_layout(scene=dict(aspectmode="cube", camera=dict(eye=dict(x=1.15, y=1.15, z=0.75)),
                                       xaxis=dict(title=axis_names[0], range=ranges[0]),
                                       yaxis=dict(title=axis_names[1], range=ranges[1]),
                                       zaxis=dict(title=axis_names[2], range=ranges[2])))
    _add_layer_slider(shell, n_states)
    shell.update_layout(legend=dict(title="token", itemsizing="constant"), margin=dict(b=90))
    # Up to 40 paths × (L+1) frames: the traces are plain dicts passed without Plotly's
    # per-property checks, and frames carry only what changes (points and labels);
    # the tests re-validate whole figures.
    fig = go.Figure(data=data, layout=shell.layout.to_plotly_json(), frames=frames, _validate=False)
    return fig


LEGEND_PX = 160      # px the legend of token names takes beside the plot


def _path_labels(coords: np.ndarray, names: Sequence[str], hidden: Sequence[bool], ranges, height: int) -> list:
    """For each frame (last layer shown) and path: its point labels and their textpositions.

    The paths' heads are named first (in drawing order), then layer numbers from the latest
    layer back, each only where it covers no marker and no label placed before it.
    Paths out of sight get no labels (their names are in the legend and the hover).
    """
    n_states, n_tokens, _ = coords.shape
    area = (PLOT_WIDTH - LEGEND_PX, height - 190)                          # px: a narrow window's plot area
    pixels = to_pixels(coords.reshape(-1, 2), ranges, *area).reshape(n_states, n_tokens, 2)
    frames = []
    for last in range(n_states):
        shown = [j for j in range(n_tokens) if not hidden[j]]
        wanted = [(j, last, f"{state_label(last, True)} · {names[j]}") for j in shown]   # heads, named
        wanted += [(j, l, state_label(l, True)) for l in range(last - 1, -1, -1) for j in shown]   # then numbers
        markers = pixels[: last + 1, shown]                                     # (last+1, shown, 2)
        radius = np.where(np.arange(last + 1) == 0, 5.5, 6.5)[:, None, None]    # start markers 11 px, arrows 13
        obstacles = np.concatenate([markers - radius, markers + radius], axis=2).reshape(-1, 4)   # (M, 4) boxes
        sizes = np.array([[text_width(t, LABEL_FONT), LABEL_FONT * LINE] for _, _, t in wanted]).reshape(-1, 2)
        pads = [text_offset(13 if l else 11) for _, l, _ in wanted]            # arrows 13 px, start markers 11
        spots = place_labels(np.array([pixels[l, j] for j, l, _ in wanted]).reshape(-1, 2), sizes, obstacles,
                             pad=pads, bounds=(-area[0] / 2, -area[1] / 2, area[0] / 2, area[1] / 2))
        labels = {j: ([""] * (last + 1), ["top center"] * (last + 1)) for j in range(n_tokens)}
        for (j, l, text), where in zip(wanted, spots):
            if where is not None:
                labels[j][0][l], labels[j][1][l] = text, where
        frames.append([labels[j] for j in range(n_tokens)])
    return frames


def _cones(coords: np.ndarray, last: int, colours: Sequence[str]) -> list[dict]:
    """3-D arrows: a dark cone at the end of every step up to `last`, all in ONE trace.

    Plotly colours cones by their length, not per trace point, so token colours would
    need a trace per token and frame (40 × 7 traces, slower than everything else on the
    page); the path's own colour already says which token an arrow belongs to.
    """
    size = 0.035 * max(float(np.ptp(coords[..., i])) or 1.0 for i in range(3))
    starts, ends = coords[:last], coords[1: last + 1]                       # (last, N, 3) each
    step = (ends - starts).reshape(-1, 3)                                   # (last·N, 3)
    length = np.linalg.norm(step, axis=1, keepdims=True)
    vec = step / np.where(length == 0, 1.0, length) * size                  # same-sized arrows
    tips = ends.reshape(-1, 3)                                              # (last·N, 3)
    return [dict(type="cone", x=tips[:, 0], y=tips[:, 1], z=tips[:, 2], u=vec[:, 0], v=vec[:, 1], w=vec[:, 2],
                 anchor="tip", sizemode="raw", sizeref=1.0, showscale=False, hoverinfo="skip",
                 showlegend=False, colorscale=[[0, "#343a40"], [1, "#343a40"]], opacity=0.85)]


def _add_layer_slider(fig: go.Figure, n_states: int) -> None:
    frame_args = dict(mode="immediate", frame=dict(duration=0, redraw=True), transition=dict(duration=0))
    steps = [dict(method="animate", label=state_label(l), args=[[str(l)], frame_args]) for l in range(n_states)]
    play = dict(frame=dict(duration=700, redraw=True), transition=dict(duration=250), mode="immediate")
    fig.update_layout(
        sliders=[dict(active=n_states - 1, steps=steps, x=0.1, len=0.9, y=-0.02, yanchor="top",
                      currentvalue=dict(prefix="up to: ", font=dict(size=13)), pad=dict(t=30))],
        updatemenus=[dict(type="buttons", direction="left", x=0.0, y=-0.02, xanchor="left", yanchor="top",
                          pad=dict(t=38, r=10), showactive=False, buttons=[
                              dict(label="▶ Play", method="animate",
                                   args=[[str(l) for l in range(n_states)], play])])])


# -- the vocabulary lens ------------------------------------------------------------------------------
def lens_figure(rows: Sequence[Sequence[tuple[str, float]]], title: str | None = None) -> go.Figure:
    """Layers × k: each cell a vocabulary entry, its colour the cosine to the hidden state."""
    n_layers, k = len(rows), len(rows[0]) if rows else 0
    sims = np.array([[s for _, s in row] for row in rows], dtype=np.float64)  # (L+1, k)
    words = np.array([[safe(shorten(w, 14)) for w, _ in row] for row in rows], dtype=object)
    states = [state_label(i) for i in range(n_layers)]
    fig = go.Figure(go.Heatmap(
        z=sims, x=list(range(1, k + 1)), y=states, text=words, customdata=words,
        texttemplate="%{text}<br>%{z:.2f}", textfont=dict(size=12), colorscale=WEIGHT_SCALE,
        zmin=0.0, zmax=1.0, colorbar=dict(title="cosine"), xgap=2, ygap=2,
        hovertemplate="%{y}, rank %{x}: %{customdata} (cosine %{z:.3f})<extra></extra>"))
    base_layout(fig, title, height=120 + 62 * n_layers)
    fig.update_xaxes(title="rank (1 = nearest)", side="top", tickmode="array", tickvals=list(range(1, k + 1)))
    fig.update_yaxes(title="the vector", autorange="reversed", type="category")
    return fig


# -- same word, two sentences --------------------------------------------------------------------------
def cosine_figure(cosines: np.ndarray, title: str | None = None, baseline: np.ndarray | None = None,
                  baseline_name: str = "") -> go.Figure:
    """The cosine of the two sentences' vectors of the word: the embeddings, then after every layer."""
    cosines = np.asarray(cosines, dtype=np.float64)
    layers = list(range(len(cosines)))
    names = [state_label(i) for i in layers]
    fig = go.Figure(go.Scatter(
        x=layers, y=cosines, mode="lines+markers+text", name="the word in the two sentences",
        text=[f"{c:.2f}" for c in cosines], textposition="bottom center",
        line=dict(color=HEAD_COLOURS[0], width=3), marker=dict(size=9), customdata=names,
        hovertemplate="%{customdata}: cosine %{y:.3f}<extra></extra>"))
    if baseline is not None:
        fig.add_trace(go.Scatter(x=layers, y=np.asarray(baseline, dtype=np.float64), mode="lines+markers",
                                 name=safe(baseline_name), line=dict(color="#adb5bd", dash="dot"),
                                 customdata=names, hovertemplate="%{customdata}: %{y:.3f}<extra></extra>"))
    low = min(0.0, float(np.min(cosines)) - 0.05)
    base_layout(fig, title, height=380)
    fig.update_xaxes(title="the vector (emb = embeddings, k = after layer k)", tickmode="array", tickvals=layers,
                     ticktext=[state_label(i, True) for i in layers])
    fig.update_yaxes(title="cosine similarity", range=[low, 1.05])
    fig.update_layout(legend=dict(orientation="h", y=-0.25))
    return fig


# -- how much each layer moves a token ------------------------------------------------------------------
def movement_figure(movement: dict, title: str | None = None) -> go.Figure:
    """Bars: ‖Δ‖, ‖attn_out‖, ‖mlp_out‖ per layer; line (right axis): cosine to the previous layer."""
    layers = [int(l) for l in movement["layer"]]
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    bars = [("change_norm", "‖change‖ of the vector", "#495057"),
            ("attn_out_norm", "‖attn_out‖ (attention added)", HEAD_COLOURS[0]),
            ("mlp_out_norm", "‖mlp_out‖ (feed-forward added)", HEAD_COLOURS[1])]
    for key, name, col in bars:
        fig.add_trace(go.Bar(x=layers, y=np.asarray(movement[key], dtype=np.float64), name=name,
                             marker_color=col, hovertemplate=f"layer %{{x}}: %{{y:.2f}}<extra>{name}</extra>"),
                      secondary_y=False)
    fig.add_trace(go.Scatter(x=layers, y=np.asarray(movement["cosine_to_previous"], dtype=np.float64),
                             name="cosine to previous layer", mode="lines+markers",
                             line=dict(color=HEAD_COLOURS[2], width=3), marker=dict(size=9),
                             hovertemplate="layer %{x}: cosine %{y:.3f}<extra></extra>"),
                  secondary_y=True)
    base_layout(fig, title, height=420)
    fig.update_layout(barmode="group", legend=dict(orientation="h", y=-0.3), margin=dict(b=40))
    fig.update_xaxes(title="layer (counted from 0)", tickmode="array", tickvals=layers)
    fig.update_yaxes(title="size (vector norm)", secondary_y=False, rangemode="tozero")
    fig.update_yaxes(title="cosine to previous layer", secondary_y=True, range=[0, 1.05], dtick=0.2,
                     showgrid=False)
    return fig
