"""Figures for print: PNG, SVG and PDF at print size, with the colours and labels shown on screen.

The modebar's camera already saves what the browser shows as a PNG. Vector files and a 300 dpi
PNG are drawn on the server by kaleido, which drives a headless Chromium (Debian's `chromium`, or
$BROWSER_PATH). Each figure gets a small "SVG · PDF" menu under it; nothing is drawn until the
person asks, the files are cached per figure for the whole server, and at most
$ATTENTION_EXPLORER_EXPORT_SLOTS drawings run at once (default 1), so an export never holds the
server's cores for long. A server without Chromium says so in the menu.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import os
import shutil
import threading
from collections.abc import Callable

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitDuplicateElementKey

from ui.state import cached

# Print size: 180 mm wide (a two-column figure in most journals). Plotly lays a figure out in CSS
# pixels (96 per inch), so 180 mm is 680 px and fonts keep their on-screen size in points;
# the PNG is drawn at 300 dpi (scale 300/96), the SVG and PDF stay vector.
PRINT_WIDTH_MM = 180
CSS_DPI = 96
PRINT_DPI = 300
PRINT_WIDTH_PX = round(PRINT_WIDTH_MM / 25.4 * CSS_DPI)      # 680
DEFAULT_HEIGHT_PX = 480                                      # a figure that sets no height
FORMATS = {"svg": "image/svg+xml", "pdf": "application/pdf", "png": "image/png"}
RENDER_TIMEOUT_S = 90        # one drawing; a figure that takes longer is refused
WAIT_FOR_SLOT_S = 45         # another export is drawing: wait this long, then say so
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


class ExportUnavailable(RuntimeError):
    """This server cannot draw the files (no Chromium or no kaleido); the message says which."""


def chromium_path() -> str | None:
    """The browser kaleido would drive: $BROWSER_PATH if it names a file, else one on PATH."""
    named = os.environ.get("BROWSER_PATH")
    if named:
        return named if os.path.isfile(named) else None
    return next((found for name in CHROMIUM_NAMES if (found := shutil.which(name))), None)


def unavailable_reason() -> str | None:
    """Why this server cannot draw SVG and PDF files, or None when it can."""
    try:
        import kaleido  # noqa: F401  (the package that drives Chromium)
    except ImportError:
        return "SVG and PDF files need the kaleido package on the server, which is not installed."
    if chromium_path() is None:
        return ("SVG and PDF files are drawn by Chromium on the server, and this server has none "
                "(install Debian's `chromium`, or set BROWSER_PATH).")
    return None


def print_size(fig: go.Figure) -> tuple[int, int]:
    """(width, height) in CSS pixels: 180 mm wide; as tall as the figure is drawn on screen."""
    height = fig.layout.height or DEFAULT_HEIGHT_PX
    return PRINT_WIDTH_PX, int(height)


def render(fig: go.Figure, formats=tuple(FORMATS)) -> dict[str, bytes]:
    """The figure as files at print size, {"svg": b"<svg…", "pdf": b"%PDF…", "png": …}: one
    Chromium started for all of them. Raises ExportUnavailable without Chromium or kaleido."""
    reason = unavailable_reason()
    if reason:
        raise ExportUnavailable(reason)
    import kaleido

    width, height = print_size(fig)
    spec = fig.to_dict()

    async def draw() -> dict[str, bytes]:
        # mathjax=False: no figure uses LaTeX, and kaleido would otherwise fetch MathJax online.
        async with kaleido.Kaleido(n=1, timeout=RENDER_TIMEOUT_S, mathjax=False) as k:
            files = {}
            for fmt in formats:
                scale = PRINT_DPI / CSS_DPI if fmt == "png" else 1
                files[fmt] = await k.calc_fig(spec, opts=dict(format=fmt, width=width, height=height, scale=scale))
            return files

    # A thread of its own: asyncio.run needs a thread without a running event loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, draw()).result(timeout=RENDER_TIMEOUT_S * len(formats))


@st.cache_resource
def render_slots() -> threading.BoundedSemaphore:
    """How many drawings run at once for the whole server (each is a Chromium: ~150 MB, a core)."""
    slots = os.environ.get("ATTENTION_EXPLORER_EXPORT_SLOTS", "")
    return threading.BoundedSemaphore(int(slots) if slots.isdigit() and int(slots) > 0 else 1)


def figure_files(fig: go.Figure) -> dict[str, bytes]:
    """The files of this figure, drawn once per figure for the whole server (cached by content)."""
    digest = hashlib.sha256(fig.to_json().encode()).hexdigest()

    def compute() -> dict[str, np.ndarray]:
        slots = render_slots()
        if not slots.acquire(timeout=WAIT_FOR_SLOT_S):
            raise ExportUnavailable("Other figures are being drawn for print right now; try again in a moment.")
        try:
            # Kept as byte arrays: the shared cache counts the bytes of arrays.
            return {fmt: np.frombuffer(data, dtype=np.uint8) for fmt, data in render(fig).items()}
        finally:
            slots.release()

    files = cached(("export", PRINT_WIDTH_PX, digest), compute, "Drawing the figure at print size…")
    return {fmt: data.tobytes() for fmt, data in files.items()}


def _button(label: str, key: str, **kwargs) -> bool:
    """A button keyed by the figure's name; a second figure of the same name gets key_2, key_3…"""
    for n in range(1, 50):
        try:
            return st.button(label, key=key if n == 1 else f"{key}_{n}", **kwargs)
        except StreamlitDuplicateElementKey:
            continue
    return False


def export_menu(fig: go.Figure | Callable[[], go.Figure], name: str, where=st, camera: bool = True) -> None:
    """A small "SVG · PDF" menu under a figure: print-size files, drawn when asked for. `fig` may be a
    function that builds the figure: then it is built only when the files are asked for (All heads
    draws a canvas on the page and keeps its Plotly figure for print: camera=False, it has no camera icon)."""
    with where.popover("SVG · PDF", icon=":material/download:", type="tertiary",
                       help="This figure as SVG, PDF and a 300 dpi PNG, "
                            f"{PRINT_WIDTH_MM} mm wide, with the colours and labels shown here."):
        reason = unavailable_reason()
        if reason:
            st.caption(reason + (" The camera icon above the figure still saves it as a PNG." if camera else ""))
            return
        st.caption(f"{PRINT_WIDTH_MM} mm wide; fonts as on screen; PNG at {PRINT_DPI} dpi. "
                   "Drawing takes a few seconds.")
        if not _button("Make the files", key=f"export_{name}", icon=":material/print:"):
            return
        try:
            files = figure_files(fig() if callable(fig) else fig)
        except ExportUnavailable as exc:
            st.warning(str(exc))
            return
        except Exception as exc:    # Chromium crashed or timed out: say so, keep the page
            st.warning(f"The figure could not be drawn for print ({type(exc).__name__}). Try again, "
                       "or use the camera icon for a PNG.")
            return
        cols = st.columns(len(files))
        for col, (fmt, data) in zip(cols, files.items()):
            col.download_button(fmt.upper(), data, file_name=f"{name}.{fmt}", mime=FORMATS[fmt],
                                on_click="ignore", icon=":material/download:")
