"""Home: the person's sentence and one striking head first, then three short paths and every page."""
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ui.colour_words import colour_words
from ui.frame import require_frame
from ui.paths import path_cards
from ui.sections import SECTIONS
from ui.head_choice import suggested_head
from ui.state import current_model, current_trace
from ui.widgets import plot, show_text
from viz.attention import attention_heatmap
from viz.common import LAYER_CONVENTION

SHOWN = 40   # tokens in the home page's heatmap

require_frame()
model = current_model()
trace = current_trace()
show_text(trace.text)
st.caption(f"{model.description} · {len(trace.tokens)} tokens: " + " | ".join(trace.tokens[:SHOWN])
           + (" | …" if len(trace.tokens) > SHOWN else ""))

choice = suggested_head(trace, keep_choices=False)
st.subheader(f"One attention head reading your sentence: layer {choice.layer}, head {choice.head}")
window = range(min(len(trace.tokens), SHOWN))     # a long text: its first tokens, readable
plot(attention_heatmap(trace.head(choice.layer, choice.head).weights[:len(window), :len(window)],
                       trace.tokens[:len(window)], f"Layer {choice.layer}, head {choice.head}"
                       + (f" · first {len(window)} of {len(trace.tokens)} tokens" if len(window) < len(trace.tokens)
                          else "")), "home_attention")
st.caption(f"Chosen because {choice.reason} Each row is a token asking *where should I look?*; the row's "
           f"colours are its attention weights over all tokens ({colour_words().more} = more), and they sum to 1. "
           + LAYER_CONVENTION + ".")

st.subheader("Where to start")
path_cards()


def page_guide() -> None:
    """Every page with one line on what it shows, in the menu's order (down the first column, then
    the second); links when the app frame is running."""
    sections = [(name, [entry for entry in entries if entry[0] != "pages/home.py"])
                for name, entries in SECTIONS.items()]
    sections = [(name, entries) for name, entries in sections if entries]
    half = (sum(len(entries) + 1 for _, entries in sections) + 1) // 2
    columns, filled = st.columns(2), 0
    for section, entries in sections:
        where = columns[0 if filled < half else 1]
        filled += len(entries) + 1
        where.markdown(f"**{section}**")
        for path, title, icon, blurb in entries:
            try:
                where.page_link(path, label=title, icon=icon)
            except StreamlitPageNotFoundError:  # this file run alone (tests): no frame to link into
                where.markdown(f"{icon} {title}")
            where.caption(blurb)


with st.expander("Every page, with what it shows"):
    page_guide()
