"""Figures for "inside the model, step by step": matrices with their shapes, bars with
their values, the tokens over the original text, positions, activations and the mask.

Every figure takes plain arrays and labels; token text goes through safe() and into
tick labels, text or customdata, never into a hovertemplate.
"""
from __future__ import annotations

import unicodedata
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import (DIVERGING_SCALE, GAP, HEAD_COLOURS, LINE, MIN_FONT, PLOT_WIDTH, WEIGHT_SCALE, base_layout, colour,
                     label_depth, safe, shorten, text_width, token_axis, token_ticks)

CHIP_COLOURS = ["#d0ebff", "#ffe8cc", "#d3f9d8", "#ffe3e3", "#e5dbff", "#c5f6fa", "#fff3bf", "#f3d9fa"]
MONO = "DejaVu Sans Mono, Menlo, Consolas, monospace"


def visible(text: str) -> str:
    """Control and zero-width characters written as \\x07 / \\u200b so they can be seen."""
    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") or (ch.isspace() and ch != " "):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def colour_limit(values: np.ndarray, q: float = 99.0) -> float:
    """A colour range that a few outlier dimensions cannot wash out: the q-th percentile of |value|.
    Larger values saturate the colour; hover shows every exact number."""
    finite = np.abs(np.asarray(values, dtype=np.float64))
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return 1.0
    return float(np.percentile(finite, q)) or 1.0


CHIP_LABEL_FONT = 11   # px: the token written under its characters
CHIP_LINE_PX = 72      # px per line of text: the characters, then up to two rows of token labels
CHIP_FONT = 14         # px: the characters; 0.62 × 14 < 640 px / 73 columns, so a word never spills out of its box


def chip_label(box: dict) -> str:
    return shorten(box["token"], max(box["n"] + 3, 7))


def chip_label_rows(boxes: Sequence[dict], width: int, plot_px: float = PLOT_WIDTH) -> list[int | None]:
    """Which row under the characters each token's label goes in (0 or 1), or None when it fits in neither
    (the token is still in the hover). Short pieces side by side ("##s", "##er") have labels wider than
    their boxes: the second one drops a row rather than writing over the first. `plot_px`: the narrowest
    width the `width` characters are drawn in."""
    unit = plot_px / (width + 1)                              # px per character column
    ends: dict[tuple[int, int], float] = {}                   # (line, row) -> where the last label there ends
    rows: list[int | None] = []
    for b in boxes:
        half = (text_width(chip_label(b), CHIP_LABEL_FONT) / 2 + GAP) / unit   # columns
        centre = b["x"] + b["n"] / 2
        row = next((r for r in (0, 1) if ends.get((b["line"], r), -1e9) <= centre - half), None)
        if row is not None:
            ends[(b["line"], row)] = centre + half
        rows.append(row)
    return rows


# -- tokens over the original text -------------------------------------------------------------
def token_chips(text: str, spans: Sequence[tuple[int, int]], tokens: Sequence[str], ids: Sequence[int],
                title: str | None = None, width: int = 72) -> go.Figure:
    """The original text laid out left to right, each token's characters in a coloured box
    (its offsets), the token itself written underneath. Characters no token covers and that
    are not spaces (removed by the normaliser) are shown as grey boxes."""
    boxes: list[dict] = []   # one per drawn segment: x, len, line, label, kind, token index
    col, line, prev_end = 0, 0, 0

    def place(length: int) -> tuple[int, int]:
        nonlocal col, line
        length = max(length, 1)
        if col and col + length > width:
            col, line = 0, line + 1
        at = (col, line)
        col += length
        return at

    for n, ((start, end), tok) in enumerate(zip(spans, tokens)):
        gap = text[prev_end:start]
        if gap.strip():  # characters that made no token
            shown = visible(gap)
            x, y = place(len(shown))
            boxes.append(dict(x=x, n=len(shown), line=y, chars=shown, token="removed", kind="gap", i=n))
        elif gap:
            col += 1 if col else 0
        chars = visible(text[start:end]) if end > start else tok
        x, y = place(len(chars))
        boxes.append(dict(x=x, n=max(len(chars), 1), line=y, chars=chars, token=tok, kind="token", i=n))
        prev_end = max(prev_end, end)
    n_lines = line + 1
    rows = chip_label_rows(boxes, width)
    fig = go.Figure()
    for b in boxes:  # boxes are shapes, not bars: Plotly would shrink or rotate text inside bars
        fig.add_shape(type="rect", x0=b["x"] + 0.08, x1=b["x"] + b["n"] - 0.08, y0=-2 * b["line"] - 0.42,
                      y1=-2 * b["line"] + 0.42, line=dict(width=0), layer="below",
                      fillcolor=CHIP_COLOURS[b["i"] % len(CHIP_COLOURS)] if b["kind"] == "token" else "#dee2e6")
    custom = [[safe(b["chars"]), safe(b["token"]), str(ids[b["i"]]) if b["kind"] == "token" else "–",
               f"{spans[b['i']][0]}–{spans[b['i']][1]}" if b["kind"] == "token" else "not in any token"]
              for b in boxes]
    fig.add_trace(go.Scatter(
        x=[b["x"] + b["n"] / 2 for b in boxes], y=[-2 * b["line"] for b in boxes], mode="text",
        text=[safe(b["chars"]) for b in boxes], customdata=custom, showlegend=False,
        textfont=dict(family=MONO, size=CHIP_FONT, color="#212529"),
        hovertemplate="characters: %{customdata[0]}<br>token: %{customdata[1]}<br>id: %{customdata[2]}"
                      "<br>offsets: %{customdata[3]}<extra></extra>"))
    labelled = [(b, row) for b, row in zip(boxes, rows) if row is not None]
    fig.add_trace(go.Scatter(
        x=[b["x"] + b["n"] / 2 for b, _ in labelled], y=[-2 * b["line"] - 0.8 - 0.5 * row for b, row in labelled],
        mode="text", text=[safe(chip_label(b)) for b, _ in labelled], hoverinfo="skip", showlegend=False,
        textfont=dict(family=MONO, size=CHIP_LABEL_FONT,
                      color=["#1c7ed6" if b["token"].startswith("##") else "#495057" for b, _ in labelled])))
    base_layout(fig, title, height=(50 if title else 20) + 20 + CHIP_LINE_PX * n_lines)
    fig.update_xaxes(visible=False, range=[-0.5, width + 0.5])
    fig.update_yaxes(visible=False, range=[-2 * n_lines + 0.7, 0.6])
    return fig


# -- matrices and vectors -------------------------------------------------------------------------
def matrix_heatmap(matrix: np.ndarray, title: str, row_labels: Sequence[str] | None = None,
                   row_start: int = 0, x_title: str = "dimension", y_title: str = "token",
                   height: int | None = None, zmid: float | None = 0.0,
                   dims: Sequence[int] | None = None) -> go.Figure:
    """A (rows, columns) matrix; rows labelled by tokens (positions row_start…) or numbered.
    `dims`: only these columns, each labelled by its number with the values written in the cells."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"matrix must be 2-D, got shape {matrix.shape}")
    if dims is not None and len(dims) < matrix.shape[1]:
        return _matrix_columns(matrix, np.asarray(dims, dtype=int), title, row_labels, row_start, x_title, y_title)
    n_rows, n_cols = matrix.shape
    rows = list(range(row_start, row_start + n_rows))
    custom = None
    hover = "row %{y}, dim %{x}: %{z:.4f}<extra></extra>"
    if row_labels is not None:
        custom = np.repeat(np.array([safe(t) for t in row_labels], dtype=object)[:, None], n_cols, axis=1)
        hover = "%{customdata} (position %{y}), dim %{x}: %{z:.4f}<extra></extra>"
    lim = colour_limit(matrix)
    fig = go.Figure(go.Heatmap(
        z=matrix, x=list(range(n_cols)), y=rows, customdata=custom, hovertemplate=hover,
        colorscale=DIVERGING_SCALE if zmid is not None else WEIGHT_SCALE,
        zmid=zmid, zmin=-lim if zmid is not None else None, zmax=lim if zmid is not None else None,
        colorbar=dict(thickness=12)))
    base_layout(fig, title, height=height or max(220, min(620, 90 + 20 * n_rows)))
    fig.update_xaxes(title=x_title)
    ticks = token_ticks(row_labels, start=row_start) if row_labels is not None else {}
    fig.update_yaxes(title=y_title, autorange="reversed", **ticks)
    return fig


STRIP_DIMS = 24      # dimensions a vector strip shows by default: few enough to read each number


def strip_dims(rows: np.ndarray, how: str = "largest", n: int = STRIP_DIMS) -> np.ndarray:
    """Which dimensions of (k, d) vectors to draw: "largest" (the n where any row is largest in size,
    in index order), "first" (0 … n-1) or "all"."""
    d = np.asarray(rows).shape[-1]
    if how == "all" or d <= n:
        return np.arange(d)
    if how == "first":
        return np.arange(n)
    size = np.abs(np.asarray(rows, dtype=np.float64)).max(axis=0)           # (d,)
    return np.sort(np.argsort(size)[::-1][:n])


def _matrix_columns(matrix: np.ndarray, dims: np.ndarray, title: str, row_labels: Sequence[str] | None,
                    row_start: int, x_title: str, y_title: str) -> go.Figure:
    """A few labelled columns of a wide matrix, numbers in the cells (a readable slice of a barcode)."""
    z = matrix[:, dims]                                                       # (rows, dims shown)
    n_rows = z.shape[0]
    rows = list(range(row_start, row_start + n_rows))
    lim = colour_limit(z)
    labels = [safe(t) for t in row_labels] if row_labels is not None else [str(r) for r in rows]
    custom = np.repeat(np.array(labels, dtype=object)[:, None], len(dims), axis=1)
    fig = go.Figure(go.Heatmap(
        z=z, x=[str(i) for i in dims], y=rows, customdata=custom, colorscale=DIVERGING_SCALE, zmid=0,
        zmin=-lim, zmax=lim, xgap=1, ygap=1, text=np.vectorize(cell_text)(z),
        texttemplate="%{text}" if n_rows <= 40 else None, textfont=dict(size=MIN_FONT),
        colorbar=dict(thickness=12, title=dict(text="value", side="right")),
        hovertemplate="%{customdata} (position %{y}), dim %{x}: %{z:.4f}<extra></extra>"))
    base_layout(fig, title, height=max(220, min(900, 110 + 24 * n_rows)))
    fig.update_xaxes(title=f"{x_title} ({len(dims)} of {matrix.shape[1]} shown)", type="category", tickangle=0,
                     tickfont=dict(size=MIN_FONT))
    ticks = token_ticks(row_labels, start=row_start) if row_labels is not None else {}
    fig.update_yaxes(title=y_title, autorange="reversed", **ticks)
    return fig


def cell_text(value: float) -> str:
    """A number written in a cell: two decimals, and "0" for what rounds to zero, never "-0.00" (a
    query that gives its keys almost no weight made 32 columns of "-0.00")."""
    text = f"{value:.2f}"
    return "0" if text in ("0.00", "-0.00") else text


def short_cell_text(value: float) -> str:
    """cell_text without the leading zero (".12", "−.05"): 25–40 columns leave a number about 25 px."""
    text = cell_text(value)
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def vector_strip(rows: np.ndarray, names: Sequence[str], title: str, height: int | None = None,
                 dims: Sequence[int] | None = None) -> go.Figure:
    """Several vectors of the same width, one strip each (e.g. token, position, sum, LayerNorm).

    `dims` picks the dimensions drawn (all by default). Up to 40 of them get a labelled column each
    with the number written in it; more become a thin-column colour strip (hover for numbers)."""
    rows = np.asarray(rows, dtype=np.float64)
    d = rows.shape[1]
    dims = np.arange(d) if dims is None else np.asarray(dims, dtype=int)
    z = rows[:, dims]                                                         # (rows, dims shown)
    lim = colour_limit(z)
    names = [safe(n) for n in names]
    custom = np.repeat(np.array(names, dtype=object)[:, None], len(dims), axis=1)
    readable = len(dims) <= 40
    columns = [str(i) for i in dims] if readable else list(dims)
    fig = go.Figure(go.Heatmap(
        z=z, x=columns, y=list(range(len(names))), customdata=custom, colorscale=DIVERGING_SCALE,
        zmid=0, zmin=-lim, zmax=lim, xgap=1 if readable else 0, ygap=2,
        text=np.vectorize(cell_text if len(dims) <= STRIP_DIMS else short_cell_text)(z) if readable else None,
        texttemplate="%{text}" if readable else None, textfont=dict(size=MIN_FONT),
        colorbar=dict(thickness=12, title=dict(text="value", side="right")),
        hovertemplate="%{customdata}, dim %{x}: %{z:.4f}<extra></extra>"))
    base_layout(fig, title, height=height or 110 + 46 * len(names))
    fig.update_yaxes(tickmode="array", tickvals=list(range(len(names))), ticktext=names, autorange="reversed")
    shown = "dimension" if len(dims) == d else f"dimension ({len(dims)} of {d} shown)"
    fig.update_xaxes(title=shown, type="category" if readable else "linear", tickangle=0,
                     tickfont=dict(size=MIN_FONT if len(dims) > STRIP_DIMS else 11))
    if readable and len(dims) > STRIP_DIMS:     # every other dimension named: 3-digit names fill a narrow column
        fig.update_xaxes(tickmode="array", tickvals=columns[::2], ticktext=columns[::2])
    return fig


def strip_note(dims: Sequence[int], d: int, how: str = "largest") -> str:
    """One line under a strip: what a cell and a colour mean, and which dimensions are shown."""
    which = ("all of them" if len(dims) == d else
             f"the {len(dims)} with the largest values here" if how == "largest" else f"the first {len(dims)}")
    return (f"Each cell is one of the vector's {d} numbers (the dimension is under its column), coloured by "
            # no colour named: the colour-blind palette draws the same numbers in other colours
            "the colour bar: one colour for positive, the other for negative, pale near 0; the strips share one "
            f"scale. Shown: {which}. A single dimension has no meaning of its own: compare the rows column by column.")


# -- one query's scores, step by step ----------------------------------------------------------
def step_bars(values: np.ndarray, tokens: Sequence[str], title: str, start: int = 0,
              highlight: int | None = None, fmt: str = "{:.2f}", colour: str = HEAD_COLOURS[0],
              y_title: str = "") -> go.Figure:
    """One value per key token, written on its bar; -inf (masked) keys show '−∞' and no bar."""
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    heights = np.where(finite, values, 0.0)
    labels = [fmt.format(v) if ok else "−∞" for v, ok in zip(values, finite)]
    colours = [colour if ok else "#ced4da" for ok in finite]
    if highlight is not None and start <= highlight < start + len(values):
        colours[highlight - start] = "#f76707"
    positions = list(range(start, start + len(values)))
    fig = go.Figure(go.Bar(x=positions, y=heights, text=labels, textposition="outside", cliponaxis=False,
                           marker_color=colours, customdata=[safe(t) for t in tokens],
                           hovertemplate="%{customdata} (position %{x}): %{text}<extra></extra>"))
    x_ticks = token_axis(tokens, PLOT_WIDTH * 0.95, across=True, limit=14, start=start)   # thinned, never on each other
    base_layout(fig, title, height=int(300 + label_depth(tokens, x_ticks)))
    fig.update_layout(uniformtext=dict(minsize=MIN_FONT, mode="hide"))   # a number too small for its bar: hover
    fig.update_xaxes(**x_ticks)
    fig.update_yaxes(title=y_title, zeroline=True, zerolinecolor="#adb5bd")
    if finite.any():
        lo, hi = float(heights.min()), float(heights.max())
        pad = 0.18 * (hi - lo or 1.0)
        fig.update_yaxes(range=[min(lo, 0) - (pad if lo < 0 else 0), max(hi, 0) + pad])
    return fig


def weighted_sum_figure(weights: np.ndarray, v: np.ndarray, head_out: np.ndarray, tokens: Sequence[str],
                        start: int, title: str) -> go.Figure:
    """Rows weight_j · v_j for the keys shown, then their sum over all keys: the head's output."""
    contrib = np.asarray(weights)[:, None] * np.asarray(v)              # (keys, d_head)
    z = np.vstack([contrib, np.asarray(head_out)[None, :]])               # (keys + 1, d_head)
    names = [f"{start + j} · {shorten(t)}" for j, t in enumerate(tokens)] + ["Σ over all keys = head output"]
    return vector_strip(z, names, title, height=110 + 24 * len(names))


# -- positions -----------------------------------------------------------------------------------
def position_heatmap(table: np.ndarray, title: str, zmid: float | None = 0.0) -> go.Figure:
    """(positions, d_model): one row per position."""
    return matrix_heatmap(table, title, x_title="dimension", y_title="position", height=420, zmid=zmid)


def sinusoid_curves(table: np.ndarray, dims: Sequence[int], title: str) -> go.Figure:
    fig = go.Figure()
    for n, d in enumerate(dims):
        fig.add_trace(go.Scatter(x=list(range(table.shape[0])), y=table[:, d], mode="lines",
                                 name=f"dim {d} ({'sin' if d % 2 == 0 else 'cos'})",
                                 line=dict(color=colour(n), width=1.5 if n == 0 else 2.5)))
    base_layout(fig, title, height=340)
    fig.update_xaxes(title="position")
    fig.update_yaxes(title="value", range=[-1.1, 1.1])
    return fig


def cosine_heatmap(cos: np.ndarray, title: str) -> go.Figure:
    fig = go.Figure(go.Heatmap(z=cos, colorscale=DIVERGING_SCALE, zmid=0, zmin=-1, zmax=1,
                               colorbar=dict(title="cosine", thickness=12),
                               hovertemplate="position %{y} · position %{x}: %{z:.3f}<extra></extra>"))
    base_layout(fig, title, height=460)
    fig.update_xaxes(title="position")
    fig.update_yaxes(title="position", autorange="reversed", scaleanchor="x")
    return fig


# -- feed-forward ----------------------------------------------------------------------------------
def activation_histogram(pre: np.ndarray, hidden: np.ndarray, title: str,
                         before: str = "before GELU (x·W_up + b)", after: str = "after GELU") -> go.Figure:
    """The d_ff values before and after the activation (GELU unless named), for one token."""
    fig = go.Figure()
    fig.add_trace(go.Histogram(x=pre, name=before, nbinsx=80, opacity=0.55,
                               marker_color="#adb5bd"))
    fig.add_trace(go.Histogram(x=hidden, name=after, nbinsx=80, opacity=0.75, marker_color=HEAD_COLOURS[0]))
    base_layout(fig, title, height=330)
    fig.update_layout(barmode="overlay", legend=dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom"))
    fig.update_xaxes(title="activation")
    fig.update_yaxes(title="neurons")
    return fig


def top_neurons_figure(neurons: Sequence[tuple[int, float]], title: str,
                       x_title: str = "activation after GELU") -> go.Figure:
    ids = [f"#{i}" for i, _ in neurons]
    vals = [v for _, v in neurons]
    fig = go.Figure(go.Bar(x=vals, y=ids, orientation="h", text=[f"{v:.2f}" for v in vals],
                           textposition="outside", cliponaxis=False, marker_color=HEAD_COLOURS[2],
                           hovertemplate="neuron %{y}: %{x:.4f}<extra></extra>"))
    base_layout(fig, title, height=100 + 26 * len(ids))
    fig.update_yaxes(autorange="reversed", title="neuron")
    fig.update_xaxes(title=x_title, range=[min(0.0, min(vals, default=0.0)) * 1.1,
                                                           max(vals, default=1.0) * 1.18 or 1.0])
    return fig


# -- the mask -------------------------------------------------------------------------------------
MASK_ROOM = PLOT_WIDTH / 2 - 100   # px: the plot area of a grid in one of two columns (colour bar, labels aside)


def scores_with_mask(scores: np.ndarray, tokens: Sequence[str], title: str, start: int = 0,
                     room_px: float = MASK_ROOM) -> go.Figure:
    """(T_q, T_k) scores before the softmax; hidden cells grey with '−∞' written in them (when it fits)."""
    scores = np.asarray(scores, dtype=np.float64)
    finite = np.isfinite(scores)
    lim = float(np.nanmax(np.abs(np.where(finite, scores, np.nan)))) if finite.any() else 1.0
    return _masked_grid(scores, ~finite, "−∞", tokens, title, start,
                        dict(colorscale=DIVERGING_SCALE, zmid=0, zmin=-lim, zmax=lim), "score", room_px)


def weights_with_mask(weights: np.ndarray, masked: np.ndarray, tokens: Sequence[str], title: str,
                      start: int = 0, room_px: float = MASK_ROOM) -> go.Figure:
    """The same grid after the softmax: masked cells grey with the exact 0 written in them, the rest
    coloured 0 to 1. Drawn like scores_with_mask so the two sit side by side cell for cell."""
    return _masked_grid(np.asarray(weights, dtype=np.float64), np.asarray(masked, dtype=bool), "0", tokens, title,
                        start, dict(colorscale=WEIGHT_SCALE, zmin=0.0, zmax=1.0), "weight", room_px)


def cell_font(text: str, cell_px: float, largest: int = 11) -> int | None:
    """The font (px) at which `text` fits a cell `cell_px` wide and tall with GAP px to spare, or None
    when not even MIN_FONT fits (then the cell's colour alone says it, and hover gives the value)."""
    for font in range(largest, MIN_FONT - 1, -1):
        if text_width(text, font) + 2 * GAP <= cell_px and font * LINE + GAP <= cell_px:
            return font
    return None


def _masked_grid(values: np.ndarray, masked: np.ndarray, masked_text: str, tokens: Sequence[str], title: str,
                 start: int, colours: dict, value_name: str, room_px: float) -> go.Figure:
    """A square query × key grid about `room_px` wide: masked cells grey with `masked_text` (where it fits
    a cell), the others coloured; key labels on top, thinned and upright when they do not fit level, the
    dashed diagonal where a token meets itself. One layout for every such grid."""
    t = len(tokens)
    axis = list(range(start, start + t))
    x_ticks = token_axis(tokens, room_px, across=True, limit=14, start=start)
    y_ticks = token_axis(tokens, room_px, limit=14, start=start)
    font = cell_font(masked_text, room_px / max(t, 1))
    fig = go.Figure()
    grey = [[0, "#dee2e6"], [1, "#dee2e6"]]
    written = dict(text=np.where(masked, masked_text, ""), texttemplate="%{text}",
                   textfont=dict(color="#495057", size=font)) if font else {}
    fig.add_trace(go.Heatmap(z=np.where(masked, 0.0, np.nan), x=axis, y=axis, colorscale=grey, showscale=False,
                             customdata=np.where(masked, masked_text, ""),
                             hovertemplate=f"query %{{y}}, key %{{x}}: %{{customdata}} (hidden)<extra></extra>",
                             **written))
    fig.add_trace(go.Heatmap(z=np.where(masked, np.nan, values), x=axis, y=axis, **colours,
                             colorbar=dict(title=dict(text=value_name, side="right"), thickness=12),
                             hovertemplate=f"query %{{y}}, key %{{x}}: %{{z:.3f}}<extra></extra>"))
    fig.add_shape(type="line", x0=start - 0.5, y0=start - 0.5, x1=start + t - 0.5, y1=start + t - 0.5,
                  line=dict(color="#e8590c", dash="dash"))
    top = 50 + label_depth(tokens, x_ticks)                # the title above the key labels
    rows_px = max(320, room_px)                         # about as tall as a half-page column is wide
    base_layout(fig, title, height=int(top + rows_px + 20))
    fig.update_layout(margin=dict(t=int(top), b=20), title=dict(yref="container", y=0.99, yanchor="top"))
    fig.update_xaxes(side="top", range=[start - 0.5, start + t - 0.5], **x_ticks)
    fig.update_yaxes(title="query (attending)", autorange="reversed", **y_ticks)
    return fig


def softcap_curve(raw: np.ndarray, capped: np.ndarray, cap: float, tokens: Sequence[str], title: str) -> go.Figure:
    """Soft-capping as a curve: cap · tanh(x / cap) against x, the identity for comparison, and one
    marker per key at (its score before, after). raw, capped: (n,) the visible keys' scores."""
    raw, capped = np.asarray(raw, dtype=np.float64), np.asarray(capped, dtype=np.float64)
    reach = max(2.0 * cap, 1.1 * float(np.abs(raw).max()) if raw.size else cap)
    x = np.linspace(-reach, reach, 241)
    fig = go.Figure([
        go.Scatter(x=x, y=x, mode="lines", name="no cap (y = x)", line=dict(color="#adb5bd", dash="dash"),
                   hoverinfo="skip"),
        go.Scatter(x=x, y=cap * np.tanh(x / cap), mode="lines", name=f"{cap:g} · tanh(x / {cap:g})",
                   line=dict(color="#7048e8", width=2), hoverinfo="skip"),
        go.Scatter(x=raw, y=capped, mode="markers", name="this query's keys", marker=dict(color="#f76707", size=8),
                   customdata=[safe(t) for t in tokens],
                   hovertemplate="%{customdata}: %{x:.3f} → %{y:.3f}<extra></extra>"),
    ])
    for bound in (cap, -cap):
        fig.add_hline(y=bound, line=dict(color="#868e96", width=1, dash="dot"))
    base_layout(fig, title, height=360)
    fig.update_xaxes(title="score before the cap")
    fig.update_yaxes(title="score after the cap", range=[-1.15 * cap, 1.15 * cap])
    return fig
