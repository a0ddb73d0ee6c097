"""The faithfulness chart: each method's erasure curves beside chance.

Two panels share the k axis (tokens deleted or kept). Left, comprehensiveness: how much the output
drops when a method's top k tokens are deleted (higher = the method found what mattered). Right,
sufficiency: how much it drops when only those k are kept (lower = they are enough on their own).
Random rankings are a grey band (lowest to highest over the seeds) around their mean, dashed.
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from analysis.faithfulness import RANDOM, Curve

from .common import base_layout, category_style, safe

CHANCE = "#868e96"
CHANCE_BAND = "rgba(134, 142, 150, 0.22)"


def _k_ticks(ks: np.ndarray, n_ranked: Optional[int]) -> dict:
    """k on the axis; with n_ranked, also the share of the sentence it is ("15<br>10 %")."""
    text = [f"{k}" if not n_ranked else f"{k}<br>{k / n_ranked:.0%}" for k in ks]
    return dict(tickmode="array", tickvals=[int(k) for k in ks], ticktext=text)


def erasure_chart(curves: Mapping[str, Curve], n_ranked: Optional[int] = None, output: str = "output",
                  title: Optional[str] = None) -> go.Figure:
    """curves: method -> Curve (all at the same ks), RANDOM among them for the chance band.
    n_ranked: the tokens that could be deleted, to label k as a share of them too."""
    if not curves:
        raise ValueError("no curves to draw")
    ks = next(iter(curves.values())).ks
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.09, subplot_titles=(
        "Comprehensiveness ↑ (top k deleted)", "Sufficiency ↓ (only top k kept)"))
    chance = curves.get(RANDOM)
    if chance is not None:
        for col, (mean, band) in enumerate(((chance.comprehensiveness, chance.comp_range),
                                            (chance.sufficiency, chance.suff_range)), start=1):
            if band is not None:   # the band first, so the lines are drawn over it
                fig.add_trace(go.Scatter(x=np.r_[ks, ks[::-1]], y=np.r_[band[1], band[0][::-1]], fill="toself",
                                         mode="lines", fillcolor=CHANCE_BAND, line=dict(width=0), hoverinfo="skip",
                                         name="chance: range over seeds", legendgroup="chance",
                                         showlegend=col == 1), row=1, col=col)
            fig.add_trace(go.Scatter(x=ks, y=mean, mode="lines+markers", name=safe(RANDOM), legendgroup="chance",
                                     line=dict(color=CHANCE, dash="dash", width=2), marker=dict(size=6),
                                     showlegend=col == 1, hovertemplate="k=%{x}: %{y:.3f}<extra>chance</extra>"),
                          row=1, col=col)
    methods = [name for name in curves if name != RANDOM]
    for i, name in enumerate(methods):
        colour, symbol = category_style(i)
        curve = curves[name]
        for col, values in enumerate((curve.comprehensiveness, curve.sufficiency), start=1):
            fig.add_trace(go.Scatter(
                x=ks, y=values, mode="lines+markers", name=safe(name), legendgroup=name, showlegend=col == 1,
                line=dict(color=colour, width=2.5), marker=dict(symbol=symbol, size=9, color=colour),
                customdata=[safe(name)] * len(ks),
                hovertemplate="%{customdata}<br>k=%{x}: %{y:.3f}<extra></extra>"), row=1, col=col)
    base_layout(fig, title, height=480 if n_ranked else 460)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.26 if n_ranked else -0.2, x=0,
                                  font=dict(size=12)),
                      margin=dict(l=10, r=10, t=70 if title else 40, b=10), hovermode="closest")
    # ERASER's bins grow geometrically (1, 5, 10, 20, 50 %): a log axis spaces them evenly.
    fig.update_xaxes(title_text="k tokens" + (" (share of the sentence)" if n_ranked else ""),
                     type="log" if n_ranked else "linear", **_k_ticks(ks, n_ranked))
    fig.update_yaxes(title_text=f"drop in {safe(output)}", zeroline=True, zerolinecolor="#adb5bd", col=1)
    fig.update_yaxes(zeroline=True, zerolinecolor="#adb5bd", col=2)
    low = min(0.0, *(float(np.min(c.sufficiency)) for c in curves.values()),
              *(float(np.min(c.comprehensiveness)) for c in curves.values()))
    high = max(*(float(np.max(c.sufficiency)) for c in curves.values()),
               *(float(np.max(c.comprehensiveness)) for c in curves.values()),
               *(float(np.max(c.comp_range)) for c in curves.values() if c.comp_range is not None),
               *(float(np.max(c.suff_range)) for c in curves.values() if c.suff_range is not None), 0.0)
    pad = 0.05 * max(high - low, 1e-6)
    fig.update_yaxes(range=[low - pad, high + pad])   # one scale on both panels: the drops compare
    return fig

