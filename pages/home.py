"""Home: what the app shows, the sentence's tokens and one real attention head."""
import streamlit as st
from streamlit.errors import StreamlitPageNotFoundError

from ui.frame import require_frame
from ui.sections import SECTIONS
from ui.head_choice import suggested_head
from ui.state import current_model, current_trace
from ui.widgets import plot, show_text
from viz.attention import attention_heatmap

SHOWN = 40   # tokens in the home page's heatmap

require_frame()
st.title("🔎 Attention Explorer")
st.markdown(
    "Type a sentence in the sidebar and watch a real transformer read it: the tokens it "
    "makes, the attention of every layer and head, the vectors inside, and how context "
    "moves each word's vector from layer to layer. Every number is the real model's number."
)


def page_guide() -> None:
    """Every page with one line on what it shows; links when the app frame is running."""
    sections = [(name, [entry for entry in entries if entry[0] != "pages/home.py"]) for name, entries in SECTIONS.items()]
    sections = [(name, entries) for name, entries in sections if entries]
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
choice = suggested_head(trace, keep_choices=False)
st.subheader(f"One attention head: layer {choice.layer}, head {choice.head}")
st.caption(f"Chosen because {choice.reason} Each row is a token asking *where should I look?*; the row's "
           "colours are its attention weights over all tokens (darker = more), and they sum to 1.")
window = range(min(len(trace.tokens), SHOWN))     # a long text: its first tokens, readable
plot(attention_heatmap(trace.layers[choice.layer].weights[choice.head][:len(window), :len(window)],
                       trace.tokens[:len(window)], f"Layer {choice.layer}, head {choice.head}"
                       + (f" · first {len(window)} of {len(trace.tokens)} tokens" if len(window) < len(trace.tokens)
                          else "")), "home_attention")
st.caption("Every other head, and any part of a long text: the *One head* and *All heads* pages.")
