"""What every figure shares: safe labels, token axes, one colour scale, one look.

Plotly reads <b>, <a href>, <span> and &entities; in tick and hover text as markup,
so every piece of user text goes through `safe()` before it reaches a figure, and
user text is never put inside a hovertemplate (it goes in customdata/text instead).
"""
from __future__ import annotations

import html
import math
from typing import Sequence

import numpy as np
import plotly.colors
import plotly.graph_objects as go

# One sequential scale for attention weights everywhere; one diverging scale for differences.
WEIGHT_SCALE = "Blues"
DIVERGING_SCALE = "RdBu_r"
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
# The 12 heads of a layer told apart at once (the lines view's "all heads"): no two closer than about
# 24 CIELAB units (tests/test_readability.py); two oranges and two blues once made 12 heads read as 10.
HEAD_COLOURS = [
    "#4c6ef5", "#f76707", "#2b8a3e", "#e03131", "#7048e8", "#0c8599",
    "#d6336c", "#5c940d", "#8c564b", "#e6a700", "#862e9c", "#495057",
]
EXTRA_COLOURS = ["#343a40", "#f59f00", "#20c997", "#be4bdb", "#fa5252", "#15aabf", "#94d82d", "#ff922b"]
PALETTE = HEAD_COLOURS + EXTRA_COLOURS   # categories: heads, tokens, word groups
# Up to 12 things told apart on one picture (token paths, word groups): no two colours closer than
# about 27 CIELAB units (checked in tests/test_readability.py), and each with its own marker
# symbol as well, so colour alone never has to carry the difference.
CATEGORY_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
                    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#000000", "#f5b700"]
CATEGORY_SYMBOLS = ["circle", "square", "diamond", "triangle-up", "x", "star",
                    "triangle-down", "pentagon", "cross", "hexagon", "star-diamond", "triangle-left"]

# Text sizes in px, as Chromium draws them (tests/test_readability_browser.py measures them).
MIN_FONT = 10        # no label is drawn smaller than this
TICK_FONT = 11       # tick labels of a long token axis, every k-th one when they are thinned
LINE = 1.25          # a text line's box is about 1.25 × its font size tall
CHAR = 0.62          # an average character is at most about 0.62 × the font size wide
GAP = 2              # px kept free between neighbouring labels
PLOT_WIDTH = 640     # px: the narrowest plot area a full-width figure gets (1280-px window, sidebar open)


def colour(i: int) -> str:
    """The i-th category colour, cycling through the palette (heads first: head h is always colour h)."""
    return PALETTE[i % len(PALETTE)]


def category_style(i: int) -> tuple[str, str]:
    """The i-th category's (colour, marker symbol). Beyond 12 colours repeat, but never with the same symbol."""
    n = len(CATEGORY_COLOURS)
    return CATEGORY_COLOURS[i % n], CATEGORY_SYMBOLS[(i + i // n) % n]


def safe(text: str) -> str:
    """User text as Plotly shows it literally: `<b>` stays `<b>`, not bold."""
    return html.escape(str(text), quote=False)


def safe_all(texts: Sequence[str]) -> list[str]:
    return [safe(t) for t in texts]


def shorten(text: str, limit: int = 18) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def token_ticks(tokens: Sequence[str], start: int = 0, limit: int = 18, step: int = 1) -> dict:
    """Axis settings that label integer positions with tokens, every `step`-th one.

    Categorical axes merge repeated tokens ("the" twice would become one column), so
    figures put tokens at positions 0..T-1 and write the token text as tick labels.
    """
    shown = range(0, len(tokens), max(1, int(step)))
    return dict(
        tickmode="array",
        tickvals=[start + i for i in shown],
        ticktext=[safe(shorten(tokens[i], limit)) for i in shown],
    )


def text_width(text: str, font: float) -> float:
    """A generous estimate of a label's width in px (Plotly measures it only in the browser)."""
    return len(str(text)) * CHAR * font


def label_plan(n: int, room_px: float, largest: int = 13) -> tuple[int, int]:
    """(font, step) for n labels stacked along `room_px`: each gets a line of its own.

    The font shrinks from `largest` towards MIN_FONT while every label still fits; when not even
    MIN_FONT fits, labels keep TICK_FONT and only every step-th is written (the rest stay in hover).
    """
    slot = room_px / max(n, 1)                                 # px per label
    font = min(largest, math.floor((slot - GAP) / LINE))
    if font >= MIN_FONT:
        return font, 1
    font = min(largest, TICK_FONT)
    return font, math.ceil((font * LINE + GAP) / slot)


def token_axis(tokens: Sequence[str], room_px: float, across: bool = False, limit: int = 18,
               largest: int = 13, start: int = 0) -> dict:
    """Tick settings for a token axis `room_px` long whose labels never overlap and are ≥ MIN_FONT px.

    across=True is an x axis: labels stay level when every one fits its column, else they turn
    upright (-90°, so a label needs one line of width) and are thinned like a y axis's.
    """
    n = len(tokens)
    short = [shorten(t, limit) for t in tokens]
    font, step = label_plan(n, room_px, largest)
    angle = 0
    if across:
        widest = max((text_width(t, largest) for t in short), default=0.0) * 1.2   # capitals run wider
        if widest + 3 * GAP <= room_px / max(n, 1):
            font, step = largest, 1
        else:
            angle = -90
    ticks = token_ticks(tokens, start=start, limit=limit, step=step)    # token i sits at start + i
    ticks.update(tickfont=dict(size=font), tickangle=angle)
    return ticks


def label_depth(tokens: Sequence[str], axis: dict) -> float:
    """px an axis's labels reach out from the plot (upright labels: the longest one's width)."""
    font = axis["tickfont"]["size"]
    if axis.get("tickangle") == -90:
        return max((text_width(t, font) for t in axis["ticktext"]), default=0.0) + 8
    return font * LINE + 8


def log_colourscale(scale: str = WEIGHT_SCALE, floor: float = 1e-3) -> list:
    """Colour stops over values 0..1 (shares of the scale's top) that darken with log10 of the value.

    Plotly draws colour linearly in z, so the log lives in where the stops sit: equal steps of
    colour at 0.001, 0.002, 0.005, 0.01 … 1, linear in between. z itself stays the real weight,
    so hover text shows it; a log key (log_key) replaces the linear colour bar.
    """
    shares = [0.0] + [m * 10.0 ** e for e in range(round(math.log10(floor)), 0) for m in (1, 2, 5)] + [1.0]
    shares = [s for s in shares if s == 0 or s >= floor]
    depth = -math.log10(floor)
    # the floor already a faint blue rather than white: a small weight differs from none
    where = [0.0 if s == 0 else 0.08 + 0.92 * (math.log10(s) + depth) / depth for s in shares]
    return [[s, c] for s, c in zip(shares, plotly.colors.sample_colorscale(scale, where))]


def log_key(zmax: float, title: str, colorscale: list, coloraxis: str | None = None,
            floor: float = 1e-3, xaxis: str = "x2", yaxis: str = "y2") -> go.Heatmap:
    """A colour key on a log axis for log_colourscale: a thin strip of colours, ticks at powers of 10.

    Give the figure axes `xaxis`/`yaxis` (see place_log_key) for it; the strip uses the same
    colours as the figure (its coloraxis, or the same colorscale and zmax).
    """
    values = zmax * np.logspace(math.log10(floor), 0, 61)                  # (61,) floor·zmax … zmax
    strip = dict(coloraxis=coloraxis) if coloraxis else dict(colorscale=colorscale, zmin=0.0, zmax=zmax,
                                                              showscale=False)
    return go.Heatmap(z=values[:, None], x=[0], y=np.log10(values), xaxis=xaxis, yaxis=yaxis,
                      hoverinfo="skip", name=title, **strip)


def place_log_key(fig: go.Figure, zmax: float, title: str, floor: float = 1e-3,
                  main: float = 0.86, span: Sequence[float] = (0.3, 1.0)) -> None:
    """Lay out axes x2/y2 for a log_key strip at the right; the main plot keeps `main` of the width,
    the strip `span` of the height (from the bottom)."""
    lowest = math.ceil(math.log10(zmax * floor) - 1e-9)
    powers = list(range(lowest, math.floor(math.log10(zmax) + 1e-9) + 1))
    tickvals = [float(p) for p in powers]
    if not powers or math.log10(zmax) - powers[-1] > 0.15:
        tickvals.append(math.log10(zmax))                                   # the top of the scale too
    fig.update_layout(
        xaxis=dict(domain=[0.0, main]),
        xaxis2=dict(domain=[main + 0.05, main + 0.075], anchor="y2", visible=False, fixedrange=True),
        yaxis2=dict(domain=list(span), anchor="x2", side="right", fixedrange=True, showgrid=False,
                    tickmode="array", tickvals=tickvals, ticktext=[f"{10 ** v:.3g}" for v in tickvals],
                    tickfont=dict(size=12), zeroline=False,
                    title=dict(text=safe(title), font=dict(size=12))),
    )


def text_offset(marker_size: float) -> float:
    """px between a point and its label as Plotly draws it: the marker's radius / 0.8 + 1."""
    return marker_size / 2 / 0.8 + 1


def place_labels(points: np.ndarray, sizes: np.ndarray, obstacles: np.ndarray | None = None,
                 pad: float | Sequence[float] = 4.0, bounds: Sequence[float] | None = None,
                 radii: Sequence[float] | None = None) -> list[str | None]:
    """Where to write each point's label so that no two labels overlap, most important first.

    points (N, 2) and sizes (N, 2) (label width, height) in px, y upwards, in order of importance;
    obstacles (M, 4) boxes (x0, y0, x1, y1) labels must not cover (arrowheads, other markers);
    radii (N,): the points' own markers, which every label but the point's own must avoid. Each label
    tries above, below, right and left of its point, `pad` px from it (one number, or one per point:
    text_offset of its marker); a label that fits nowhere gets None (its text stays in the hover).
    The first label is written even in a crowd of markers (never over an obstacle or outside).
    bounds (x0, y0, x1, y1): the plot area, which labels must stay inside. Labels keep GAP px from
    everything, so small errors in the estimates do not make them touch. Returns Plotly textpositions.
    """
    points, sizes = np.asarray(points, dtype=float).reshape(-1, 2), np.asarray(sizes, dtype=float).reshape(-1, 2)
    n = len(points)
    markers = np.empty((0, 4))
    if radii is not None:
        r = np.asarray(radii, dtype=float).reshape(-1, 1)                  # (N, 1)
        markers = np.concatenate([points - r, points + r], axis=1)         # (N, 4)
    fixed = np.empty((0, 4)) if obstacles is None else np.asarray(obstacles, dtype=float).reshape(-1, 4)
    boxes = np.concatenate([markers, fixed, np.empty((n, 4))])             # markers, obstacles, labels placed
    count = len(markers) + len(fixed)
    pads = np.broadcast_to(np.asarray(pad, dtype=float), (n,))
    inside = (lambda box: True) if bounds is None else (
        lambda box: bounds[0] <= box[0] and box[2] <= bounds[2] and bounds[1] <= box[1] and box[3] <= bounds[3])
    placed: list[str | None] = []
    for i, ((x, y), (w, h), gap) in enumerate(zip(points, sizes, pads)):
        spots = {"top center": (x - w / 2, y + gap, x + w / 2, y + gap + h),
                 "bottom center": (x - w / 2, y - gap - h, x + w / 2, y - gap),
                 "middle right": (x + gap, y - h / 2, x + gap + w, y + h / 2),
                 "middle left": (x - gap - w, y - h / 2, x - gap, y + h / 2)}
        others = np.ones(count, dtype=bool)
        if len(markers):
            others[i] = False                                               # a label may touch its own marker
        tries = [boxes[:count][others]]
        if i == 0 and len(markers):     # the most important label is written even in a crowd of markers
            tries.append(boxes[len(markers):count])
        choice = None
        for taken in tries:
            for where, (x0, y0, x1, y1) in spots.items():
                if inside((x0, y0, x1, y1)) and not np.any((taken[:, 0] < x1 + GAP) & (x0 - GAP < taken[:, 2])
                                                           & (taken[:, 1] < y1 + GAP) & (y0 - GAP < taken[:, 3])):
                    choice = where
                    boxes[count] = (x0, y0, x1, y1)
                    count += 1
                    break
            if choice:
                break
        placed.append(choice)
    return placed


def to_pixels(coords: np.ndarray, ranges: Sequence[Sequence[float]], width: float, height: float,
              equal: bool = False) -> np.ndarray:
    """Data coordinates (N, 2) -> px in a plot area width × height showing `ranges` (y upwards).

    equal=True: one unit is as long on both axes (scaleanchor), so the tighter axis sets the scale.
    """
    coords = np.asarray(coords, dtype=float).reshape(-1, 2)
    spans = np.array([r[1] - r[0] for r in ranges], dtype=float)
    scale = np.array([width, height]) / np.where(spans == 0, 1.0, spans)   # px per unit, per axis
    if equal:
        scale[:] = scale.min()
    centre = np.array([(r[0] + r[1]) / 2 for r in ranges])
    return (coords - centre) * scale


LAYER_CONVENTION = ("Layers count from 0 on every page: layer 0 is the first block. A token's vector is named by "
                    "where it stands: the embeddings (emb), then after layer 0, after layer 1 and so on")


def state_label(i: int, short: bool = False) -> str:
    """Hidden state i of a trace (0 = the embeddings) named by the layer it comes out of, counted from 0
    as on the attention pages: "embeddings", "after layer 0", … (short: "emb", "0", …)."""
    if i == 0:
        return "emb" if short else "embeddings"
    return str(i - 1) if short else f"after layer {i - 1}"


def percent_ticks(end: float, target: int = 5) -> dict:
    """Tick values and labels for a probability axis from 0 to `end`: a round step (1, 2 or 5 × 10ⁿ)
    and just enough decimals that every label is distinct and reads its own value. Plotly's
    ".0%" on a 0–3 % axis prints 0%, 1%, 1%, 2%, 2%, 3%: a 0.6 % bar then looks longer than a 1 % one."""
    end = float(end) if end and end > 0 else 1.0
    raw = end / target
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    values = [round(i * step, 12) for i in range(int(np.floor(end / step + 1e-9)) + 1)]
    decimals = max(0, int(-np.floor(np.log10(step * 100) + 1e-9)))       # digits after the point, in %
    text = [f"{v * 100:.{decimals}f}%" for v in values]
    return dict(tickmode="array", tickvals=values, ticktext=text)


def base_layout(fig: go.Figure, title: str | None = None, height: int | None = None) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        font=FONT,
        title=dict(text=safe(title), x=0.01, xanchor="left") if title else None,
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        height=height,
    )
    return fig


# -- maps of heads that open a head on a click ----------------------------------------------------------------
# Plotly selects scatter points, never heatmap cells, and Streamlit reports only what Plotly selects; so a map of
# heads (every layer × head) carries one invisible marker per head, named OPEN_HEAD, whose customdata starts with
# (layer, head). ui.attention.head_map draws such a figure and opens the clicked head on One head.
OPEN_HEAD = "open head"


def head_markers(x: Sequence, y: Sequence, customdata: np.ndarray, hovertemplate: str,
                 size: int = 18) -> go.Scatter:
    """One invisible, clickable marker per head at (x, y); customdata rows start with (layer, head)."""
    return go.Scatter(x=list(x), y=list(y), mode="markers", name=OPEN_HEAD, showlegend=False,
                      marker=dict(size=size, color="rgba(0,0,0,0.004)", line=dict(width=0)),  # invisible, clickable
                      customdata=customdata, hovertemplate=hovertemplate)


def clickable_cells(fig: go.Figure, value_name: str, decimals: int = 3) -> go.Figure:
    """An (L, H) heatmap (fig.data[0]: x = head, y = layer) whose every cell opens its head: a marker at
    each cell's centre. The hover follows the nearest marker anywhere on the plot (hoverdistance -1), so
    the cell under the mouse is the one its hover names and the one a click opens; the heatmap's own
    hover is off, its value is in the marker's."""
    heat = fig.data[0]
    values = np.asarray(heat.z, dtype=np.float64)
    n_layers, n_heads = values.shape
    heads, layers = np.meshgrid(np.arange(n_heads), np.arange(n_layers))          # (L, H) each
    custom = np.stack([layers.ravel(), heads.ravel(), values.ravel()], axis=-1)     # (L·H, 3), layer-major
    heat.update(hoverinfo="skip", hovertemplate=None)
    fig.add_trace(head_markers(heads.ravel(), layers.ravel(), custom,
                               "layer %{customdata[0]} · head %{customdata[1]}<br>" + safe(value_name)
                               + f": %{{customdata[2]:.{decimals}f}}<br>click to open this head<extra></extra>"))
    fig.update_layout(hovermode="closest", hoverdistance=-1, clickmode="event+select")
    return fig
