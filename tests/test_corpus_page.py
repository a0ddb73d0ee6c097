"""The Corpus head statistics page: a corpus in, the L×H map of mean ± spread out, a head's most and
least typical sentences, each opening on One head; a second visit reads the saved result."""
from __future__ import annotations

import numpy as np
import pytest

from page_helpers import run_page, texts

PASSAGES = ["The cat sat on the mat.", "Dogs bark at night.", "Time flies like an arrow.",
            "She read the book that he wrote."]


def test_a_pasted_corpus_runs_and_shows_mean_spread_and_typical_sentences(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_EXPLORER_CORPUS_DIR", str(tmp_path))
    at = run_page("corpus_stats", corpus_stats_source="Paste text", corpus_stats_paste="\n".join(PASSAGES),
                  corpus_stats_engine="local")
    assert not at.exception
    assert "not computed yet" in texts(at.caption)
    at.button(key="corpus_stats_run").click().run()
    assert not at.exception, at.exception
    figures = at.get("plotly_chart")
    assert len(figures) == 2                                   # the map and one head's histogram
    shown = " ".join(t.value for t in at.text)
    assert all(p in shown for p in PASSAGES)                   # 4 sentences: each is among the 5 most typical
    assert list(tmp_path.glob("*.parquet"))                     # saved for the next visit

    again = run_page("corpus_stats", corpus_stats_source="Paste text", corpus_stats_paste="\n".join(PASSAGES))
    assert "saved result" in texts(again.caption) and len(again.get("plotly_chart")) == 2

    least_first = again.text[len(PASSAGES)].value              # rows: 4 most typical, then the least typical
    again.button(key="corpus_stats_least_0").click().run()
    assert not again.exception
    assert again.session_state["sentence"] == least_first      # the sentence the button stands beside
    assert again.session_state["layer"] == again.session_state["corpus_stats_layer"]


def test_a_bad_upload_gets_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_EXPLORER_CORPUS_DIR", str(tmp_path))
    at = run_page("corpus_stats", corpus_stats_source="Paste text", corpus_stats_paste="   \n  ")
    assert not at.exception and "Paste some passages" in texts(at.info)


def test_the_map_writes_mean_and_spread_in_every_cell():
    from viz.corpus import mean_spread_heatmap

    fig = mean_spread_heatmap(np.array([[0.5, 0.25]]), np.array([[0.1, 0.0]]), "on previous", "t")
    assert fig.data[0].text[0] == ["0.50<br>±0.10", "0.25<br>±0.00"]
    # the colour bar starts at 0: Plotly honours zmin only with a zmax beside it (issue 26)
    assert fig.data[0].zmin == 0.0 and fig.data[0].zmax == 0.5


def test_search_finds_your_own_context_first_in_a_corpus_that_holds_it():
    at = run_page("corpus_search", sentence=PASSAGES[2], corpus_search_source="Paste text",
                  corpus_search_paste="\n".join(PASSAGES), corpus_search_go=True, corpus_search_k=3)
    assert not at.exception, at.exception
    shown = [t.value for t in at.text]
    assert len(shown) == 3 and len(at.get("plotly_chart")) == 3     # three contexts, each with its attention
    assert shown[0].startswith("1. cosine 1.000 · token 1") and shown[0].endswith(PASSAGES[2])


@pytest.mark.slow
def test_the_page_job_runs_as_a_child_process_and_its_progress_and_result_come_back(tmp_path, monkeypatch):
    """What the page does for a Ray job, with the child told to run in-process (Ray's start-up is the
    slow test's business): the child's progress lines reach the bar, its result reaches the store."""
    from ui import corpus

    class Bar:
        seen: list = []

        def update(self, done, total):
            self.seen.append((done, total))

        def waiting(self):
            return False

    monkeypatch.setenv("ATTENTION_EXPLORER_CORPUS_DIR", str(tmp_path))
    bar = Bar()
    assert corpus._run_child("minilm", PASSAGES, bar, engine="local") == ""
    assert bar.seen[-1] == (4, 4)
    result = corpus.stored(corpus.job_key("minilm", PASSAGES))
    assert result.texts == tuple(PASSAGES) and result.shape == (6, 12)
    assert "holds no text" in corpus._run_child("minilm", [], bar, engine="local")   # a failure says why
