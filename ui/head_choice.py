"""Which layer and head a page shows: the suggested head, the person's own choice, and the way back.

Until the person picks a layer or head (a slider, a link, a clicked thumbnail), pages open on a head
with a pattern a learner recognises in this sentence (analysis/recognisable.py), not on layer 0,
head 0. An explicit choice lives in one place, the session state under `LAYER` and `HEAD`, follows the
person from page to page, is mirrored into the link (ui/url.py) and always wins; "back to the
suggestion" drops it. A page's layer and head sliders (`pick_layer`, `pick_head`) show that choice
and write it back when moved.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import streamlit as st

from analysis.head_stats import HeadStats, summary_statistics
from analysis.recognisable import HeadChoice, recognisable_head
from core import Trace
from ui import url
from ui.family import special_key_masks
from ui.state import cached

LAYER, HEAD = url.CHOICE


@dataclass(frozen=True)
class HeadFacts:
    """What the suggestion is made from, measured once per trace: every head's statistics and the
    names of the special tokens they are measured on ({"cls": "[CLS]", "sep": "[SEP]"})."""
    stats: HeadStats
    special_names: dict[str, str]


def _fingerprint(trace: Trace) -> tuple:
    """A key for the trace in the shared cache: its text, ids and a digest of its stored residual
    stream's last row at every layer (two models reading the same text differ there), read from what
    the trace stores: no layer is recomputed for it."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(np.ascontiguousarray(trace.hidden_states[:, -1, :]).tobytes())   # (L + 1, d_model)
    return trace.text, tuple(trace.ids), trace.n_layers, trace.n_heads, digest.hexdigest()


def _measure(trace: Trace) -> HeadFacts:
    opening, closing = special_key_masks(trace)
    names = {name: trace.tokens[int(np.flatnonzero(mask)[0])]
             for name, mask in (("cls", opening), ("sep", closing)) if mask.any()}
    return HeadFacts(summary_statistics(trace.summary, opening, closing), names)   # streamed: no (L, H, T, T)


def head_facts(trace: Trace) -> HeadFacts:
    """The trace's head statistics and special-token names, in the server's byte-budgeted cache."""
    return cached(("head facts", *_fingerprint(trace)), lambda: _measure(trace), "Measuring every head…")


def head_stats_of(trace: Trace) -> HeadStats:
    """The trace's head statistics: the same numbers the suggested head is chosen from."""
    return head_facts(trace).stats


def special_names(trace: Trace) -> dict[str, str]:
    """{"cls": "[CLS]", "sep": "[SEP]"} (or "<s>", "</s>"): the special tokens the statistics' "cls"
    and "sep" shares are measured on; empty for a sentence without special tokens (GPT-2)."""
    return head_facts(trace).special_names


# -- the person's choice ------------------------------------------------------------------------------
def explicit(name: str, count: int) -> int | None:
    """The layer or head the person chose (slider, link, thumbnail), clamped; None if they have not."""
    return url.url_index(st.session_state[name], count) if name in st.session_state else None


def choose(layer: int, head: int) -> None:
    """(layer, head) is now the person's choice, on every page and in the link."""
    st.session_state[LAYER], st.session_state[HEAD] = int(layer), int(head)
    url.write_choice(layer, head)


def forget_choice() -> None:
    """Back to the suggested head: the person's layer and head are dropped (session and link)."""
    for name in (LAYER, HEAD):
        st.session_state.pop(name, None)
    url.write_choice(None, None)


def suggested_head(trace: Trace, keep_choices: bool = True) -> HeadChoice:
    """The head to open on, and why: one with a recognisable pattern on this sentence. With
    keep_choices, a layer (or head) the person chose stays and the other is picked to go with it."""
    if trace.n_layers == 0 or trace.n_heads == 0:
        return HeadChoice(0, 0, None, 0.0, "")
    layer = explicit(LAYER, trace.n_layers) if keep_choices else None
    head = explicit(HEAD, trace.n_heads) if keep_choices else None
    facts = head_facts(trace)
    return recognisable_head(facts.stats, len(trace.tokens), facts.special_names, layer, head)


def chosen(name: str, count: int, trace: Trace | None = None, suggestion: HeadChoice | None = None) -> int:
    """The shared "layer" or "head", clamped to this model's `count` (a link may name any number).
    Not chosen yet: the page's `suggestion`, else the suggested head's when the trace is given, else 0."""
    value = explicit(name, count)
    if value is not None or (trace is None and suggestion is None):
        return value or 0
    choice = suggestion or suggested_head(trace)
    return min(choice.layer if name == LAYER else choice.head, count - 1)


# -- the sliders -------------------------------------------------------------------------------------------
def _remember(name: str, widget_key: str, other_key: str) -> None:
    """A slider moved: that is now the person's choice, and so is the other slider's current value
    (moving the layer must not make the head jump to another suggestion)."""
    st.session_state[name] = st.session_state[widget_key]
    other = HEAD if name == LAYER else LAYER
    if other not in st.session_state and other_key in st.session_state:
        st.session_state[other] = st.session_state[other_key]
    url.write_choice(st.session_state.get(LAYER), st.session_state.get(HEAD))


def pick_layer(trace: Trace, page: str | None = None, label: str = "Layer",
               suggestion: HeadChoice | None = None) -> int:
    """A layer slider whose value follows the person from page to page (and into the link); until they
    choose, it starts on the suggested head's layer (the page's own `suggestion`, if it has one)."""
    return _pick(LAYER, trace, page, label, suggestion)


def pick_head(trace: Trace, page: str | None = None, label: str = "Head",
              suggestion: HeadChoice | None = None) -> int:
    return _pick(HEAD, trace, page, label, suggestion)


def _pick(name: str, trace: Trace, page: str | None, label: str, suggestion: HeadChoice | None) -> int:
    count = trace.n_layers if name == LAYER else trace.n_heads
    value = chosen(name, count, trace, suggestion)
    if name in st.session_state:
        st.session_state[name] = value          # a link's number, clamped to this model
    prefix = f"{page}_" if page else url.page_key("")
    widget_key = prefix + name
    st.session_state[widget_key] = value
    if count <= 1:
        return 0
    other_key = prefix + (HEAD if name == LAYER else LAYER)
    st.slider(label, 0, count - 1, key=widget_key, on_change=_remember, args=(name, widget_key, other_key),
              help=f"{count} {name}s, numbered from 0 as in the code.")
    return int(st.session_state[widget_key])
