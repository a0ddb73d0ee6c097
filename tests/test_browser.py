"""End to end in a real browser: `streamlit run app.py` and Debian's Chromium driven by Playwright.

A person opens a shared link, types a sentence with an HTML probe in the sidebar, sees
the new tokens on the heatmap's axis as plain text, copies the link and gets the same
view back, and clicks a thumbnail of the all-heads grid to open that head.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

pytestmark = pytest.mark.browser


def require_browser():
    """Skip on a laptop without Chromium; in CI (.ci/run installs it) a missing browser is a failure."""
    problem = None
    if not Path(CHROMIUM).exists():
        problem = f"{CHROMIUM} not found (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (requirements-dev.txt)"
    if problem:
        if IN_CI:
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server():
    """`streamlit run app.py` on a free local port, until the block ends."""
    require_browser()
    port = free_port()
    env = dict(os.environ, ATTENTION_EXPLORER_THREADS="2")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                    pytest.fail(f"streamlit did not start:\n{output[-2000:]}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextlib.contextmanager
def tab_with_models(root):
    """A fresh server whose model picker also lists the model folders under `root`
    (ATTENTION_EXPLORER_MODEL_DIRS, restored afterwards), and one Chromium tab on it (tab.base: its address)."""
    from playwright.sync_api import sync_playwright

    before = os.environ.get("ATTENTION_EXPLORER_MODEL_DIRS")
    os.environ["ATTENTION_EXPLORER_MODEL_DIRS"] = str(root)
    try:
        with running_server() as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            tab = browser.new_page(viewport={"width": 1400, "height": 1100})
            tab.base = url
            yield tab
            browser.close()
    finally:
        if before is None:
            os.environ.pop("ATTENTION_EXPLORER_MODEL_DIRS", None)
        else:
            os.environ["ATTENTION_EXPLORER_MODEL_DIRS"] = before


@pytest.fixture(scope="module")
def server():
    with running_server() as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


def heatmap_ticks(page, axis: str = "xtick") -> list[str]:
    """A heatmap's token labels: the hover view's (One head keeps its Plotly figure in a closed
    expander), else a Plotly figure's ticks."""
    side = "key" if axis == "xtick" else "query"
    labels = page.locator(f".attention-view text.token.{side}").all_text_contents()
    return labels or page.locator(f".js-plotly-plot .{axis} text").all_text_contents()


def wait_for_ticks(page, wanted: str, timeout: float = 90) -> list[str]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        ticks = heatmap_ticks(page)
        if wanted in ticks:
            return ticks
        time.sleep(0.3)
    raise AssertionError(f"{wanted!r} never appeared on the heatmap's axis; last ticks: {heatmap_ticks(page)}")


def slider_values(page, timeout: float = 30) -> list[int]:
    """The page's sliders' values, waiting until they are drawn (a rerun that has just begun can leave
    the page without them for a moment after the status widget went away)."""
    deadline = time.time() + timeout
    while True:
        values = [int(v) for v in page.locator("[data-testid=stSlider] input[type=range]").evaluate_all(
            "els => els.map(e => e.value)")]
        if values or time.time() > deadline:
            return values
        time.sleep(0.3)


def wait_idle(page) -> None:
    """Until Streamlit has finished running the script (its status widget disappears)."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=stStatusWidget]')", timeout=90_000)


def test_type_a_sentence_share_the_link_and_open_a_head(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    # 1. A shared link is the fresh server's very first request: it must open inside the frame.
    page.goto(f"{server}/attention_head?sentence=Time+flies+like+an+arrow.&layer=2&head=5")
    wait_for_ticks(page, "arrow")
    wait_idle(page)
    assert slider_values(page)[:2] == [2, 5]
    sentence_box = page.get_by_role("textbox", name="Sentence", exact=True)
    assert sentence_box.input_value() == "Time flies like an arrow."

    # 2. Type a new sentence with an HTML probe; the heatmap gets the new tokens, as text.
    sentence_box.fill("The cat sat on the <b>mat</b> today")
    sentence_box.press("Control+Enter")
    ticks = wait_for_ticks(page, "mat")
    wait_idle(page)
    assert {"cat", "sat", "today", "<", ">", "/"} <= set(ticks), ticks
    assert ticks.count("the") == 2                      # repeated tokens keep their own columns
    # One snapshot of every view and figure (a late rerun may replace an element between two separate reads).
    views = page.eval_on_selector_all(".attention-view, .js-plotly-plot",
                                      "els => els.map(e => [e.querySelectorAll('b').length, e.innerHTML])")
    assert views
    for bold_tags, html in views:
        assert bold_tags == 0                           # no user <b> became markup in the view or figure
        assert "font-weight: bold" not in html
    assert page.locator("script:has-text('alert')").count() == 0

    # 3. The URL now holds page, sentence, layer and head: a copied link reopens the same view.
    query = parse_qs(urlparse(page.url).query)
    assert urlparse(page.url).path == "/attention_head"
    assert query["sentence"] == ["The cat sat on the <b>mat</b> today"]
    assert query["layer"] == ["2"] and query["head"] == ["5"]
    copy = browser.new_page(viewport={"width": 1400, "height": 1100})
    copy.goto(page.url)
    wait_for_ticks(copy, "today")
    wait_idle(copy)
    assert slider_values(copy)[:2] == [2, 5]
    sentence_box = copy.get_by_role("textbox", name="Sentence", exact=True)
    assert sentence_box.input_value() == "The cat sat on the <b>mat</b> today"
    copy.close()

    # 4. All heads: hovering a thumbnail names its head, tokens and weight; clicking layer 3, head 7 opens it.
    page.get_by_role("button", name="Attention", exact=True).click()     # the top bar's menu
    page.locator("a[href$='/attention_grid']").first.click()
    page.wait_for_selector(".attention-view[data-mode=grid] canvas[data-drawn]", timeout=90_000)
    wait_idle(page)
    thumbs = page.locator(".attention-view .thumbs rect")
    assert thumbs.count() == 72                                          # every head drawn
    box = thumbs.nth(3 * 12 + 7).bounding_box()
    page.mouse.move(box["x"] + 2, box["y"] + 2)                          # the first query's row, its first key
    tooltip = page.locator(".attention-view .tooltip")
    assert re.match(r"layer 3 · head 7\n#0 \[CLS\] → #0 \[CLS\]: \d\.\d{3,4}\nclick", tooltip.text_content())
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => location.pathname.endsWith('/attention_head')", timeout=60_000)
    wait_for_ticks(page, "mat")
    wait_idle(page)
    assert slider_values(page)[:2] == [3, 7]
    query = parse_qs(urlparse(page.url).query)
    assert query["layer"] == ["3"] and query["head"] == ["7"]
    page.close()


def test_all_heads_opens_a_head_from_the_keyboard(server, browser):
    """No mouse: Tab reaches the grid, the arrows walk over the heads (the tooltip names the one chosen),
    Enter opens it on One head."""
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{server}/attention_grid?sentence=The+cat+sat+on+the+mat+today")
    page.wait_for_selector(".attention-view[data-mode=grid] canvas[data-drawn]", timeout=90_000)
    wait_idle(page)
    page.locator(".attention-view .grid-stage").focus()
    for key in ["ArrowDown", "ArrowDown", "ArrowRight", "ArrowRight", "ArrowRight", "ArrowUp", "ArrowDown"]:
        page.keyboard.press(key)
    assert page.locator(".attention-view .tooltip").text_content().startswith("layer 2 · head 3")
    page.keyboard.press("Enter")
    page.wait_for_function("() => location.pathname.endsWith('/attention_head')", timeout=60_000)
    wait_for_ticks(page, "mat")
    wait_idle(page)
    assert slider_values(page)[:2] == [2, 3]
    page.close()


FIRST_REQUESTS = ["/", "/attention_head?layer=2&head=5", "/attention_lines?head=abc", "/embeddings",
                  "/step_tokens?sentence=Fruit+flies+like+a+banana.", "/attention_aggregate?head=-1"]


def test_a_fresh_server_opens_six_pages_at_once_inside_the_frame(browser):
    """The first requests to a new server (a restart with tabs open) run inside app.py's frame:
    the sidebar with the sentence box, the top-bar menus, no old pages-folder list of file
    names, no ImportError from a half-imported module, no traceback."""
    with running_server() as url:
        pages = [browser.new_page(viewport={"width": 1200, "height": 900}) for _ in FIRST_REQUESTS]
        for page, path in zip(pages, FIRST_REQUESTS):      # each goto returns at load; the runs overlap
            page.goto(url + path, wait_until="commit")
        for page, path in zip(pages, FIRST_REQUESTS):
            page.get_by_role("textbox", name="Sentence", exact=True).wait_for(timeout=90_000)
            wait_idle(page)
            assert page.locator("[data-testid=stSidebarNav]").count() == 0, f"{path}: old pages-folder sidebar"
            assert page.locator("[data-testid=stException]").count() == 0, f"{path}: {page.inner_text('body')[:500]}"
            assert "cannot import" not in page.inner_text("body"), path
            assert page.get_by_role("button", name="Attention", exact=True).count() == 1, f"{path}: no top-bar menus"
            page.close()


def test_three_sessions_at_once_each_see_only_their_own_sentence(server, browser):
    """Three people type at the same moment; each heatmap shows that person's marker, never another's."""
    markers = ["violin", "lantern", "volcano"]      # one WordPiece token each
    contexts = [browser.new_context(viewport={"width": 1200, "height": 900}) for _ in markers]
    pages = [context.new_page() for context in contexts]
    try:
        for page in pages:
            page.goto(f"{server}/attention_head", wait_until="commit")
        for page in pages:
            page.get_by_role("textbox", name="Sentence", exact=True).wait_for(timeout=90_000)
            wait_idle(page)
        for page, marker in zip(pages, markers):       # three reruns in flight together
            box = page.get_by_role("textbox", name="Sentence", exact=True)
            box.fill(f"The {marker} stood quietly by the road")
            box.press("Control+Enter")
        for page, marker in zip(pages, markers):
            wait_for_ticks(page, marker)
            wait_idle(page)
            ticks = heatmap_ticks(page)
            others = set(markers) - {marker}
            assert marker in ticks and not others & set(ticks), (marker, ticks)
            assert page.get_by_role("textbox", name="Sentence", exact=True).input_value() == \
                f"The {marker} stood quietly by the road"
    finally:
        for context in contexts:
            context.close()
