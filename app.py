"""Attention Explorer: the frame. Sidebar (model, sentence) and navigation; pages do the rest."""
from __future__ import annotations

import streamlit as st

from pages._sections import SECTIONS
from pages._shared import (DEFAULT_SENTENCE, EXAMPLES, MAX_CHARS, current_model_name,
                           model_choices)

st.set_page_config(page_title="Attention Explorer", page_icon="🔎", layout="wide")

URL_SENTENCE_LIMIT = 2_000  # longer sentences stay in the session but not in the link


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
    pages = {section: [st.Page(path, title=title, icon=icon, default=(section, i) == ("Start", 0))
                       for i, (path, title, icon, _) in enumerate(entries)]
             for section, entries in SECTIONS.items()}
    # Sections as menus in the top bar: the sidebar stays short, with the model and sentence in view.
    return st.navigation(pages, position="top")


init_from_url()
page = navigation()
sidebar()
write_url()
page.run()
