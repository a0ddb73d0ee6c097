"""The link: how a copied URL reopens the same figure. The only module that reads or writes st.query_params.

A link such as

    /attention_aggregate?model=minilm&sentence=Time+flies…&layer=3&head=7&cb=1&attention_aggregate_residual=0.3

holds two kinds of parameter:

1. The frame's shared choices, written here on every run (`write_shared`) and read once, on a
   session's first run (`open_session`): `model`, `sentence` (up to URL_SENTENCE_LIMIT characters),
   `layer` and `head` (the person's explicit head, ui/head_choice.py; absent while a page shows its
   suggested head) and `cb=1` (colour-blind-safe colours). Layer and head numbers pass through
   `url_index`, the one gate for numbers that reach widgets from a link.
2. A page's own controls, one parameter per control, named by the widget's key: the page's file name,
   then the control's name (`attention_aggregate_residual`). Streamlit writes and reads them itself
   (`bind="query-params"` on the widget, see ui/widgets.linked): a control at its default stays out of
   the link, a changed one goes in, and a link's value seeds the widget when the page opens. Streamlit
   also checks each value against its widget (a number outside the slider, an option the selectbox
   lacks, "abc" for a toggle): what does not fit is dropped and the widget opens on its default.

A link is untrusted. Before any widget reads it, `open_session` drops what is too big for a control
(a value over MAX_VALUE_CHARS, a list over MAX_ITEMS, a name that no key could have, more than
MAX_CONTROLS controls) and runs the page again on the cleaned link. After the page that the link
opened has run, `check_link` notices the controls the page refused, so the next run says that the
link's settings did not all fit (Streamlit also drops a value equal to the control's default here,
which looks the same: a link the app wrote holds none, unless a control's default follows another
control). A page that fails on a value it accepted opens again without the link's values (`undo_link`).
The page's name (the prefix of its keys) comes from the frame (`set_page`, from ui/frame.py), never
from a constant each page must remember.
"""
from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from ui.state import COLOUR_BLIND, DEFAULT_MODEL, DEFAULT_SENTENCE, MAX_CHARS, URL_SENTENCE_LIMIT
from ui.state import PAGE as _page
from ui.state import page_name  # noqa: F401  (the page this run shows: kept in state, which reads it too)

LINK = "query-params"            # Streamlit's public binding of a widget's value to the URL
SHARED = ("model", "sentence", "layer", "head", "cb")     # the frame's own parameters
CHOICE = ("layer", "head")       # the person's explicit layer and head (ui/head_choice.py)
NAME = re.compile(r"[\w .\-]{1,80}")   # a control's parameter: a key as pages write them (presets may have spaces)
MAX_VALUE_CHARS = 300            # one control's value in the link
MAX_ITEMS = 64                   # values of one control (a multiselect, a range)
MAX_CONTROLS = 40                # controls read from one link
URL_INDEX_LIMIT = 4_096          # no model has more layers or heads than this

OPENED = "_url_read"             # session-state marks: the link was read, ...
LINK_CONTROLS = "_link_controls"  # ... the page controls it brought (until their page has run once),
RESET_NOTICE = "_link_reset"     # ... and the next run says some of them did not fit.
UNBOUND = "_link_unbound"        # keys drawn once without the link (their values in it broke the page)


# -- the page whose controls are in the link ------------------------------------------------------
def set_page(name: str) -> None:
    """The frame names the page this run shows (its file name): the prefix of its controls' keys."""
    _page.set(name)


def page_file(path: str) -> None:
    """A page script names itself: ui/frame.require_frame passes the script's own file (the same name
    the frame gave it; a page run alone, or by Streamlit's old pages-folder mode, has no frame)."""
    _page.set(Path(path).stem)




def page_key(name: str) -> str:
    """A control's key and URL name: `attention_head_hide` for `hide` on the One head page."""
    page = page_name()
    return f"{page}_{name}" if page else name


# -- shared parameters -------------------------------------------------------------------------------
def url_index(value, upper: int = URL_INDEX_LIMIT) -> int:
    """A layer or head number from a link, clamped to 0..upper-1; anything else ("abc", "-1",
    "2e3", "", 5,000 digits) becomes 0. The one gate for numbers that reach widgets from a URL."""
    text = str(value).strip()
    if not text.isdigit() or len(text) > 6:
        return 0
    return max(0, min(int(text), upper - 1))


def open_session() -> None:
    """A session's first run: take model, sentence, layer, head and the colour setting from the link,
    and make its page controls safe to hand to widgets (dropping what is too big, then running again
    on the cleaned link before any widget has read it)."""
    if st.session_state.get(OPENED):
        return
    st.session_state[OPENED] = True
    params = st.query_params
    st.session_state["sentence"] = params.get("sentence", DEFAULT_SENTENCE)[:MAX_CHARS]
    st.session_state["model"] = params.get("model", DEFAULT_MODEL)
    for name in CHOICE:
        if name in params:
            st.session_state[name] = url_index(params[name])
    st.session_state[COLOUR_BLIND] = params.get("cb") == "1"
    kept, dropped = [], []
    for name in list(params.keys()):
        if name in SHARED:
            continue
        values = params.get_all(name)
        fits = (NAME.fullmatch(name) and len(values) <= MAX_ITEMS and len(kept) < MAX_CONTROLS
                and all(len(value) <= MAX_VALUE_CHARS for value in values))
        (kept if fits else dropped).append(name)
    st.session_state[LINK_CONTROLS] = kept
    if dropped:
        for name in dropped:
            del params[name]
        st.session_state[RESET_NOTICE] = True
        st.rerun()      # widgets seed from the link a run starts with: start again on the cleaned one


def write_shared() -> None:
    """Mirror the frame's choices into the URL so a copied link reopens them."""
    params = st.query_params
    params["model"] = st.session_state["model"]
    sentence = st.session_state["sentence"]
    _put("sentence", sentence if len(sentence) <= URL_SENTENCE_LIMIT else None)
    for name in CHOICE:
        _put(name, str(st.session_state[name]) if name in st.session_state else None)
    _put("cb", "1" if st.session_state.get(COLOUR_BLIND) else None)


def switch_page(page: str) -> None:
    """Go to `page` with the frame's parameters in the link (model, sentence, layer, head, colours) and not this
    page's own controls: Streamlit refuses to clear a link that holds bound controls (the patching page's prompts)."""
    st.switch_page(page, query_params={name: st.query_params[name] for name in SHARED if name in st.query_params})


def write_choice(layer: int | None, head: int | None) -> None:
    """The person's layer and head in the link now (None: dropped, back to the suggestion)."""
    _put("layer", None if layer is None else str(int(layer)))
    _put("head", None if head is None else str(int(head)))


def _put(name: str, text: str | None) -> None:
    params = st.query_params
    if text is None:
        if name in params:
            del params[name]
    elif params.get(name) != text:
        params[name] = text


# -- what the link set on its page ---------------------------------------------------------------------
def link_notice() -> None:
    """Say, once, that some of the link's settings did not fit the page it opened."""
    if st.session_state.pop(RESET_NOTICE, None):
        st.info("Some settings in the link did not fit this page (another model or sentence?), so the "
                "page opened with its own settings for them.", icon="🔗")


def check_link() -> None:
    """After the page the link opened has run once: the controls it named that are no longer in the
    link were refused by their widgets (Streamlit drops a value that does not fit): say so."""
    st.session_state.pop(UNBOUND, None)     # the page ran well: its controls go back into the link
    brought = st.session_state.pop(LINK_CONTROLS, None)
    prefix = page_key("")
    if not brought or not prefix:
        return
    refused = [name for name in brought if name.startswith(prefix) and name not in st.query_params]
    if refused:
        st.session_state[RESET_NOTICE] = True
        st.rerun()


def undo_link() -> bool:
    """The page the link opened failed: forget the values its controls took from the link (their
    widgets open on their defaults) and say so; True if the link had set any."""
    brought = st.session_state.pop(LINK_CONTROLS, None)
    prefix = page_key("")
    mine = [name for name in brought or () if prefix and name.startswith(prefix)]
    if not mine:
        return False
    for name in mine:
        st.session_state.pop(name, None)
    st.session_state[UNBOUND] = mine   # drawn once unbound: Streamlit then takes them out of the URL
    st.session_state[RESET_NOTICE] = True
    return True


def bound(key: str) -> str | None:
    """The `bind` for a control keyed `key`: the link, unless its value from the link broke the page."""
    return None if key in st.session_state.get(UNBOUND, ()) else LINK
