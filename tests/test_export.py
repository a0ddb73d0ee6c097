"""Figures for print (ui/export.py): SVG, PDF and a 300 dpi PNG, 180 mm wide, with the labels and
colour scale shown on screen; a server without Chromium says so instead of failing."""
from __future__ import annotations

import re
import struct
import xml.etree.ElementTree as ET

import numpy as np
import plotly.colors as pc
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from tests.page_helpers import run_page
from ui import export
from viz.attention import attention_heatmap
from viz.palettes import parse, recolour

TOKENS = ["[CLS]", "<b>bold</b>", "R&D", "flies", "[SEP]"]
needs_chromium = pytest.mark.skipif(export.unavailable_reason() is not None,
                                    reason="no Chromium or kaleido on this machine")


@pytest.fixture(scope="module")
def figure() -> go.Figure:
    weights = np.random.default_rng(0).dirichlet(np.ones(5), size=5).astype(np.float32)   # (query, key)
    return attention_heatmap(weights, TOKENS, "Layer 0 · head 1")


@pytest.fixture(scope="module")
def on_screen(figure) -> go.Figure:
    """The figure as the page shows it with colour-blind-safe colours on (the harder case)."""
    return recolour(figure)


@pytest.fixture(scope="module")
def files(on_screen) -> dict[str, bytes]:
    if export.unavailable_reason():
        pytest.skip("no Chromium or kaleido on this machine")
    return export.render(on_screen)


def _svg_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)            # valid XML, or this raises
    return ["".join(node.itertext()) for node in root.iter() if node.tag.endswith("text")]


def _stop_colours(svg: bytes) -> list[tuple[int, int, int]]:
    return [tuple(int(v) for v in m) for m in re.findall(rb'stop-color="rgb\((\d+), ?(\d+), ?(\d+)\)"', svg)]


@needs_chromium
def test_the_svg_shows_the_token_labels_literally(files):
    texts = _svg_texts(files["svg"])
    for token in TOKENS:
        assert token in texts                # "<b>bold</b>" as text, not bold markup
    assert b"<b>" not in files["svg"]         # escaped inside the XML


@needs_chromium
def test_the_svg_uses_the_colour_scale_shown_on_screen(on_screen, files):
    scale = on_screen.data[0].colorscale
    assert [c for _, c in scale] == [c for _, c in pc.get_colorscale("cividis")]
    shown = {tuple(int(v) for v in parse(c)[:3]) for _, c in scale}
    in_file = set(_stop_colours(files["svg"]))
    assert shown <= in_file, shown - in_file


@needs_chromium
def test_pdf_and_png_are_print_size(files):
    assert files["pdf"].startswith(b"%PDF")
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", files["pdf"])
    assert box and float(box.group(1)) == pytest.approx(export.PRINT_WIDTH_MM / 25.4 * 72, abs=2)   # points
    assert files["png"].startswith(b"\x89PNG")
    width, height = struct.unpack(">II", files["png"][16:24])
    assert width == pytest.approx(export.PRINT_WIDTH_MM / 25.4 * export.PRINT_DPI, abs=3)         # 300 dpi


def test_without_chromium_the_menu_says_so_and_nothing_breaks(monkeypatch):
    monkeypatch.setenv("BROWSER_PATH", "/nonexistent/chromium")
    assert "Chromium" in export.unavailable_reason()
    with pytest.raises(export.ExportUnavailable):
        export.render(go.Figure())
    at = run_page("attention_head")
    assert not at.exception
    assert any("Chromium" in c.value for c in at.caption)


def _two_figures():
    import plotly.graph_objects as go

    from ui.widgets import plot

    plot(go.Figure(go.Bar(x=["a", "<b>"], y=[1, 2])), "bars")
    plot(go.Figure(go.Bar(x=["c"], y=[3])), "bars")        # the same name twice: its own button


@needs_chromium
def test_the_menu_makes_three_files_named_after_the_figure():
    at = AppTest.from_function(_two_figures, default_timeout=120).run()
    assert not at.exception and len(at.get("plotly_chart")) == 2 and not at.get("download_button")
    at.button(key="export_bars_2").click().run()
    assert not at.exception
    buttons = at.get("download_button")
    assert sorted(b.proto.label for b in buttons) == ["PDF", "PNG", "SVG"]
    assert all(b.proto.ignore_rerun for b in buttons)       # saving a file does not rerun the page


@needs_chromium
def test_all_heads_prints_its_grid_though_the_page_draws_a_canvas():
    """All heads draws on a canvas; its menu still makes SVG, PDF and PNG of the Plotly grid (built only then)
    as the other figures do."""
    at = run_page("attention_grid", "The cat sat on the mat.")
    at.button(key="export_attention_all_heads").click().run(timeout=240)
    assert not at.exception
    files = {b.proto.label: b for b in at.get("download_button")}
    assert {"SVG", "PDF", "PNG"} <= set(files)
