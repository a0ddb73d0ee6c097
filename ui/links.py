"""A page's own controls in the link, so a shared link reopens the same figure.

Every widget a page keys `f"{page}_…"` (the page's file name: `attention_head_k`, `embeddings_dims`)
that holds a simple value (int, float, str, bool, None, a list or tuple of those) and is not at
its default goes in the URL as `p.<rest of the key>=<JSON>`: `?p.k=12&p.method="t-SNE"`. The model,
sentence, layer and head have their own parameters (ui/state.py).

A link is untrusted. On a fresh session its controls are read once and kept aside; when the page
named by the link opens, only names of that page's pattern are set, each bounded in length and
decoded to the simple types above (anything else is dropped). A value no widget of the page
accepts (a slider's number out of range, a string for a toggle) makes the widget raise: then the
frame (ui/frame.run_page) drops every control the link set, says so, and runs the page again
with its defaults. Widgets that cannot take a value (buttons, uploads, chart and table
selections) are never written.

Telling a widget's default and kind uses Streamlit's widget records (`widget_record`): when a
Streamlit release changes them, controls simply stay out of the link (tests/test_links.py notices).
"""
from __future__ import annotations

import json
import math
import re

import streamlit as st

from ui.sections import SECTIONS

PARAM = "p."                      # URL names of page controls start with this
NAME = re.compile(r"[a-z0-9_]{1,60}")
MAX_VALUE_CHARS = 300             # one control's JSON in the link
MAX_CONTROLS = 40                 # controls read from one link
MAX_ITEMS = 64                    # items of a list value (a multiselect)
PENDING = "_link_controls"        # a link's controls, kept until their page opens
APPLIED = "_link_applied"         # keys this run set from the link (dropped if the page fails)
RESET_NOTICE = "_link_reset"      # the next run says the link's settings were dropped
SHARED = ("layer", "head")        # `{page}_layer`, `{page}_head`: the shared layer and head's sliders
# Widgets whose value is a plain setting (Streamlit's names for the kinds of value a widget sends).
VALUE_KINDS = {"bool_value", "int_value", "double_value", "string_value", "int_array_value",
               "double_array_value", "string_array_value"}


# -- values <-> text ------------------------------------------------------------------------------
def _plain(value, depth: int = 0):
    """The value as int/float/str/bool/None/tuple/list, or raise ValueError: nothing else crosses."""
    if hasattr(value, "item") and not isinstance(value, (list, tuple)):   # numpy scalars
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("not a finite number")
        return value
    if isinstance(value, (list, tuple)) and depth < 2 and len(value) <= MAX_ITEMS:
        items = [_plain(v, depth + 1) for v in value]
        return tuple(items) if isinstance(value, tuple) else items
    raise ValueError(f"{type(value).__name__} is not a plain value")


def encode(value) -> str | None:
    """A control's value as short JSON text, or None if it cannot or should not go in a link.
    Tuples (a range, a (layer, head) pair) are written {"t": [...]} so they come back as tuples."""
    try:
        plain = _plain(value)
    except ValueError:
        return None

    def jsonable(v):
        if isinstance(v, tuple):
            return {"t": [jsonable(x) for x in v]}
        if isinstance(v, list):
            return [jsonable(x) for x in v]
        return v

    text = json.dumps(jsonable(plain), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= MAX_VALUE_CHARS else None


def decode(text) -> object:
    """A control's value from a link, or raise ValueError: bounded, JSON, plain types only."""
    if not isinstance(text, str) or len(text) > MAX_VALUE_CHARS:
        raise ValueError("too long")

    def unjson(v, depth=0):
        if depth > 3:
            raise ValueError("too deep")
        if isinstance(v, dict):
            if set(v) != {"t"} or not isinstance(v["t"], list):
                raise ValueError("not a tuple")
            return tuple(unjson(x, depth + 1) for x in v["t"])
        if isinstance(v, list):
            return [unjson(x, depth + 1) for x in v]
        return v

    try:
        value = unjson(json.loads(text))
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError("not JSON") from exc
    return _plain(value)


# -- which widgets -------------------------------------------------------------------------------
def widget_record(key: str) -> tuple[str, object] | None:
    """(kind of value, default value) of the widget `key` drawn in the last run, or None (not a
    widget, or a Streamlit whose records look different)."""
    try:
        from streamlit.runtime.state.session_state_proxy import get_session_state

        state = get_session_state()._state
        widget_id = state._key_id_mapper.get_id_from_key(key)
        record = state._new_widget_state.widget_metadata.get(widget_id) if widget_id else None
        if record is None:
            return None
        return record.value_type, record.deserializer(None)
    except Exception:     # a changed Streamlit: leave the controls out of the link
        return None


def page_prefix(page_name: str) -> str:
    return f"{page_name}_"


def owner(key: str) -> str | None:
    """The page a widget key belongs to: the longest page name it starts with ("context_pair_dims"
    is context_pair's, not context's)."""
    names = [path.rsplit("/", 1)[-1].removesuffix(".py") for entries in SECTIONS.values() for path, *_ in entries]
    matching = [name for name in names if key.startswith(page_prefix(name))]
    return max(matching, key=len) if matching else None


def page_controls(page_name: str) -> dict[str, str]:
    """URL parameters for this page's controls that differ from their defaults."""
    prefix = page_prefix(page_name)
    params = {}
    for key in list(st.session_state):
        if not isinstance(key, str) or not key.startswith(prefix) or not NAME.fullmatch(key[len(prefix):]):
            continue
        if owner(key) not in (page_name, None):
            continue                         # another page's widget, still in the session this run
        record = widget_record(key)
        if record is None or record[0] not in VALUE_KINDS:
            continue
        value = st.session_state[key]
        name = key[len(prefix):]
        if name in SHARED:
            continue                         # layer and head: their own parameters (ui/state.py)
        try:
            if _plain(value) == _plain(record[1]):
                continue                     # at its default: the link stays short
        except ValueError:
            continue
        text = encode(value)
        if text is not None:
            params[PARAM + name] = text
        if len(params) >= MAX_CONTROLS:
            break
    return params


# -- link -> session -------------------------------------------------------------------------------
def read_link(params) -> None:
    """A fresh session: keep the link's page controls aside (bounded) until their page opens."""
    pending = {}
    for name in list(params.keys())[: 4 * MAX_CONTROLS]:
        if not name.startswith(PARAM) or not NAME.fullmatch(name[len(PARAM):]):
            continue
        try:
            pending[name[len(PARAM):]] = decode(params.get(name))
        except ValueError:
            continue
        if len(pending) >= MAX_CONTROLS:
            break
    if pending:
        st.session_state[PENDING] = pending


def apply_link(page_name: str) -> None:
    """Set the link's controls for the page that opened (once); the first run that ends well
    makes them the person's own."""
    st.session_state.pop(APPLIED, None)   # the run before ended without an error: nothing to undo
    if st.session_state.pop(RESET_NOTICE, None):
        st.info("Some settings in the link did not fit this page (another model or sentence?), so the "
                "page opened with its own settings.", icon="🔗")
    pending = st.session_state.pop(PENDING, None)
    if not pending or not page_name:
        return
    applied = []
    for name, value in pending.items():
        key = page_prefix(page_name) + name
        if owner(key) in (page_name, None) and key not in st.session_state:
            st.session_state[key] = value
            applied.append(key)
    if applied:
        st.session_state[APPLIED] = applied


def undo_link() -> bool:
    """After the page failed: drop what the link set in this run; True if there was any."""
    applied = st.session_state.pop(APPLIED, None)
    if not applied:
        return False
    for key in applied:
        st.session_state.pop(key, None)
    st.session_state[RESET_NOTICE] = True
    return True


def write_controls(page_name: str) -> None:
    """Replace the link's page controls with this page's current ones (none for "")."""
    current = page_controls(page_name) if page_name else {}
    for name in [n for n in st.query_params.keys() if n.startswith(PARAM) and n not in current]:
        key = page_prefix(page_name) + name[len(PARAM):]
        if page_name and key in st.session_state and widget_record(key) is None:
            continue      # set from the link a moment ago, its widget not drawn yet: keep it in the link
        del st.query_params[name]
    for name, text in current.items():
        if st.query_params.get(name) != text:
            st.query_params[name] = text
