"""Colour-blind-safe colours: the same figure with every palette swapped for a safe one.

`recolour(fig)` returns a copy of a figure in which
  - sequential scales (attention weights: "Blues") become cividis, made to be read alike with
    every kind of colour vision;
  - diverging scales (differences: "RdBu_r") become a blue–white–orange scale (blue stays blue);
  - cyclic scales become Twilight, which has no red–green pair;
  - category colours (heads, tokens, word groups, the literal colours of viz/ modules) become the
    eight Okabe–Ito colours (head h keeps one colour: palette colour i becomes Okabe–Ito i mod 8);
  - pale backgrounds (token chips) become pale tints of Okabe–Ito colours;
  - colours sampled from the on-screen scales (attribution shading) move to the same place on the
    safe scale, so a shade keeps its meaning;
  - greys, black, white and transparent stay as they are: they differ by lightness alone.

It walks the figure's JSON (traces, layout, its template), so builders need no change and a
colour added later to a viz module is mapped too (to the nearest Okabe–Ito colour).
"""
from __future__ import annotations

import colorsys
import math
import re
from functools import lru_cache

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go

from .common import DIVERGING_SCALE, PALETTE, WEIGHT_SCALE
from .steps import CHIP_COLOURS

SAFE = "colour-blind-safe"
# Okabe & Ito (2008), "Color Universal Design", in an order that reads well on white: the first
# colours are the strongest, yellow (faint on white) comes late.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
SEQUENTIAL_SAFE = "Cividis"
CYCLIC_SAFE = "Twilight"
# Blue (low) – near white (middle) – orange (high): the hues that every common colour-vision
# deficiency still tells apart (ColorBrewer's PuOr ends, warmed towards Okabe–Ito's blue and orange).
BLUE_ORANGE = [[0.0, "#08306b"], [0.2, "#2c7bb6"], [0.4, "#abd9e9"], [0.5, "#f7f7f7"],
               [0.6, "#fdd49e"], [0.8, "#f0852d"], [1.0, "#7f3b08"]]
TINT = 0.75             # a pale tint is 75 % white, 25 % the Okabe–Ito colour
NEUTRAL_CHROMA = 24     # max − min channel (0–255) at or below which a colour reads as grey
PALE = 0.8              # HLS lightness above which a colour is a background tint

_RGB = re.compile(r"rgba?\(\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*(?:,\s*([\d.]+)\s*)?\)$")
_NAMED = {"white": (255, 255, 255), "black": (0, 0, 0), "grey": (128, 128, 128), "gray": (128, 128, 128),
          "lightgrey": (211, 211, 211), "lightgray": (211, 211, 211), "darkgrey": (169, 169, 169),
          "darkgray": (169, 169, 169), "silver": (192, 192, 192), "dimgray": (105, 105, 105)}


# -- colours as numbers -------------------------------------------------------------------
def parse(colour) -> tuple[float, float, float, float] | None:
    """(r, g, b, alpha) with r, g, b in 0–255 for "#abc", "#aabbcc", "rgb()", "rgba()", a few
    names and "transparent"; None for anything else (left as it is)."""
    if not isinstance(colour, str):
        return None
    text = colour.strip().lower()
    if text == "transparent":
        return (0.0, 0.0, 0.0, 0.0)
    if text in _NAMED:
        return (*map(float, _NAMED[text]), 1.0)
    if text.startswith("#") and len(text) in (4, 7, 9):
        digits = text[1:]
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        try:
            channels = [int(digits[i:i + 2], 16) for i in range(0, len(digits), 2)]
        except ValueError:
            return None
        alpha = channels[3] / 255 if len(channels) == 4 else 1.0
        return (float(channels[0]), float(channels[1]), float(channels[2]), alpha)
    match = _RGB.match(text)
    if match:
        r, g, b, a = match.groups()
        return (float(r), float(g), float(b), float(a) if a is not None else 1.0)
    return None


def to_text(r: float, g: float, b: float, alpha: float = 1.0) -> str:
    if alpha < 1.0:
        return f"rgba({round(r)},{round(g)},{round(b)},{alpha:g})"
    return "#{:02X}{:02X}{:02X}".format(*(max(0, min(255, round(c))) for c in (r, g, b)))


def is_neutral(rgb) -> bool:
    """Greys (and black and white): no hue to confuse."""
    return max(rgb[:3]) - min(rgb[:3]) <= NEUTRAL_CHROMA


def _lab(rgb) -> np.ndarray:
    """CIE L*a*b* (D65) of an sRGB colour: distances there follow what people see."""
    linear = [((c / 255 + 0.055) / 1.055) ** 2.4 if c / 255 > 0.04045 else c / 255 / 12.92 for c in rgb[:3]]
    r, g, b = linear
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883
    f = [t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116 for t in (x, y, z)]
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def tint(colour: str) -> str:
    """A pale version of an Okabe–Ito colour, for backgrounds."""
    r, g, b, _ = parse(colour)
    return to_text(*(c + (255 - c) * TINT for c in (r, g, b)))


OKABE_TINTS = [tint(c) for c in OKABE_ITO[:-1]]   # a pale black is a grey, which needs no tint
PALE_CATEGORIES = OKABE_TINTS + ["#E6E6E6"]       # eight chips, neighbours all different
_OKABE_LAB = [_lab(parse(c)) for c in OKABE_ITO[:-1]]


def _hue_angle(lab) -> float:
    return math.degrees(math.atan2(lab[2], lab[1])) % 360


def nearest_okabe(rgb) -> int:
    """Index of the Okabe–Ito colour nearest in hue (the angle of a*, b*); lightness tells apart
    the two blues. Black is left out: it is no hue."""
    lab = _lab(rgb)
    angle = _hue_angle(lab)

    def cost(ref) -> float:
        turn = abs(angle - _hue_angle(ref))
        return min(turn, 360 - turn) + 0.5 * abs(lab[0] - ref[0])

    return int(np.argmin([cost(ref) for ref in _OKABE_LAB]))


# -- scales ---------------------------------------------------------------------------------
def _normalised(steps) -> tuple[str, ...]:
    """A scale's colours as "#RRGGBB" texts, to compare scales written in different notations."""
    return tuple(to_text(*parse(c)[:3]) if parse(c) else str(c) for _, c in steps)


@lru_cache(maxsize=1)
def _known_scales() -> dict[tuple[str, ...], tuple[str, bool]]:
    """The colours of every named Plotly scale -> (kind, reversed), to recognise a scale that
    Plotly has already expanded from its name into a list."""
    known = {}
    # Diverging and cyclic first: plotly.colors.sequential also lists RdBu and a few more.
    for kind, module in (("diverging", pc.diverging), ("cyclic", pc.cyclical), ("sequential", pc.sequential)):
        for name in dir(module):
            if name.startswith("_") or name.startswith("swatches"):
                continue
            try:
                known.setdefault(_normalised(pc.get_colorscale(name)), (kind, name.endswith("_r")))
            except Exception:    # a helper in the module, not a scale
                continue
    for kind, module in (("sequential", pc.plotlyjs), ("sequential", pc.carto)):
        for name in dir(module):
            if name[:1].isupper() and isinstance(getattr(module, name), list):
                try:
                    known.setdefault(_normalised(pc.get_colorscale(name)), (kind, name.endswith("_r")))
                except Exception:
                    continue
    return known


def _kind_of_name(name: str) -> tuple[str, bool] | None:
    base = name[:-2] if name.endswith("_r") else name
    for kind, module in (("diverging", pc.diverging), ("cyclic", pc.cyclical), ("sequential", pc.sequential)):
        if any(n.lower() == base.lower() for n in dir(module)):
            return kind, name.endswith("_r")
    if base.lower() in pc.named_colorscales():
        return "sequential", name.endswith("_r")
    return None


def safe_scale(kind: str, reversed_: bool):
    """The colour-blind-safe scale for a scale of this kind (a list Plotly needs no name for)."""
    if kind == "diverging":
        # The project's "RdBu_r" runs blue (low) to red (high): blue–orange keeps blue low;
        # an unreversed diverging scale (RdBu: red low) gets orange low.
        scale = BLUE_ORANGE if reversed_ else [[1 - p, c] for p, c in reversed(BLUE_ORANGE)]
        return [list(step) for step in scale]
    name = CYCLIC_SAFE if kind == "cyclic" else SEQUENTIAL_SAFE
    return [[float(p), c] for p, c in pc.get_colorscale(name)]


def recolour_scale(scale):
    """A colorscale (a name or a list of [position, colour]) as its colour-blind-safe version."""
    if isinstance(scale, str):
        kind = _kind_of_name(scale)
        return safe_scale(*kind) if kind else scale
    try:
        steps = [(float(p), c) for p, c in scale]
    except (TypeError, ValueError):
        return scale
    known = _known_scales().get(_normalised(steps))
    if known:
        return safe_scale(*known)
    return [[p, recolour_colour(c)] for p, c in steps]     # a hand-made scale: colour by colour


@lru_cache(maxsize=4)
def _samples(scale_key: str, n: int = 256) -> np.ndarray:
    """(n, 3) colours along a named on-screen scale."""
    points = pc.sample_colorscale(scale_key, list(np.linspace(0, 1, n)))
    return np.array([parse(c)[:3] for c in points])


# The project's on-screen scales and their safe counterparts, for colours sampled from them.
_SOURCE_SCALES = {WEIGHT_SCALE: ("sequential", WEIGHT_SCALE.endswith("_r")),
                  DIVERGING_SCALE: ("diverging", DIVERGING_SCALE.endswith("_r"))}
SCALE_MATCH = 6.0     # RGB distance within which a colour counts as sampled from a scale


def _on_source_scale(rgb) -> tuple[str, float] | None:
    """(scale, position) of the on-screen scale this colour was sampled from. The difference
    scale is asked first: pages shade with samples of it (attribution), and its blue half shares
    colours with Blues (ColorBrewer's), so such a shade is read as a difference."""
    for name in (DIVERGING_SCALE, WEIGHT_SCALE):
        distances = np.linalg.norm(_samples(name) - np.array(rgb[:3]), axis=1)
        i = int(np.argmin(distances))
        if distances[i] <= SCALE_MATCH:
            return name, i / (len(distances) - 1)
    return None


# -- one colour -------------------------------------------------------------------------------
# Palette colour -> its first index (heads first), whatever notation a figure uses.
_PALETTE_INDEX = {key: i for i, key in reversed(list(enumerate(to_text(*parse(c)[:3]) for c in PALETTE)))}
# Pale category colours (token chips: neighbours differ) -> pale tints, one each.
_PALE_INDEX = {to_text(*parse(c)[:3]): i for i, c in enumerate(CHIP_COLOURS)}
_SAFE_TEXTS = {to_text(*parse(c)[:3]) for c in OKABE_ITO + OKABE_TINTS}


@lru_cache(maxsize=4096)
def recolour_colour(colour):
    """One colour as its colour-blind-safe counterpart; greys and unknown values as they are."""
    rgba = parse(colour)
    if rgba is None or rgba[3] == 0 or is_neutral(rgba):
        return colour
    alpha = rgba[3]
    key = to_text(*rgba[:3])
    if key in _SAFE_TEXTS:
        return colour
    if _PALETTE_INDEX.get(key, len(OKABE_ITO)) < len(OKABE_ITO):   # categories 0-7 (heads first)
        return to_text(*parse(OKABE_ITO[_PALETTE_INDEX[key]])[:3], alpha)
    if key in _PALE_INDEX:
        return to_text(*parse(PALE_CATEGORIES[_PALE_INDEX[key] % len(PALE_CATEGORIES)])[:3], alpha)
    sampled = _on_source_scale(rgba)
    if sampled:                                    # a shade taken from the weight or difference scale
        name, position = sampled
        safe = pc.sample_colorscale(safe_scale(*_SOURCE_SCALES[name]), [position])[0]
        return to_text(*parse(safe)[:3], alpha)
    index = nearest_okabe(rgba)
    h, lightness, s = colorsys.rgb_to_hls(*(c / 255 for c in rgba[:3]))
    if lightness >= PALE:                          # a pale background (token chips)
        return to_text(*parse(OKABE_TINTS[index])[:3], alpha)
    return to_text(*parse(OKABE_ITO[index])[:3], alpha)


# -- a whole figure ------------------------------------------------------------------------------
def _is_colour_key(key: str) -> bool:
    return key.endswith("color") or key in ("colors", "fillcolor")


def _walk(node, key: str = ""):
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "colorway":
                out[k] = list(OKABE_ITO)
            elif k in ("sequential", "sequentialminus") and key == "colorscale":
                out[k] = safe_scale("sequential", False)
            elif k == "diverging" and key == "colorscale":
                out[k] = safe_scale("diverging", True)
            elif k.endswith("colorscale") and not isinstance(v, dict):
                out[k] = recolour_scale(v) if v is not None else v
            else:
                out[k] = _walk(v, k)
        return out
    if _is_colour_key(key):
        if isinstance(node, str):
            return recolour_colour(node)
        if isinstance(node, (list, tuple)) and node and all(isinstance(c, str) for c in node):
            return [recolour_colour(c) for c in node]
        if isinstance(node, np.ndarray) and node.dtype.kind in "UO":
            return [recolour_colour(c) if isinstance(c, str) else c for c in node.tolist()]
        return node
    if isinstance(node, list):
        return [_walk(v, key) for v in node] if node and isinstance(node[0], (dict, list)) else node
    return node


def recolour(fig: go.Figure, scheme: str | None = SAFE) -> go.Figure:
    """A copy of `fig` with colour-blind-safe colours (scheme SAFE); `fig` itself unchanged.
    Any other scheme (None, "default") gives the figure back as it is."""
    if scheme != SAFE:
        return fig
    # Each part's JSON, arrays kept as arrays (to_dict would encode a large heatmap as base64);
    # it already passed Plotly's checks, so the copy is built without checking again.
    parts = {"data": [trace.to_plotly_json() for trace in fig.data], "layout": fig.layout.to_plotly_json(),
             "frames": [frame.to_plotly_json() for frame in fig.frames]}
    return go.Figure(_walk(parts), skip_invalid=False, _validate=False)


def figure_colours(fig: go.Figure) -> tuple[set[str], list]:
    """Every colour string and every colorscale in a figure's JSON (what tests inspect)."""
    colours: set[str] = set()
    scales: list = []

    def visit(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                if k.endswith("colorscale") and not isinstance(v, dict):
                    if v is not None:
                        scales.append(v)
                elif k == "colorscale" and isinstance(v, dict):
                    scales.extend(v.values())
                else:
                    visit(v, k)
        elif isinstance(node, (list, tuple)):
            for v in node:
                visit(v, key)
        elif isinstance(node, np.ndarray) and node.dtype.kind in "UO" and _is_colour_key(key):
            visit(node.tolist(), key)
        elif isinstance(node, str) and (_is_colour_key(key) or key == "colorway"):
            colours.add(node)

    visit(fig.to_dict())
    return colours, scales


def distance_to(colour: str, targets) -> float:
    """RGB distance from a colour to the nearest of `targets` (colours)."""
    rgb = parse(colour)
    return min(math.dist(rgb[:3], parse(t)[:3]) for t in targets)
