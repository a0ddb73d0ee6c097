"""Issue 26: Home opens on the person's sentence and one striking head, then offers three short paths
(how attention works, what heads do, teach a class) whose every step links the next."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from ui.paths import PATHS, TITLES, next_page
from ui.sections import SECTIONS

ROOT = Path(__file__).resolve().parents[1]


def test_every_step_of_every_path_is_a_page_of_the_menu():
    pages = {path for entries in SECTIONS.values() for path, *_ in entries}
    for path in PATHS:
        assert set(path.pages) <= pages and len(path.pages) >= 3
        for page, following in zip(path.pages, path.pages[1:]):
            assert next_page(path, page) == following
        assert next_page(path, path.pages[-1]) is None


def test_home_puts_the_sentence_and_a_head_before_the_page_list():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    order = [block.type if hasattr(block, "type") else "" for block in at.main]
    headers = [h.value for h in at.subheader]
    assert headers[0].startswith("One attention head reading your sentence") and "Where to start" in headers
    assert at.main.get("plotly_chart")                       # the striking figure, on the first screen
    starts = [b for b in at.button if b.key and b.key.startswith("path_start_")]
    assert len(starts) == 3
    assert order                                              # the page rendered its elements


def test_starting_a_path_opens_its_first_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.button(key="path_start_attention").click().run()
    assert not at.exception
    assert at.session_state["guide_path"] == "attention"
    assert at.title[0].value.endswith("1 · Tokenization")


def test_every_step_shows_where_the_person_is_and_links_the_next():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state["guide_path"] = "heads"
    at.switch_page("pages/attention_grid.py").run()            # step 2 of "What heads do", in the frame
    assert not at.exception
    sidebar = " ".join(str(m.value) for m in at.sidebar.markdown)
    assert "What heads do" in sidebar and "step 2 of 4" in sidebar
    links = [link.proto.label for link in at.sidebar.get("page_link")]
    assert links == [f"Next: {TITLES['pages/head_ablation.py'][0]}"]
    at.sidebar.button(key="path_leave").click().run()
    assert not at.exception and not at.sidebar.get("page_link") and "guide_path" not in at.session_state
