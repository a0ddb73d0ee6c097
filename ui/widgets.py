"""Widgets every page uses: a control kept in the link, a figure across the page, a token window,
sentence-keyed pickers, raw text."""
from __future__ import annotations

import hashlib

import streamlit as st

from core import Trace
from ui import url
from ui.export import export_menu
from ui.state import COLOUR_BLIND
from viz.palettes import SAFE, recolour

WINDOW = 64          # tokens drawn at once in a long sentence's figures
MAX_WINDOW = 160     # more rows and columns than this are unreadable (and heavy to send)


def linked(name: str) -> dict:
    """`key` and `bind` for a page control kept in the link: `st.slider(..., **linked("residual"))`.

    The key is the page's file name (from the frame) and `name`, so controls of different pages
    never share a key; Streamlit's `bind="query-params"` then keeps a changed value in the URL and
    sets it from a shared link, checking it against the widget. What Streamlit does not bound (the
    size of a value, how many there are) ui/url.py checks before any widget reads the link."""
    key = url.page_key(name)
    return {"key": key, "bind": url.bound(key)}


def plot(fig, name: str, where=st, **kwargs):
    """A figure across its column, in colour-blind-safe colours when the sidebar says so. The
    modebar's camera saves it as a PNG named `name`; the menu under it, as print-size SVG and PDF."""
    if st.session_state.get(COLOUR_BLIND):
        fig = recolour(fig, SAFE)
    chart = where.plotly_chart(fig, width="stretch", **kwargs,
                               config={"toImageButtonOptions": {"filename": name, "scale": 2}})
    export_menu(fig, name, where)
    return chart


def sentence_key(text: str) -> str:
    """Widgets that hold token positions are keyed per sentence, so a new sentence resets them."""
    return hashlib.md5(text.encode("utf-8", "replace")).hexdigest()[:10]


def window_at(n_tokens: int, size: int, first: int = 0) -> range:
    """Positions first … first+size-1, kept inside the sentence."""
    first = max(0, min(int(first), max(n_tokens - size, 0)))
    return range(first, min(n_tokens, first + size))


def pick_window(n_tokens: int, key: str, size: int = WINDOW, limit: int = MAX_WINDOW,
                around: int = 0, show_all: int | None = None, at_end: bool = False) -> range:
    """The positions a long sentence's figure shows: all of them up to `show_all` tokens (default
    `size`), else a range slider (default `size` tokens starting near `around`, or the last ones
    with `at_end`, at most `limit`). The slider names the first and the last position shown, the
    same numbers a figure's title gives ("tokens 0–15"): positions count from 0 everywhere."""
    if n_tokens <= (size if show_all is None else show_all):
        return range(n_tokens)
    first = n_tokens - size if at_end else (around - size // 2 if around else 0)
    default = window_at(n_tokens, size, first)
    start, last = st.slider(
        "Token window (first and last position shown)", 0, n_tokens - 1, (default.start, default.stop - 1),
        key=key, bind=url.bound(key),
        help=f"A long sentence is drawn a window at a time (at most {limit} tokens). Weights to tokens "
             "outside the window are not drawn, so the rows shown need not sum to 1.")
    if last - start + 1 > limit:
        st.caption(f"Showing the first {limit} tokens of the {last - start + 1} chosen.")
        last = start + limit - 1
    return range(start, max(last, start) + 1)


def token_label(trace: Trace, i: int) -> str:
    return f"{i} · {trace.tokens[i]}"


def token_labels(trace: Trace) -> list[str]:
    """Labels "3 · flies" for a token picker: pass `format_func=token_labels(trace).__getitem__`.

    Not a lambda: Streamlit keeps a widget's format_func after the widget is gone (pickers are
    keyed per sentence), and a lambda written in a page keeps that page's whole namespace — the
    trace and its figures, hundreds of MB for a long text — alive with it."""
    return [f"{i} · {token}" for i, token in enumerate(trace.tokens)]


def head_label(layer_head: tuple[int, int]) -> str:
    """"layer 2 · head 5" for a (layer, head) picker."""
    return f"layer {layer_head[0]} · head {layer_head[1]}"


def show_text(text: str, limit: int = 300) -> None:
    """The person's raw text, shown literally (never as markdown or HTML)."""
    st.text(text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)")
