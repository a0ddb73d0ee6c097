"""Every page of the app runs under AppTest, on plain and hostile sentences, without exception."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]

from pages._sections import SECTIONS  # noqa: E402  (plain data, no Streamlit calls)

PAGES = [path for entries in SECTIONS.values() for path, *_ in entries]
# Pages whose input is not the sidebar's sentence (word fields, a training corpus, letter
# strings): they must survive every case, but owe no message about the sentence.
OWN_INPUT = {"pages/embeddings.py", "pages/train.py", "pages/train_results.py", "pages/seq2seq.py"}
HOSTILE = {
    "empty": "",
    "html": "<script>alert(1)</script> and <b>bold</b> **markdown**",
    "emoji_control": "Fruit 🍌 flies\x07 like\u200b a banana 🪰",
    "long": "The river bank was steep. " * 400,
}


def test_every_listed_page_exists():
    missing = [p for p in PAGES if not (ROOT / p).is_file()]
    assert not missing, f"pages/_sections.py lists pages that do not exist: {missing}"


def test_app_frame_runs():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert at.sidebar.text_area(key="sentence_box").value


def test_home_links_every_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    linked = {link.proto.page for link in at.main.get("page_link")}   # each page's URL path
    assert linked == {Path(p).stem for p in PAGES if p != "pages/home.py"}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("case", list(HOSTILE))
def test_page_survives_bad_input(page, case):
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.session_state["sentence"] = HOSTILE[case]
    at.run()
    assert not at.exception, f"{page} raised on {case!r}: {at.exception}"
    if page in OWN_INPUT:
        return
    if case == "empty":
        shown = [m.value for m in list(at.info) + list(at.warning) + list(at.error)]
        assert shown, f"{page} shows no message for an empty sentence"
    if case == "long":
        assert any("512" in str(w.value) or "token" in str(w.value) for w in at.warning), \
            f"{page} gives no truncation notice"
