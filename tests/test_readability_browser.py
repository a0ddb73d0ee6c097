"""Readable in a real browser: on One head and All heads with a 143-token paragraph, on the projector
with the sentence's tokens added and on the context trajectories, no two labels overlap and no label
is drawn under 10 px. The boxes are Chromium's own (getBoundingClientRect of Plotly's SVG <text>).
Then every page, at 8 and 141 tokens, for MiniLM and a tiny GPT-2: no exception, no label on another,
none under 10 px, no caption naming a colour the palette does not show.

One server and one browser page for the whole file.
"""
from __future__ import annotations

import itertools
import re
import urllib.parse
from pathlib import Path

import pytest

from bench.screenshots import PARAGRAPH, SHORT, RunWatch
from test_browser import tab_with_models, wait_idle

pytestmark = pytest.mark.browser

MIN_PX = 10
DECODER = "gpt2-tiny"
# Every piece of text Plotly draws as a label: axis ticks (the log key's too) and point labels.
LABELS = ".xaxislayer-above text, .yaxislayer-above text, .textpoint text"
BOXES = """(plot, selector) => Array.from(plot.querySelectorAll(selector)).map(el => {
    const box = el.getBoundingClientRect();
    return {text: el.textContent, x0: box.left, y0: box.top, x1: box.right, y1: box.bottom,
            size: parseFloat(getComputedStyle(el).fontSize)};
}).filter(b => b.text.trim() && b.x1 > b.x0 && b.y1 > b.y0)"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """One server for the whole file, whose picker lists a tiny GPT-2 (tests/hf_tiny.py) through
    ATTENTION_EXPLORER_MODEL_DIRS, and one browser tab."""
    pytest.importorskip("transformers")
    from hf_tiny import hf_model, save_checkpoint, tokenizer_for

    root = tmp_path_factory.mktemp("models")
    folder = save_checkpoint(hf_model("gpt2"), tokenizer_for("gpt2"), root / DECODER)
    with tab_with_models(root) as tab:
        tab.decoder = str(folder)
        tab.runs = RunWatch(tab)
        yield tab


def open_page(page, name: str, figure: str = ".js-plotly-plot") -> None:
    page.goto(f"{page.base}/{name}?sentence={urllib.parse.quote(PARAGRAPH)}")
    page.wait_for_selector(figure, state="attached", timeout=180_000)   # shown, or in an expander
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

    open_page(page, "attention_grid", ".attention-view[data-mode=grid] canvas[data-drawn]")   # a canvas, no Plotly
    boxes = page.locator(".attention-view[data-mode=grid]").evaluate(BOXES, "svg text")
    assert_readable(boxes, at_least=6 + 12)                   # every layer and head named
    assert {f"layer {i}" for i in range(6)} | {f"head {i}" for i in range(12)} <= {b["text"] for b in boxes}
    assert any(b["text"] == "0.001" for b in boxes)           # the log colour key


def test_projector_with_the_sentence_tokens(page):
    open_page(page, "embeddings")
    page.get_by_role("tab", name="Projector").click()
    wait_idle(page)
    page.get_by_text("Place the tokens of the current sentence").click()
    wait_idle(page)
    boxes = labels_of(page, -1)                                # the projector, in the tab now shown
    for _ in range(120):                                       # the click's rerun may redraw it after idle
        if len(boxes) >= 20:
            break
        page.wait_for_timeout(500)
        boxes = labels_of(page, -1)
    words = [b for b in boxes if b["text"] not in ("",) and not b["text"].replace(".", "").replace("−", "")
             .replace("-", "").isdigit()]
    assert_readable(boxes, at_least=20)
    assert len(words) >= 12                                    # the preset words and some of the sentence's


def test_context_trajectories(page):
    open_page(page, "context")
    assert_readable(labels_of(page), at_least=8)


# -- every page, both lengths, MiniLM and a tiny decoder ---------------------------------------------------------
# One JS call per page measures every visible figure: Plotly's tick labels, point labels and heatmap cell
# text, and the hover view's own SVG labels (ui/components/attention_view), grouped by figure.
FIGURE_LABELS = """() => {
  const seen = el => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden";
  const boxes = el => { const b = el.getBoundingClientRect();
    return {text: el.textContent, x0: b.left, y0: b.top, x1: b.right, y1: b.bottom,
            size: parseFloat(getComputedStyle(el).fontSize)}; };
  const figures = [];
  for (const plot of document.querySelectorAll(".js-plotly-plot")) {
    if (!seen(plot)) continue;
    const texts = plot.querySelectorAll(".xaxislayer-above text, .yaxislayer-above text, .textpoint text, "
                                        + ".hm text, .heatmaplayer text");
    figures.push({name: "plotly", labels: Array.from(texts).filter(seen).map(boxes)});
  }
  for (const view of document.querySelectorAll(".attention-view")) {
    if (!seen(view)) continue;
    const texts = Array.from(view.querySelectorAll("svg text")).filter(seen);
    figures.push({name: "attention view", labels: texts.map(boxes)});
  }
  return figures.map(f => ({...f, labels: f.labels.filter(b => b.text.trim() && b.x1 > b.x0 && b.y1 > b.y0)}));
}"""
# A caption naming a colour that the active palette does not draw (ui/colour_words.py has the right words).
# "Wider, darker lines" (Query–key space) stays true in both: those lines are one grey, darker by opacity.
NOT_IN_USUAL = re.compile(r"\b(yellow|brighter)\b", re.I)
NOT_IN_SAFE = re.compile(r"\b(?:red\b|darker(?: =| means\b| is\b| cells?\b)|white \(0\)"
                         r"|dark (?:first|diagonal|column|band|cells?)\b)", re.I)




def walk_pages() -> list[str]:
    from ui.sections import SECTIONS

    return [Path(path).stem for entries in SECTIONS.values() for path, *_ in entries]


# The browser's own history step, which Streamlit's frame follows: it runs the page at the new path with the
# new query in the same session.
CHOOSE_PAGE = "path => { history.pushState(null, '', path); window.dispatchEvent(new PopStateEvent('popstate')); }"


def problems_on(page, name: str, query: str, palette: re.Pattern, same_session: bool) -> list[str]:
    """Everything unreadable on one page as the link opens it: an exception, overlapping labels,
    labels under MIN_PX, a caption naming a colour the palette does not show.

    same_session: the page is chosen in the tab's open session, as the browser's back and forward
    buttons do (Streamlit runs the page with the link's query; nothing is loaded again), instead of
    the link opened in a new document. Either way the page waits on Streamlit's own "run finished"
    message and a drawn, unchanging page (bench/screenshots.RunWatch), never a fixed sleep."""
    path = f"/{'' if name == 'home' else name}?{query}"
    mark = page.runs.mark()
    if same_session:
        page.evaluate(CHOOSE_PAGE, path)
    else:
        page.goto(page.base + path)
    found = []
    try:
        page.runs.settle(mark, timeout_s=240)     # integrated gradients on 141 tokens: slow
    except TimeoutError:
        found.append("the page did not finish within 240 s")
    found += [f"exception: {t[:200]}" for t in page.locator("[data-testid=stException]").all_inner_texts()]
    for figure in page.evaluate(FIGURE_LABELS):
        boxes = figure["labels"]
        small = sorted({(b["text"], b["size"]) for b in boxes if b["size"] < MIN_PX})
        clashes = overlapping(boxes)
        if small:
            found.append(f"{figure['name']}: under {MIN_PX} px: {small[:5]}")
        if clashes:
            found.append(f"{figure['name']}: overlapping: {clashes[:5]}")
    words = " ".join(page.locator("[data-testid=stMain] [data-testid=stCaptionContainer], "
                                  "[data-testid=stMain] [data-testid=stMarkdownContainer]").all_inner_texts())
    found += [f"caption names {m.group(0)!r}" for m in palette.finditer(words)]
    return [f"{name}: {p}" for p in found]


@pytest.mark.slow           # 2 × 2 × 35 pages: minutes, more on a busy machine
@pytest.mark.parametrize("model", ["minilm", DECODER])
def test_every_page_is_readable_at_8_and_141_tokens(page, model):
    """Issue 26: every page, at 8 and 141 tokens, for MiniLM and a decoder. The short MiniLM pass has the
    colour-blind palette on, so captions are held to its words as well as to the usual ones.
    One session per model and length: the link opens the first page (Home), the others are chosen in it."""
    chosen = page.decoder if model == DECODER else "minilm"
    found = []
    for sentence, safe_colours in ((SHORT, model == "minilm"), (PARAGRAPH, False)):
        # Integrated gradients with few steps: the figures are the same figures, the walk minutes shorter.
        query = (f"model={urllib.parse.quote(chosen)}&sentence={urllib.parse.quote(sentence)}&attribution_steps=4"
                 + ("&cb=1" if safe_colours else ""))
        for i, name in enumerate(walk_pages()):
            palette = NOT_IN_SAFE if safe_colours else NOT_IN_USUAL
            found += problems_on(page, name, query, palette, same_session=i > 0)
    assert not found, "\n".join(found)
