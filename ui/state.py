"""Session state: the chosen model and sentence, and the cached model, trace and results.

Pages call `current_trace()` and get a Trace, or the page shows a clear message and
stops (empty text, a model that failed to load). The model and sentence live in
st.session_state (the link that reopens them is ui/url.py; the layer and head, ui/head_choice.py).
Each page runs alone too (AppTest), with these defaults.
"""
from __future__ import annotations

import contextvars
from pathlib import Path

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import Trace
from models import EmptyTextError, LoadedModel, LoadedSeq2Seq, load_model
from models.families import display_name, page_applies
from models.shipped import EXAMPLE_PROMPTS, GRAMMAR_LM
from ui.cache import ByteCache, budget_from_env
from ui.paths import link
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
# The Grammar LM knows only the built-in corpus's words: its examples are sentences of that grammar.
GRAMMAR_EXAMPLES = list(EXAMPLE_PROMPTS) + [
    "the dogs near the bird run .",
    "she is the queen and she rides her horse .",
]


def examples_for(model_name: str) -> list[str]:
    """The sidebar's example sentences for the picked model."""
    return GRAMMAR_EXAMPLES if model_name == GRAMMAR_LM else EXAMPLES


MAX_CHARS = 20_000   # more than 512 tokens' worth; the text box refuses beyond this
URL_SENTENCE_LIMIT = 2_000  # longer sentences stay in the session but not in the link (ui/url.py)
COLOUR_BLIND = "colour_blind"  # the sidebar's "Colour-blind-safe colours" (cb=1 in the link)


# The page this run shows (its file name): set by the frame (ui/url.set_page) or by the page itself.
PAGE = contextvars.ContextVar("page", default="")


def page_name() -> str:
    """The page this run shows: the frame's word, else (a page run alone, as tests do) the script's
    own file name."""
    name = PAGE.get()
    if not name:
        ctx = get_script_run_ctx()
        script = Path(ctx.main_script_path) if ctx is not None else None
        name = script.stem if script is not None and script.name != "app.py" else ""
    return name


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
    """The trace of `text`; for an encoder–decoder, its encoder's (the pages in ENCODER_PAGES read it)."""
    def run() -> Trace:
        model = get_model(model_name)
        return model.encoder_trace(text) if isinstance(model, LoadedSeq2Seq) else model.trace(text)
    return cached(("trace", model_name, text), run, "Running the model…")


def current_model_name() -> str:
    name = st.session_state.get("model", DEFAULT_MODEL)
    return name if name in model_choices() else DEFAULT_MODEL


def current_sentence() -> str:
    return st.session_state.get("sentence", DEFAULT_SENTENCE)


def use_sentence(text: str) -> None:
    """`text` becomes the app's sentence, the sidebar's box included: a widget callback (it runs before
    the box is drawn), as a corpus sentence's "Open in One head" or a click on the patching map."""
    st.session_state["sentence"] = text
    st.session_state["sentence_box"] = text


def current_model(model_name: str | None = None) -> LoadedModel:
    """The sidebar's model (or `model_name`); a page that does not read this model's family stops, saying why."""
    name = model_name or current_model_name()
    try:
        model = get_model(name)
    except (OSError, ValueError) as exc:
        st.error(f"The model {model_choices().get(name, 'you picked')} could not be loaded: {exc}")  # no server path
        st.stop()
    require_page_applies(model)
    return model


def require_page_applies(model) -> None:
    """An encoder–decoder (T5, BART, Marian) is two stacks read through cross-attention: pages built for one
    stack of attention say so and point to the page that shows it, instead of showing half the model."""
    family = model.info.get("family")
    if page_applies(family, page_name()):
        return
    st.info(f"The picked model is an encoder–decoder ({display_name(family)}): an encoder reads the source and "
            "a decoder "
            "writes the output, reading the source through cross-attention. This page reads one stack of "
            "attention and one list of blocks, so it does not apply to it. Open **Encoder–decoder** (under "
            "Train) to see its encoder, its decoder and which source words each output word read; or pick "
            "another model in the sidebar.")
    link(st, "pages/seq2seq.py", "Open Encoder–decoder")
    st.stop()


def current_model_and_trace() -> tuple[LoadedModel, Trace]:
    """The sidebar's model and the trace of its sentence (or the page stops with a message)."""
    return current_model(), current_trace()


def current_trace(text: str | None = None, model_name: str | None = None,
                  notice: bool = True) -> Trace:
    """The trace of the sidebar's sentence (or of `text`); stops the page with a message if none."""
    text = current_sentence() if text is None else text
    model_name = model_name or current_model_name()
    model = current_model(model_name)  # a model that fails to load gets its own message
    try:
        trace = trace_for(model_name, text)
    except EmptyTextError as exc:
        st.info(f"{exc}")
        st.stop()
    except (OSError, ValueError) as exc:
        st.error(f"The model could not read this text: {exc}")
        st.stop()
    if notice and isinstance(model, LoadedSeq2Seq):
        st.caption(f"The picked model is an encoder–decoder ({display_name(model.info.get('family'))}): this page "
                   "reads its encoder, which reads the source. The decoder and its cross-attention to the source are "
                   "on the Encoder–decoder page.")
    if notice and trace.truncated:
        st.warning(
            f"The text made {trace.n_input_tokens:,} tokens; the model reads at most "
            f"{len(trace.tokens)} tokens, so only the first {len(trace.tokens)} are shown"
            + (f" (the last one is the closing {trace.tokens[-1]})." if trace.special_mask[-1] else "."), icon="✂️")
    return trace
