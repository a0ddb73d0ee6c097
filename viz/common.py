"""What every figure shares: safe labels, token axes, one colour scale, one look.

Plotly reads <b>, <a href>, <span> and &entities; in tick and hover text as markup,
so every piece of user text goes through `safe()` before it reaches a figure, and
user text is never put inside a hovertemplate (it goes in customdata/text instead).
"""
from __future__ import annotations

import html
from typing import Sequence

import plotly.graph_objects as go

# One sequential scale for attention weights everywhere; one diverging scale for differences.
WEIGHT_SCALE = "Blues"
DIVERGING_SCALE = "RdBu_r"
FONT = dict(family="Inter, Segoe UI, Helvetica, Arial, sans-serif", size=13)
HEAD_COLOURS = [
    "#4c6ef5", "#f76707", "#2b8a3e", "#e03131", "#7048e8", "#0c8599",
    "#d6336c", "#5c940d", "#e8590c", "#1971c2", "#862e9c", "#495057",
]
EXTRA_COLOURS = ["#343a40", "#f59f00", "#20c997", "#be4bdb", "#fa5252", "#15aabf", "#94d82d", "#ff922b"]
PALETTE = HEAD_COLOURS + EXTRA_COLOURS   # categories: heads, tokens, word groups


def colour(i: int) -> str:
    """The i-th category colour, cycling through the palette (heads first: head h is always colour h)."""
    return PALETTE[i % len(PALETTE)]


def safe(text: str) -> str:
    """User text as Plotly shows it literally: `<b>` stays `<b>`, not bold."""
    return html.escape(str(text), quote=False)


def safe_all(texts: Sequence[str]) -> list[str]:
    return [safe(t) for t in texts]


def shorten(text: str, limit: int = 18) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def token_ticks(tokens: Sequence[str], start: int = 0, limit: int = 18) -> dict:
    """Axis settings that label integer positions with tokens.

    Categorical axes merge repeated tokens ("the" twice would become one column), so
    figures put tokens at positions 0..T-1 and write the token text as tick labels.
    """
    return dict(
        tickmode="array",
        tickvals=list(range(start, start + len(tokens))),
        ticktext=[safe(shorten(t, limit)) for t in tokens],
    )


def base_layout(fig: go.Figure, title: str | None = None, height: int | None = None) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        font=FONT,
        title=dict(text=safe(title), x=0.01, xanchor="left") if title else None,
        margin=dict(l=10, r=10, t=50 if title else 20, b=10),
        height=height,
    )
    return fig
