"""The attention view that answers the mouse: one head's heatmap, or BertViz-style lines.

Plotly charts in Streamlit send the server no hover events, so hovering happens in the browser, in
one small custom component (Streamlit components v2, plain JavaScript, no build step, nothing
fetched from the network): ui/components/attention_view/. Python hands it arrays, never HTML:
weights rounded to 4 decimals and tokens as plain strings, which the JavaScript sets as text.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.colors
import streamlit as st
import streamlit.components.v2 as components

from ui.state import COLOUR_BLIND
from viz.common import WEIGHT_SCALE, colour
from viz.palettes import recolour_colour, recolour_scale

ASSETS = Path(__file__).parent / "components" / "attention_view"
DECIMALS = 4   # weights in the browser: enough for the 3 decimals shown, and a small payload
# Control characters and bidi overrides (U+202E would turn every following label around): shown as �.
INVISIBLE = re.compile("[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


@functools.cache
def _view():
    """The component, registered on first use (importing ui does no work)."""
    return components.component(
        "attention_view", html='<div class="attention-view"></div>',
        css=(ASSETS / "attention_view.css").read_text(), js=(ASSETS / "attention_view.js").read_text(),
        isolate_styles=False)   # in the page's own DOM (its CSS is scoped to .attention-view): tests find it


def _rounded(weights: np.ndarray) -> list:
    return np.round(np.asarray(weights, dtype=np.float32).astype(np.float64), DECIMALS).tolist()


def _plain(tokens: Sequence[str]) -> list[str]:
    return [INVISIBLE.sub("\ufffd", str(token)) for token in tokens]


def _check(weights: np.ndarray, tokens: Sequence[str], positions: Sequence[int], shape: tuple) -> None:
    if weights.shape != shape or len(positions) != len(tokens):
        raise ValueError(f"weights must be {shape} with a position per token, got {weights.shape} "
                         f"and {len(positions)} positions for {len(tokens)} tokens")


def heatmap_data(weights: np.ndarray, tokens: Sequence[str], positions: Sequence[int], title: str,
                 zmax: float | None = 1.0, safe_colours: bool = False) -> dict:
    """What the browser needs to draw one head (queries, keys); zmax=None stretches the colours.
    safe_colours: the colour-blind-safe scale the Plotly figures switch to (cividis)."""
    weights = np.asarray(weights, dtype=np.float32)
    n = len(tokens)
    _check(weights, tokens, positions, (n, n))
    top = float(weights.max()) if zmax is None and weights.size else zmax
    scale = [[float(at), rgb] for at, rgb in plotly.colors.get_colorscale(WEIGHT_SCALE)]
    return {"mode": "heatmap", "title": str(title), "tokens": _plain(tokens),
            "positions": [int(p) for p in positions], "weights": _rounded(weights),
            "zmax": top if top and top > 0 else 1.0,
            "scale": recolour_scale(scale) if safe_colours else scale}


def lines_data(weights: np.ndarray, tokens: Sequence[str], positions: Sequence[int], heads: Sequence[int],
               title: str, safe_colours: bool = False) -> dict:
    """What the browser needs to draw the lines of the listed heads; weights (all heads, T, T).
    safe_colours: head colours from the colour-blind-safe palette (Okabe–Ito), as the figures use."""
    weights = np.asarray(weights, dtype=np.float32)
    n = len(tokens)
    _check(weights[0] if weights.ndim == 3 else weights, tokens, positions, (n, n))
    heads = [int(h) for h in heads]
    return {"mode": "lines", "title": str(title), "tokens": _plain(tokens),
            "positions": [int(p) for p in positions], "heads": heads,
            "colours": [recolour_colour(colour(h)) if safe_colours else colour(h) for h in heads],
            "weights": _rounded(weights[heads])}                      # (len(heads), T, T)


def interactive_heatmap(weights: np.ndarray, tokens: Sequence[str], positions: Sequence[int], title: str,
                        zmax: float | None, key: str) -> None:
    """One head; hovering a cell or a token lights up its query row and key column, with a tooltip."""
    data = heatmap_data(weights, tokens, positions, title, zmax, bool(st.session_state.get(COLOUR_BLIND)))
    _view()(data=data, key=key, height="content")


def interactive_lines(weights: np.ndarray, tokens: Sequence[str], positions: Sequence[int],
                      heads: Sequence[int], title: str, key: str) -> None:
    """Queries left, keys right; hovering a token draws only its lines, opacity = weight."""
    data = lines_data(weights, tokens, positions, heads, title, bool(st.session_state.get(COLOUR_BLIND)))
    _view()(data=data, key=key, height="content")
