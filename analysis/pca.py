"""Principal component analysis with numpy, matching scikit-learn's PCA.

Fit once, project anything into the same basis: the trajectory page fits one PCA on
every layer's hidden states together so that a point's motion means a real change.
Signs follow scikit-learn's convention (each component's largest-|loading| entry is
positive), so our coordinates equal `sklearn.decomposition.PCA(...).fit_transform`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PCA:
    mean: np.ndarray                 # (d,)
    components: np.ndarray           # (k, d)  orthonormal rows
    explained_variance: np.ndarray   # (k,)
    explained_variance_ratio: np.ndarray  # (k,)

    def project(self, x: np.ndarray) -> np.ndarray:
        """(n, d) -> (n, k) coordinates in the fitted basis."""
        return (np.asarray(x, dtype=np.float64) - self.mean) @ self.components.T


def fit_pca(x: np.ndarray, n_components: int = 2) -> PCA:
    """Fit on the rows of x (n, d). Needs at least two rows."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"PCA needs a 2-D array of points, got shape {x.shape}")
    n, d = x.shape
    if n < 2:
        raise ValueError("PCA needs at least two points to find a direction.")
    k = min(n_components, n, d)
    mean = x.mean(axis=0)
    centered = x - mean
    u, s, vt = np.linalg.svd(centered, full_matrices=False)
    # scikit-learn's svd_flip(u_based_decision=False): largest |entry| of each row of vt > 0
    signs = np.sign(vt[np.arange(vt.shape[0]), np.argmax(np.abs(vt), axis=1)])
    signs[signs == 0] = 1.0
    vt = vt * signs[:, None]
    variance = s**2 / max(n - 1, 1)
    total = variance.sum()
    ratio = variance / total if total > 0 else np.zeros_like(variance)
    return PCA(mean=mean, components=vt[:k], explained_variance=variance[:k],
               explained_variance_ratio=ratio[:k])
