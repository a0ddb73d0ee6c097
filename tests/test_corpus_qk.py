"""Corpus query–key space: a bounded, repeatable sample of a corpus's tokens, the same on Ray as in this
process, drawn on its page within a byte budget."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
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
def test_ray_with_two_workers_draws_the_same_picture_as_this_process(minilm):
    """The query–key job through a local Ray of 2 workers and in this process: every passage's sampled
    tokens, queries and keys agree to 1e-6 (workers are single-threaded, so the local run is too), and
    so does the projected picture (up to the sign of each PCA axis)."""
    import time

    from analysis.corpus_qk import corpus_qk_space, per_sentence_budget
    from jobs.corpus_qk import corpus_qk, qk_of_texts
    from jobs.corpus_stats import run_corpus_job
    from jobs.engine import stop_ray

    texts = PASSAGES * 8                                        # 40 passages, 5 batches of 8
    args = dict(layer=1, head=4, keep=per_sentence_budget(len(texts), 60), seed=0, skip_special=True)
    started = time.perf_counter()
    try:
        on_ray, used, note = run_corpus_job("minilm", texts, "ray", workers=2, batch_size=8, task=qk_of_texts,
                                            task_args=args)
    finally:
        stop_ray()
    print(f"Ray query–key job, 2 workers, {len(texts)} passages: {time.perf_counter() - started:.1f} s")
    assert used == "ray" and "Ray, 2 workers" in note
    local, used_here, _ = run_corpus_job(minilm, texts, "local", batch_size=8, threads=1, task=qk_of_texts,
                                         task_args=args)
    assert used_here == "local" and len(on_ray) == len(local) == len(texts)
    for far, here in zip(on_ray, local):                        # passage by passage, in the corpus's order
        assert far.tokens == here.tokens
        np.testing.assert_array_equal(far.positions, here.positions)
        assert np.abs(far.queries - here.queries).max() <= 1e-6
        assert np.abs(far.keys - here.keys).max() <= 1e-6
    picture, picture_here = corpus_qk_space(on_ray, 60), corpus_qk_space(local, 60)
    assert picture.tokens == picture_here.tokens
    assert np.abs(np.abs(picture.query_xy) - np.abs(picture_here.query_xy)).max() <= 1e-5
    drawn, _ = corpus_qk(minilm, texts, 1, 4, engine="local", max_points=60)   # the function the page calls
    assert drawn.tokens == picture_here.tokens


def test_the_command_draws_a_corpus_to_parquet_and_a_second_run_is_a_file_read(tmp_path, capsys, monkeypatch):
    """`python -m jobs corpus-qk`: the same tokens and places as the Python call, one Parquet row per drawn
    token (its passage, position, token, query and key), progress lines for the app, the stored result
    found again, and a clear refusal of a head the model does not have."""
    from jobs.__main__ import main
    from jobs.corpus_qk import corpus_qk
    from jobs.store import load_qk

    corpus = tmp_path / "c.txt"
    corpus.write_text("\n".join(PASSAGES) + "\n")
    out = tmp_path / "qk.parquet"
    args = ["corpus-qk", "--model", "minilm", "--corpus", str(corpus), "--layer", "2", "--head", "3",
            "--points", "20", "--engine", "local", "--out", str(out), "--store", str(tmp_path / "store")]
    assert main(args + ["--progress-lines"]) == 0
    printed = capsys.readouterr().out
    assert "progress 5 5" in printed.splitlines() and "5 sentences in" in printed
    expected, _ = corpus_qk("minilm", PASSAGES, 2, 3, max_points=20)
    back = load_qk(out)
    assert back.tokens == expected.tokens
    np.testing.assert_array_equal(back.position, expected.position)
    np.testing.assert_allclose(back.query_xy, expected.query_xy, atol=1e-6)
    np.testing.assert_allclose(back.key_xy, expected.key_xy, atol=1e-6)
    table = pd.read_parquet(out)
    assert list(table.columns[:3]) == ["sentence", "position", "token"] and len(table) == len(expected) <= 20
    assert table["text"].tolist() == [PASSAGES[i] for i in expected.sentence]
    assert main(args[:-2] + ["--store", str(tmp_path / "other"), "--layer", "9"]) == 2   # MiniLM has 6 layers
    assert "not in this model (6 layers × 12 heads)" in capsys.readouterr().err
    monkeypatch.setattr("jobs.__main__.corpus_qk", lambda *a, **k: pytest.fail("computed again"))
    assert main(args) == 0
    assert "already computed" in capsys.readouterr().out


def test_the_page_draws_thousands_of_points_light_and_coloured_by_token():
    texts = [f"{a} {b} sat near the {c} today." for a in ("The", "A", "One") for b in ("cat", "dog", "bird", "fox")
             for c in ("door", "tree", "wall")]                  # 36 passages
    at = run_page("corpus_qk", corpus_qk_source="Paste text", corpus_qk_paste="\n".join(texts),
                  corpus_qk_go=True, corpus_qk_colour="token", corpus_qk_points=500)
    assert not at.exception, at.exception
    said = " ".join(c.value for c in at.caption)                # its memory, said before the job started
    assert "of the server's memory while it runs" in said and "within the per-job budget of 400 MB" in said
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = charts[0].proto.spec
    assert len(spec) < 400_000                                  # every point, well under half a MB to the browser
    names = [trace["name"] for trace in json.loads(spec)["data"]]
    assert "queries: other tokens" in names and len(names) > 10   # the frequent tokens each have their own colour
