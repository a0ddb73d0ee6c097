"""Readable in a real browser: on One head and All heads with a 143-token paragraph, on the projector
with the sentence's tokens added and on the context trajectories, no two labels overlap and no label
is drawn under 10 px. The boxes are Chromium's own (getBoundingClientRect of Plotly's SVG <text>).

One server and one browser page for the whole file: four page loads.
"""
from __future__ import annotations

import itertools
import urllib.parse

import pytest

from bench.screenshots import PARAGRAPH
from test_browser import ARGS, CHROMIUM, running_server, wait_idle

pytestmark = pytest.mark.browser

MIN_PX = 10
# Every piece of text Plotly draws as a label: axis ticks (the log key's too) and point labels.
LABELS = ".xaxislayer-above text, .yaxislayer-above text, .textpoint text"
BOXES = """(plot, selector) => Array.from(plot.querySelectorAll(selector)).map(el => {
    const box = el.getBoundingClientRect();
    return {text: el.textContent, x0: box.left, y0: box.top, x1: box.right, y1: box.bottom,
            size: parseFloat(getComputedStyle(el).fontSize)};
}).filter(b => b.text.trim() && b.x1 > b.x0 && b.y1 > b.y0)"""


@pytest.fixture(scope="module")
def page():
    from playwright.sync_api import sync_playwright

    with running_server() as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page(viewport={"width": 1400, "height": 1100})
        tab.base = url
        yield tab
        browser.close()


def open_page(page, name: str) -> None:
    page.goto(f"{page.base}/{name}?sentence={urllib.parse.quote(PARAGRAPH)}")
    page.wait_for_selector(".js-plotly-plot", state="attached", timeout=180_000)   # shown, or in an expander
    wait_idle(page)


def labels_of(page, which: int = 0) -> list[dict]:
    """The labels of the page's `which`-th visible figure (a figure in a tab not shown is skipped).
    A figure just shown or redrawn may take a moment, or be swapped for a new one: ask again."""
    from playwright.sync_api import Error

    for _ in range(60):
        plots = [p for p in page.locator(".js-plotly-plot").all() if p.is_visible()]
        try:
            if plots:
                plots[which].scroll_into_view_if_needed(timeout=5_000)
                page.wait_for_timeout(300)
                return plots[which].evaluate(BOXES, LABELS)
        except Error:
            pass
        page.wait_for_timeout(500)
    raise AssertionError("no visible figure on the page")


def overlapping(boxes: list[dict], slack: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of labels whose boxes intersect (by more than `slack` px each way)."""
    return [(a["text"], b["text"]) for a, b in itertools.combinations(boxes, 2)
            if a["x0"] + slack < b["x1"] and b["x0"] + slack < a["x1"]
            and a["y0"] + slack < b["y1"] and b["y0"] + slack < a["y1"]]


def assert_readable(boxes: list[dict], at_least: int) -> None:
    assert len(boxes) >= at_least, [b["text"] for b in boxes]
    small = [(b["text"], b["size"]) for b in boxes if b["size"] < MIN_PX]
    assert not small, small
    clashes = overlapping(boxes)
    assert not clashes, clashes[:10]


def test_one_head_and_all_heads_at_143_tokens(page):
    open_page(page, "attention_head")
    figure = page.locator("summary:has-text('Plotly figure')")     # the Plotly heatmap, when it sits in an expander
    if figure.count():
        figure.first.click()
        wait_idle(page)
    boxes = labels_of(page)
    assert_readable(boxes, at_least=20)
    assert any(b["text"] == "0.001" for b in boxes)          # the log colour key, for a long paragraph

    open_page(page, "attention_grid")
    boxes = labels_of(page)
    assert_readable(boxes, at_least=6 + 12)                   # every layer and head named
    assert any(b["text"] == "0.001" for b in boxes)


def test_projector_with_the_sentence_tokens(page):
    open_page(page, "embeddings")
    page.get_by_role("tab", name="Projector").click()
    wait_idle(page)
    page.get_by_text("Place the tokens of the current sentence").click()
    wait_idle(page)
    boxes = labels_of(page, -1)                                # the projector, in the tab now shown
    words = [b for b in boxes if b["text"] not in ("",) and not b["text"].replace(".", "").replace("−", "")
             .replace("-", "").isdigit()]
    assert_readable(boxes, at_least=20)
    assert len(words) >= 12                                    # the preset words and some of the sentence's


def test_context_trajectories(page):
    open_page(page, "context")
    assert_readable(labels_of(page), at_least=8)
