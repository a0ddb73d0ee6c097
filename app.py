"""Attention Explorer: the frame. Sidebar (model, sentence) and navigation; pages do the rest."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import (DEFAULT_SENTENCE, EXAMPLES, MAX_CHARS, current_model_name,
                           model_choices)

st.set_page_config(page_title="Attention Explorer", page_icon="🔎", layout="wide")

URL_SENTENCE_LIMIT = 2_000  # longer sentences stay in the session but not in the link

# Pages by section. Each file runs on its own too (tests use AppTest on them).
SECTIONS = {
    "Start": [("pages/home.py", "Home", "🏠", True)],
    "Attention": [
        ("pages/attention_head.py", "One head", "🔥", False),
        ("pages/attention_grid.py", "All heads", "🧩", False),
        ("pages/attention_compare.py", "Compare heads", "⚖️", False),
        ("pages/attention_lines.py", "Lines view", "〰️", False),
        ("pages/attention_aggregate.py", "Aggregates & rollout", "➕", False),
        ("pages/head_stats.py", "Head statistics", "📊", False),
    ],
    "Inside the model": [
        ("pages/step_tokens.py", "1 · Tokenization", "✂️", False),
        ("pages/step_embeddings.py", "2 · Embeddings & positions", "📍", False),
        ("pages/step_head.py", "3 · One head, with numbers", "🧮", False),
        ("pages/step_layer.py", "4 · Heads to next layer", "🧱", False),
        ("pages/step_mask.py", "5 · Masks", "🎭", False),
    ],
    "Meaning": [
        ("pages/embeddings.py", "Embedding space", "🗺️", False),
        ("pages/context.py", "Context at work", "🧭", False),
    ],
    "Train": [
        ("pages/train.py", "Train a tiny transformer", "🏋️", False),
        ("pages/train_results.py", "Try your model", "💬", False),
        ("pages/train_step.py", "One training step", "🔬", False),
        ("pages/seq2seq.py", "Encoder–decoder", "🔁", False),
    ],
}


def init_from_url() -> None:
    """On a fresh session, take model and sentence from the link that opened it."""
    if st.session_state.get("_url_read"):
        return
    params = st.query_params
    st.session_state["sentence"] = params.get("sentence", DEFAULT_SENTENCE)[:MAX_CHARS]
    st.session_state["model"] = params.get("model", "minilm")
    for name in ("layer", "head"):
        if name in params:
            st.session_state[name] = params[name]
    st.session_state["_url_read"] = True


def use_example() -> None:
    choice = st.session_state.get("example_choice")
    if choice:
        st.session_state["sentence"] = choice
        st.session_state["sentence_box"] = choice


def use_box() -> None:
    st.session_state["sentence"] = st.session_state["sentence_box"]


def sidebar() -> None:
    choices = model_choices()
    st.session_state["model"] = current_model_name()
    st.sidebar.selectbox("Model", list(choices), format_func=choices.get, key="model")
    st.sidebar.selectbox("Example sentences", EXAMPLES, index=None, key="example_choice",
                         placeholder="Pick an example…", on_change=use_example)
    st.session_state.setdefault("sentence_box", st.session_state["sentence"])
    st.sidebar.text_area("Sentence", key="sentence_box", height=110, max_chars=MAX_CHARS,
                         on_change=use_box,
                         help="Press Ctrl+Enter (or click outside) to run it. Up to 512 tokens are used.")
    st.sidebar.caption("The sentence and model are shared by every page.")


def write_url() -> None:
    """Mirror the view into the URL so a copied link reopens it."""
    st.query_params["model"] = st.session_state["model"]
    sentence = st.session_state["sentence"]
    if len(sentence) <= URL_SENTENCE_LIMIT:
        st.query_params["sentence"] = sentence
    elif "sentence" in st.query_params:
        del st.query_params["sentence"]
    for name in ("layer", "head"):
        if name in st.session_state:
            st.query_params[name] = str(st.session_state[name])


def navigation():
    here = Path(__file__).parent
    pages = {}
    for section, entries in SECTIONS.items():
        built = [st.Page(path, title=title, icon=icon, default=default)
                 for path, title, icon, default in entries if (here / path).is_file()]
        if built:
            pages[section] = built
    return st.navigation(pages)


init_from_url()
page = navigation()
sidebar()
write_url()
page.run()
