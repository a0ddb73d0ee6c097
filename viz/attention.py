"""Attention heatmaps: one head, several heads side by side, their difference, a bar over keys.

Tokens sit at integer positions 0..n-1 with the token text as tick labels (repeated
tokens must not merge), and hover text carries the tokens in customdata, escaped.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import (DIVERGING_SCALE, PLOT_WIDTH, WEIGHT_SCALE, base_layout, label_depth, log_colourscale,
                     log_key, place_log_key, safe, safe_all, shorten, token_axis)

LOG_FROM = 32        # weights over more keys than this are coloured on a log scale: spread over
                     # 100 keys a weight is ~0.01, white on a 0-to-1 scale
KEY_SHARE = 0.86     # of the width, the heatmap's; the rest holds the log colour key


def labelled(tokens: Sequence[str], positions: Sequence[int] | None = None) -> list[str]:
    """Hover labels "#3 flies": the position tells repeated tokens apart. Escaped."""
    positions = range(len(tokens)) if positions is None else positions
    return [f"#{p} {safe(t)}" for p, t in zip(positions, tokens)]


def _limit(n: int) -> int:
    return 14 if n > 40 else 18


def _rows_px(n: int) -> int:
    """Height of one row: room for a 13-px label when few, a 10-12-px one when many."""
    return 22 if n <= 40 else 16


def _hover_pairs(query_labels: list[str], key_labels: list[str]) -> np.ndarray:
    custom = np.empty((len(query_labels), len(key_labels), 2), dtype=object)
    custom[:, :, 0] = np.array(query_labels, dtype=object)[:, None]
    custom[:, :, 1] = np.array(key_labels, dtype=object)[None, :]
    return custom


def attention_heatmap(weights: np.ndarray, tokens: Sequence[str], title: str | None = None,
                      zmax: float | None = 1.0, *, key_tokens: Sequence[str] | None = None,
                      positions: Sequence[int] | None = None, key_positions: Sequence[int] | None = None,
                      zmin: float | None = 0.0, colorscale=WEIGHT_SCALE, value_name: str = "weight",
                      height: int | None = None, query_title: str = "query (attending)",
                      key_title: str = "key (attended to)", numbers: bool = False,
                      log_colour: bool | None = None, width_px: float = PLOT_WIDTH) -> go.Figure:
    """One head's weights (T_q, T_k): query tokens down the rows, key tokens along the columns.
    Square self-attention and rectangular cross-attention alike.

    key_tokens: other key labels (a token window, hidden specials, an encoder's tokens);
    positions / key_positions: the tokens' places in the sentence, shown in the hover text.
    zmax=None lets the colour scale stretch to this head's largest weight.
    log_colour: colours that follow log10 of the weight (a key with ticks 0.001 … 1 replaces the colour
    bar), so a head spreading its attention over many tokens is not white; default: weights over more
    than LOG_FROM keys.
    numbers: write each weight in its cell and keep cells square (short sequences, such as
    the reversal task's dozen letters).
    width_px: the narrowest plot area the figure gets (PLOT_WIDTH / 2 for one of two columns): key
    labels are thinned to fit it.
    """
    weights = np.asarray(weights, dtype=np.float32)
    key_tokens = tokens if key_tokens is None else key_tokens
    if weights.ndim != 2 or weights.shape != (len(tokens), len(key_tokens)):
        raise ValueError(f"weights must be ({len(tokens)}, {len(key_tokens)}) for these tokens, "
                         f"got {weights.shape}")
    positions = list(range(len(tokens))) if positions is None else list(positions)
    key_positions = positions if key_positions is None and key_tokens is tokens else key_positions
    key_positions = list(range(len(key_tokens))) if key_positions is None else list(key_positions)
    cells = {}
    if numbers:
        cells = dict(text=np.where(weights >= 0.005, np.round(weights, 2).astype(str), ""), texttemplate="%{text}")
    log = log_colour if log_colour is not None else (
        len(key_tokens) > LOG_FROM and value_name == "weight" and zmin == 0 and colorscale == WEIGHT_SCALE)
    colours = dict(colorscale=colorscale, zmin=zmin, zmax=zmax, colorbar=dict(title=value_name))
    if log:   # z stays the weight (hover shows it); the colours follow its log10
        zmax = float(max(weights.max(), 1e-6)) if zmax is None else zmax
        colours = dict(colorscale=log_colourscale(colorscale), zmin=0.0, zmax=zmax, showscale=False)
    fig = go.Figure(go.Heatmap(
        z=weights, x=list(range(len(key_tokens))), y=list(range(len(tokens))),
        customdata=_hover_pairs(labelled(tokens, positions), labelled(key_tokens, key_positions)),
        hovertemplate="%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra></extra>", **colours, **cells,
    ))
    # Every label readable and none on another: key labels thinned for a narrow window's width,
    # query rows given the height they need (up to a cap, then thinned too). Hover names them all.
    x_ticks = token_axis(key_tokens, width_px * (KEY_SHARE if log else 0.9), across=True,
                         limit=_limit(len(key_tokens)))
    top = (46 if title else 12) + label_depth(key_tokens, x_ticks) + 24        # title, labels, axis title
    if height:
        rows_px = max(120, height - top - 20)
    else:
        rows_px = int(min(1150, max(240 if len(tokens) > 4 else 160, _rows_px(len(tokens)) * len(tokens))))
    y_ticks = token_axis(tokens, rows_px, limit=_limit(len(tokens)))
    base_layout(fig, title, height=int(rows_px + top + 20))
    fig.update_layout(margin=dict(t=int(top), b=20))
    if title:  # above the top axis's labels, not on them
        fig.update_layout(title=dict(yref="container", y=0.995, yanchor="top"))
    fig.update_xaxes(title=key_title, side="top", **x_ticks)
    fig.update_yaxes(title=query_title, autorange="reversed", **y_ticks)
    if log:
        fig.add_trace(log_key(zmax, f"{value_name} (log scale)", colours["colorscale"]))
        place_log_key(fig, zmax, f"{value_name} (log scale)", main=KEY_SHARE)
    if numbers:
        # Square cells: shrink the plot area to the cells (constrain="domain") rather than widen the
        # axis range, which would leave a wide empty band crossed by gridlines beside a short sequence.
        fig.layout.xaxis.update(constrain="domain", showgrid=False, tickangle=0)
        fig.layout.yaxis.update(scaleanchor="x", constrain="domain", showgrid=False)
    return fig


def difference_heatmap(a: np.ndarray, b: np.ndarray, tokens: Sequence[str], title: str | None = None,
                       positions: Sequence[int] | None = None, height: int | None = None) -> go.Figure:
    """a - b on a diverging scale centred on 0: red where a looks more, blue where b does.
    height: the figure's px (compare_rows_px + its labels, to stand as tall as the heads it compares)."""
    diff = np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)
    limit = float(max(np.abs(diff).max(), 1e-6))
    return attention_heatmap(diff, tokens, title, zmax=limit, zmin=-limit, positions=positions,
                             colorscale=DIVERGING_SCALE, value_name="difference", height=height)


def compare_rows_px(panels: int) -> int:
    """px the rows of compare_heatmaps take with this many panels: about as tall as one panel is wide
    (cells near square), so 2 heads side by side are not squeezed flat. A difference map under them
    gets the same (the page passes it), rather than standing three times taller."""
    return int(min(760, max(300, 1000 / panels)))


def compare_heatmaps(matrices: Sequence[np.ndarray], names: Sequence[str], tokens: Sequence[str],
                     positions: Sequence[int] | None = None, zmax: float | None = 1.0) -> go.Figure:
    """2-4 heads side by side with ONE colour scale, so equal colours mean equal weights."""
    if not 1 <= len(matrices) <= 4 or len(matrices) != len(names):
        raise ValueError("give 1 to 4 matrices, each with a name")
    n = len(tokens)
    zmax = float(max(m.max() for m in matrices)) if zmax is None else zmax
    fig = make_subplots(rows=1, cols=len(matrices), subplot_titles=safe_all(names),
                        horizontal_spacing=0.04 if n <= 20 else 0.06)
    custom = _hover_pairs(labelled(tokens, positions), labelled(tokens, positions))
    rows_px = compare_rows_px(len(matrices))
    x_ticks = token_axis(tokens, PLOT_WIDTH * 0.85 / len(matrices), across=True, limit=_limit(n))
    y_ticks = token_axis(tokens, rows_px, limit=_limit(n))
    depth = label_depth(tokens, x_ticks)
    height = int(rows_px + depth + 60)
    for col, matrix in enumerate(matrices, start=1):
        fig.add_trace(go.Heatmap(
            z=np.asarray(matrix, dtype=np.float32), x=list(range(n)), y=list(range(n)),
            customdata=custom, coloraxis="coloraxis", name=safe(names[col - 1]),
            hovertemplate="%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra>%{fullData.name}</extra>",
        ), row=1, col=col)
        fig.update_xaxes(side="top", **x_ticks, row=1, col=col)
        fig.update_yaxes(autorange="reversed", **y_ticks, row=1, col=col, showticklabels=col == 1)
    fig.update_layout(coloraxis=dict(colorscale=WEIGHT_SCALE, cmin=0.0, cmax=zmax,
                                      colorbar=dict(title="weight")))
    base_layout(fig, None, height=height)
    fig.update_layout(margin=dict(l=10, r=10, t=int(depth + 50), b=10))
    fig.update_annotations(yshift=depth + 8, font=dict(size=14))  # titles above the tokens on top
    return fig


def key_bar(values: np.ndarray, tokens: Sequence[str], title: str | None = None,
            value_name: str = "attention received", highlight: Sequence[int] = ()) -> go.Figure:
    """One number per key token (e.g. attention summed over chosen queries) as bars."""
    values = np.asarray(values, dtype=np.float32)
    if values.shape != (len(tokens),):
        raise ValueError(f"need one value per token ({len(tokens)}), got {values.shape}")
    colours = ["#e8590c" if i in set(highlight) else "#4c6ef5" for i in range(len(tokens))]
    fig = go.Figure(go.Bar(
        x=list(range(len(tokens))), y=values, marker_color=colours, customdata=labelled(tokens),
        hovertemplate="%{customdata}: %{y:.3f}<extra></extra>",
    ))
    base_layout(fig, title, height=380)
    fig.update_xaxes(**token_axis(tokens, PLOT_WIDTH, across=True, limit=_limit(len(tokens))))
    fig.update_yaxes(title=value_name, rangemode="tozero")
    return fig


__all__ = ["attention_heatmap", "compare_rows_px", "compare_heatmaps", "difference_heatmap", "key_bar", "labelled",
           "shorten"]
