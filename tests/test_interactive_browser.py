"""The attention view answers the mouse, in a real browser (Chromium driven by Playwright):
hovering a heatmap cell lights up its query's row and its key's column, with the weight in a
tooltip; hovering a token in the lines view draws only that token's lines, as strong as the weights.
"""
from __future__ import annotations

import re
import time

import pytest

from tests.test_browser import ARGS, CHROMIUM, require_browser, running_server, wait_idle

pytestmark = pytest.mark.browser

SENTENCE = "Time+flies+like+an+arrow."
TOKENS = ["[CLS]", "time", "flies", "like", "an", "arrow", ".", "[SEP]"]
WEIGHT = re.compile(r": (\d\.\d{3})$")


def tooltip_naming(tooltip, part: str, timeout: float = 5.0) -> str:
    """The tooltip's text once it names `part` (on a busy machine it may still show the previous cell)."""
    deadline = time.time() + timeout
    text = tooltip.text_content()
    while part not in text and time.time() < deadline:
        time.sleep(0.05)
        text = tooltip.text_content()
    assert part in text, text
    return text


def centre(box: dict) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def hover_heatmap(page, url: str) -> None:
    page.goto(f"{url}/attention_head?sentence={SENTENCE}&layer=2&head=5")
    view = page.locator(".attention-view[data-mode=heatmap]")
    view.locator("canvas").wait_for(timeout=180_000)
    wait_idle(page)
    assert view.locator("text.token.key").all_text_contents() == TOKENS
    row, column, tooltip = view.locator("rect.band.row"), view.locator("rect.band.column"), view.locator(".tooltip")
    assert not row.is_visible() and not tooltip.is_visible()     # nothing lit before the mouse comes

    grid = view.locator("rect.grid").bounding_box()
    cell, column_width = grid["height"] / len(TOKENS), grid["width"] / len(TOKENS)   # columns share the width
    # query "like" (row 3), key "time" (column 1)
    page.mouse.move(grid["x"] + 1.5 * column_width, grid["y"] + 3.5 * cell)
    assert row.is_visible() and column.is_visible()
    assert abs(centre(row.bounding_box())[1] - (grid["y"] + 3.5 * cell)) < cell / 2
    assert abs(centre(column.bounding_box())[0] - (grid["x"] + 1.5 * column_width)) < column_width / 2
    assert (view.get_attribute("data-query"), view.get_attribute("data-key")) == ("3", "1")
    assert view.locator("text.token.query.active").all_text_contents() == ["like"]
    assert view.locator("text.token.key.active").all_text_contents() == ["time"]
    assert tooltip.text_content().startswith("#3 like → #1 time: ")

    # Walking along the row reads that query's weights: a softmax row, so they add up to 1.
    row_weights = []
    for k in range(len(TOKENS)):
        page.mouse.move(grid["x"] + (k + 0.5) * column_width, grid["y"] + 3.5 * cell)
        assert view.get_attribute("data-key") == str(k)
        text = tooltip_naming(tooltip, f"→ #{k} ")      # the tooltip is redrawn a frame after the attribute
        row_weights.append(float(WEIGHT.search(text).group(1)))
    assert abs(sum(row_weights) - 1) < 0.01, row_weights

    # A token's label lights up the same token's row and column; leaving clears everything.
    view.locator("text.token.key").nth(5).hover()                   # "arrow"
    assert (view.get_attribute("data-query"), view.get_attribute("data-key")) == ("5", "5")
    assert abs(centre(row.bounding_box())[1] - (grid["y"] + 5.5 * cell)) < cell / 2
    assert "#5 arrow" in tooltip.text_content()
    page.mouse.move(1, 1)
    assert not row.is_visible() and not tooltip.is_visible() and view.get_attribute("data-query") is None


def hover_lines(page, url: str) -> None:
    page.goto(f"{url}/attention_lines?sentence={SENTENCE}&layer=2&head=5")
    view = page.locator(".attention-view[data-mode=lines]")
    view.locator("svg").wait_for(timeout=180_000)
    wait_idle(page)
    idle, focus = view.locator(".idle line"), view.locator(".focus line")
    assert idle.count() == len(TOKENS) and view.locator(".idle").is_visible()   # one faint line per query
    assert focus.count() == 0

    view.locator(".token-group[data-side=query][data-index='2']").hover()   # "flies" on the left
    assert not view.locator(".idle").is_visible()
    drawn = focus.evaluate_all("lines => lines.map(l => [l.dataset.query, Number(l.getAttribute('stroke-opacity'))])")
    assert drawn and {query for query, _ in drawn} == {"2"}, drawn       # only the lines of "flies"
    assert 0.9 < sum(opacity for _, opacity in drawn) <= 1.001           # opacity = weight; its row sums to 1
    assert view.locator(".readout").text_content().startswith("#2 flies looks at: ")

    view.locator(".token-group[data-side=key][data-index='1']").hover()     # "time" on the right
    keys = focus.evaluate_all("lines => lines.map(l => l.dataset.key)")
    assert keys and set(keys) == {"1"}, keys                              # which queries look at "time"
    page.mouse.move(1, 1)
    assert focus.count() == 0 and view.locator(".idle").is_visible()


def test_hovering_lights_up_a_row_and_draws_only_a_tokens_lines():
    require_browser()
    from playwright.sync_api import sync_playwright

    with running_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            hover_heatmap(page, url)
            hover_lines(page, url)
        finally:
            browser.close()
