"""Attention heatmaps."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from .common import WEIGHT_SCALE, base_layout, safe_all, token_ticks


def attention_heatmap(weights: np.ndarray, tokens: Sequence[str], title: str | None = None,
                      zmax: float | None = 1.0) -> go.Figure:
    """One head's weights (T_q, T_k): query tokens down the rows, key tokens along the columns."""
    weights = np.asarray(weights)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1] or weights.shape[0] != len(tokens):
        raise ValueError(f"weights must be (T, T) with T = {len(tokens)} tokens, got {weights.shape}")
    labels = safe_all(tokens)
    t = len(tokens)
    # customdata carries (query, key) text so hover shows tokens without templating user text.
    custom = np.empty((t, t, 2), dtype=object)
    custom[:, :, 0] = np.array(labels, dtype=object)[:, None]
    custom[:, :, 1] = np.array(labels, dtype=object)[None, :]
    fig = go.Figure(go.Heatmap(
        z=weights, x=list(range(t)), y=list(range(t)), customdata=custom,
        colorscale=WEIGHT_SCALE, zmin=0.0, zmax=zmax, colorbar=dict(title="weight"),
        hovertemplate="%{customdata[0]} → %{customdata[1]}: %{z:.3f}<extra></extra>",
    ))
    side = max(320, min(900, 40 + 22 * t))
    base_layout(fig, title, height=side)
    fig.update_xaxes(title="key (attended to)", side="top", tickangle=-60, **token_ticks(tokens))
    fig.update_yaxes(title="query (attending)", autorange="reversed", **token_ticks(tokens))
    return fig
