"""Defaults a newcomer meets first show something (issue 26): each page opens on its most telling case."""
from __future__ import annotations

import json

import numpy as np

from page_helpers import run_page, spec_array


def figures(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_sentence_meaning_opens_on_the_closest_pair_numbered_as_the_text_box():
    at = run_page("sentence_meaning", "I sat on the bank of the river.")
    assert not at.exception
    cosines_figure = figures(at)[0]
    cosines = spec_array(cosines_figure["data"][0]["z"]).astype(float)            # (6, 6)
    np.fill_diagonal(cosines, -np.inf)
    a, b = at.selectbox(key="sentences_a").value, at.selectbox(key="sentences_b").value
    assert cosines[a, b] == cosines.max() > 0.3           # the most alike pair, not the first two
    # The text box's first line is 1 in the matrix and the picker; the sidebar's sentence is 0.
    first_line = at.text_area(key="sentences_list").value.splitlines()[0]
    labels = at.selectbox(key="sentences_a").options
    assert labels[0].startswith("0. I sat on the bank") and labels[1] == f"1. {first_line}"
