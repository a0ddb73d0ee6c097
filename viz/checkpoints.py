"""A head's score across a real model's training checkpoints (the Hub's revisions, in training order)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from .common import base_layout, colour, safe


def checkpoint_curve(revisions: Sequence[str], values: np.ndarray, current: int, score: str,
                     names: Sequence[str], highlight: Optional[int] = None,
                     title: Optional[str] = None) -> go.Figure:
    """One line per head (values: (N revisions, H), shares in 0..1), the chosen head wide, their mean
    dashed, and a line at the revision shown (index `current`). The revisions are evenly spaced in
    training order, one category each: Pythia's checkpoints are log-spaced early (steps 1, 2, 4 … 512)
    and every 1,000 steps after, which a step axis would crush into its left edge."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 2 or values.shape[0] != len(revisions) or values.shape[1] != len(names):
        raise ValueError(f"values must be ({len(revisions)} revisions, {len(names)} heads), got {values.shape}")
    x = list(range(len(revisions)))
    labels = [safe(r) for r in revisions]
    fig = go.Figure()
    for h in range(values.shape[1]):
        wide = h == highlight
        fig.add_scatter(x=x, y=values[:, h], mode="lines+markers" if len(x) < 30 else "lines", name=safe(names[h]),
                        line=dict(color=colour(h), width=3.5 if wide else 1.2), opacity=1.0 if wide else 0.6,
                        marker=dict(size=7 if wide else 4), customdata=labels,
                        hovertemplate=f"{safe(names[h])}, %{{customdata}}: %{{y:.3f}}<extra></extra>")
    fig.add_scatter(x=x, y=np.nanmean(values, axis=1), mode="lines", name="mean of heads",
                    line=dict(color="#495057", dash="dash", width=2), customdata=labels,
                    hovertemplate="mean of heads, %{customdata}: %{y:.3f}<extra></extra>")
    fig.add_vline(x=current, line=dict(color="#e03131", width=2),
                  annotation_text=labels[current], annotation_position="top")
    base_layout(fig, title, height=340)
    step = max(1, len(x) // 12)                  # at most about a dozen names under the axis
    fig.update_xaxes(title="checkpoint (training order)", tickmode="array", tickvals=x[::step],
                     ticktext=labels[::step], range=[-0.5, len(x) - 0.5])
    fig.update_yaxes(title=safe(score), range=[0, 1.05], tickformat=".0%")
    fig.update_layout(legend=dict(orientation="h", y=-0.35, yanchor="top", x=0))
    return fig
