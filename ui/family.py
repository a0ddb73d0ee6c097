"""The right words for the picked model's family: its name, its special tokens, its key/value heads.

Pages call these instead of assuming BERT: a GPT-2 sentence has no [CLS] or [SEP], a Llama
sentence starts with <s>, and grouped-query heads share keys and values. The family names and
the step pages that apply come from the family list (models/families.py); nothing here names a
family. Nothing runs at import.
"""
from __future__ import annotations

import streamlit as st

from core import Trace
from models import LoadedModel
from models.families import checkpoint_names, display_name, step_pages


def model_family(model: LoadedModel) -> str:
    """A short family name for headings: "MiniLM", "GPT-2", "Llama", … or "this model"."""
    if model.name == "minilm":
        return "MiniLM"
    return display_name(model.info.get("family")) or "this model"


def require_step_page(model: LoadedModel, page: str) -> None:
    """Stop a step page, saying why, when its recomputation does not follow this family's mathematics."""
    if page not in step_pages(model.info.get("family")):
        st.info(f"This step is not shown for {model_family(model)} models yet: the page recomputes the model's "
                "numbers by hand, and that recomputation does not follow this family's mathematics. "
                "Every other page works as usual.")
        st.stop()


def checkpoint_caption(model: LoadedModel, names: tuple[str, ...], layer: int) -> None:
    """A caption "… checkpoint's block 2: W_gate = layer.1.DenseReluDense.wi_0, …" for a family whose weight
    names differ from the pages' (T5), so a reader can find them in the model's own code; nothing for the others."""
    theirs = checkpoint_names(model.info.get("family"), model.config)
    shown = [f"{name} = {theirs[name]}" for name in names if name in theirs]
    if shown:
        st.caption(f"The same weights in the {model_family(model)} checkpoint's block {layer}: " + ", ".join(shown)
                   + ".")


def special_tokens(trace: Trace) -> list[str]:
    """The distinct special tokens of this sentence, in order of first appearance (from the
    tokenizer's own special mask: [CLS]/[SEP] for BERT, <s>/</s> for RoBERTa, <s> for Llama)."""
    seen: list[str] = []
    for token, special in zip(trace.tokens, trace.special_mask):
        if special and token not in seen:
            seen.append(token)
    return seen


def specials_text(trace: Trace) -> str | None:
    """"[CLS] and [SEP]", "<s>", … for labels and captions; None when the sentence has none."""
    names = special_tokens(trace)
    if not names:
        return None
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def head_range(first: int, last: int) -> str:
    return str(first) if first == last else f"{first}–{last}"


def kv_note(trace: Trace, head: int) -> str | None:
    """With grouped-query attention: "query heads 0–1 share key/value head 0 (4 query heads, 2 key/value
    heads)". None when every query head has its own keys and values."""
    n, n_kv = trace.n_heads, trace.n_kv_heads
    if not n or n_kv == n:
        return None
    kv = trace.kv_head_of(head)
    group = [h for h in range(n) if trace.kv_head_of(h) == kv]
    return (f"Grouped-query attention: query heads {head_range(group[0], group[-1])} share key/value head {kv} "
            f"({n} query heads, {n_kv} key/value heads; each key/value head serves {n // n_kv} query heads). "
            "Every query head still has its own weights, shown here.")


def special_key_masks(trace: Trace):
    """(opening, closing) key masks for the head statistics' two special-token columns: [CLS]/[SEP] in
    BERT-style sentences, else the tokenizer's own specials (<s> at position 0 opens, the others close)."""
    import numpy as np

    from analysis.head_stats import special_masks

    opening, closing = special_masks(trace.tokens, trace.special_mask)
    if opening.any() or closing.any():
        return opening, closing
    special = np.asarray(trace.special_mask, dtype=bool)
    opening = np.zeros_like(special)
    opening[:1] = special[:1]
    return opening, special & ~opening


def statistic_names(trace: Trace) -> dict[str, tuple[str, str]]:
    """The head statistics with labels in this sentence's words: "on [CLS]" for BERT, "on <s>" for
    Llama, and no special-token columns at all for a sentence without special tokens (GPT-2)."""
    from analysis.head_stats import STATISTICS

    opening, closing = special_key_masks(trace)
    names = dict(STATISTICS)
    for name, mask, where in (("cls", opening, "opening"), ("sep", closing, "closing")):
        tokens = sorted({trace.tokens[i] for i in range(len(trace.tokens)) if mask[i]})
        if not tokens:
            del names[name]
        elif tokens != (["[CLS]"] if name == "cls" else ["[SEP]"]):
            shown = " / ".join(tokens)
            names[name] = (f"on {shown}", f"share of attention on the {where} special token {shown}")
    return names
