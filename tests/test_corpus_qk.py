"""Corpus query–key space: a bounded, repeatable sample of a corpus's tokens, the same on Ray as in this
process, drawn on its page within a byte budget."""
from __future__ import annotations

import json

import numpy as np
import pytest

from page_helpers import run_page

PASSAGES = ["The cat sat on the mat.", "Dogs bark at night.", "Time flies like an arrow.",
            "She read the book that he wrote.", "The dog and the cat met at the door."]


def test_the_sample_is_bounded_spread_over_passages_and_repeatable(minilm):
    from jobs.corpus_qk import corpus_qk

    texts = PASSAGES * 4                                        # 20 passages
    space, note = corpus_qk(minilm, texts, 2, 3, max_points=40)
    assert len(space) <= 40 and space.query_xy.shape == space.key_xy.shape == (len(space), 2)
    assert len(set(space.sentence.tolist())) >= 15              # about 2 tokens from each passage, not 40 from one
    specials = {"[CLS]", "[SEP]"}
    assert not specials & set(space.tokens)
    for s, p, token in zip(space.sentence, space.position, space.tokens):
        assert minilm.trace(texts[s]).tokens[p] == token        # each point says where it came from
    again, _ = corpus_qk(minilm, texts, 2, 3, max_points=40)
    np.testing.assert_array_equal(again.query_xy, space.query_xy)
    assert note == "in this process"
    with pytest.raises(ValueError, match="max_points"):
        corpus_qk(minilm, texts, 2, 3, max_points=10**6)


@pytest.mark.slow
def test_ray_draws_the_same_picture_as_this_process(minilm):
    from jobs.corpus_qk import corpus_qk
    from jobs.engine import stop_ray

    texts = PASSAGES * 6
    try:
        on_ray, note = corpus_qk("minilm", texts, 1, 4, engine="ray", workers=2, max_points=60)
    finally:
        stop_ray()
    local, _ = corpus_qk(minilm, texts, 1, 4, engine="local", max_points=60)
    assert "Ray, 2 workers" in note
    assert on_ray.tokens == local.tokens
    np.testing.assert_array_equal(on_ray.sentence, local.sentence)
    assert np.abs(np.abs(on_ray.query_xy) - np.abs(local.query_xy)).max() < 1e-4     # PCA axes may flip sign


def test_the_page_draws_thousands_of_points_light_and_coloured_by_token():
    texts = [f"{a} {b} sat near the {c} today." for a in ("The", "A", "One") for b in ("cat", "dog", "bird", "fox")
             for c in ("door", "tree", "wall")]                  # 36 passages
    at = run_page("corpus_qk", corpus_qk_source="Paste text", corpus_qk_paste="\n".join(texts),
                  corpus_qk_go=True, corpus_qk_colour="token", corpus_qk_points=500)
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = charts[0].proto.spec
    assert len(spec) < 400_000                                  # every point, well under half a MB to the browser
    names = [trace["name"] for trace in json.loads(spec)["data"]]
    assert "queries: other tokens" in names and len(names) > 10   # the frequent tokens each have their own colour
