"""Session and URL state: the chosen model, sentence, layer and head, and the cached model and trace.

Pages call `current_trace()` and get a Trace, or the page shows a clear message and
stops (empty text, a model that failed to load). The state lives in st.session_state
and is mirrored into the URL's query parameters so a copied link reopens the same view;
every value read from a link goes through `url_index` before a widget sees it.
Each page runs alone too (AppTest), with these defaults.
"""
from __future__ import annotations

import threading
import weakref

import numpy as np
import streamlit as st

from core import Trace
from analysis.head_stats import HeadStats, summary_statistics
from analysis.recognisable import HeadChoice, recognisable_head
from models import EmptyTextError, LoadedModel, load_model
from ui.cache import ByteCache, budget_from_env
from ui.family import special_key_masks
from ui import links
from ui.library import listed_models

DEFAULT_MODEL = "minilm"
DEFAULT_SENTENCE = "Time flies like an arrow."
EXAMPLES = [
    "The early bird eats the worm.",
    "Time flies like an arrow.",
    "Fruit flies like a banana.",
    "He created a miniature Eiffel tower lego model.",
    "I sat on the bank of the river.",
]
MAX_CHARS = 20_000   # more than 512 tokens' worth; the text box refuses beyond this


URL_SENTENCE_LIMIT = 2_000  # longer sentences stay in the session but not in the link
COLOUR_BLIND = "colour_blind"  # the sidebar's "Colour-blind-safe colours" (cb=1 in the link)
URL_INDEX_LIMIT = 4_096     # no model has more layers or heads than this


def url_index(value, upper: int = URL_INDEX_LIMIT) -> int:
    """A layer or head number from a link, clamped to 0..upper-1; anything else ("abc", "-1",
    "2e3", "", 5,000 digits) becomes 0. The one gate for numbers that reach widgets from a URL."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 6:
        return 0
    return max(0, min(int(text), upper - 1))


def init_from_url() -> None:
    """On a fresh session, take model, sentence, layer, head, the colour setting and the page's
    own controls (ui/links.py, set when their page opens) from the link that opened it."""
    if st.session_state.get("_url_read"):
        return
    params = st.query_params
    st.session_state["sentence"] = params.get("sentence", DEFAULT_SENTENCE)[:MAX_CHARS]
    st.session_state["model"] = params.get("model", DEFAULT_MODEL)
    for name in ("layer", "head"):
        if name in params:
            st.session_state[name] = url_index(params[name])
    st.session_state[COLOUR_BLIND] = params.get("cb") == "1"
    links.read_link(params)
    st.session_state["_url_read"] = True


def write_url(page=None) -> None:
    """Mirror the view into the URL so a copied link reopens it: with `page` (st.navigation's),
    also that page's own controls, after setting those a fresh session's link brought."""
    st.query_params["model"] = st.session_state["model"]
    sentence = st.session_state["sentence"]
    if len(sentence) <= URL_SENTENCE_LIMIT:
        st.query_params["sentence"] = sentence
    elif "sentence" in st.query_params:
        del st.query_params["sentence"]
    for name in ("layer", "head"):
        if name in st.session_state:
            st.query_params[name] = str(st.session_state[name])
    if st.session_state.get(COLOUR_BLIND):
        st.query_params["cb"] = "1"
    elif "cb" in st.query_params:
        del st.query_params["cb"]
    if page is not None:
        page_name = getattr(page, "url_path", "") or ""
        links.apply_link(page_name)
        # Controls keyed by a sentence hash only reproduce with the sentence in the link.
        links.write_controls(page_name if len(sentence) <= URL_SENTENCE_LIMIT else "")


# -- models and traces -------------------------------------------------------------------
def model_choices() -> dict[str, str]:
    """Model key -> label for the picker: what this server offers (MiniLM, its models folder, its
    Hugging Face cache) plus what this session trained or opened."""
    choices = dict(listed_models())
    choices.update(st.session_state.get("extra_models", {}))
    return choices


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def get_model(name: str) -> LoadedModel:
    return load_model(name)


@st.cache_resource
def shared_cache() -> ByteCache:
    """One byte budget for every trace and result derived from one, across all sessions
    ($ATTENTION_EXPLORER_CACHE_MB). A Trace is frozen with read-only arrays, so sessions
    share one object; no pickle round trip, no copy."""
    return ByteCache(budget_from_env())


def cached(key: tuple, compute, busy: str):
    """compute() once per key for the whole server, with a spinner while it runs."""
    cache = shared_cache()
    if key in cache:
        return cache.get_or_compute(key, compute)
    with st.spinner(busy, show_time=True):
        return cache.get_or_compute(key, compute)


def trace_for(model_name: str, text: str) -> Trace:
    return cached(("trace", model_name, text), lambda: get_model(model_name).trace(text), "Running the model…")


def current_model_name() -> str:
    name = st.session_state.get("model", DEFAULT_MODEL)
    return name if name in model_choices() else DEFAULT_MODEL


def current_sentence() -> str:
    return st.session_state.get("sentence", DEFAULT_SENTENCE)


def current_model(model_name: str | None = None) -> LoadedModel:
    name = model_name or current_model_name()
    try:
        return get_model(name)
    except (OSError, ValueError) as exc:
        st.error(f"The model {name!r} could not be loaded: {exc}")
        st.stop()


def current_model_and_trace() -> tuple[LoadedModel, Trace]:
    """The sidebar's model and the trace of its sentence (or the page stops with a message)."""
    return current_model(), current_trace()


def current_trace(text: str | None = None, model_name: str | None = None,
                  notice: bool = True) -> Trace:
    """The trace of the sidebar's sentence (or of `text`); stops the page with a message if none."""
    text = current_sentence() if text is None else text
    model_name = model_name or current_model_name()
    current_model(model_name)  # a model that fails to load gets its own message
    try:
        trace = trace_for(model_name, text)
    except EmptyTextError as exc:
        st.info(f"{exc}")
        st.stop()
    except (OSError, ValueError) as exc:
        st.error(f"The model could not read this text: {exc}")
        st.stop()
    if notice and trace.truncated:
        st.warning(
            f"The text made {trace.n_input_tokens:,} tokens; the model reads at most "
            f"{len(trace.tokens)} tokens, so only the first {len(trace.tokens)} are shown"
            + (f" (the last one is the closing {trace.tokens[-1]})." if trace.special_mask[-1] else "."), icon="✂️")
    return trace


# -- layer and head, shared by pages and kept in the URL ---------------------------------------
# Until the person picks a layer or head (a slider, a link, a clicked thumbnail), pages open on a
# head with a pattern a learner recognises in this sentence (analysis/recognisable.py), not on
# layer 0, head 0. An explicit choice is kept in the session (and the URL) and always wins.
_stats_lock = threading.Lock()
_stats_memo: dict[int, tuple[weakref.ref, HeadStats]] = {}   # id(trace) -> (the trace, its statistics)


def head_stats_of(trace: Trace) -> HeadStats:
    """The trace's head statistics, measured once per trace (a weak reference: no trace kept alive)."""
    with _stats_lock:
        hit = _stats_memo.get(id(trace))
        if hit is not None and hit[0]() is trace:
            return hit[1]
    opening, closing = special_key_masks(trace)
    stats = summary_statistics(trace.summary, opening, closing)      # streamed: no (L, H, T, T) needed
    with _stats_lock:
        for key in [key for key, (ref, _) in _stats_memo.items() if ref() is None]:
            del _stats_memo[key]
        _stats_memo[id(trace)] = (weakref.ref(trace), stats)
    return stats


def explicit(name: str, count: int) -> int | None:
    """The layer or head the person chose (slider, link, thumbnail), clamped; None if they have not."""
    return url_index(st.session_state[name], count) if name in st.session_state else None


def suggested_head(trace: Trace, keep_choices: bool = True) -> HeadChoice:
    """The head to open on, and why: one with a recognisable pattern on this sentence. With
    keep_choices, a layer (or head) the person chose stays and the other is picked to go with it."""
    if trace.n_layers == 0 or trace.n_heads == 0:
        return HeadChoice(0, 0, None, 0.0, "")
    layer = explicit("layer", trace.n_layers) if keep_choices else None
    head = explicit("head", trace.n_heads) if keep_choices else None
    return recognisable_head(head_stats_of(trace), len(trace.tokens), special_names(trace), layer, head)


def special_names(trace: Trace) -> dict[str, str]:
    """{"cls": "[CLS]", "sep": "[SEP]"} (or "<s>", "</s>"): the special tokens the statistics' "cls"
    and "sep" shares are measured on; empty for a sentence without special tokens (GPT-2)."""
    opening, closing = special_key_masks(trace)
    return {name: trace.tokens[int(np.flatnonzero(mask)[0])]
            for name, mask in (("cls", opening), ("sep", closing)) if mask.any()}


def chosen(name: str, count: int, trace: Trace | None = None, suggestion: HeadChoice | None = None) -> int:
    """The shared "layer" or "head", clamped to this model's `count` (a link may name any number).
    Not chosen yet: the page's `suggestion`, else the suggested head's when the trace is given, else 0."""
    value = explicit(name, count)
    if value is not None or (trace is None and suggestion is None):
        return value or 0
    choice = suggestion or suggested_head(trace)
    return min(choice.layer if name == "layer" else choice.head, count - 1)


def _remember(name: str, page: str) -> None:
    """A slider moved: that is now the person's choice, and so is the other slider's current value
    (moving the layer must not make the head jump to another suggestion)."""
    st.session_state[name] = st.session_state[f"{page}_{name}"]
    st.query_params[name] = str(st.session_state[name])
    other = "head" if name == "layer" else "layer"
    if other not in st.session_state and f"{page}_{other}" in st.session_state:
        st.session_state[other] = st.session_state[f"{page}_{other}"]
        st.query_params[other] = str(st.session_state[other])


def forget_choice() -> None:
    """Back to the suggested head: the person's layer and head are dropped (session and URL)."""
    for name in ("layer", "head"):
        st.session_state.pop(name, None)
        if name in st.query_params:
            del st.query_params[name]


def pick_layer(trace: Trace, page: str, label: str = "Layer", suggestion: HeadChoice | None = None) -> int:
    """A layer slider whose value follows the person from page to page (and into the URL); until they
    choose, it starts on the suggested head's layer (the page's own `suggestion`, if it has one)."""
    return _pick("layer", trace, page, label, suggestion)


def pick_head(trace: Trace, page: str, label: str = "Head", suggestion: HeadChoice | None = None) -> int:
    return _pick("head", trace, page, label, suggestion)


def _pick(name: str, trace: Trace, page: str, label: str, suggestion: HeadChoice | None) -> int:
    count = trace.n_layers if name == "layer" else trace.n_heads
    value = chosen(name, count, trace, suggestion)
    if name in st.session_state:
        st.session_state[name] = value          # a link's number, clamped to this model
    widget_key = f"{page}_{name}"
    st.session_state[widget_key] = value
    if count <= 1:
        return 0
    st.slider(label, 0, count - 1, key=widget_key, on_change=_remember, args=(name, page),
              help=f"{count} {name}s, numbered from 0 as in the code.")
    return int(st.session_state[widget_key])
