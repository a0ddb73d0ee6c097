"""The corpus pages open on a result: the built-in corpus with MiniLM or the Grammar LM is read by itself on a
first visit, once for the whole server (a second session computes nothing), and says where its numbers come
from in sentences computed from them. The person's own corpus still waits for their Run; bad input still gets
a message, not a traceback."""
from __future__ import annotations

import numpy as np
import pytest

from page_helpers import charts, run_page, texts

PAGES = ("corpus_stats", "corpus_search", "corpus_qk")
SMALL = 50      # the built-in corpus's size these tests open on (the slider's smallest): the same code, less wait


@pytest.fixture
def fresh_server(tmp_path, monkeypatch):
    """A server that has computed nothing yet: an empty result store and shared cache, and a small opening
    corpus; counts each corpus job the pages start."""
    import jobs.corpus_qk
    import jobs.corpus_search
    import ui.corpus
    from ui.state import shared_cache

    monkeypatch.setenv("ATTENTION_EXPLORER_CORPUS_DIR", str(tmp_path))
    monkeypatch.setattr(ui.corpus, "OPEN_SENTENCES", SMALL)
    shared_cache().clear()
    calls: dict[str, int] = {}

    def counted(module, name):
        real = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls[name] = calls.get(name, 0) + 1
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)
    counted(ui.corpus, "corpus_head_stats")
    counted(jobs.corpus_search, "corpus_layer_indexes")
    counted(jobs.corpus_qk, "corpus_qk")
    yield calls
    shared_cache().clear()


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_each_page_opens_on_a_figure_without_a_click_and_computes_it_once_for_two_sessions(page, fresh_server):
    first = run_page(page)
    assert not first.exception, first.exception
    assert charts(first) >= 1                                   # a figure at once: nothing to press
    shown = texts(first.caption).lower()
    assert f"the built-in corpus ({SMALL} sentences" in shown and "once for this server" in shown
    assert not [b for b in first.button if b.key and b.key.endswith("_run")]    # no Run to press first
    assert sum(fresh_server.values()) == 1                      # one corpus job
    if page == "corpus_search":                                 # contexts, each from a different passage
        found = [t.value.split(" in: ", 1)[1] for t in first.text]
        assert len(found) == 5 and len(set(found)) == 5

    second = run_page(page)                                     # another person, another session
    assert not second.exception and charts(second) == charts(first)
    assert sum(fresh_server.values()) == 1                      # read from the shared cache, not computed again
    if page == "corpus_stats":                                  # a restarted server: read from the result store
        from ui.state import shared_cache

        shared_cache().clear()
        third = run_page(page)
        assert not third.exception and charts(third) == charts(first) and sum(fresh_server.values()) == 1


@pytest.mark.slow
def test_another_head_of_the_same_layer_searches_without_reading_the_corpus_again(fresh_server):
    """Reading the corpus is the search's cost: one job keeps every head of the layer, so picking a
    neighbouring head (or one in another session) shows its contexts at once."""
    first = run_page("corpus_search")
    assert not first.exception and sum(fresh_server.values()) == 1
    head = next(s for s in first.slider if s.label == "Head")
    other = int(head.value + 1) % int(head.max + 1)
    second = head.set_value(other).run()
    assert not second.exception and charts(second) >= 1
    assert f"head {other}:" in texts(second.caption)
    assert sum(fresh_server.values()) == 1                      # no second job: the layer's index had it


@pytest.mark.slow
def test_the_statistics_headline_is_the_numbers_of_the_map(fresh_server):
    from analysis.corpus import strongest
    from jobs import builtin_corpus
    from ui.corpus import job_key, stored

    at = run_page("corpus_stats")
    result = stored(job_key("minilm", builtin_corpus(SMALL)))          # what the first visit saved to disk
    top = strongest(result, "previous")
    headline = texts(at.caption)
    assert (f"Layer {top.layer}, head {top.head}** puts **{top.mean:.0%}** of its attention on the token just "
            f"before on average across {SMALL} sentences") in headline
    assert result.note == "in this process" and "measured once for this server" in headline


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES)
def test_the_shipped_grammar_lm_opens_on_its_result_too(page, fresh_server):
    at = run_page(page, model="grammar-lm")
    assert not at.exception, at.exception
    assert charts(at) >= 1 and sum(fresh_server.values()) == 1
    if page == "corpus_stats":
        assert "with **grammar-lm**" in texts(at.caption)
    if page == "corpus_search":               # its BPE starts the sentence with a bare "▁": the search starts on a word
        token = next(box for box in at.selectbox if box.label == "Your token")
        assert any(c.isalnum() for c in token.format_func(token.value))


def test_your_own_corpus_still_waits_for_run(fresh_server):
    pasted = "The cat sat on the mat.\nDogs bark at night."
    stats = run_page("corpus_stats", corpus_stats_source="Paste text", corpus_stats_paste=pasted)
    assert not stats.exception and charts(stats) == 0 and "not computed yet" in texts(stats.caption)
    assert stats.button(key="corpus_stats_run").label.startswith("Run on 2 passages")
    search = run_page("corpus_search", corpus_search_source="Paste text", corpus_search_paste=pasted)
    assert not search.exception and charts(search) == 0
    assert search.toggle(key="corpus_search_go").label == "Search 2 passages"
    assert not fresh_server                                     # nothing computed for a corpus nobody ran


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_corpus_gets_a_message(page, fresh_server):
    at = run_page(page, **{f"{page}_source": "Paste text", f"{page}_paste": "  \n \n"})
    assert not at.exception and "Paste some passages" in texts(at.info) and charts(at) == 0


@pytest.mark.parametrize("page", PAGES)
def test_a_huge_upload_gets_a_message(page, fresh_server, monkeypatch):
    """A file over 1 MB (Streamlit's own limit is the app's too; this is the page's second guard)."""
    import streamlit as st

    class Huge:
        name, size = "big.txt", 5_000_000

        def getvalue(self):
            raise AssertionError("a file over the limit is never read")
    monkeypatch.setattr(st, "file_uploader", lambda *args, **kwargs: Huge())
    at = run_page(page, **{f"{page}_source": "Upload a file"})
    assert not at.exception and "over 1 MB" in texts(at.error) and charts(at) == 0
    assert not fresh_server


def test_only_the_built_in_corpus_with_a_shipped_model_opens_by_itself():
    from jobs import builtin_corpus
    from ui.corpus import OPEN_SENTENCES, opens_by_itself

    assert opens_by_itself("minilm", builtin_corpus(OPEN_SENTENCES))
    assert opens_by_itself("grammar-lm", builtin_corpus(50))
    assert not opens_by_itself("minilm", builtin_corpus(OPEN_SENTENCES + 50))    # more: the person's Run
    assert not opens_by_itself("gpt2", builtin_corpus(50))                      # another model: the person's Run
    assert not opens_by_itself("minilm", ["The cat sat on the mat."])
    assert not opens_by_itself("minilm", [])
    assert opens_by_itself("minilm", list(dict.fromkeys(builtin_corpus(OPEN_SENTENCES))))   # each passage once


def test_a_share_of_attention_is_drawn_on_its_whole_axis():
    """A head at 99.92–99.99 % on every sentence is one bar at 100 %, not a histogram that looks spread."""
    from viz.corpus import head_distribution

    fig = head_distribution(np.linspace(0.9992, 0.9999, 50), "on previous", share=True)
    assert list(fig.layout.xaxis.range) == [0, 1] and fig.data[0].xbins.size == pytest.approx(1 / 40)


def test_captions_say_what_the_numbers_say():
    from analysis.corpus import NAMES, CorpusStats
    from ui.corpus import finding, one_head_finding

    values = np.zeros((4, len(NAMES), 2, 3), dtype=np.float32)          # (sentences, statistics, layers, heads)
    values[:, NAMES.index("cls"), 1, 2] = [0.6, 0.7, 0.6, 0.62]          # layer 1, head 2: 63 % on [CLS]
    values[:, NAMES.index("cls"), 0, 0] = [0.55, 0.5, 0.6, 0.1]
    values[:, NAMES.index("entropy")] = 1.0
    values[:, NAMES.index("entropy"), 0, 1] = 2.5
    stats = CorpusStats("m", ("a", "b", "c", "d"), values, np.full(4, 5, dtype=np.int32))
    text = finding(stats, "cls")
    assert text.startswith("**Layer 1, head 2** puts **63%** of its attention on [CLS] on average across 4 "
                           "sentences (± 4%), the most of the 6 heads")
    assert "it is the only head that puts more than half there" in text          # layer 0, head 0: 44 %
    assert "spreads its attention the widest: **2.50 bits**" in finding(stats, "entropy")
    assert one_head_finding(stats, "cls", 0, 0).startswith("On 2 of 4 sentences, layer 0, head 0 puts more than half")


def test_the_tightest_token_is_the_one_whose_queries_gather():
    from analysis.corpus_qk import CorpusQK

    rng = np.random.default_rng(0)
    spread = rng.normal(size=(40, 2)).astype(np.float32) * 5              # "cat": all over the picture
    gathered = (np.array([[3.0, 3.0]]) + rng.normal(size=(10, 2)) * 0.1).astype(np.float32)   # "the": one place
    xy = np.concatenate([spread, gathered])
    tokens = ("cat",) * 40 + ("the",) * 10
    space = CorpusQK(xy, xy, np.zeros(50, np.int32), np.zeros(50, np.int32), tokens, np.array([0.5, 0.2]), 1.0)
    token, count, ratio = space.tightest()
    assert (token, count) == ("the", 10) and ratio < 0.1
