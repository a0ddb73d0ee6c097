"""The faithfulness page's and the flow tab's cached numbers.

What "the output" is depends on the model (see analysis/faithfulness.py):
  a language model     p(y | text), y the token it predicts after the full text
  any other model      cos(embedding of the shortened text, embedding of the full text), the
                       embedding being the mean of the final hidden states, made unit length
                       (all-MiniLM-L6-v2's sentence embedding; for other encoders the same recipe)
Every method then ranks the tokens by how much they feed that output:
  attention (last layer)  the readout of the last layer's mean head: the row of the predicting
                          position, or the mean of all rows for an embedding that averages them
  attention rollout       the same readout of the rollout through every layer
  attention flow          the maximum flow into the readout (analysis/flow.py)
  gradient × input, integrated gradients   of the output itself (log p(y) for a language model)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core import Trace
from analysis.attribution import Target, grad_times_input, integrated_gradients
from analysis.faithfulness import (BINS, Curve, erase_counts, erasure_curves, next_token_scorer,
                               rankable_positions, similarity_scorer)
from analysis.flow import FULL_LIMIT, ROW_LIMIT, attention_flow, flow_into
from analysis.rollout import mean_over_heads, rollout
from ui import url
from ui.attribution import sentence_trace
from ui.jobs import run_job
from ui.state import get_model, trace_for
from ui.widgets import plot, sentence_key, token_labels
from viz.attention import key_bar

IG_STEPS = 16        # a ranking needs fewer steps than the attribution page's completeness check
ATTENTION, ROLLOUT, FLOW = "attention (last layer)", "attention rollout", "attention flow"
GRAD_INPUT, INTEGRATED = "gradient × input", "integrated gradients"


@dataclass(frozen=True)
class Explanations:
    tokens: list[str]
    ids: list[int]
    special_mask: list[bool]
    scores: dict[str, np.ndarray]     # method -> (T,) one score per token, higher = more important
    output: str                       # a sentence saying what the output m is
    notes: tuple[str, ...] = ()       # methods left out, and why


def output_kind(model) -> str:
    return "next token" if model.config.lm_head else "similarity"


def _trace(model_name: str, text: str) -> Trace:
    """The trace the output reads: a sentence encoder's own cut (256 tokens for MiniLM)."""
    model = get_model(model_name)
    if output_kind(model) == "similarity" and model.has_sentence_embedding:
        return sentence_trace(model_name, text)
    return trace_for(model_name, text)


def _explain(model_name: str, text: str, progress) -> Explanations:
    model = get_model(model_name)
    trace = _trace(model_name, text)
    n_tokens, notes = len(trace), []
    if output_kind(model) == "next token":
        predicted = int(np.argmax(trace.logits_at(-1)))
        target = Target("next token", token_id=predicted)
        readout = np.eye(n_tokens)[-1]                                   # (T,) the last position predicts
        word = model.tokenizer.id_to_token(predicted) or f"<{predicted}>"
        output = (f"probability p(“{word}” | text) of the token the model predicts after the full text, "
                  "read after the last token left (the gradients explain its log)")
    else:
        final = trace.layers[-1].resid_post if trace.n_layers else trace.embed   # (T, d_model)
        pooled = final.astype(np.float64).mean(axis=0)
        target = Target("similarity", other=(pooled / max(np.linalg.norm(pooled), 1e-12)).astype(np.float32))
        readout = np.full(n_tokens, 1.0 / n_tokens)                     # (T,) mean pooling reads every token
        what = "sentence embedding" if model.has_sentence_embedding else "mean of the final hidden states"
        output = f"cosine between the {what} of the shortened text and that of the full text (1 for the full text)"
    attentions = trace.attentions                                         # (L, H, T, T)
    scores = {ATTENTION: readout @ mean_over_heads(attentions[-1]) if trace.n_layers else readout,
              ROLLOUT: readout @ rollout(attentions)[-1] if trace.n_layers else readout}
    if n_tokens <= ROW_LIMIT:     # flow: up to a third of the time at 160 tokens, gradients the rest
        scores[FLOW] = flow_into(attentions, readout, progress=lambda fraction: progress(0.3 * fraction))
    else:
        notes.append(f"Attention flow is left out: it is computed up to {ROW_LIMIT} tokens "
                     f"(this text has {n_tokens}; the cost grows like T³).")
    scores[GRAD_INPUT] = grad_times_input(model.net, trace.ids, target).scores
    scores[INTEGRATED] = integrated_gradients(model.net, trace.ids, target, n_steps=IG_STEPS,
                                              progress=lambda fraction: progress(0.3 + 0.7 * fraction)).scores
    frozen = {}
    for name, values in scores.items():   # shared by every session through the cache: read-only
        frozen[name] = np.array(values, dtype=np.float64)
        frozen[name].flags.writeable = False
    return Explanations(list(trace.tokens), list(trace.ids), list(trace.special_mask), frozen, output, tuple(notes))


def explanations_for(model_name: str, text: str) -> Explanations:
    return run_job(("faithfulness explain", model_name, text), lambda progress: _explain(model_name, text, progress),
                   "Ranking the tokens by attention, rollout, flow and gradients")


def n_ranked(explained: Explanations) -> int:
    return len(rankable_positions(explained.special_mask))


def ks_for(explained: Explanations, eraser_bins: bool) -> list[int]:
    return erase_counts(n_ranked(explained), BINS if eraser_bins else None)


def curves_for(model_name: str, text: str, eraser_bins: bool, explained: Explanations) -> dict[str, Curve]:
    """The erasure curves of `explained` (explanations_for's, passed in: one job never waits
    for another in the queue)."""
    def compute(progress) -> dict[str, Curve]:
        net = get_model(model_name).net
        if output_kind(get_model(model_name)) == "next token":
            score, _ = next_token_scorer(net, explained.ids)
        else:
            score = similarity_scorer(net, explained.ids)
        return erasure_curves(explained.ids, explained.special_mask, explained.scores, score,
                              ks_for(explained, eraser_bins), progress=progress)
    return run_job(("faithfulness curves", model_name, text, eraser_bins), compute,
                   "Deleting the top tokens of each ranking and running the model again")


def summary(curves: dict[str, Curve], tokens: list[str], top: int = 3) -> list[dict]:
    """One row per method for a table: the two AOPCs and the tokens it ranks first."""
    rows = []
    for name, curve in curves.items():
        rows.append({"method": name,
                     "comprehensiveness AOPC ↑": round(curve.comprehensiveness_aopc, 4),
                     "sufficiency AOPC ↓": round(curve.sufficiency_aopc, 4),
                     "ranked first": ", ".join(tokens[p] for p in curve.top[:top]) if curve.top else "—"})
    return rows


# -- attention flow beside rollout (the aggregates page) --------------------------------------------
def flow_matrix_for(model_name: str, text: str, residual: float, layer: int) -> np.ndarray:
    """(T, T) flow through layers 0 … layer (up to FULL_LIMIT tokens)."""
    return run_job(("flow", model_name, text, residual, layer),
                   lambda progress: attention_flow(trace_for(model_name, text).attentions[:layer + 1], residual,
                                                   progress=progress),
                   "Solving one max-flow problem per pair of tokens")


def flow_row_for(model_name: str, text: str, residual: float, layer: int, position: int) -> np.ndarray:
    """(T,) flow into one token after layer `layer` (up to ROW_LIMIT tokens)."""
    return run_job(("flow row", model_name, text, residual, layer, position),
                   lambda progress: flow_into(trace_for(model_name, text).attentions[:layer + 1], position, residual,
                                              progress=progress),
                   "Solving one max-flow problem per token")


def flow_into_token(trace: Trace, model_name: str, layer: int, residual: float, page: str) -> None:
    """A long text's flow: a picked token's row as bars (the whole matrix is T² problems), or a message."""
    if len(trace) > ROW_LIMIT:
        st.info(f"Attention flow is computed up to {ROW_LIMIT} tokens (this text has {len(trace)}): each output "
                f"token is {len(trace)} max-flow problems on a graph of {trace.n_layers * len(trace) ** 2:,} pipes. "
                "Rollout, in the tab beside, has no such limit.")
        return
    st.caption(f"The whole matrix is {len(trace)}² max-flow problems, drawn up to {FULL_LIMIT} tokens; here, "
               "the flow into one token.")
    words = [i for i, special in enumerate(trace.special_mask) if not special] or [0]
    position = st.selectbox("Flow into token", range(len(trace)), index=words[0],
                            format_func=token_labels(trace).__getitem__, key=f"{page}_flow_{sentence_key(trace.text)}",
                            bind=url.bound(f"{page}_flow_{sentence_key(trace.text)}"))
    flow = flow_row_for(model_name, trace.text, residual, layer, int(position))
    plot(key_bar(flow, trace.tokens, f"Attention flow into #{position} through layer {layer}",
                 value_name="max flow", highlight=[int(position)]), "attention_flow_row")
    least = [int(i) for i in np.argsort(flow)[:5]]
    st.caption(f"Median flow {np.median(flow):.2f}; least: " + ", ".join(f"#{i} ({flow[i]:.2f})" for i in least)
               + ". Through more layers there are more paths, and most flows climb towards 1: flow tells which "
               "tokens are cut off better than which dominate. The orange bar is the token itself.")
