"""Attention Explorer: the frame. Start-up, sidebar (model, sentence) and navigation; pages do the rest."""
from __future__ import annotations

import streamlit as st

from ui import url
from ui.frame import FAILED_MODEL, run_page, start
from ui.get_model import get_model_box
from ui.glossary import terms_box
from ui.paths import path_progress
from ui.sections import SECTIONS
from ui.state import COLOUR_BLIND, MAX_CHARS, current_model_name, examples_for, model_choices

st.set_page_config(page_title="Attention Explorer", page_icon="🔎", layout="wide")
start()


def use_example() -> None:
    choice = st.session_state.get("example_choice")
    if choice:
        st.session_state["sentence"] = choice
        st.session_state["sentence_box"] = choice


def use_box() -> None:
    st.session_state["sentence"] = st.session_state["sentence_box"]


def sidebar() -> None:
    choices = model_choices()
    missing = st.session_state.get("model") not in choices
    st.session_state["model"] = current_model_name()
    st.sidebar.selectbox("Model", list(choices), format_func=choices.get, key="model")
    # a link naming a model this session has not opened (trained models are per session)
    if missing and FAILED_MODEL not in st.session_state:
        st.sidebar.warning("The link names a model that is not open in this session, so MiniLM is shown. "
                           "Models trained in the app belong to the browser session that trained them.")
    st.sidebar.selectbox("Example sentences", examples_for(st.session_state["model"]), index=None, key="example_choice",
                         placeholder="Pick an example…", on_change=use_example)
    st.session_state.setdefault("sentence_box", st.session_state["sentence"])
    # The sentence runs on Run, Ctrl+Enter, or when the box loses focus (a click on a menu or another
    # page): never on a keystroke (Enter stays a new line), and the box never shows a text the pages have
    # not run. A form would keep typed text in the browser only, and the next page would analyse the old.
    st.sidebar.text_area("Sentence", key="sentence_box", height=110, max_chars=MAX_CHARS, on_change=use_box,
                         help="Run it with the button or Ctrl+Enter. Up to 512 tokens are used.")
    st.sidebar.button("Run", on_click=use_box, type="primary", icon=":material/play_arrow:", width="stretch",
                      key="sentence_run")
    st.sidebar.caption("The sentence and model are shared by every page.")
    st.sidebar.toggle("Colour-blind-safe colours", key=COLOUR_BLIND,
                      help="Every figure in cividis, a blue–orange diverging scale and Okabe–Ito "
                           "categories, readable with any colour vision. Kept in the link.")
    get_model_box()


def navigation():
    pages = {section: [st.Page(path, title=title, icon=icon, default=(section, i) == ("Start", 0))
                       for i, (path, title, icon, _) in enumerate(entries)]
             for section, entries in SECTIONS.items()}
    # Sections as menus in the top bar: the sidebar stays short, with the model and sentence in view.
    return st.navigation(pages, position="top")


url.open_session()      # a shared link's model, sentence, head and colours (ui/url.py says how links work)
page = navigation()
sidebar()
page_file = f"pages/{page.url_path or 'home'}.py"
path_progress(page_file)
terms_box(page_file)
url.write_shared()
run_page(page)          # the page's own controls reach the link through their widgets
