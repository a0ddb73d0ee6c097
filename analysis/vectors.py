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
see analysis/vector_search.py for the engine and its bound. The int8 copy is made on first use, so opening 400,000
GloVe vectors memory-mapped costs nothing until asked.
"""
from __future__ import annotations

import difflib
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import torch

from .vector_search import (BLOCK, FAST_MIN_ROWS, MAX_CANDIDATES, NORMALISE_CHUNK, _best, _lowest, _Scoring,
                            _unit_query, _unit_rows_chunked, exact_cosines, threshold, unit_rows)

SUGGEST_POOL = 100_000   # suggestions come from the most frequent words (tables are frequency-ordered)


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
            # numpy: the first best, and ~6x faster than torch.argmax here
            predicted[start:start + step] = scores.numpy().argmax(axis=1)
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
