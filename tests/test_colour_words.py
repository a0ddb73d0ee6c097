"""Issue 26: with colour-blind-safe colours, zero is dark and high weight light (cividis), and
differences are blue–orange; captions that named colours ("darker = more weight", "a dark first
column", "red raises f") described a figure the person was not looking at. Every caption that
names a colour follows the active palette."""
from __future__ import annotations

import re

import pytest

from page_helpers import run_page

SENTENCE = "The quick brown fox jumps over the lazy dog."
WORDS_OF_THE_USUAL_PALETTE = re.compile(r"\b(darker|dark|red)\b", re.IGNORECASE)
PAGES = ["home", "attention_grid", "attention_compare", "attribution", "head_ablation"]


def shown_text(at) -> str:
    parts = [str(e.value) for kind in ("markdown", "caption", "info", "subheader", "title") for e in at.get(kind)]
    for chart in at.get("plotly_chart"):
        parts.append(chart.proto.spec)          # figure titles name colours too
    return " ".join(parts)


@pytest.mark.parametrize("page", PAGES)
def test_captions_follow_the_colour_blind_palette(page):
    at = run_page(page, SENTENCE, colour_blind=True)
    assert not at.exception, at.exception
    found = WORDS_OF_THE_USUAL_PALETTE.findall(shown_text(at))
    assert not found, f"{page} names the usual palette's colours in colour-blind mode: {found}"


def test_usual_palette_keeps_its_words():
    at = run_page("home", SENTENCE)
    assert "darker = more" in shown_text(at)
    at = run_page("home", SENTENCE, colour_blind=True)
    assert "brighter = more" in shown_text(at)
