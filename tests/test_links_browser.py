"""In a real browser, a page's control goes into the address bar as the person changes it (Streamlit's
frontend writes what `bind="query-params"` binds: AppTest has no address bar), goes back out when it
returns to its default, and the copied address reopens the page with the control as it was left."""
from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from tests.test_browser import browser, server, wait_for_ticks, wait_idle  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser
HIDE = "attention_head_hide"


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def hide_switch(page):
    """The One head page's "Hide [CLS] and [SEP]" toggle (its input, a checkbox)."""
    return page.locator("[data-testid=stCheckbox]").filter(has_text="Hide [CLS] and [SEP]").locator("input")


def test_a_changed_control_is_in_the_address_and_the_address_reopens_it(server, browser):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(f"{server}/attention_head?sentence=Time+flies+like+an+arrow.")
    wait_for_ticks(page, "arrow")
    wait_idle(page)
    assert HIDE not in query(page)                                 # at its default: not in the link
    hide_switch(page).click(force=True)
    page.wait_for_function(f"() => location.search.includes('{HIDE}=true')", timeout=30_000)
    wait_idle(page)
    assert query(page)[HIDE] == ["true"] and query(page)["sentence"] == ["Time flies like an arrow."]

    copy = browser.new_page(viewport={"width": 1400, "height": 1100})
    copy.goto(page.url)
    wait_for_ticks(copy, "arrow")
    wait_idle(copy)
    assert hide_switch(copy).is_checked()
    assert "[CLS]" not in copy.locator(".attention-view text.token.key").all_text_contents()
    copy.close()

    hide_switch(page).click(force=True)                            # back to its default: out of the link
    page.wait_for_function(f"() => !location.search.includes('{HIDE}=')", timeout=30_000)
    page.close()
