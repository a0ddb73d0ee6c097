"""The attention view that answers the mouse: one head's heatmap, BertViz-style lines, or every head at once.

Plotly charts in Streamlit send the server no hover events, so hovering happens in the browser, in
one small custom component (Streamlit components v2, plain JavaScript, no build step, nothing
fetched from the network): ui/components/attention_view/. Python hands it arrays, never HTML:
weights rounded to 4 decimals and tokens as plain strings, which the JavaScript sets as text.

All heads is a <canvas> mosaic drawn from a compact payload (grid_weights): no Plotly, so a new tab does
not load Plotly's 4.7 MB of code nor run Streamlit's theme step over a 2 MB figure (issue 26). The Plotly
figure (viz.heads.heads_grid) stays for the print export.
"""
from __future__ import annotations

import base64
import functools
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import plotly.colors
import streamlit as st
import streamlit.components.v2 as components

from ui.state import COLOUR_BLIND
from viz.common import WEIGHT_SCALE, colour
from viz.heads import MAX_THUMB, grid_colours, grid_thumbnails
from viz.palettes import recolour_colour, recolour_scale

ASSETS = Path(__file__).parent / "components" / "attention_view"
DECIMALS = 4   # weights in the browser: enough for the 3 decimals shown, and a small payload
GRID_STEP = 1e-4   # the grid's weights travel as whole multiples of this (4 decimals, as DECIMALS)
LOG_FLOOR = 1e-3   # the log colour scale's bottom, as a share of its top (viz.common.log_colourscale's floor)
TOKEN_CHARS = 40   # a token longer than this is cut in the grid's tooltip (the payload stays small at 4,096)
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


# -- every head at once ----------------------------------------------------------------------------------------
def grid_weights(thumbnails: np.ndarray) -> dict:
    """(L, H, s, s) weights -> {"step", "encoded"}: each weight as a whole number of `step` (uint16, so 4
    decimals for weights up to 1), the high bytes of all of them then the low bytes (long runs of zeros
    compress better), zlib, base64. The browser reads the exact weight back for the tooltip and colours
    from it. 294,912 cells (72 heads at 64²) travel in about 0.4 MB instead of a 2.2 MB figure."""
    thumbnails = np.nan_to_num(np.asarray(thumbnails, dtype=np.float32), nan=0.0)
    top = float(thumbnails.max()) if thumbnails.size else 0.0
    step = GRID_STEP if top <= 65535 * GRID_STEP else top / 65535          # weights beyond 6.5: coarser
    codes = np.round(np.clip(thumbnails, 0.0, None) / step).astype(np.uint16)       # (L, H, s, s)
    planes = np.concatenate([(codes >> 8).astype(np.uint8).ravel(), (codes & 0xFF).astype(np.uint8).ravel()])
    return {"step": step, "encoded": base64.b64encode(zlib.compress(planes.tobytes(), 6)).decode("ascii")}


def read_grid_weights(data: dict) -> np.ndarray:
    """grid_weights' payload back as (L, H, s, s) float32: what the browser decodes (tests)."""
    planes = np.frombuffer(zlib.decompress(base64.b64decode(data["encoded"])), dtype=np.uint8)
    high, low = planes[:planes.size // 2].astype(np.uint16), planes[planes.size // 2:].astype(np.uint16)
    shape = (data["layers"], data["heads"], data["side"], data["side"])
    return ((high << 8 | low).astype(np.float64) * data["step"]).astype(np.float32).reshape(shape)


@dataclass(frozen=True)
class GridPicture:
    """Every head's thumbnail packed for the browser (grid_weights), once per text and view: kept in the
    shared byte cache, so a new tab sends it without pooling or packing again."""
    packed: np.ndarray        # grid_weights' base64 text as bytes (uint8): the cache's byte budget counts it
    step: float
    shape: tuple              # (L, H, s, s)
    starts: tuple             # (s,) the first position of each block
    n_tokens: int             # T: the blocks cover positions 0 … T-1
    largest: float            # the largest weight drawn: the top of a stretched colour scale


def pack_grid(attentions: np.ndarray, starts: np.ndarray | None = None, n_tokens: int | None = None) -> GridPicture:
    """attentions (L, H, T, T), or thumbnails already pooled at `starts` of an n_tokens-long text
    (viz.heads.grid_thumbnails, as heads_grid reads them) -> the packed picture."""
    thumbs, starts, t = grid_thumbnails(attentions, MAX_THUMB, starts, n_tokens)      # (L, H, s, s)
    weights = grid_weights(thumbs)
    return GridPicture(np.frombuffer(weights["encoded"].encode("ascii"), dtype=np.uint8), weights["step"],
                       tuple(thumbs.shape), tuple(int(p) for p in starts), int(t),
                       float(thumbs.max()) if thumbs.size else 0.0)


def grid_data(picture: GridPicture, tokens: Sequence[str], unit: str, zmax: float | None) -> dict:
    """What the browser needs to draw every head: the packed weights, each block's first position in `tokens`
    (every token or word, T), and the colour scale as the Plotly figure has it (viz.heads.grid_colours: log
    colours beyond 32 tokens), 0 to zmax (None: to the largest weight). interactive_grid swaps the scale for
    the colour-blind-safe one when the sidebar says so."""
    n_layers, n_heads, side, _ = picture.shape
    if len(tokens) != picture.n_tokens:
        raise ValueError(f"the grid covers {picture.n_tokens} {unit}s, got {len(tokens)} labels")
    colours, log = grid_colours(picture.n_tokens)
    stops = plotly.colors.get_colorscale(colours) if isinstance(colours, str) else colours
    top = picture.largest if zmax is None else zmax
    return {"mode": "grid", "layers": int(n_layers), "heads": int(n_heads), "side": int(side),
            "starts": list(picture.starts), "tokens": [t[:TOKEN_CHARS] for t in _plain(tokens)], "unit": unit,
            "step": picture.step, "encoded": picture.packed.tobytes().decode("ascii"),
            "zmax": float(top) if top and top > 0 else 1.0, "log": bool(log), "floor": LOG_FLOOR,
            "scale": [[float(at), rgb] for at, rgb in stops]}


def interactive_grid(data: dict, key: str) -> tuple[int, int] | None:
    """Every head as a thumbnail; hovering names the head, the query and key tokens and the weight. Returns
    the (layer, head) that a click (or Enter on the keyboard) opened in this run, else None."""
    if st.session_state.get(COLOUR_BLIND):
        data = {**data, "scale": recolour_scale(data["scale"])}
    result = _view()(data=data, key=key, height="content", on_open_change=lambda: None)
    picked = result.get("open") if result else None
    try:
        layer, head = (int(v) for v in picked)
    except (TypeError, ValueError):
        return None
    return (layer, head) if 0 <= layer < data["layers"] and 0 <= head < data["heads"] else None
