"""The attribution page's helpers: which targets a model offers, and the cached attributions
(gradient × input, integrated gradients and the rollout share, on the same tokens)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core import Trace
from analysis.attribution import Attribution, Target, grad_times_input, integrated_gradients, rollout_share
from analysis.rollout import rollout
from models import LoadedModel
from ui.jobs import run_job
from ui.state import cached, get_model, trace_for

SIMILARITY, STATE, NEXT = "Similarity to a second sentence", "A token's final state", "The next token"
KINDS = {SIMILARITY: "similarity", STATE: "token state", NEXT: "next token"}


# Attribution and the faithfulness test read every layer's full T × T attention at once (rollout, flow) and
# run a backward pass per integrated-gradients step: beyond this many tokens they take minutes and gigabytes.
EXPLAINED_TOKENS = 512


def stop_if_too_long(trace: Trace, what: str) -> None:
    """A text longer than EXPLAINED_TOKENS: say so plainly and stop the page (no work is started)."""
    if len(trace.tokens) > EXPLAINED_TOKENS:
        st.info(f"{what} runs on texts of up to {EXPLAINED_TOKENS} tokens: rollout and flow need every layer's "
                "whole attention matrix at once, and integrated gradients a backward pass per step. This text has "
                f"{len(trace.tokens):,} tokens: shorten it, or read it on One head, All heads and the long-text "
                "views, which work at any length.", icon="📏")
        st.stop()


def targets(model: LoadedModel) -> tuple[list[str], list[str]]:
    """(targets this model offers, a sentence for each one it lacks)."""
    offered, missing = [], []
    if model.has_sentence_embedding:
        offered.append(SIMILARITY)
    else:
        missing.append(f"*{SIMILARITY}* needs a sentence encoder (all-MiniLM-L6-v2 is one; this model is not).")
    if model.config.lm_head:
        offered.append(NEXT)
    else:
        missing.append(f"*{NEXT}* needs an unembedding (next-token logits): pick a decoder such as GPT-2 "
                       "or a model trained in the app.")
    offered.append(STATE)
    return offered, missing


def sentence_trace(model_name: str, text: str) -> Trace:
    """The trace of `text` as the sentence encoder reads it: cut at its own limit (256 for MiniLM)."""
    model = get_model(model_name)
    limit = model.info["sentence"]["max_tokens"]
    full = trace_for(model_name, text)
    if len(full) <= limit and not full.truncated:
        return full

    def compute() -> Trace:
        enc = model.tokenizer.encode(text, max_tokens=limit)
        return model.net.trace(enc.ids, enc.tokens, enc.offsets, enc.special_mask, truncated=enc.truncated,
                               text=text, n_input_tokens=enc.n_input_tokens)
    return cached(("sentence-trace", model_name, text, limit), compute, "Running the model…")


@dataclass(frozen=True)
class FirstView:
    """What one backward pass gives at once: gradient × input, and the rollout share beside it."""
    tokens: list[str]
    grad_input: Attribution
    rollout: np.ndarray          # (T,) the rollout share of each input token in what the target reads
    target: str                  # a sentence saying what f is


@dataclass(frozen=True)
class Explained:
    tokens: list[str]
    grad_input: Attribution
    integrated: Attribution
    rollout: np.ndarray          # (T,) the rollout share of each input token in what the target reads
    target: str                  # a sentence saying what f is


def _target(model_name: str, text: str, kind: str, position: int, other_text: str, token_id: int):
    """(model, the trace attributed, the Target): a sentence encoder's trace is cut at its own limit."""
    model = get_model(model_name)
    trace = sentence_trace(model_name, text) if kind == "similarity" else trace_for(model_name, text)
    other = model.sentence_embedding(other_text) if kind == "similarity" else None
    return model, trace, Target(kind, position=position, other=other, token_id=token_id)


def first_view(model_name: str, text: str, kind: str, position: int = -1, other_text: str = "",
               token_id: int = -1) -> FirstView:
    """Gradient × input and the rollout share: one forward and one backward pass, for the whole server,
    a job of the server's queue (its one kept forward fits the per-job memory budget at 512 tokens)."""
    def compute(progress) -> FirstView:
        model, trace, target = _target(model_name, text, kind, position, other_text, token_id)
        gxi = grad_times_input(model.net, trace.ids, target)
        progress(0.9)
        share = rollout_share(rollout(trace.attentions)[-1], target) if trace.n_layers else np.ones(len(trace))
        return FirstView(list(trace.tokens), gxi, share, gxi.target)
    return run_job(("attribution first view", model_name, text, kind, position, other_text, token_id), compute,
                   "Taking one gradient")


def explain_key(model_name: str, text: str, kind: str, position: int, other_text: str, token_id: int,
                steps: int) -> tuple:
    return ("attribution", model_name, text, kind, position, other_text, token_id, steps)


def explain(model_name: str, text: str, kind: str, position: int = -1, other_text: str = "",
            token_id: int = -1, steps: int = 32) -> Explained:
    """Every method on one target: computed once for the whole server, as a job of the server's
    queue (integrated gradients are most of it, and report their progress)."""
    quick = first_view(model_name, text, kind, position, other_text, token_id)

    def compute(progress) -> Explained:
        model, trace, target = _target(model_name, text, kind, position, other_text, token_id)
        ig = integrated_gradients(model.net, trace.ids, target, n_steps=steps, progress=progress)
        return Explained(quick.tokens, quick.grad_input, ig, quick.rollout, quick.target)
    return run_job(explain_key(model_name, text, kind, position, other_text, token_id, steps), compute,
                   "Taking gradients along the path from the baseline")


def next_token_choices(model: LoadedModel, trace: Trace, k: int = 10) -> dict[int, str]:
    """The k likeliest next tokens after the text: id -> label with its probability."""
    logits = trace.logits_at(-1).astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    return {int(i): f"{model.tokenizer.id_to_token(int(i)) or f'<{i}>'}  ({p[i]:.1%})"
            for i in np.argsort(p)[::-1][:k]}
