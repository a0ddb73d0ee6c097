"""Word vectors: a (n, d) table with a word per row, neighbours and analogies by cosine.

The one vector table of the app. GloVe (models/vectors.py `load_glove`) and a loaded
transformer's input embedding table (`vectors_from_model`) are both a `WordVectors`:
the embedding page asks it for analogies and a word's neighbours, the context pages for
the rows nearest to every layer's hidden state at once (`nearest_rows`, `nearest_words`:
one matrix product for all the vectors). Rows listed as `hidden` (a BERT vocabulary's
[PAD] and [unused…] slots, `placeholder_rows`) are never an answer.

`analogy(a, b, c)` answers "a is to b as c is to ?" with 3CosAdd (Mikolov et al. 2013):
the words whose unit vectors are closest in cosine to  unit(b) + unit(c) - unit(a),
leaving out the three input words. The answers and their cosines are gensim's
`most_similar(positive=[b, c], negative=[a])`: gensim averages the weighted unit vectors
and normalises that mean before the dot product, which changes no ranking but does
change the numbers, so we report cosines against the normalised mean too.

One query (`neighbors`, `analogy`, `analogy_rank`) reads every row, so its cost is the
bytes read: it scores an int8 copy of the unit rows (a quarter of float32's bytes), keeps
every row that could still be in the top k given a proven bound on the int8 error,
and re-ranks those few rows in float32 from the original table, normalised on the fly.
The answers and cosines are those of the exact float32 scan (ties: the lower row first);
see `_Scoring` for the bound. The int8 copy is made on first use, so opening 400,000
GloVe vectors memory-mapped costs nothing until asked.
"""
from __future__ import annotations

import difflib
import mmap
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

SUGGEST_POOL = 100_000   # suggestions come from the most frequent words (tables are frequency-ordered)
NORMALISE_CHUNK = 8_192   # rows normalised at a time: temporaries stay in cache, no full-size one
FAST_MIN_ROWS = 20_000    # smaller tables are scanned in float32 directly
BLOCK = 64                # rows per block when looking for the k-th best approximate score
MAX_CANDIDATES = 20_000   # more rows within the error margin than this: exact float32 scan instead
FLOAT32_UNIT = 2.0 ** -24


def _row_sums(terms: np.ndarray) -> np.ndarray:
    """Sum along the last axis in one fixed order (left to right), in the dtype of `terms`.

    numpy's own reductions pick their order by array size and layout, so the same row could
    get a different last bit in a batch of 100 than in one of 65,536; a fixed order makes
    every row's result its own, whichever rows it is computed with."""
    columns = np.ascontiguousarray(np.moveaxis(terms, -1, 0))          # (d, ...)
    total = np.zeros(columns.shape[1:], dtype=terms.dtype)
    for column in columns:
        total += column
    return total


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), float32; each row's result depends on it alone.

    float32 throughout, squares summed left to right: the same bits as numpy's float32 norm of
    a large table gave before (checked on all of GloVe), whatever the batch."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.sqrt(_row_sums(x * x))[..., None]
    return x / np.where(norms == 0, np.float32(1.0), norms)


def exact_cosines(unit: np.ndarray, query: np.ndarray) -> np.ndarray:
    """unit (m, d) float32 rows . query (d,) float32, summed in float64 in a fixed order, then
    rounded to float32: the same number for a row whichever rows it is scored with."""
    return _row_sums(unit.astype(np.float64) * np.asarray(query, dtype=np.float64)).astype(np.float32)


def placeholder_rows(vocabulary: Sequence[str]) -> list[int]:
    """Placeholder entries of a BERT vocabulary: [PAD], [unused…] and other [BRACKETED] rows."""
    return [i for i, token in enumerate(vocabulary) if re.fullmatch(r"\[[A-Za-z0-9_]+\]", token)]


class UnknownWordError(KeyError):
    """A word that is not in the vocabulary; the message names it and suggests close spellings."""

    def __init__(self, word: str, suggestions: Sequence[str] = (), space: str = ""):
        super().__init__(word)
        self.word = word
        self.suggestions = list(suggestions)
        self.space = space

    def __str__(self) -> str:   # KeyError would print repr(message) with extra quotes
        where = f" of {self.space}" if self.space else ""
        text = f"{self.word!r} is not in the vocabulary{where}."
        if self.suggestions:
            text += " Did you mean: " + ", ".join(self.suggestions) + "?"
        return text


@dataclass(frozen=True)
class AnalogyQuestion:
    section: str
    a: str
    b: str
    c: str
    expected: str


@dataclass(frozen=True)
class AnalogyEvaluation:
    """Accuracy on an analogy set, counted as gensim's `evaluate_word_analogies` counts it."""
    correct: int
    total: int                        # questions with all four words in the (restricted) vocabulary
    skipped: int                      # questions with a word outside it
    sections: dict = field(default_factory=dict)   # section -> (correct, total)
    predictions: tuple = ()           # predicted word per evaluated question, in file order

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


def read_analogy_questions(path: str | Path) -> list[AnalogyQuestion]:
    """The word2vec `questions-words.txt` format: ': section' lines, then 'a b c expected' lines."""
    questions, section = [], ""
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith(": "):
            section = line[2:].strip()
            continue
        parts = line.split()
        if len(parts) == 4:
            questions.append(AnalogyQuestion(section, *parts))
    return questions


class WordVectors:
    """A table of word vectors (rows in frequency order, as GloVe and gensim keep them).

    matrix: (n, d) array, may be a read-only memory map; words: the word of each row.
    hidden: rows never offered as answers or neighbours (e.g. BERT's [unused] slots).
    fold_case: look up "Paris" as "paris" when only the lower-case form exists.
    """

    def __init__(self, matrix: np.ndarray, words: Sequence[str], name: str = "",
                 hidden: Iterable[int] = (), fold_case: bool = True):
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise ValueError(f"need one row per word: matrix {matrix.shape}, {len(words)} words")
        self.matrix = matrix
        self.words = list(words)
        self.name = name
        self.fold_case = fold_case
        # Built back to front so a repeated word keeps its first (most frequent) row, as in gensim.
        self.index = dict(zip(reversed(self.words), range(len(self.words) - 1, -1, -1)))
        self._hidden = np.asarray(sorted(set(int(i) for i in hidden)), dtype=np.int64)
        self._unit: torch.Tensor | None = None
        self._scoring: _Scoring | None = None
        self._by_initial: dict[str, list[str]] | None = None
        self._lock = threading.Lock()     # one cached table serves every session and thread

    # -- looking words up -------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: str) -> bool:
        return self._find(word) is not None

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def _find(self, word: str) -> int | None:
        i = self.index.get(word)
        if i is None and self.fold_case:
            i = self.index.get(word.lower())
        return i

    def row(self, word: str) -> int:
        """The row of `word`; UnknownWordError (a KeyError) with suggestions if it has none."""
        if not isinstance(word, str) or not word.strip():
            raise UnknownWordError(str(word), space=self.name)
        i = self._find(word)
        if i is None:
            raise UnknownWordError(word, self.suggest(word), space=self.name)
        return i

    def suggest(self, word: str, n: int = 5) -> list[str]:
        """Close spellings among the frequent words with the same first letter and a similar length."""
        if self._by_initial is None:
            groups: dict[str, list[str]] = {}
            for w in self.words[:SUGGEST_POOL]:
                groups.setdefault(w[:1].lower(), []).append(w)
            self._by_initial = groups
        query = word.lower()
        pool = [w for w in self._by_initial.get(query[:1], []) if abs(len(w) - len(query)) <= 2]
        return difflib.get_close_matches(query, pool, n=n, cutoff=0.7)

    def vector(self, word: str) -> np.ndarray:
        """The word's vector as stored (a copy, float32)."""
        return np.array(self.matrix[self.row(word)], dtype=np.float32)

    @property
    def unit_table(self) -> torch.Tensor:
        """(n, d) float32 rows of length 1 (zero rows stay zero); made once, on first use.

        Only the batched `nearest_rows` keeps it; single queries score the int8 copy."""
        if self._unit is None:
            with self._lock:
                if self._unit is None:
                    self._unit = torch.from_numpy(_unit_rows_chunked(self.matrix))
        return self._unit

    @property
    def unit(self) -> np.ndarray:
        """The unit rows as a read-only numpy view (no copy)."""
        view = self.unit_table.numpy().view()
        view.flags.writeable = False
        return view

    def unit_rows_of(self, rows) -> np.ndarray:
        """Unit rows of the given row numbers, normalised on the fly (the same float32 numbers as `unit`)."""
        return unit_rows(np.asarray(self.matrix[np.asarray(rows, dtype=np.int64)]))

    def unit_vectors(self, words: Sequence[str]) -> np.ndarray:
        return self.unit_rows_of([self.row(w) for w in words])

    def _scorer(self) -> "_Scoring":
        if self._scoring is None:
            with self._lock:
                if self._scoring is None:
                    self._scoring = _Scoring.build(self.matrix)
        return self._scoring

    # -- exact float32 scores, and the int8 shortcut to them -----------------------------------
    def _exact(self, rows: np.ndarray, query: torch.Tensor) -> torch.Tensor:
        """float32 cosines of `query` (unit, float32) with the given rows, normalised on the fly."""
        return torch.from_numpy(exact_cosines(self.unit_rows_of(rows), query.numpy()))

    def _exact_all(self, n: int, query: torch.Tensor) -> torch.Tensor:
        out = torch.empty(n, dtype=torch.float32)
        for start in range(0, n, NORMALISE_CHUNK):
            stop = min(n, start + NORMALISE_CHUNK)
            out[start:stop] = torch.from_numpy(exact_cosines(unit_rows(self.matrix[start:stop]), query.numpy()))
        return out

    def _blocked(self, n: int, exclude: Iterable[int]) -> np.ndarray:
        """Rows below n that may not answer: the excluded ones and the hidden ones."""
        drop = np.fromiter((int(i) for i in set(exclude)), dtype=np.int64)
        return np.union1d(drop[(drop >= 0) & (drop < n)], self._hidden[self._hidden < n])

    def _search(self, query: np.ndarray, k: int, exclude: Iterable[int] = (),
                restrict_vocab: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and float32 cosines of the k best rows for a unit float32 query, best first,
        ties in row order: exactly the full float32 scan's answer."""
        n = len(self) if restrict_vocab is None else max(0, min(int(restrict_vocab), len(self)))
        blocked = self._blocked(n, exclude)
        k = max(0, min(int(k), n - blocked.size))
        q = torch.from_numpy(np.ascontiguousarray(query, dtype=np.float32))
        if k == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if n >= FAST_MIN_ROWS and k * BLOCK * 8 <= n:
            rows = self._candidates(q, n, k, blocked)
            if rows is not None:
                return _best(rows, self._exact(rows, q), k)
        scores = self._exact_all(n, q)
        scores[torch.from_numpy(blocked)] = -torch.inf
        return _best(np.arange(n), scores, k)

    def _candidates(self, q: torch.Tensor, n: int, k: int, blocked: np.ndarray) -> np.ndarray | None:
        """Every row whose float32 cosine could be among the k best (None: too many to re-rank).

        With |approx - exact| <= eps on every row: k allowed rows have approx >= t (the k-th
        best approx), so exact >= t - eps for k rows, so each of the k best rows has
        exact >= t - eps and approx >= t - 2 eps. t is bounded from below by the k-th best of the
        block maxima (k blocks each hold a row at least that high)."""
        approx, eps = self._scorer().scores(q, n)                  # (n,) scores and bound, in score units
        # The rest in numpy: a few passes over 1.6 MB, cheaper single-threaded than waking torch's threads.
        scores = approx.numpy()
        scores[blocked] = _lowest(scores)
        full = n // BLOCK * BLOCK
        maxima = scores[:full].reshape(-1, BLOCK).max(axis=1)                  # (blocks,)
        tops = np.concatenate([maxima, scores[full:]])                          # (blocks + tail,)
        kth = float(np.partition(tops, len(tops) - k)[len(tops) - k])
        if kth <= float(_lowest(scores)):
            return None
        cut = threshold(kth - 2 * eps, approx)
        blocks = np.flatnonzero(maxima >= cut)                                 # blocks holding a candidate
        if blocks.size * BLOCK > 4 * MAX_CANDIDATES:
            return None
        rows = (blocks[:, None] * BLOCK + np.arange(BLOCK)).reshape(-1)        # (blocks * BLOCK,)
        rows = np.concatenate([rows[scores[rows] >= cut], np.flatnonzero(scores[full:] >= cut) + full])
        return rows if rows.size <= MAX_CANDIDATES else None

    # -- neighbours and analogies ---------------------------------------------------------------
    def cosines(self, query: np.ndarray, restrict_vocab: int | None = None) -> torch.Tensor:
        """Cosine of `query` with every row (or the first `restrict_vocab` rows), exact float32."""
        n = len(self) if restrict_vocab is None else min(int(restrict_vocab), len(self))
        return self._exact_all(n, torch.from_numpy(_unit_query(query)))

    def _hide(self, scores: torch.Tensor) -> torch.Tensor:
        """Push the hidden rows below every cosine, in place; the last axis of `scores` runs over rows."""
        hidden = self._hidden[self._hidden < scores.shape[-1]]
        if hidden.size:
            scores[..., torch.from_numpy(hidden)] = -torch.inf
        return scores

    def _answers(self, rows: np.ndarray, cosines: np.ndarray) -> list[tuple[str, float]]:
        return [(self.words[int(i)], float(c)) for i, c in zip(rows, cosines)]

    def neighbors(self, word_or_vector, k: int = 10,
                  restrict_vocab: int | None = None) -> list[tuple[str, float]]:
        """The k nearest words by cosine; a word given by name is left out of its own list."""
        if isinstance(word_or_vector, str):
            row = self.row(word_or_vector)
            return self._answers(*self._search(self.unit_rows_of([row])[0], k, [row], restrict_vocab))
        return self._answers(*self._search(_unit_query(word_or_vector), k, (), restrict_vocab))

    def nearest_rows(self, vectors: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """For each of n vectors (n, d): the rows (n, k) and cosines (n, k) of its k nearest
        entries, best first, never a hidden row. One matrix product for all n vectors (a
        token's hidden state at every layer costs what one vector costs)."""
        queries = torch.from_numpy(unit_rows(np.atleast_2d(vectors)))      # (n, d)
        scores = self._hide(queries @ self.unit_table.T)                     # (n, rows)
        k = max(1, min(int(k), len(self) - self._hidden.size))
        cosines, rows = torch.topk(scores, k, dim=1)                         # (n, k) each, best first
        return rows.numpy(), cosines.numpy()

    def nearest_words(self, vectors: np.ndarray, k: int = 8) -> list[list[tuple[str, float]]]:
        """`nearest_rows` as (word, cosine) pairs, one list per vector."""
        rows, cosines = self.nearest_rows(vectors, k)
        return [[(self.words[row], float(cosine)) for row, cosine in zip(vector_rows, vector_cosines)]
                for vector_rows, vector_cosines in zip(rows.tolist(), cosines.tolist())]

    def analogy_query(self, a: str, b: str, c: str) -> np.ndarray:
        """unit(b) + unit(c) - unit(a), averaged and normalised as gensim does (float32)."""
        ua, ub, uc = self.unit_vectors([a, b, c])
        mean = (ub + uc - ua) / np.float32(3.0)
        return mean / np.float32(np.linalg.norm(mean) or 1.0)

    def analogy(self, a: str, b: str, c: str, k: int = 10,
                restrict_vocab: int | None = None) -> list[tuple[str, float]]:
        """a : b :: c : ?  ->  [(word, cosine), ...] best first, without a, b and c."""
        rows = [self.row(w) for w in (a, b, c)]
        return self._answers(*self._search(self.analogy_query(a, b, c), k, rows, restrict_vocab))

    def analogy_rank(self, a: str, b: str, c: str, expected: str) -> tuple[int, float]:
        """Where `expected` lands among the answers of a : b :: c : ? (1 = the top answer)."""
        rows = {self.row(w) for w in (a, b, c)}
        target = self.row(expected)
        if target in rows:
            raise ValueError(f"{expected!r} is one of the three input words, which are never answers.")
        q = torch.from_numpy(self.analogy_query(a, b, c))
        n = len(self)
        blocked = torch.from_numpy(self._blocked(n, rows))
        mine = float(self._exact(np.array([target]), q)[0])
        if n >= FAST_MIN_ROWS:      # a row with exact > mine has approx > mine - eps
            scoring = self._scorer()
            approx, eps = scoring.scores(q, n)
            approx[blocked] = _lowest(approx)
            cut = threshold(mine / scoring.unit(q) - 2 * eps, approx)
            candidates = torch.nonzero(approx >= cut)[:, 0].numpy()
            if candidates.size <= MAX_CANDIDATES:
                return int((self._exact(candidates, q) > mine).sum()) + 1, mine
        scores = self._exact_all(n, q)
        scores[blocked] = -torch.inf
        return int((scores > mine).sum()) + 1, mine

    # -- a whole analogy set at once ------------------------------------------------------------
    def evaluate_analogies(self, questions: Sequence[AnalogyQuestion], restrict_vocab: int = 300_000,
                           case_insensitive: bool = True, chunk_cells: int = 1 << 21) -> AnalogyEvaluation:
        """Every question at once, as matrix products: same counting as gensim's evaluate_word_analogies.

        A question counts only when its four words are among the first `restrict_vocab`
        words; the answer is the best of those rows other than a, b and c.
        """
        rows_allowed = min(restrict_vocab, len(self))
        fold = (lambda w: w.upper()) if case_insensitive else (lambda w: w)
        ok: dict[str, int] = {}
        for i in range(rows_allowed):
            ok.setdefault(fold(self.words[i]), i)            # first (most frequent) case variant
        kept, skipped = [], 0
        for q in questions:
            ids = [ok.get(fold(w)) for w in (q.a, q.b, q.c, q.expected)]
            if None in ids:
                skipped += 1
            else:
                kept.append((q, ids))
        unit = _unit_rows_chunked(self.matrix[:rows_allowed])          # (rows, d) float32
        table_t = torch.from_numpy(unit).T                              # (d, rows), a view
        ids = np.array([ids for _, ids in kept], dtype=np.int64).reshape(-1, 4)   # (questions, 4)
        predicted = np.empty(len(kept), dtype=np.int64)
        step = max(1, chunk_cells // rows_allowed)     # (step, rows) score blocks stay in cache for argmax
        block_scores = torch.empty((step, rows_allowed))   # one buffer for every block: no new pages each time
        for start in range(0, len(kept), step):
            block = ids[start:start + step]
            mean = (unit[block[:, 1]] + unit[block[:, 2]] - unit[block[:, 0]]) / np.float32(3.0)
            mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-30)
            scores = torch.matmul(torch.from_numpy(mean), table_t, out=block_scores[:len(block)])   # (step, rows)
            lines = torch.arange(len(block))[:, None]
            scores[lines, torch.from_numpy(block[:, :3])] = -torch.inf   # never the inputs
            predicted[start:start + step] = scores.numpy().argmax(axis=1)   # numpy: first best, and ~6x faster than torch.argmax here
        sections: dict[str, list[int]] = {}
        guesses = []
        for (q, qids), guess in zip(kept, predicted):
            word = self.words[int(guess)]
            right = fold(word) == fold(q.expected)
            counts = sections.setdefault(q.section, [0, 0])
            counts[0] += right
            counts[1] += 1
            guesses.append(word)
        correct = sum(c for c, _ in sections.values())
        return AnalogyEvaluation(correct=correct, total=len(kept), skipped=skipped,
                                 sections={s: tuple(c) for s, c in sections.items()},
                                 predictions=tuple(guesses))


def _unit_rows_chunked(matrix: np.ndarray) -> np.ndarray:
    """`unit_rows` of a large (possibly memory-mapped) table, a chunk at a time."""
    out = np.empty(matrix.shape, dtype=np.float32)
    for start in range(0, matrix.shape[0], NORMALISE_CHUNK):
        out[start:start + NORMALISE_CHUNK] = unit_rows(matrix[start:start + NORMALISE_CHUNK])   # (chunk, d)
    return out


def _unit_query(query: np.ndarray) -> np.ndarray:
    """A query vector scaled to length 1 (a zero vector stays zero), float32."""
    q = np.array(query, dtype=np.float32)
    norm = float(np.linalg.norm(q))
    return q / norm if norm > 0 else q


def threshold(value: float, scores: torch.Tensor) -> float:
    """The largest number of the scores' dtype that is <= value, so `scores >= it` keeps every
    score >= value: a whole number for int8 scores, a float32 for float32 ones."""
    if not scores.dtype.is_floating_point:
        return float(np.floor(value))
    down = np.float32(value)
    return float(np.nextafter(down, np.float32(-np.inf)) if float(down) > value else down)


def _lowest(scores):
    """A score below every real one (torch or numpy scores): -inf for floats, the integer minimum."""
    dtype = np.dtype(str(scores.dtype).removeprefix("torch."))
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


def _best(rows: np.ndarray, scores: torch.Tensor, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (row, score) pairs, best first; equal scores in row order. -inf rows never count."""
    k = min(k, int(torch.isfinite(scores).sum()))
    if k == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
    cut = torch.topk(scores, k).values[-1]
    keep = torch.nonzero(scores >= cut)[:, 0].numpy()      # k rows, more if the k-th ties
    values = scores.numpy()[keep]
    order = np.lexsort((rows[keep], -values))[:k]
    return rows[keep][order], values[order]


@dataclass(frozen=True)
class _Scoring:
    """An int8 copy of the unit rows and a bound on how far its cosines are from float32's.

    A query reads the whole table, so its cost is the bytes read: int8 rows are a quarter of
    float32's. Every unit row u is stored as whole numbers I (int8) times one scale s for the
    table (s = max|u| over the table / 127), the query q as J times t. The products I.J are
    summed in int32, which is exact, and one approximate cosine is (I.J) * s * t: a single
    positive factor, so rows are ranked and cut on the integers I.J themselves and no float
    copy of 400,000 scores is ever made. For u's copy h = s I and q's copy p = t J:
        h.p - u.q = (h - u).p + u.(p - q),  so  |h.p - u.q| <= |h - u| |p| + |u| |p - q|
    |h - u| is measured for every row at build time (`row_error`, the largest, in float64:
    about 0.017 for GloVe); |p| and |p - q| per query; plus the exact cosine's own float32
    rounding. With GloVe a top-10 query keeps a few dozen candidate rows, which the float32
    re-rank puts in order. `build` checks the bound on random queries and drops back to
    float32 scoring where int8 products are not available or miss it.
    """
    table: torch.Tensor        # (n, d) int8 rows, or float32 unit rows when int8 is unavailable
    scale: float               # row i is table[i] * scale (1.0 for float32)
    row_error: float

    @staticmethod
    def build(matrix: np.ndarray) -> "_Scoring":
        n, d = matrix.shape
        biggest = 0.0
        for start in range(0, n, NORMALISE_CHUNK):         # first pass: the largest coordinate
            unit = unit_rows(matrix[start:start + NORMALISE_CHUNK])                 # (chunk, d)
            biggest = max(biggest, float(np.abs(unit).max(initial=0.0)))
        scale = biggest / 127 if biggest > 0 else 1.0
        table = np.empty((n, d), dtype=np.int8)
        error = 0.0
        for start in range(0, n, NORMALISE_CHUNK):
            unit = unit_rows(matrix[start:start + NORMALISE_CHUNK])                 # (chunk, d) float32
            whole = np.rint(unit.astype(np.float64) / scale)                        # (chunk, d), |.| <= 127
            table[start:start + NORMALISE_CHUNK] = whole
            if len(unit):
                error = max(error, float(np.linalg.norm(whole * scale - unit, axis=1).max()))
        scoring = _Scoring(torch.from_numpy(table), scale, error)
        try:
            safe = scoring._check(matrix)
        except RuntimeError:            # no int8 matrix product in this build of torch
            safe = False
        if not safe:
            scoring = _Scoring(torch.from_numpy(_unit_rows_chunked(matrix)), 1.0, 0.0)
        _drop_mapped_pages(matrix)
        return scoring

    def scores(self, query: torch.Tensor, n: int) -> tuple[torch.Tensor, float]:
        """Scores (n,) of a unit float32 query with the first n rows, and their bound, both in
        score units: cosine ~ score * unit (`unit` says how much one step is worth).

        int8 tables give int32 scores; compare them with `threshold` (never a float copy)."""
        if self.table.dtype == torch.float32:
            return self.table[:n] @ query, 0.0
        q = query.numpy().astype(np.float64)
        step = self._step(query)
        whole = np.rint(q / step).astype(np.int8)                                # (d,), |.| <= 127
        dots = _dots_buffer(n)                                                   # (n, 1) int32
        torch._int_mm(self.table[:n], torch.from_numpy(whole)[:, None], out=dots)   # exact
        dots = dots[:, 0]
        return dots, self.bound(q, whole * step) / (self.scale * step)

    def unit(self, query: torch.Tensor) -> float:
        """The cosine worth one score step for this query."""
        return 1.0 if self.table.dtype == torch.float32 else self.scale * self._step(query)

    @staticmethod
    def _step(query: torch.Tensor) -> float:
        biggest = float(np.abs(query.numpy()).max())
        return biggest / 127 if biggest > 0 else 1.0

    def bound(self, query: np.ndarray, p: np.ndarray) -> float:
        """|approx - exact| for every row, in cosine: the copies' errors, the exact cosine's rounding.
        query: the float32 query and p its int8 copy, both as float64."""
        unit_max = 1.0 + 1e-6
        eps = self.row_error * float(np.linalg.norm(p)) + unit_max * float(np.linalg.norm(p - query))
        return eps * 1.01 + 4 * FLOAT32_UNIT + 1e-7

    def _check(self, matrix: np.ndarray, queries: int = 8) -> bool:
        """The bound holds for this machine's int8 product on a few random queries and rows."""
        rng = np.random.default_rng(0)
        n = self.table.shape[0]
        rows = np.unique(rng.integers(0, n, size=min(n, 4096)))
        unit = unit_rows(np.asarray(matrix[rows]))
        for _ in range(queries):
            q = torch.from_numpy(_unit_query(rng.standard_normal(self.table.shape[1])))
            approx, eps = self.scores(q, n)
            cosines = approx[torch.from_numpy(rows)].double() * self.unit(q)
            exact = torch.from_numpy(exact_cosines(unit, q.numpy())).double()
            if float((cosines - exact).abs().max()) > eps * self.unit(q):
                return False
        return True


_per_thread = threading.local()


def _dots_buffer(n: int) -> torch.Tensor:
    """This thread's (n, 1) int32 buffer for one query's scores, reused by its next query.

    A fresh 1.6 MB block per query would come from mmap (ui/frame.configure_memory) and cost
    page faults on every query; a query's scores are dropped before the thread asks again."""
    buffer = getattr(_per_thread, "dots", None)
    if buffer is None or buffer.shape[0] < n:
        buffer = _per_thread.dots = torch.empty((n, 1), dtype=torch.int32)
    return buffer[:n]


def _drop_mapped_pages(matrix: np.ndarray) -> None:
    """Let go of a memory-mapped table's pages after a full read (the OS keeps them cached)."""
    handle = getattr(matrix, "_mmap", None)
    if isinstance(handle, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        try:
            handle.madvise(mmap.MADV_DONTNEED)
        except (OSError, ValueError):
            pass
