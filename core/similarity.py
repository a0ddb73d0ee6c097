"""Cosine similarity and nearest neighbours by brute force (exact, no index)."""
from __future__ import annotations

from typing import Iterable

import numpy as np


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero), float32."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(norms == 0, 1.0, norms)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denom) if denom else 0.0


def top_k(scores: np.ndarray, k: int, exclude: Iterable[int] = ()) -> list[tuple[int, float]]:
    """Indices and values of the k largest scores, best first, skipping `exclude`."""
    scores = np.asarray(scores)
    exclude = list(exclude)
    k = max(0, min(k, scores.shape[0] - len(set(exclude))))
    if k == 0:
        return []
    want = min(k + len(exclude), scores.shape[0])
    idx = np.argpartition(-scores, want - 1)[:want] if want < scores.shape[0] else np.arange(scores.shape[0])
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    skip = set(exclude)
    return [(int(i), float(scores[i])) for i in idx if int(i) not in skip][:k]


def nearest(unit_table: np.ndarray, query: np.ndarray, k: int,
            exclude: Iterable[int] = ()) -> list[tuple[int, float]]:
    """The k rows of a unit-row table closest in cosine to `query`."""
    q = unit_rows(np.asarray(query)[None, :])[0]
    return top_k(unit_table @ q, k, exclude)
