"""Predictions of a language model: the next-token bars and the logit-lens grid.

Plain arrays in (token strings already decoded by the caller), go.Figure out. Every token
string goes through safe() and into text or customdata, never into a hovertemplate.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import WEIGHT_SCALE, base_layout, percent_ticks, safe, shorten, state_label, token_ticks
from .steps import visible


def visible_token(token: str) -> str:
    """A token as a reader can see it: a leading space shown as ␣, control characters escaped (\\n, \\x07)."""
    text = visible(str(token))
    return "␣" + text[1:] if text.startswith(" ") else text


def next_token_bars(tokens: Sequence[str], probs: np.ndarray, title: str) -> go.Figure:
    """Horizontal bars, most likely next token on top: token text on the axis, probability as the bar."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = [safe(shorten(visible_token(t), 24)) for t in tokens]
    n = len(labels)
    fig = go.Figure(go.Bar(
        x=probs, y=list(range(n)), orientation="h", marker_color="#1971c2",
        text=[f"{p:.1%}" for p in probs], textposition="outside", cliponaxis=False,
        customdata=labels, hovertemplate="%{customdata}: %{x:.4f}<extra></extra>"))
    base_layout(fig, title, height=max(220, 34 * n + 90))
    fig.update_yaxes(tickmode="array", tickvals=list(range(n)), ticktext=labels, autorange="reversed",
                     title_text="next token")
    end = min(1.0, float(probs.max(initial=0)) * 1.25 + 0.002)
    fig.update_xaxes(title_text="probability", range=[0, end], **percent_ticks(end))
    return fig


def lens_row_labels(n_rows: int) -> list[str]:
    """Row 0 reads the embeddings, row i the output of layer i − 1 (layers count from 0 on every page);
    the last is the model's own output."""
    labels = [state_label(i) for i in range(n_rows)]
    return labels[:-1] + [labels[-1] + " (output)"] if n_rows > 1 else labels


def logit_lens_grid(top_tokens: Sequence[Sequence[Sequence[str]]], top_probs: np.ndarray,
                    position_tokens: Sequence[str], title: str, start: int = 0,
                    next_probs: np.ndarray | None = None, next_tokens: Sequence[str] | None = None) -> go.Figure:
    """Layers × positions: each cell is what the model would predict next if it stopped at that layer.

    top_tokens: (rows, P, k) decoded token strings; top_probs: (rows, P, k) their probabilities.
    position_tokens: the P input tokens (the columns). start: the first column's position.
    Colour: the top token's probability, or, when next_probs (rows, P) is given, the probability of the
    token that really comes next (next_tokens, P strings; the text then stays the top token).
    Rows run from the embedding at the bottom to the model's output at the top.
    """
    top_probs = np.asarray(top_probs, dtype=np.float64)
    n_rows, n_pos, k = top_probs.shape
    rows = lens_row_labels(n_rows)
    cell = [[safe(shorten(visible_token(top_tokens[r][p][0]), 8)) for p in range(n_pos)] for r in range(n_rows)]
    colour_by_next = next_probs is not None
    z = np.asarray(next_probs, dtype=np.float64) if colour_by_next else top_probs[:, :, 0]
    hover = []
    for r in range(n_rows):
        line = []
        for p in range(n_pos):
            head = f"{rows[r]} · position {start + p} “{safe(shorten(visible_token(position_tokens[p]), 24))}”"
            tops = "<br>".join(f"{safe(shorten(visible_token(top_tokens[r][p][j]), 24))}: {top_probs[r, p, j]:.3f}"
                               for j in range(k))
            if colour_by_next and next_tokens is not None:
                actual = next_tokens[p]
                tops += ("<br>actual next: —" if actual is None or not np.isfinite(z[r, p]) else
                         f"<br>actual next “{safe(shorten(visible_token(actual), 24))}”: {z[r, p]:.3f}")
            line.append(head + "<br>" + tops)
        hover.append(line)
    fig = go.Figure(go.Heatmap(
        z=z, x=list(range(start, start + n_pos)), y=list(range(n_rows)), zmin=0, zmax=1,
        colorscale=WEIGHT_SCALE, text=cell, texttemplate="%{text}", textfont=dict(size=11),
        customdata=hover, hovertemplate="%{customdata}<extra></extra>", xgap=1, ygap=1,
        colorbar=dict(title=dict(text="p(actual next)" if colour_by_next else "p(top token)", side="right"),
                      tickformat=".0%")))
    base_layout(fig, title, height=max(320, 34 * n_rows + 170))
    fig.update_xaxes(**token_ticks(position_tokens, start, 10), side="bottom", tickangle=-45,
                     title_text="input token (the prediction is for the token after it)")
    fig.update_yaxes(tickmode="array", tickvals=list(range(n_rows)), ticktext=rows)
    return fig
