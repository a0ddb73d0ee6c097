"""Issue 25's proof, in a real browser (Chromium driven by Playwright): on Activation patching with a tiny
GPT-2, a click on one cell of the layer × head map, away from the cell's centre, opens the One head page
on that layer and head, with the clean prompt as the sentence.
"""
from __future__ import annotations

import os
import urllib.parse
from urllib.parse import parse_qs, urlparse

import pytest

from tests.test_browser import ARGS, CHROMIUM, require_browser, running_server, slider_values, wait_idle

pytestmark = pytest.mark.browser

CLEAN, CORRUPTED = "the cat sat on the mat", "the dog sat on the mat"
LAYER, HEAD = 2, 1          # tests/hf_tiny.py: 3 layers × 4 heads


@pytest.fixture(scope="module")
def decoder(tmp_path_factory) -> str:
    """A tiny random GPT-2 (tests/hf_tiny.py) in a folder the server's picker lists."""
    require_browser()
    pytest.importorskip("transformers")
    from hf_tiny import hf_model, save_checkpoint, tokenizer_for

    root = tmp_path_factory.mktemp("models")
    return str(save_checkpoint(hf_model("gpt2"), tokenizer_for("gpt2"), root / "gpt2-tiny"))


def test_a_click_on_the_patching_map_opens_that_head(decoder, monkeypatch):
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("ATTENTION_EXPLORER_MODEL_DIRS", str(os.path.dirname(decoder)))
    query = urllib.parse.urlencode({"model": decoder, "sentence": "Time flies like an arrow.",
                                    "patching_clean": CLEAN, "patching_corrupted": CORRUPTED,
                                    "patching_answer": " mat", "patching_other": " dog"})
    with running_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(f"{url}/patching?{query}")
            page.get_by_text("Each head's output (all positions)").click(timeout=120_000)     # the layer × head map
            chart = page.locator(".js-plotly-plot").filter(has=page.locator(".scatterlayer .point")).first
            try:
                chart.wait_for(timeout=120_000)
            except Exception:
                page.screenshot(path="/tmp/click_maps_failed.png", full_page=True)
                pytest.fail("no clickable map on the patching page:\n" + page.inner_text("body")[:3000])
            wait_idle(page)
            assert chart.locator(".scatterlayer .point").count() == 3 * 4        # one marker per head
            chart.scroll_into_view_if_needed()
            area = chart.locator(".nsewdrag").first.bounding_box()               # the plot area: 4 heads × 3 layers
            width, height = area["width"] / 4, area["height"] / 3
            # a quarter of a cell off its centre: the whole cell answers, not only a marker at its middle
            x, y = area["x"] + (HEAD + 0.25) * width, area["y"] + (LAYER + 0.7) * height
            page.mouse.move(x, y)
            hover = page.locator(".hoverlayer .hovertext")
            hover.first.wait_for(timeout=10_000)
            assert f"layer {LAYER} · head {HEAD}" in hover.first.text_content()
            page.mouse.click(x, y)
            try:
                page.wait_for_function("() => location.pathname.endsWith('/attention_head')", timeout=60_000)
            except Exception:
                page.screenshot(path="/tmp/click_maps_failed.png", full_page=True)
                pytest.fail("the click opened no head:\n" + page.inner_text("body")[-3000:])
            page.locator("[data-testid=stSlider]").nth(1).wait_for(timeout=90_000)   # One head's layer and head
            wait_idle(page)
            assert slider_values(page)[:2] == [LAYER, HEAD]
            query = parse_qs(urlparse(page.url).query)
            assert query["layer"] == [str(LAYER)] and query["head"] == [str(HEAD)]
            assert page.get_by_role("textbox", name="Sentence", exact=True).input_value().startswith(CLEAN)
            assert page.locator("[data-testid=stException]").count() == 0
        finally:
            browser.close()
