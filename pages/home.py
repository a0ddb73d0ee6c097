"""Home: what the app shows, the sentence's tokens and one real attention head."""
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ui.frame import require_frame
from ui.sections import SECTIONS
from ui.state import current_model, current_trace
from ui.widgets import plot, show_text
from viz.attention import attention_heatmap

require_frame()
st.title("🔎 Attention Explorer")
st.markdown(
    "Type a sentence in the sidebar and watch a real transformer read it: the tokens it "
    "makes, the attention of every layer and head, the vectors inside, and how context "
    "moves each word's vector from layer to layer. Every number is the real model's number."
)


def page_guide() -> None:
    """Every page with one line on what it shows; links when the app frame is running."""
    sections = [(name, entries) for name, entries in SECTIONS.items() if name != "Start"]
    columns = st.columns(2)
    for i, (section, entries) in enumerate(sections):
        where = columns[i % 2]
        where.markdown(f"**{section}**")
        for path, title, icon, blurb in entries:
            try:
                where.page_link(path, label=title, icon=icon)
            except StreamlitPageNotFoundError:  # this file run alone (tests): no frame to link into
                where.markdown(f"{icon} {title}")
            where.caption(blurb)


with st.expander("What each page shows", expanded=True):
    page_guide()
model = current_model()
st.caption(model.description)
trace = current_trace()
st.subheader("Your sentence")
show_text(trace.text)
st.subheader(f"{len(trace.tokens)} tokens")
st.dataframe({"position": list(range(len(trace.tokens))), "token": trace.tokens, "id": trace.ids},
             hide_index=True, height=min(400, 38 + 35 * len(trace.tokens)))
st.subheader("One attention head: layer 0, head 0")
st.caption("Each row is a token asking *where should I look?*; the row's colours are its "
           "attention weights over all tokens, and they sum to 1.")
plot(attention_heatmap(trace.layers[0].weights[0], trace.tokens), "home_attention")
