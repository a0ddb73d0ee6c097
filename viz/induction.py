"""The induction head forming: the loss on the repeat and the heads' induction scores over training steps.

Two panels sharing the step axis: above, the loss predicting the repeated tokens (falls at the phase
change); below, every head's induction score (one line per head, the best head wide). The phase
change found from the numbers is shaded in both, and the step shown on the slider is marked.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .common import base_layout, colour, safe


def induction_forming(steps: Sequence[int], repeat_loss: Sequence[float], scores: np.ndarray, current: int,
                      phase: Optional[tuple[int, int]] = None, highlight: Optional[tuple[int, int]] = None,
                      chance: Optional[float] = None, title: Optional[str] = None) -> go.Figure:
    """steps (N,), repeat_loss (N,), scores (N, L, H); phase: (first, last) step of the phase change."""
    scores = np.asarray(scores, dtype=np.float64)
    steps = list(steps)
    n_layers, n_heads = scores.shape[1:]
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=["Loss predicting the repeated tokens", "Induction score of every head"])
    fig.add_scatter(x=steps, y=list(repeat_loss), mode="lines+markers", name="loss on the repeat",
                    line=dict(color="#495057", width=2.5), marker=dict(size=4), showlegend=False,
                    hovertemplate="step %{x}: loss on the repeat %{y:.3f} nats<extra></extra>", row=1, col=1)
    for layer in range(n_layers):
        for head in range(n_heads):
            name = f"layer {layer} · head {head}"
            wide = (layer, head) == highlight
            fig.add_scatter(x=steps, y=scores[:, layer, head], mode="lines", name=name,
                            line=dict(color=colour(layer * n_heads + head), width=3.5 if wide else 1.3,
                                      dash="solid" if layer == n_layers - 1 else "dot"),
                            opacity=1.0 if wide else 0.7,
                            hovertemplate=f"{name}, step %{{x}}: %{{y:.2f}}<extra></extra>", row=2, col=1)
    if chance is not None:
        fig.add_hline(y=chance, line=dict(color="#adb5bd", dash="dot"), annotation_text=f"chance {chance:.2f}",
                      annotation_position="top left", row=2, col=1)
    if phase is not None:
        for row in (1, 2):
            fig.add_vrect(x0=phase[0], x1=phase[1], fillcolor="#fab005", opacity=0.25, line_width=0, row=row, col=1)
        # Inside the loss panel, right of the band (where the loss has already fallen): clear of the panel's title.
        fig.add_annotation(x=phase[1], y=0.95, xref="x", yref="y domain", xanchor="left", yanchor="top",
                           text=f" phase change: steps {phase[0]:,}–{phase[1]:,}", showarrow=False,
                           font=dict(color="#e67700"))
    for row in (1, 2):
        fig.add_vline(x=current, line=dict(color="#e03131", width=2), row=row, col=1)
    base_layout(fig, safe(title) if title else None, height=560)
    fig.update_xaxes(title="training step", rangemode="tozero", row=2, col=1)
    fig.update_yaxes(title="nats", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="score", range=[0, 1.02], tickformat=".0%", row=2, col=1)
    fig.update_layout(legend=dict(orientation="h", y=-0.14, yanchor="top", x=0))
    return fig
