"""What every page shares: the cached model, the cached trace, the chosen layer/head.

Pages call `current_trace()` and get a Trace, or the page shows a clear message and
stops (empty text, a model that failed to load). The state lives in
st.session_state and is mirrored into the URL's query parameters so a copied link
reopens the same view. Each page runs alone too (AppTest), with these defaults.
"""
from __future__ import annotations

import streamlit as st

from core import Trace
from models import EmptyTextError, LoadedModel, load_model
from models.runtime import configure

configure()


def _leave_pages_folder_mode() -> None:
    """Make a shared link open its page inside the frame, even as a fresh server's first request.

    Streamlit treats a `pages/` folder beside the main script as the old multipage layout
    until the first `st.navigation` call. A link such as /attention_head?layer=2 that is the
    server's first request would then run the page file alone: no sidebar, and the link's
    sentence, layer and head ignored. Turning that mode off and rerunning sends the run
    through app.py, whose `st.navigation` opens the same page. Happens once per server.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_leave_pages_folder_mode()

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


# -- models and traces -------------------------------------------------------------------
def model_choices() -> dict[str, str]:
    """Model key -> label for the picker: MiniLM plus what this session trained or loaded."""
    choices = {DEFAULT_MODEL: "MiniLM (pretrained BERT, 6 layers × 12 heads)"}
    choices.update(st.session_state.get("extra_models", {}))
    return choices


@st.cache_resource(show_spinner="Loading the model…", max_entries=8)
def get_model(name: str) -> LoadedModel:
    return load_model(name)


# A Trace is frozen with read-only arrays, so sharing one object between sessions is
# safe; cache_resource avoids cache_data's pickle round trip (150 MB at 512 tokens).
@st.cache_resource(show_spinner="Running the model…", max_entries=32)
def trace_for(model_name: str, text: str) -> Trace:
    return get_model(model_name).trace(text)


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
            f"{len(trace.tokens)} tokens, so only the first {len(trace.tokens)} are shown "
            "(the last one is the closing [SEP]).", icon="✂️")
    return trace


# -- layer and head, shared by pages and kept in the URL ---------------------------------------
def _clamp(value, upper: int) -> int:
    try:
        return max(0, min(int(value), upper - 1))
    except (TypeError, ValueError):
        return 0


def _remember(name: str, widget_key: str) -> None:
    st.session_state[name] = st.session_state[widget_key]
    st.query_params[name] = str(st.session_state[name])


def pick_layer(trace: Trace, page: str, label: str = "Layer") -> int:
    """A layer slider whose value follows the person from page to page (and into the URL)."""
    return _pick("layer", trace.n_layers, page, label)


def pick_head(trace: Trace, page: str, label: str = "Head") -> int:
    return _pick("head", trace.n_heads, page, label)


def _pick(name: str, count: int, page: str, label: str) -> int:
    value = _clamp(st.session_state.get(name, 0), count)
    widget_key = f"{page}_{name}"
    st.session_state[widget_key] = value
    if count <= 1:
        st.session_state[name] = 0
        return 0
    st.slider(label, 0, count - 1, key=widget_key, on_change=_remember, args=(name, widget_key),
              help=f"{count} {name}s, numbered from 0 as in the code.")
    st.session_state[name] = st.session_state[widget_key]
    return int(st.session_state[widget_key])


def show_text(text: str, limit: int = 300) -> None:
    """The person's raw sentence, shown literally (never as markdown or HTML)."""
    st.text(text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)")
