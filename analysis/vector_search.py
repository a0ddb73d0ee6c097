"""The search engine behind WordVectors: one query against 400,000 rows at the bandwidth limit.

One query reads every row, so its cost is the bytes read. `_Scoring` keeps an int8 copy of the
unit rows (a quarter of float32's bytes) and a proven bound on its error; a query keeps every row
that could still be in the top k and re-ranks those few exactly in float32 (analysis/vectors.py),
so the answers and cosines are those of the exact float32 scan, bit for bit. `unit_rows` and
`exact_cosines` sum in a fixed order, so a row's number never depends on the rows beside it.
"""
from __future__ import annotations

import mmap
import threading
from dataclasses import dataclass

import numpy as np
import torch

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
