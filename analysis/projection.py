"""Flat pictures of word vectors: PCA (or t-SNE) to 2-D/3-D, and the analogy parallelogram.

PCA is linear, so it keeps vector arithmetic: the projection of c + (b - a) is
proj(c) + proj(b) - proj(a), and the offset arrow drawn from c is the same arrow as the
one from a to b. t-SNE keeps neighbourhoods instead and bends everything else, which is
why the analogy picture always uses PCA.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .pca import fit_pca
from .vectors import WordVectors

MIN_TSNE_POINTS = 5   # fewer points give t-SNE nothing to arrange


@dataclass(frozen=True)
class Projection:
    coords: np.ndarray                 # (n, dims)
    method: str                        # "PCA" or "t-SNE"
    explained: np.ndarray | None       # (dims,) share of variance per PCA axis; None for t-SNE
    perplexity: float | None = None

    def axis_titles(self) -> list[str]:
        if self.explained is None:
            return [f"{self.method} {i + 1}" for i in range(self.coords.shape[1])]
        return [f"PC{i + 1} · {100 * r:.1f}% of variance" for i, r in enumerate(self.explained)]


def max_perplexity(n_points: int) -> float:
    """scikit-learn's t-SNE needs perplexity < number of points (each point's 'effective neighbours')."""
    return float(max(1, n_points - 1))


def project(vectors: np.ndarray, dims: int = 2, method: str = "PCA", perplexity: float = 5.0,
            seed: int = 0) -> Projection:
    """(n, d) vectors -> a Projection to `dims` axes. Raises ValueError with a reason a person can act on."""
    vectors = np.asarray(vectors, dtype=np.float64)
    n = vectors.shape[0]
    if n < 2:
        raise ValueError("A projection needs at least two words: one point has no direction to show.")
    if method == "PCA":
        pca = fit_pca(vectors, n_components=dims)
        coords = pca.project(vectors)                                  # (n, k), k <= dims
        explained = pca.explained_variance_ratio
        if coords.shape[1] < dims:   # two points span one axis: pad so 2-D/3-D figures still draw
            coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
            explained = np.pad(explained, (0, dims - explained.shape[0]))
        return Projection(coords, "PCA", explained)
    if method == "t-SNE":
        if n < MIN_TSNE_POINTS:
            raise ValueError(f"t-SNE needs at least {MIN_TSNE_POINTS} words; use PCA for {n}.")
        if not 0 < perplexity < n:
            raise ValueError(f"t-SNE's perplexity must be below the number of points ({n}); got {perplexity}.")
        from sklearn.manifold import TSNE

        tsne = TSNE(n_components=dims, perplexity=perplexity, init="pca", metric="cosine",
                    random_state=seed, max_iter=1000)
        return Projection(tsne.fit_transform(vectors), "t-SNE", None, perplexity)
    raise ValueError(f"unknown projection {method!r}: use 'PCA' or 't-SNE'")


@dataclass(frozen=True)
class AnalogyPicture:
    """a : b :: c : ? in PCA coordinates, with the offset b - a drawn from a and from c."""
    words: tuple[str, ...]
    roles: tuple[str, ...]             # "a", "b", "c", "answer", "expected" or "neighbour"
    coords: np.ndarray                 # (n, dims) projected unit vectors
    target: np.ndarray                 # (dims,) where c + (b - a) lands
    explained: np.ndarray              # (dims,)
    arrows: tuple[tuple[np.ndarray, np.ndarray], ...]   # (start, end): a -> b and c -> c + (b - a)

    def point(self, role: str) -> np.ndarray:
        return self.coords[self.roles.index(role)]


def analogy_picture(vecs: WordVectors, a: str, b: str, c: str, answers=(), expected: str | None = None,
                    neighbours=(), dims: int = 2) -> AnalogyPicture:
    """PCA fitted on the unit vectors of the words shown (the arithmetic works on unit vectors)."""
    words, roles = [a, b, c], ["a", "b", "c"]       # always three points, even if a word repeats
    rows = {vecs.row(w) for w in words}
    for group, role in (([expected] if expected else [], "expected"), (answers, "answer"),
                        (neighbours, "neighbour")):
        for w in group:
            if vecs.row(w) not in rows:
                rows.add(vecs.row(w))
                words.append(w)
                roles.append(role)
    unit = vecs.unit_vectors(words)                                    # (n, d)
    pca = fit_pca(unit, n_components=dims)
    coords = pca.project(unit)
    sum_point = unit[2] + unit[1] - unit[0]                             # c + (b - a), not normalised
    target = pca.project(sum_point[None, :])[0]
    explained = pca.explained_variance_ratio
    if coords.shape[1] < dims:
        pad = dims - coords.shape[1]
        coords, target = np.pad(coords, ((0, 0), (0, pad))), np.pad(target, (0, pad))
        explained = np.pad(explained, (0, pad))
    arrows = ((coords[0], coords[1]), (coords[2], target))
    return AnalogyPicture(tuple(words), tuple(roles), coords, target, explained, arrows)
