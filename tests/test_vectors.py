"""Word vectors: our analogies and neighbours are gensim's, unknown words get helpful errors, GloVe loads lazily."""
from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import analysis.vectors as vectors_module
from analysis.vectors import AnalogyQuestion, UnknownWordError, WordVectors, placeholder_rows, read_analogy_questions

ROOT = Path(__file__).resolve().parents[1]
RESTRICT = 30_000      # as gensim's evaluate_word_analogies is usually run: the most frequent words
TIE = 1e-6             # two cosines this close are a tie; float rounding may order them either way


@pytest.fixture(scope="module")
def glove():
    from models import load_vectors

    return load_vectors("glove-6b-50d")


@pytest.fixture(scope="module")
def gensim_glove(glove):
    """The same 400,000 x 50 matrix inside gensim (test-only reference), built from the arrays."""
    gensim_models = pytest.importorskip("gensim.models")
    kv = gensim_models.KeyedVectors(glove.dim)
    kv.add_vectors(glove.words, np.asarray(glove.matrix))
    kv.fill_norms()
    return kv


@pytest.fixture(scope="module")
def questions():
    """Google's 19,544 questions, lower-cased like GloVe's vocabulary (the file capitalises names)."""
    utils = pytest.importorskip("gensim.test.utils")
    return [AnalogyQuestion(q.section, q.a.lower(), q.b.lower(), q.c.lower(), q.expected.lower())
            for q in read_analogy_questions(utils.datapath("questions-words.txt"))]


def same_ranking(ours, theirs, reference_scores):
    """Same words in the same order, except where gensim's own cosines tie."""
    assert len(ours) == len(theirs)
    for (w1, c1), (w2, c2) in zip(ours, theirs):
        assert c1 == pytest.approx(c2, abs=1e-5)
        if w1 != w2:
            assert abs(reference_scores(w1) - reference_scores(w2)) < TIE, (w1, w2)


# -- the Python API the README shows ---------------------------------------------------------------
def test_king_minus_man_plus_woman_is_queen(glove):
    answers = glove.analogy("man", "king", "woman", k=10)
    assert answers[0][0] == "queen"
    assert answers[0][1] == pytest.approx(0.852, abs=1e-3)
    assert len(answers) == 10 and not {"man", "king", "woman"} & {w for w, _ in answers}
    assert [c for _, c in answers] == sorted((c for _, c in answers), reverse=True)


def test_vector_and_neighbours(glove):
    queen = glove.vector("queen")
    assert queen.shape == (50,) and queen.dtype == np.float32
    np.testing.assert_array_equal(queen, np.asarray(glove.matrix[glove.words.index("queen")]))
    near = [w for w, _ in glove.neighbors("paris", k=10)]
    assert "paris" not in near and {"france", "london"} <= set(near)
    # a vector as query: its own word comes first, cosine 1
    word, cos = glove.neighbors(queen, k=1)[0]
    assert word == "queen" and cos == pytest.approx(1.0, abs=1e-6)


def test_capitalised_words_find_the_lower_case_entry(glove):
    assert glove.analogy("Man", "King", "Woman", k=1)[0][0] == "queen"
    assert "Paris" in glove and "paris" in glove


def test_unknown_word_names_it_and_suggests_spellings_quickly(glove):
    start = time.perf_counter()
    with pytest.raises(KeyError) as info:
        glove.analogy("man", "king", "wommann")
    assert time.perf_counter() - start < 2.0
    assert isinstance(info.value, UnknownWordError)
    message = str(info.value)
    assert "'wommann'" in message and "woman" in info.value.suggestions
    assert "Did you mean" in message
    with pytest.raises(UnknownWordError) as info:
        glove.vector("elephnt")
    assert info.value.suggestions[0] == "elephant"
    with pytest.raises(UnknownWordError, match="not in the vocabulary"):
        glove.vector("   ")


def test_expected_answer_rank_is_honest(glove):
    rank, cos = glove.analogy_rank("man", "king", "woman", "queen")
    assert rank == 1 and cos == pytest.approx(glove.analogy("man", "king", "woman", k=1)[0][1], abs=1e-6)
    top = [w for w, _ in glove.analogy("man", "king", "woman", k=20)]
    rank, _ = glove.analogy_rank("man", "king", "woman", "princess")
    assert rank == top.index("princess") + 1 > 1
    with pytest.raises(ValueError):
        glove.analogy_rank("man", "king", "woman", "king")


def test_small_table_hidden_rows_and_zero_rows():
    matrix = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [-1, 0]], dtype=np.float32)
    vecs = WordVectors(matrix, ["a", "b", "c", "zero", "[unused]"], hidden=[4])
    assert [w for w, _ in vecs.neighbors("a", k=4)] == ["c", "b", "zero"]   # [unused] never offered
    assert vecs.neighbors("zero", k=1)[0][1] == 0.0                          # no NaN from a zero row
    with pytest.raises(ValueError):
        WordVectors(matrix, ["too", "few"])


def test_nearest_for_many_vectors_at_once(glove):
    """The batched search (one product for n vectors) answers as `neighbors` does one vector at a time."""
    queries = np.stack([glove.vector(w) for w in ("king", "paris", "walked")])       # (3, 50)
    rows, cosines = glove.nearest_rows(queries, k=5)
    assert rows.shape == cosines.shape == (3, 5)
    for query, answers in zip(queries, glove.nearest_words(queries, k=5)):
        one_at_a_time = glove.neighbors(query, k=5)
        assert [w for w, _ in answers] == [w for w, _ in one_at_a_time]
        assert [c for _, c in answers] == pytest.approx([c for _, c in one_at_a_time], abs=1e-6)
    # hidden rows are never answers, and k never reaches past the rows that may answer
    matrix = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], dtype=np.float32)
    vecs = WordVectors(matrix, ["a", "b", "c", "[PAD]"], hidden=placeholder_rows(["a", "b", "c", "[PAD]"]))
    assert [[w for w, _ in row] for row in vecs.nearest_words(np.array([[-1.0, 0.0], [1.0, 0.1]]), k=9)] == \
        [["b", "c", "a"], ["a", "c", "b"]]
    assert placeholder_rows(["[PAD]", "play", "##ing", "[unused17]", "[", "[a b]"]) == [0, 3]


# -- parity with gensim ----------------------------------------------------------------------------
def test_neighbours_equal_gensim(glove, gensim_glove):
    for word in ("paris", "frog", "computer", "walked"):
        scores = gensim_glove.most_similar(positive=[word], topn=None)
        same_ranking(glove.neighbors(word, k=10), gensim_glove.most_similar(positive=[word], topn=10),
                     lambda w: scores[gensim_glove.key_to_index[w]])


def test_full_vocabulary_top_ten_equal_gensim_on_a_sample(glove, gensim_glove, questions):
    known = [q for q in questions if all(w in glove.index for w in (q.a, q.b, q.c))]
    sample = random.Random(4).sample(known, 150)
    for q in sample:
        theirs = gensim_glove.most_similar(positive=[q.b, q.c], negative=[q.a], topn=10)
        scores = gensim_glove.most_similar(positive=[q.b, q.c], negative=[q.a], topn=None)
        same_ranking(glove.analogy(q.a, q.b, q.c, k=10), theirs,
                     lambda w: scores[gensim_glove.key_to_index[w]])


@pytest.mark.parametrize("shard", range(4))
def test_every_google_question_top_answer_equals_gensim(glove, gensim_glove, questions, shard):
    """Every question whose words are among the 30,000 most frequent: gensim's top answer is ours.

    Split into four shards so pytest -n spreads gensim's 15,000 calls over the workers.
    """
    mine = questions[shard::4]
    result = glove.evaluate_analogies(mine, restrict_vocab=RESTRICT)
    ok = set(glove.words[:RESTRICT])
    kept = [q for q in mine if {q.a, q.b, q.c, q.expected} <= ok]
    assert result.total == len(kept) > 3_000 and result.skipped == len(mine) - len(kept)
    correct = 0
    for q, ours in zip(kept, result.predictions):
        theirs = gensim_glove.most_similar(positive=[q.b, q.c], negative=[q.a], topn=1,
                                           restrict_vocab=RESTRICT)[0][0]
        if ours != theirs:   # only a float-rounding tie may differ
            scores = gensim_glove.most_similar(positive=[q.b, q.c], negative=[q.a], topn=None,
                                               restrict_vocab=RESTRICT)
            assert abs(scores[glove.index[ours]] - scores[glove.index[theirs]]) < TIE, (q, ours, theirs)
        correct += theirs == q.expected
    assert result.correct == correct


def test_evaluation_counts_like_gensim_on_a_small_file(glove, gensim_glove, tmp_path):
    lines = [": capitals", "athens greece paris france", "athens greece berlin germany",
             "athens greece qqzzxx nowhere", ": tenses", "walk walked swim swam", "go went see saw"]
    path = tmp_path / "q.txt"
    path.write_text("\n".join(lines) + "\n")
    score, sections = gensim_glove.evaluate_word_analogies(str(path), restrict_vocab=RESTRICT)
    ours = glove.evaluate_analogies(read_analogy_questions(path), restrict_vocab=RESTRICT)
    assert ours.accuracy == pytest.approx(score)
    assert ours.skipped == 1 and ours.total == 4
    assert ours.sections == {s["section"]: (len(s["correct"]), len(s["correct"]) + len(s["incorrect"]))
                             for s in sections[:-1]}
    assert read_analogy_questions(path)[0] == AnalogyQuestion("capitals", "athens", "greece", "paris", "france")


# -- the model's own table ------------------------------------------------------------------------
def test_minilm_input_table_is_the_model_embedding(minilm):
    from models import load_vectors

    vecs = load_vectors("minilm-input", model=minilm)
    assert len(vecs) == 30_522 and vecs.dim == 384
    np.testing.assert_array_equal(vecs.vector("king"), minilm.embedding_table()[vecs.index["king"]])
    answers = vecs.analogy("man", "king", "woman", k=5)
    assert answers[0][0] == "queen"
    assert not any(w.startswith("[unused") for w, _ in vecs.neighbors("[unused5]", k=20))
    assert any(w.startswith("##") for w, _ in vecs.neighbors("##ing", k=5))


def test_unknown_space_name():
    from models import load_vectors

    with pytest.raises(ValueError, match="glove-6b-50d"):
        load_vectors("word2vec")


def test_glove_loads_fast_lazily_and_not_at_app_start():
    code = (
        "import time, models\n"
        "import pyarrow.parquet\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "before, t = rss(), time.perf_counter()\n"
        "v = models.load_vectors('glove-6b-50d')\n"
        "print(time.perf_counter() - t, rss() - before, v._unit is None and v._scoring is None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    _seconds, extra_mb, lazy = out.stdout.split()      # the time is bench/analogy_vs_gensim.py's to measure
    assert float(extra_mb) < 200 and lazy == "True"
    # ui/state.py and app.py never touch GloVe; only the embedding page does
    for path in (ROOT / "app.py", ROOT / "ui" / "state.py"):
        assert "load_vectors" not in path.read_text()


# -- the int8 shortcut answers exactly what the full float32 scan answers ---------------------------
def full_scan(vecs, query, k, exclude=(), restrict_vocab=None):
    """The reference: every row's exact float32 cosine, blocked rows out, best first, ties by row."""
    n = len(vecs) if restrict_vocab is None else min(restrict_vocab, len(vecs))
    q = torch.from_numpy(vectors_module._unit_query(query))
    scores = vecs._exact_all(n, q).numpy().copy()
    scores[[i for i in exclude if i < n]] = -np.inf
    scores[vecs._hidden[vecs._hidden < n]] = -np.inf
    order = np.lexsort((np.arange(n), -scores))
    order = order[np.isfinite(scores[order])][:k]
    return order, scores[order]


def assert_same_as_full_scan(vecs, query, k, exclude=(), restrict_vocab=None):
    rows, cosines = vecs._search(vectors_module._unit_query(query), k, exclude, restrict_vocab)
    ref_rows, ref_cosines = full_scan(vecs, query, k, exclude, restrict_vocab)
    np.testing.assert_array_equal(rows, ref_rows)
    np.testing.assert_array_equal(cosines, ref_cosines)      # bit for bit


def test_exact_scores_do_not_depend_on_the_batch(glove):
    """A row's unit vector and cosine are the same bits alone, in a few rows or in the whole table."""
    rows = np.array([0, 7, 1000, 123_456, 399_999])
    q = torch.from_numpy(glove.analogy_query("man", "king", "woman"))
    full = glove._exact_all(len(glove), q)
    np.testing.assert_array_equal(glove._exact(rows, q).numpy(), full.numpy()[rows])
    np.testing.assert_array_equal(glove._exact(rows[2:3], q).numpy(), full.numpy()[rows[2:3]])
    np.testing.assert_array_equal(glove.unit_rows_of(rows), glove.unit[rows])
    # and they are float32 cosines: within a float32 rounding of the plain float32 product
    np.testing.assert_allclose(full.numpy(), (glove.unit_table @ q).numpy(), rtol=0, atol=3e-7)


def test_int8_error_bound_holds_for_every_row(glove):
    scoring = glove._scorer()
    assert scoring.table.dtype == torch.int8 and scoring.table.shape == (400_000, 50)
    # rounding to whole steps of max|u|/127 moves each of 50 coordinates by at most half a step
    assert 0 < scoring.row_error < 0.5 * np.sqrt(50) / 127
    rng = np.random.default_rng(1)
    queries = [glove.analogy_query("man", "king", "woman"), glove.unit_rows_of([5])[0],
               np.eye(50, dtype=np.float32)[3]] + [rng.standard_normal(50) for _ in range(12)]
    worst = 0.0
    for query in queries:
        q = torch.from_numpy(vectors_module._unit_query(query))
        scores, eps_steps = scoring.scores(q, len(glove))             # int32 scores, bound in steps
        unit = scoring.unit(q)                                         # the cosine of one step
        eps = eps_steps * unit
        error = float((scores.double() * unit - glove._exact_all(len(glove), q).double()).abs().max())
        assert error <= eps, (error, eps)
        assert eps < 0.04                                   # small enough to leave few candidates
        worst = max(worst, error / eps)
    assert worst > 0.05                                     # the bound is not absurdly loose either


def test_rerank_equals_full_float32_scan_on_glove(glove):
    rng = np.random.default_rng(2)
    for i in range(24):
        if i % 2:
            a, b, c = (int(x) for x in rng.integers(0, 50_000, size=3))
            query = glove.analogy_query(glove.words[a], glove.words[b], glove.words[c])
            exclude = [a, b, c]
        else:
            query = rng.standard_normal(50).astype(np.float32)
            exclude = [int(x) for x in rng.integers(0, 400_000, size=5)]
        k = int(rng.choice([1, 3, 10, 25, 100]))
        assert_same_as_full_scan(glove, query, k, exclude)
        assert_same_as_full_scan(glove, query, k, exclude, restrict_vocab=int(rng.integers(30_000, 400_000)))
    # the nearest row itself excluded, and everything the analogy API builds on
    assert_same_as_full_scan(glove, glove.vector("queen"), 10, [glove.index["queen"]])


def tie_table(seed=3, n=60_000, d=16):
    """Rows with exact duplicates, int8-identical near-duplicates, zero rows and hidden winners."""
    rng = np.random.default_rng(seed)
    matrix = rng.standard_normal((n, d)).astype(np.float32)
    base = matrix[:20].copy()
    for j in range(20):                                   # 20 families of 40 near-copies each
        rows = rng.choice(n, size=40, replace=False)
        matrix[rows] = base[j] * rng.uniform(0.5, 2.0, size=(40, 1)).astype(np.float32)   # same direction
        matrix[rows[::2]] += rng.standard_normal((20, d)).astype(np.float32) * 1e-6        # near ties
        matrix[rows[1::4]] = matrix[rows[0]]                                             # exact ties
    matrix[rng.choice(n, size=50, replace=False)] = 0.0
    hidden = [int(i) for i in rng.choice(n, size=300, replace=False)]
    return WordVectors(matrix, [f"w{i}" for i in range(n)], hidden=hidden, fold_case=False), base


def test_rerank_equals_full_scan_with_ties_hidden_and_excluded_rows():
    vecs, base = tie_table()
    rng = np.random.default_rng(4)
    for j in range(20):
        family = base[j] + rng.standard_normal(16).astype(np.float32) * float(rng.choice([0, 1e-7, 1e-3]))
        exclude = [int(x) for x in rng.integers(0, len(vecs), size=int(rng.integers(0, 30)))]
        for k in (1, 5, 17, 60):
            assert_same_as_full_scan(vecs, family, k, exclude)
    # a hidden row's own direction: its copies may answer, it may not
    hidden_row = int(vecs._hidden[0])
    assert_same_as_full_scan(vecs, vecs.matrix[hidden_row], 10)
    assert hidden_row not in vecs._search(vectors_module._unit_query(vecs.matrix[hidden_row]), 10)[0]


def test_too_many_candidates_falls_back_to_the_full_scan(monkeypatch):
    """Every row the same direction: all are candidates, the exact scan decides (row order)."""
    matrix = np.tile(np.arange(1, 9, dtype=np.float32), (30_000, 1))
    matrix *= np.linspace(1, 2, 30_000, dtype=np.float32)[:, None]
    vecs = WordVectors(matrix, [f"w{i}" for i in range(30_000)], hidden=[0, 5])
    calls = []
    monkeypatch.setattr(vecs, "_exact_all", lambda n, q, f=vecs._exact_all: calls.append(n) or f(n, q))
    assert_same_as_full_scan(vecs, matrix[3], 10, [1])
    assert calls       # the fallback ran


def test_analogy_rank_counts_like_the_full_scan(glove):
    q = torch.from_numpy(glove.analogy_query("man", "king", "woman"))
    scores = glove._exact_all(len(glove), q).numpy().copy()
    scores[[glove.index[w] for w in ("man", "king", "woman")]] = -np.inf
    for word in ("queen", "princess", "monarch", "banana"):
        rank, cos = glove.analogy_rank("man", "king", "woman", word)
        assert cos == scores[glove.index[word]]
        assert rank == int((scores > cos).sum()) + 1


def test_first_queries_from_many_threads_build_the_int8_table_once(monkeypatch):
    vecs, _ = tie_table(seed=5, n=30_000)
    builds = []
    real_build = vectors_module._Scoring.build
    monkeypatch.setattr(vectors_module._Scoring, "build",
                        staticmethod(lambda m: builds.append(1) or time.sleep(0.05) or real_build(m)))
    answers, barrier = [None] * 6, threading.Barrier(6)

    def ask(i):
        barrier.wait()
        answers[i] = vecs.neighbors("w7", k=5)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and all(a == answers[0] for a in answers) and len(answers[0]) == 5


def test_first_query_memory_stays_small():
    """After load and one analogy: the int8 copy (20 MB) and no float32 copy of the table."""
    code = (
        "import models\n"
        "def rss():\n"
        "    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20\n"
        "v = models.load_vectors('glove-6b-50d')\n"
        "before = rss()\n"
        "v.analogy('man', 'king', 'woman')\n"
        "print(rss() - before, v._unit is None)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    extra_mb, no_float32 = out.stdout.split()
    assert float(extra_mb) < 75 and no_float32 == "True"     # a float32 copy alone would be 80 MB
