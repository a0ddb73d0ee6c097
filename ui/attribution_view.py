"""What the attribution page draws: a first view at once (gradient × input, one backward pass), then the
full comparison once integrated gradients are computed.

Integrated gradients cost a forward and backward pass per step: tens of seconds at 141 tokens on a busy
server. Nothing should wait on them, so the page first draws gradient × input (plainly titled as the quick
first view, without the completeness check that only integrated gradients have). Up to IG_ON_LOAD tokens
integrated gradients then run at once, their progress bar under the first view, which they replace; a
longer text asks for a click (the server's queue for expensive work), unless the result is already kept.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from analysis.attribution import BASELINE
from ui.attribution import Explained, FirstView
from ui.colour_words import colour_words
from ui.plain import plain
from ui.widgets import linked, plot
from viz.attribution import methods_heatmap, shaded_tokens

IG_ON_LOAD = 128     # tokens: up to here integrated gradients start when the page opens


def _names(tokens: list[str], scores: np.ndarray, positions, sign: int, k: int = 3) -> str:
    """The k tokens with the largest score of that sign, as “token” (#position)."""
    order = [i for i in np.argsort(-sign * scores) if sign * scores[i] > 0][:k]
    return ", ".join(f"“{plain(tokens[i])}” (#{positions[i]})" for i in order) or "none"


def _shaded(tokens, scores, full_scores, name: str, positions, title: str, file: str) -> None:
    plot(shaded_tokens(tokens, scores, title, positions=positions,
                       value_name=name.split()[0] if name != "attention rollout" else "share",
                       limit=float(np.abs(full_scores).max()) or 1.0), file)   # one scale, all windows


def draw_first_view(quick: FirstView, window: range, page: str) -> None:
    """Gradient × input shaded on the tokens and beside rollout, titled as the quick first view."""
    words = colour_words()
    positions = list(window)
    tokens = [quick.tokens[i] for i in window]
    gxi = quick.grad_input.scores
    shown = gxi[window.start:window.stop]
    st.metric("f(input)", f"{quick.grad_input.value:.4f}", help=quick.target)
    _shaded(tokens, shown, gxi, "gradient × input", positions,
            f"First view, gradient × input: {words.up} raises f, {words.down} lowers it", f"attribution_first_{page}")
    st.caption(f"**A first view, from one backward pass.** Gradient × input is the first term of a Taylor "
               f"expansion of f = {quick.target}: quick, but it can miss saturated effects, and its scores need "
               "not add up to anything. Integrated gradients, below, are the fuller answer and come with a "
               f"completeness check. Here the tokens shown that raise f most: {_names(tokens, shown, positions, 1)}; "
               f"that lower it most: {_names(tokens, shown, positions, -1)}.")
    matrix = np.stack([shown, quick.rollout[window.start:window.stop]])
    plot(methods_heatmap(matrix, ["gradient × input", "attention rollout"], tokens, positions=positions,
                         title="Gradient × input beside attention rollout (each row ÷ its largest |value|)"),
         "attribution_first_methods")


def draw_full(result: Explained, window: range, page: str, d_model: int) -> None:
    """The completeness check, the shaded sentence by any method and the three methods side by side."""
    ig, gxi = result.integrated, result.grad_input
    cols = st.columns(4)
    cols[0].metric("f(input)", f"{ig.value:.4f}", help=result.target)
    cols[1].metric("f(baseline)", f"{ig.baseline_value:.4f}", help=f"Baseline: {BASELINE}.")
    cols[2].metric("Σ integrated gradients", f"{ig.scores.sum():.4f}",
                   help="Completeness: this sum should equal f(input) − f(baseline).")
    gap = ig.value - ig.baseline_value
    cols[3].metric("Convergence delta", f"{ig.delta:+.2e}", help="Σ scores − (f(input) − f(baseline)), from captum.")
    st.caption(f"f = {result.target}. Baseline: {BASELINE}. Scores are attributed to the token embedding rows "
               f"and summed over their {d_model} dimensions; with {ig.n_steps} steps the integral misses "
               f"by {abs(ig.delta) / max(abs(gap), 1e-12):.2%} of the change f(input) − f(baseline).")

    methods = {"integrated gradients": ig.scores, "gradient × input": gxi.scores, "attention rollout": result.rollout}
    shown = st.radio("Shade the sentence by", list(methods), horizontal=True, **linked("shade"))
    tokens = [result.tokens[i] for i in window]
    words = colour_words()
    _shaded(tokens, methods[shown][window.start:window.stop], methods[shown], shown, list(window),
            f"{shown}: {words.up} raises f, {words.down} lowers it", f"attribution_{page}")
    matrix = np.stack([m[window.start:window.stop] for m in methods.values()])
    plot(methods_heatmap(matrix, list(methods), tokens, positions=list(window),
                         title="The three methods side by side (each row ÷ its largest |value|)"),
         "attribution_methods")
    agree = np.corrcoef(np.abs(ig.scores), result.rollout)[0, 1] if len(ig.scores) > 1 else float("nan")
    quick = np.corrcoef(ig.scores, gxi.scores)[0, 1] if len(ig.scores) > 1 else float("nan")
    st.caption("Rollout is a share of attention, never negative: it says where information *could* flow, not "
               "whether it raised or lowered f. Compare the size of the colours: "
               f"the correlation of |integrated gradients| with rollout here is {agree:.2f} "
               "(1 = they rank tokens alike). Gradient × input is the first step of a Taylor expansion and "
               "can miss saturated effects that integrated gradients catch; here the first view correlates "
               f"{quick:.2f} with integrated gradients.")
