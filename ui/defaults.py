"""Defaults chosen to teach: why a page opened on its head (and a way back to it), and colour
controls offered only when they would change the picture."""
from __future__ import annotations

import streamlit as st

from core import Trace
from analysis.recognisable import HeadChoice
from ui.head_choice import explicit, forget_choice, pick_head, pick_layer, suggested_head

FULL_SCALE = 0.95   # a weight this close to 1 already fills the 0-to-1 colour scale


def head_reason(trace: Trace, page: str, suggestion: HeadChoice | None = None) -> None:
    """Under the layer and head sliders: "Chosen because …" while the page shows the suggested head (the
    page's own `suggestion`, if it made one); after the person picked another one, a button back to it."""
    if trace.n_layers * trace.n_heads <= 1:
        return
    mine = [name for name, count in (("layer", trace.n_layers), ("head", trace.n_heads))
            if explicit(name, count) is not None]
    if len(mine) < 2:
        choice = suggestion or suggested_head(trace)
        st.caption(f"Chosen because {choice.reason} Move a slider to open any other head.")
        return
    choice = suggestion or suggested_head(trace, keep_choices=False)
    here = (explicit("layer", trace.n_layers), explicit("head", trace.n_heads))
    if choice.pattern is not None and here != (choice.layer, choice.head):
        st.button(f"Back to layer {choice.layer} · head {choice.head}, a head with a clear pattern",
                  key=f"{page}_suggested", on_click=forget_choice, icon=":material/undo:",
                  help=f"Chosen for this sentence because {choice.reason}")


def pick_layer_and_head(trace: Trace, page: str) -> tuple[int, int]:
    """Layer and head sliders side by side, opening on the suggested head, with the reason under them."""
    cols = st.columns(2)
    with cols[0]:
        layer = pick_layer(trace, page)
    with cols[1]:
        head = pick_head(trace, page)
    head_reason(trace, page)
    return layer, head


def stretch_changes_nothing(largest: float) -> bool:
    """True when the largest weight shown nearly fills 0 to 1, so "stretch" would redraw the same picture."""
    return largest >= FULL_SCALE


def fixed_scale_note(largest: float) -> None:
    st.caption(f"The strongest weight here is {largest:.2f}, so stretching the colour scale to it would draw "
               "the same picture: that choice is offered when the weights are all small.")
