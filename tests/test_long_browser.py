"""A 4,096-token text in a real browser: `streamlit run app.py`, Debian's Chromium driven by Playwright,
and a tiny random Llama whose positions reach 4,096 (as tests/test_long_pages.py builds it) in the picker.

A person pastes the text in the sidebar and opens One head, then All heads, then Long context from the
top menu: each page finishes with no exception and draws its figures (the pooled overview of the whole
matrix on One head). The trace is computed once, on the first page; the others reuse it.
"""
from __future__ import annotations

import os
import time
import urllib.parse

import pytest

from bench.screenshots import SETTLED
from test_browser import tab_with_models
from test_long_pages import TEXT

pytestmark = pytest.mark.browser
PAGE_SECONDS = 120_000   # ms a page may take to settle (the first one computes the 4,096-token trace)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """One server whose picker lists the tiny long Llama (ATTENTION_EXPLORER_MODEL_DIRS), one browser tab."""
    pytest.importorskip("transformers")
    from bench.long_pages import build

    root = tmp_path_factory.mktemp("models")
    folder = build(root / "llama4k")
    with tab_with_models(root) as tab:
        tab.model = folder
        yield tab


def settle(page) -> None:
    page.wait_for_function(SETTLED, timeout=PAGE_SECONDS, polling=400)


def problems(page) -> list[str]:
    found = [t[:300] for t in page.locator("[data-testid=stException]").all_inner_texts()]
    found += [t[:300] for t in page.locator("[data-testid=stAlertContentError]").all_inner_texts()]
    return found


def open_from_menu(page, section: str, name: str) -> None:
    page.get_by_role("button", name=section, exact=True).click()     # the top bar's menu keeps the session
    page.locator(f"a[href$='/{name}']").first.click()
    page.wait_for_function(f"() => location.pathname.endsWith('/{name}')", timeout=30_000)
    settle(page)


def test_one_head_all_heads_and_long_context_at_4096_tokens(page):
    start = time.perf_counter()
    page.goto(f"{page.base}/attention_head?model={urllib.parse.quote(page.model)}&layer=1&head=2")
    box = page.get_by_role("textbox", name="Sentence", exact=True)
    box.wait_for(timeout=60_000)
    settle(page)
    box.fill(TEXT)
    box.press("Control+Enter")
    page.get_by_text("Overview of all 4096 positions").wait_for(timeout=PAGE_SECONDS)
    settle(page)
    assert not problems(page), problems(page)
    assert page.locator(".js-plotly-plot .main-svg").count() >= 1               # the pooled overview, drawn
    assert page.locator(".attention-view svg").count() == 1                     # the exact window, drawn
    assert "4096 tokens" in page.inner_text("[data-testid=stMain]")
    steps = {"One head (the trace included)": time.perf_counter() - start}

    open_from_menu(page, "Attention", "attention_grid")
    assert not problems(page), problems(page)
    page.wait_for_selector(".attention-view[data-mode=grid] canvas[data-drawn]", timeout=PAGE_SECONDS)
    assert page.locator(".attention-view .thumbs rect").count() == 2 * 4      # every head of the tiny Llama
    steps["All heads"] = time.perf_counter() - start - sum(steps.values())

    open_from_menu(page, "Attention", "long_context")
    assert not problems(page), problems(page)
    assert page.locator(".js-plotly-plot .main-svg").count() >= 4
    assert "evenly over the 4,096 tokens" in page.inner_text("[data-testid=stMain]")
    steps["Long context"] = time.perf_counter() - start - sum(steps.values())
    print("; ".join(f"{name} {seconds:.0f} s" for name, seconds in steps.items()), f"load {os.getloadavg()[0]:.1f}")
