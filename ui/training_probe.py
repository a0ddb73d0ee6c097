"""Heads forming during training: a "training step" slider over a run's probe snapshots.

The other pages compare layers; this compares moments of one run. For the step chosen it
draws the probe's attention (one head, or the mean of a layer's heads), the embedding
rows in one fixed 2-D basis (the last step's PCA, so motion on the map is real), and a
line of the statistic that shows a head forming: previous-token share for the language
model, anti-diagonal share of cross-attention for the reversal model.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import streamlit as st

from training.probe import ProbeRecorder
from ui import url
from ui.widgets import plot, show_text
from viz.attention import attention_heatmap
from viz.training import embedding_map, square_cells, statistic_curve


def letters_heatmap(weights: np.ndarray, query_tokens: Sequence[str], key_tokens: Sequence[str],
                    query_title: str, key_title: str, title: Optional[str] = None):
    """A dozen letters at most: a number in every square cell, the figure as wide as its cells so that
    the colour bar stays beside the heatmap."""
    fig = attention_heatmap(weights, query_tokens, title, key_tokens=key_tokens, query_title=query_title,
                            key_title=key_title, numbers=True)
    return square_cells(fig, len(query_tokens), len(key_tokens))


def show_letters(fig, name: str, where=st) -> None:
    """A letters heatmap at its own width (stretched, the colour bar would drift to the column's edge)."""
    where.plotly_chart(fig, width="content", config={"toImageButtonOptions": {"filename": name, "scale": 2}})


def step_slider(recorder: ProbeRecorder, key: str) -> int:
    """The kept steps on a slider, starting at the last (the trained model)."""
    steps = recorder.steps
    if st.session_state.get(key) not in steps:       # a new run keeps other steps: start at its end
        st.session_state[key] = steps[-1]
    return st.select_slider("Training step", options=steps, key=key, bind=url.bound(key),
                            help="Only these steps were kept: evenly spaced, at most "
                                 f"{recorder.limit} snapshots per run.")


def training_scrubber(recorder: Optional[ProbeRecorder], key: str, layer: int, head: Optional[int],
                      letters: bool = False) -> None:
    """The probe at a chosen training step; `head` None means the mean of the layer's heads."""
    if recorder is None:
        st.info("No snapshots were kept for this run: it stopped before its first step, or its text gave "
                "the probe fewer than two tokens or words.")
        return
    probe, steps = recorder.probe, recorder.steps
    if len(steps) < 2:
        st.info("Only the random start was recorded: the run stopped before its first snapshot. "
                "Train again (or longer) to watch the heads form.")
        return
    n_layers, n_heads = recorder.snapshots[0].attentions.shape[:2]
    layer, head = min(layer, n_layers - 1), None if head is None else min(head, n_heads - 1)
    show_text(probe.text)                                    # the probe may be the person's own text: literal
    st.caption(f"This probe was run every {recorder.every:,} steps while training: {len(steps)} snapshots kept "
               f"(at most {recorder.limit}, evenly thinned when full), {recorder.nbytes / 1e6:.2f} MB in this "
               "session.")
    step = step_slider(recorder, key)
    snap = recorder.at(step)
    values = recorder.statistic()[:, layer, :]                                    # (steps, heads)
    plot(statistic_curve(steps, values, step, probe.statistic, [f"head {h}" for h in range(n_heads)], head,
                         f"{probe.statistic.capitalize()} of layer {layer}'s heads while training"),
         f"{key}_statistic")
    weights = snap.attentions[layer].mean(axis=0) if head is None else snap.attentions[layer, head]
    which = f"layer {layer}, " + ("mean of heads" if head is None else f"head {head}")
    c1, c2 = st.columns(2)
    if letters:
        show_letters(letters_heatmap(weights, probe.query_tokens, probe.key_tokens, "decoder input (query)",
                                     "encoder letter (key)", f"Cross-attention at step {step:,}, {which}"),
                     f"{key}_attention", c1)
    else:
        plot(attention_heatmap(weights, probe.query_tokens, f"Attention at step {step:,}, {which}",
                               key_tokens=probe.key_tokens), f"{key}_attention", c1)
    points, explained = recorder.embedding_map()                                  # (steps, words, 2)
    low, high = points.min(axis=(0, 1)), points.max(axis=(0, 1))
    pad = 0.08 * np.maximum(high - low, 1e-6)
    ranges = ((low[0] - pad[0], high[0] + pad[0]), (low[1] - pad[1], high[1] + pad[1]))
    plot(embedding_map(points[steps.index(snap.step)], probe.words, probe.groups, f"Embeddings at step {step:,}",
                       explained, ranges), f"{key}_embeddings", c2)
    c2.caption("Axes: the last step's two main directions (PCA), the same at every step, so a point that "
               "moves has really moved. " + ("Each point is one letter's row of the encoder's embedding table."
                                             if letters else
                                             "At the random start the groups are mixed; training pulls them apart."))
