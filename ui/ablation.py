"""Knock heads out: the map of every head's effect, exact or (on a long text, at once) estimated.

A short text gets the exact map when the page opens (about a second). A long one would wait for a
click (the exact map is one rerun per head, seconds to a minute in the server's queue), so it opens
on an estimate from gradients (analysis/ablation_estimate.py: one forward and PROBES backward
passes), drawn as the same layers × heads map and titled as an estimate; the exact map is one click
away, and once it exists the page says how well the estimate ranked the heads.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from analysis.ablation_estimate import PROBES, estimated_importance, rank_agreement
from ui.attention import head_map
from ui.colour_words import colour_words
from ui.heads import MAP_ON_LOAD, importance_for, map_on_load
from ui.jobs import run_job
from ui.state import current_model
from viz.heads import statistic_heatmap


def estimate_key(model_name: str, text: str, mode: str) -> tuple:
    return ("head importance estimate", model_name, text, mode)


def estimate_for(model_name: str, text: str, mode: str) -> np.ndarray:
    """(L, H) the gradient estimate of every head's knock-out effect: once per text for the whole server,
    a job of the server's queue (its one kept forward pass fits the per-job memory budget at 512 tokens)."""
    model = current_model(model_name)
    ids = model.tokenizer.encode(text).ids
    return run_job(estimate_key(model_name, text, mode),
                   lambda progress: estimated_importance(model.net, ids, mode, progress=progress),
                   "Estimating every head's effect from gradients")


def _label(layer: int, head: int) -> str:
    return f"layer {layer}, head {head}"


def _top(values: np.ndarray) -> tuple[int, int]:
    layer, head = np.unravel_index(int(np.nanargmax(values)), values.shape)
    return int(layer), int(head)


def _estimate_map(estimate: np.ndarray, n: int, measure: str, mode: str, page: str) -> None:
    st.caption(f"**An estimate, not the knock-outs themselves.** This text is long, so the page first draws a "
               f"quick estimate from gradients (one forward and {PROBES} backward passes for all {n} heads at "
               f"once): how far the {measure} would move if each head's output changed by what a knock-out "
               f"changes, to first order. {colour_words().more.capitalize()} heads would change the output most.")
    head_map(statistic_heatmap(estimate, "estimated effect", clickable=True,
                               title=f"ESTIMATED effect of knocking out each head ({mode}, from gradients)"),
             f"{page}_estimate", key=f"{page}_estimate_click")
    st.caption(f"The estimate's strongest head: {_label(*_top(estimate))}. The exact map knocks every head out "
               f"for real ({n} runs, in the server's queue for expensive work).")


def importance_section(model_name: str, trace, mode: str, measure: str, page: str) -> None:
    """The "Which heads matter" map: exact when at hand, else the estimate with the exact one a click away."""
    n = trace.n_layers * trace.n_heads
    st.subheader("Which heads matter for this sentence")
    more = colour_words().more.capitalize()
    exact_now = map_on_load(model_name, trace, mode)
    long_text = len(trace.tokens) > MAP_ON_LOAD
    estimate = estimate_for(model_name, trace.text, mode) if long_text else None
    holder = st.empty()
    if not exact_now and estimate is not None:
        with holder.container():
            _estimate_map(estimate, n, measure, mode, page)
            if not st.button("Compute the exact map", key=f"{page}_map", type="primary"):
                return
    effects = importance_for(model_name, trace.text, mode)       # its progress bar under the estimate
    holder.empty()                                               # the exact map takes the estimate's place
    st.caption(f"Every head knocked out alone, one at a time ({n} runs, batched): the colour is the {measure}. "
               f"{more} heads change the output most.")
    head_map(statistic_heatmap(effects, "effect", title=f"Effect of knocking out each head ({mode})", clickable=True),
             f"{page}_map", key=f"{page}_map_click")
    st.caption(f"The head that matters most here: {_label(*_top(effects))}. **Click a cell to open that head** on "
               "*One head*.")
    if estimate is not None:
        rho = rank_agreement(estimate, effects)
        st.caption(f"The quick estimate from gradients ranked the heads with a rank correlation of **{rho:.2f}** to "
                   f"this exact map (1 = the same order); its strongest head was {_label(*_top(estimate))}, "
                   f"the exact map's is {_label(*_top(effects))}.")


def first_head(model_name: str, trace) -> tuple[int, int]:
    """The head to knock out first, the one whose loss changes the output most (zeroed): by the exact map when
    it is at hand, else by the estimate (a long text), so the page never opens on a head that changes nothing."""
    if map_on_load(model_name, trace, "zero"):
        return _top(importance_for(model_name, trace.text, "zero"))
    return _top(estimate_for(model_name, trace.text, "zero"))
