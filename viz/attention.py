"""Attention heatmaps: one head, several heads side by side, their difference, a bar over keys.

Tokens sit at integer positions 0..n-1 with the token text as tick labels (repeated
tokens must not merge), and hover text carries the tokens in customdata, escaped.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import (DIVERGING_SCALE, WEIGHT_SCALE, base_layout, safe, safe_all, shorten,
                     token_ticks)


def labelled(tokens: Sequence[str], positions: Sequence[int] | None = None) -> list[str]:
    """Hover labels "#3 flies": the position tells repeated tokens apart. Escaped."""
    positions = range(len(tokens)) if positions is None else positions
    return [f"#{p} {safe(t)}" for p, t in zip(positions, tokens)]


def _ticks(tokens: Sequence[str]) -> dict:
    n = len(tokens)
    ticks = token_ticks(tokens, limit=14 if n > 40 else 18)
    ticks["tickfont"] = dict(size=13 if n <= 40 else 11 if n <= 80 else 9)
    return ticks


def _side(n: int) -> int:
    """Figure height for n tokens: room for every tick label, never a wall."""
    return int(max(360, min(1400, 140 + (22 if n <= 40 else 14) * n)))


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
                      key_title: str = "key (attended to)", numbers: bool = False) -> go.Figure:
    """One head's weights (T_q, T_k): query tokens down the rows, key tokens along the columns.
    Square self-attention and rectangular cross-attention alike.

    key_tokens: other key labels (a token window, hidden specials, an encoder's tokens);
    positions / key_positions: the tokens' places in the sentence, shown in the hover text.
    zmax=None lets the colour scale stretch to this head's largest weight.
    numbers: write each weight in its cell and keep cells square (short sequences, such as
    the reversal task's dozen letters).
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
    fig = go.Figure(go.Heatmap(
        z=weights, x=list(range(len(key_tokens))), y=list(range(len(tokens))),
        customdata=_hover_pairs(labelled(tokens, positions), labelled(key_tokens, key_positions)),
        colorscale=colorscale, zmin=zmin, zmax=zmax, colorbar=dict(title=value_name),
        hovertemplate="%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra></extra>", **cells,
    ))
    base_layout(fig, title, height=height or _side(max(len(tokens), len(key_tokens))))
    if title:  # above the top axis's labels, not on them
        fig.update_layout(title=dict(yref="container", y=0.99, yanchor="top"), margin=dict(t=70))
    fig.update_xaxes(title=key_title, side="top", tickangle=-60, **_ticks(key_tokens))
    fig.update_yaxes(title=query_title, autorange="reversed", **_ticks(tokens))
    if numbers:
        # Square cells: shrink the plot area to the cells (constrain="domain") rather than widen the
        # axis range, which would leave a wide empty band crossed by gridlines beside a short sequence.
        fig.update_xaxes(constrain="domain", showgrid=False, tickangle=0)
        fig.update_yaxes(scaleanchor="x", constrain="domain", showgrid=False)
    return fig


def difference_heatmap(a: np.ndarray, b: np.ndarray, tokens: Sequence[str], title: str | None = None,
                       positions: Sequence[int] | None = None) -> go.Figure:
    """a - b on a diverging scale centred on 0: red where a looks more, blue where b does."""
    diff = np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)
    limit = float(max(np.abs(diff).max(), 1e-6))
    return attention_heatmap(diff, tokens, title, zmax=limit, zmin=-limit, positions=positions,
                             colorscale=DIVERGING_SCALE, value_name="difference")


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
    for col, matrix in enumerate(matrices, start=1):
        fig.add_trace(go.Heatmap(
            z=np.asarray(matrix, dtype=np.float32), x=list(range(n)), y=list(range(n)),
            customdata=custom, coloraxis="coloraxis", name=safe(names[col - 1]),
            hovertemplate="%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra>%{fullData.name}</extra>",
        ), row=1, col=col)
        fig.update_xaxes(tickangle=-60, side="top", **_ticks(tokens), row=1, col=col)
        fig.update_yaxes(autorange="reversed", **_ticks(tokens), row=1, col=col, showticklabels=col == 1)
    fig.update_layout(coloraxis=dict(colorscale=WEIGHT_SCALE, cmin=0.0, cmax=zmax,
                                      colorbar=dict(title="weight")))
    base_layout(fig, None, height=min(900, max(380, 200 + (22 if n <= 30 else 12) * n)))
    fig.update_layout(margin=dict(l=10, r=10, t=110, b=10))
    fig.update_annotations(yshift=70, font=dict(size=14))  # titles above the tokens on top
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
    fig.update_xaxes(tickangle=-60, **_ticks(tokens))
    fig.update_yaxes(title=value_name, rangemode="tozero")
    return fig


__all__ = ["attention_heatmap", "compare_heatmaps", "difference_heatmap", "key_bar", "labelled", "shorten"]
