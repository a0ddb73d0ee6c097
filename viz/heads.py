"""Every head at once: a layers × heads grid of thumbnails, and one statistic per head.

The grid is one figure: a small heatmap per head (one mosaic trace) on one shared colour axis, laid
out row = layer, column = head, and a clickable marker at each thumbnail's centre (Plotly
cannot select heatmap cells; Streamlit can report a clicked marker).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from .common import (PLOT_WIDTH, WEIGHT_SCALE, base_layout, clickable_cells, head_markers, log_colourscale, log_key,
                     place_log_key, text_width)

MAX_THUMB = 64   # thumbnails larger than this are pooled down to it (block_pool)
LOG_FROM = 32    # longer sentences get log colours: spread over 143 tokens a weight is ~0.007, white
                 # on a 0-to-1 scale, and every thumbnail would look blank
KEY_SHARE = 0.9  # of the width, the grid's; the rest holds the log colour key


def block_pool(matrix: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """(…, T, T) -> (…, side, side) attention at a coarser grain, and the blocks' first positions.

    Query rows are averaged over each block, key columns are summed: a cell is the share of
    attention that the block's queries give, on average, to a block of keys. Rows still sum
    to 1, and a sharp pattern (all weight on [CLS], or on the previous token) keeps its
    strength instead of being diluted as a plain mean over the block would dilute it.
    Blocks differ by at most one token in width when T is not a multiple of side.
    """
    t = matrix.shape[-1]
    if t <= side:
        return np.asarray(matrix, dtype=np.float32), np.arange(t)
    starts = np.linspace(0, t, side + 1).astype(int)[:-1]          # (side,)
    heights = np.diff(np.append(starts, t)).astype(np.float32)
    ends = np.append(starts[1:], t)
    # One contiguous slab of query rows at a time: ten times faster than np.add.reduceat along axis -2 at 4,096².
    rows = np.stack([np.asarray(matrix[..., a:b, :]).sum(axis=-2) for a, b in zip(starts, ends)],
                    axis=-2)                                         # (…, side, T)   queries summed
    both = np.add.reduceat(rows, starts, axis=-1)                    # (…, side, side) keys summed
    return (both / heights[:, None]).astype(np.float32), starts     # queries averaged


def grid_thumbnails(attentions: np.ndarray, max_thumb: int = MAX_THUMB, starts: np.ndarray | None = None,
                    n_tokens: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """attentions (L, H, T, T) -> (thumbnails (L, H, s, s), the blocks' first positions (s,), T): every head
    pooled to at most max_thumb² cells, or, given `starts` and `n_tokens`, already pooled (a trace's streamed
    thumbnails, core.trace.AttentionSummary) and passed through. What heads_grid and the page's canvas draw."""
    attentions = np.asarray(attentions, dtype=np.float32)
    if attentions.ndim != 4:
        raise ValueError(f"attentions must be (layers, heads, T, T), got {attentions.shape}")
    if starts is None:
        thumbs, starts = block_pool(attentions, max_thumb)          # (L, H, s, s)
        return thumbs, starts, attentions.shape[-1]
    return attentions, np.asarray(starts), int(n_tokens)


def grid_colours(n_tokens: int, log_colour: bool | None = None) -> tuple[list, bool]:
    """(colour stops over 0..1 of the scale's top, log?): log colours beyond LOG_FROM tokens unless told."""
    log = n_tokens > LOG_FROM if log_colour is None else log_colour
    return (log_colourscale(WEIGHT_SCALE) if log else WEIGHT_SCALE), log


def heads_grid(attentions: np.ndarray, zmax: float | None = 1.0, title: str | None = None,
               max_thumb: int = MAX_THUMB, log_colour: bool | None = None, starts: np.ndarray | None = None,
               n_tokens: int | None = None) -> go.Figure:
    """attentions (L, H, T, T) -> one figure of L × H thumbnails, one colour scale.

    The thumbnails are one heatmap (a mosaic with empty rows and columns between them), not one
    heatmap per head: a browser draws one trace of 72 × 64² cells far sooner than 72 traces, and the
    hover's layer, head and positions ride on the axes' category names instead of a copy of the
    positions per head (issue 26: All heads in a new tab under 1.5 s). grid_thumbnail() reads a
    head's thumbnail back.


    starts, n_tokens: the thumbnails are already pooled (core.trace.AttentionSummary.thumbnails), their
    blocks starting at these positions of an n_tokens-long text.
    log_colour (default: more than LOG_FROM tokens): colours follow log10 of the weight, one scale
    for every head, with a log key instead of the colour bar; hover still shows the weight.
    """
    thumbs, starts, t = grid_thumbnails(attentions, max_thumb, starts, n_tokens)   # (L, H, s, s)
    n_layers, n_heads, side, _ = thumbs.shape
    gap = max(1, round(side * 0.12))                                 # empty cells between thumbnails
    step = side + gap
    zmax = float(max(thumbs.max(), 1e-6)) if zmax is None else zmax
    scale, log = grid_colours(t, log_colour)
    note = "" if side == t else f"<br>blocks of ~{t / side:.0f} tokens from there: queries averaged, keys summed"
    mosaic = np.full((n_layers * step - gap, n_heads * step - gap), np.nan, dtype=np.float32)
    for layer in range(n_layers):
        for head in range(n_heads):
            mosaic[layer * step:layer * step + side, head * step:head * step + side] = thumbs[layer, head]
    # One category per row and column: the hover reads them ("layer 3 · query #17", "head 7 · key #40");
    # the empty ones between thumbnails get names nobody sees (no hover on gaps, no tick there).
    columns = [f"head {c // step} · key #{starts[c % step]}" if c % step < side else f"gap {c}"
               for c in range(mosaic.shape[1])]
    rows = [f"layer {r // step} · query #{starts[r % step]}" if r % step < side else f"gap {r}"
            for r in range(mosaic.shape[0])]
    fig = go.Figure(go.Heatmap(
        z=mosaic, x=columns, y=rows, coloraxis="coloraxis", hoverongaps=False,
        # one pixel per cell, scaled by the browser with sharp edges: the same picture without Plotly painting
        # every cell at screen size (bench/new_tab.py --drawing compares the two)
        zsmooth="fast",
        hovertemplate=f"%{{y}}<br>%{{x}}: %{{z:.3f}}{note}<extra></extra>",
    ))
    centre = side // 2                                               # the category nearest the thumbnail's middle
    heads, layers = np.meshgrid(np.arange(n_heads), np.arange(n_layers))
    fig.add_trace(head_markers(
        [columns[h * step + centre] for h in heads.ravel()], [rows[la * step + centre] for la in layers.ravel()],
        np.stack([layers.ravel(), heads.ravel()], axis=-1).astype(np.uint8),                 # (L·H, 2) layer-major
        "layer %{customdata[0]} · head %{customdata[1]}: click to open<extra></extra>"))
    width_units, height_units = n_heads * step, n_layers * step
    colours = dict(colorscale=scale, cmin=0.0, cmax=zmax, colorbar=dict(title="weight", thickness=14))
    if log:
        colours = dict(colorscale=scale, cmin=0.0, cmax=zmax, showscale=False)
        fig.add_trace(log_key(zmax, "weight (log scale)", colours["colorscale"], coloraxis="coloraxis"))
        place_log_key(fig, zmax, "weight (log scale)", main=KEY_SHARE, span=(0.3, 0.85))
    fig.update_layout(coloraxis=colours)
    base_layout(fig, title, height=int(150 + 820 * (KEY_SHARE if log else 1.0) * height_units / width_units))
    # "head 7" under each column while it fits a thumbnail's width, else the number under an axis title
    named = text_width("head 00", 13) * 1.2 < PLOT_WIDTH * KEY_SHARE / n_heads
    fig.layout.xaxis.update(type="category", tickmode="array",
                            tickvals=[columns[h * step + centre] for h in range(n_heads)],
                            ticktext=[f"head {h}" if named else str(h) for h in range(n_heads)],
                            title=None if named else "head", side="top", showgrid=False,
                            zeroline=False, range=[-1, width_units - gap])
    fig.layout.yaxis.update(type="category", tickmode="array",
                            tickvals=[rows[layer * step + centre] for layer in range(n_layers)],
                            ticktext=[f"layer {layer}" for layer in range(n_layers)], autorange="reversed",
                            showgrid=False, zeroline=False, scaleanchor="x", constrain="domain")
    fig.update_layout(clickmode="event+select")
    return fig


def grid_thumbnail(fig: go.Figure, layer: int, head: int) -> np.ndarray:
    """The thumbnail of (layer, head) as heads_grid drew it: (side, side)."""
    mosaic = np.asarray(fig.data[0].z, dtype=np.float32)
    columns = list(fig.data[0].x)
    side = sum(1 for c in columns if c.startswith("head 0 · "))
    step = next((i for i, c in enumerate(columns) if c.startswith("head 1 · ")), side)   # thumbnail + gap
    return mosaic[layer * step:layer * step + side, head * step:head * step + side]


def percent_free_ticks(top: float, target: int = 5) -> dict:
    """Colour-bar ticks from 0 to `top` on a round step (1, 2 or 5 × 10ⁿ), 0 always labelled."""
    raw = top / target
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return dict(tick0=0.0, dtick=step)


def cell_decimals(values: np.ndarray) -> int:
    """Decimals that make most cells show a number, not "0.00": two significant digits for the typical
    non-zero |value| (the median), between 2 and 4 decimals."""
    magnitudes = np.abs(values[np.isfinite(values) & (values != 0)])
    if magnitudes.size == 0:
        return 2
    typical = float(np.median(magnitudes))
    return int(np.clip(1 - np.floor(np.log10(typical)), 2, 4))


def statistic_heatmap(values: np.ndarray, label: str, title: str | None = None,
                      diverging: bool = False, clickable: bool = False) -> go.Figure:
    """(L, H) numbers, one per head, written in each cell with enough decimals to read (effects of
    knocking a head out are often 0.001–0.01); the colour bar starts at a labelled 0.
    clickable: a marker on every cell opens that head (common.clickable_cells; ui.attention.head_map)."""
    values = np.asarray(values, dtype=np.float32)
    n_layers, n_heads = values.shape
    decimals = cell_decimals(values)
    top = float(np.nanmax(values)) if values.size and np.isfinite(values).any() else 1.0
    ticks = percent_free_ticks(top) if not diverging and top > 0 else {}
    fig = go.Figure(go.Heatmap(
        z=values, x=list(range(n_heads)), y=list(range(n_layers)), colorscale=WEIGHT_SCALE,
        # Both ends, or Plotly ignores zmin (zauto stays on) and the bar starts at the smallest value: no 0.
        zmin=0.0 if not diverging else None, zmax=top if not diverging and top > 0 else None,
        texttemplate=f"%{{z:.{decimals}f}}", textfont=dict(size=11),
        colorbar=dict(title=dict(text=label, side="right"), **ticks),
        hovertemplate=f"layer %{{y}} · head %{{x}}<br>{label}: %{{z:.4f}}<extra></extra>",
    ))
    base_layout(fig, title, height=160 + 48 * n_layers)
    if title:  # above the top axis, not on it
        fig.update_layout(title=dict(yref="container", y=0.98, yanchor="top"), margin=dict(t=80))
    fig.update_xaxes(title="head", tickmode="array", tickvals=list(range(n_heads)), side="top")
    fig.update_yaxes(title="layer", tickmode="array", tickvals=list(range(n_layers)), autorange="reversed")
    return clickable_cells(fig, label, decimals=4) if clickable else fig
