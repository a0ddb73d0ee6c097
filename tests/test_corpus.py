"""Corpus head statistics: the same numbers on Ray as in this process, summaries a person can trust,
corpora read with clear refusals, results kept as Parquet and found again."""
from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from analysis.corpus import NAMES, CorpusStats, combine, sentence_values
from jobs import CorpusError, ResultStore, builtin_corpus, corpus_hash, corpus_head_stats, read_corpus, result_key
from jobs import store as store_module
from jobs.__main__ import main


def hand_made(values: np.ndarray) -> CorpusStats:
    """A CorpusStats whose every statistic is `values` (sentences, layers, heads)."""
    stacked = np.repeat(values[:, None], len(NAMES), axis=1).astype(np.float32)     # (N, S, L, H)
    return CorpusStats("hand", tuple(f"s{i}" for i in range(len(values))), stacked,
                       np.full(len(values), 5, dtype=np.int32))


@pytest.mark.slow
def test_ray_with_two_workers_equals_in_process_sentence_by_sentence(minilm):
    """200 sentences through a local Ray of 2 workers, then in this process: every statistic of every
    head of every sentence agrees to 1e-6, in the corpus's order. Workers are single-threaded, so the
    in-process run uses one thread too (thread counts change float32 rounding, not the engine)."""
    import ray

    from jobs.engine import ray_session, stop_ray

    texts = builtin_corpus(200)
    try:
        on_ray = corpus_head_stats("minilm", texts, engine="ray", workers=2, batch_size=25)
        again = ray_session()                      # a second job joins the same instance
        assert on_ray.engine == "ray" and "2 workers" in on_ray.note
        assert again["local"] and ray.is_initialized()
    finally:
        stop_ray()
    local = corpus_head_stats(minilm, texts, engine="local", threads=1)
    assert on_ray.texts == local.texts == tuple(texts)
    np.testing.assert_array_equal(on_ray.n_tokens, local.n_tokens)
    assert np.abs(on_ray.values - local.values).max() <= 1e-6
    assert np.abs(on_ray.mean("previous") - local.mean("previous")).max() <= 1e-6
    # and one sentence equals what the single-sentence statistics say about it (this trace runs at
    # torch's default thread count: equal up to float32 rounding)
    np.testing.assert_allclose(local.values[7], sentence_values(minilm.trace(texts[7])), atol=1e-5)


def test_without_ray_the_job_runs_here_and_says_so(minilm, monkeypatch):
    """A host where Ray cannot start still gets its numbers, with the reason in the result."""
    monkeypatch.setitem(sys.modules, "ray", None)              # `import ray` raises ImportError
    texts = ["The cat sat on the mat.", "Time flies like an arrow."]
    seen = []
    result = corpus_head_stats(minilm, texts, engine="ray", progress=lambda done, total: seen.append((done, total)))
    assert result.engine == "local"
    assert "Ray could not start" in result.note and "same results" in result.note
    assert seen[-1] == (2, 2)
    np.testing.assert_allclose(result.values[1], sentence_values(minilm.trace(texts[1])), atol=1e-6)


def test_passages_with_nothing_to_read_are_left_out_and_counted(minilm):
    result = corpus_head_stats(minilm, ["A dog.", "\u200b", "A cat."], engine="local")
    assert result.texts == ("A dog.", "A cat.")
    assert "1 passage(s)" in result.note


def test_the_detectors_are_measured_on_every_sentence_as_the_detectors_page_does(minilm):
    """Each detector's per-sentence score is the Head detectors page's score for that sentence; a
    sentence where no token repeats has no duplicate or induction target, so both are exactly 0."""
    from analysis import detectors

    texts = ["The cat sat on the mat and the cat sat on the mat again.", "Dogs bark at night."]
    result = corpus_head_stats(minilm, texts, engine="local")
    trace = minilm.trace(texts[0])
    np.testing.assert_allclose(result.per_sentence("induction")[0], detectors.sentence_induction_scores(trace),
                               atol=1e-5)
    np.testing.assert_allclose(result.per_sentence("previous_token")[0], detectors.previous_token_scores(trace),
                               atol=1e-5)
    np.testing.assert_allclose(result.per_sentence("sink")[0], detectors.sink_scores(trace, "first"), atol=1e-5)
    assert result.per_sentence("induction")[0].max() > 0.05                 # the repeat is read by some head
    assert not result.per_sentence("induction")[1].any() and not result.per_sentence("duplicate_token")[1].any()
    assert result.mean("induction").shape == result.spread("sink").shape == (6, 12)


def test_mean_spread_and_typical_sentences():
    # head (0, 1): sentences at 0.1, 0.5, 0.52, 0.9 -> mean 0.505; 0.5 and 0.52 are typical, 0.1 and 0.9 not
    values = np.zeros((4, 2, 3), dtype=np.float32)
    values[:, 0, 1] = [0.1, 0.5, 0.52, 0.9]
    stats = hand_made(values)
    assert stats.mean("previous")[0, 1] == pytest.approx(0.505, abs=1e-6)
    assert stats.spread("previous")[0, 1] == pytest.approx(np.std([0.1, 0.5, 0.52, 0.9]), abs=1e-6)
    assert stats.spread("previous")[1, 2] == 0.0
    most, least = stats.typical("previous", 0, 1, k=2)
    assert most == [1, 2] and sorted(least) == [0, 3]
    repeated = CorpusStats("hand", ("a", "a", "b"), np.zeros((3, len(NAMES), 1, 1), dtype=np.float32),
                           np.full(3, 2, dtype=np.int32))
    assert repeated.typical("self", 0, 0, k=5) == ([0, 2], [0, 2])     # a repeated passage is listed once
    with pytest.raises(KeyError, match="unknown statistic"):
        stats.mean("nope")


def test_combine_refuses_mismatched_rows():
    with pytest.raises(ValueError, match="2 results for 3"):
        combine("m", ["a", "b", "c"], [(np.zeros((7, 1, 1)), 3)] * 2)


def test_corpora_from_text_csv_parquet_and_builtin(tmp_path):
    assert read_corpus(b"one line\n\n  two   lines  \n", "c.txt") == ["one line", "two lines"]
    assert read_corpus(b"id,text\n1,hello there\n2,general\n", "c.csv") == ["hello there", "general"]
    buffer = tmp_path / "c.parquet"
    pd.DataFrame({"id": [1, 2], "passage": ["a b", "c d"]}).to_parquet(buffer)
    assert read_corpus(buffer.read_bytes(), "c.parquet") == ["a b", "c d"]
    assert read_corpus(b"body,n\nx,1\n", "c.csv", column="body") == ["x"]
    assert read_corpus(b"a\nb\nc\n", "c.txt", limit=2) == ["a", "b"]
    assert builtin_corpus(5) == builtin_corpus(5) and len(builtin_corpus(5)) == 5


@pytest.mark.parametrize("data, name, message", [
    (b"\n \n", "empty.txt", "holds no text"),
    (b"a,b\n1,2\n", "t.csv", "which column holds the text"),
    (b"not parquet", "t.parquet", "could not be read"),
])
def test_bad_corpora_get_a_clear_message(data, name, message):
    with pytest.raises(CorpusError, match=message):
        read_corpus(data, name)


def test_results_round_trip_through_parquet_and_are_found_by_key(tmp_path):
    rng = np.random.default_rng(0)
    stats = CorpusStats("m", ("a b", "c"), rng.random((2, len(NAMES), 3, 4)).astype(np.float32),
                        np.array([4, 3], dtype=np.int32), "ray", "Ray, 2 workers")
    store = ResultStore(tmp_path)
    key = result_key("m", corpus_hash(stats.texts))
    assert store.get(key) is None
    store.put(key, stats)
    back = store.get(key)
    assert back.texts == stats.texts and back.model == "m" and back.engine == "ray"
    np.testing.assert_array_equal(back.values, stats.values)
    np.testing.assert_array_equal(back.n_tokens, stats.n_tokens)
    assert result_key("m", corpus_hash(["a b", "d"])) != key != result_key("other", corpus_hash(stats.texts))
    table = pd.read_parquet(store.path(key))
    assert len(table) == 2 * 3 * 4 and {"sentence", "layer", "head", "text", *NAMES} <= set(table.columns)


def test_the_store_stays_within_its_byte_budget(tmp_path):
    stats = hand_made(np.zeros((3, 2, 2), dtype=np.float32))
    store = ResultStore(tmp_path, max_bytes=1)
    first = store.put("a1", stats)
    second = store.put("b2", stats)
    assert second.is_file() and not first.exists()        # the newest stays, the oldest goes
    with pytest.raises(ValueError):
        store.path("../x")


def test_the_command_writes_parquet_and_a_second_run_is_a_file_read(tmp_path, capsys, monkeypatch):
    corpus = tmp_path / "c.txt"
    corpus.write_text("The cat sat on the mat.\nDogs bark at night.\n")
    out = tmp_path / "stats.parquet"
    args = ["corpus-stats", "--model", "minilm", "--corpus", str(corpus), "--out", str(out),
            "--engine", "local", "--store", str(tmp_path / "store")]
    assert main(args) == 0
    assert "2 sentences in" in capsys.readouterr().out
    back = store_module.load(out)
    assert back.texts == ("The cat sat on the mat.", "Dogs bark at night.") and back.shape == (6, 12)
    assert main(args + ["--fresh", "--progress-lines"]) == 0        # what the app reads from its child
    assert "progress 2 2" in capsys.readouterr().out.splitlines()
    monkeypatch.setattr("jobs.__main__.corpus_head_stats", lambda *a, **k: pytest.fail("computed again"))
    assert main(args) == 0
    assert "already computed" in capsys.readouterr().out
    assert main(["corpus-stats", "--corpus", str(tmp_path / "missing.txt")]) == 2
    assert "no corpus file" in capsys.readouterr().err
