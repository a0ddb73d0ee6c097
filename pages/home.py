"""Home: what the app shows, the sentence's tokens and one real attention head."""
import streamlit as st

from pages._shared import current_model, current_trace, show_text
from viz.attention import attention_heatmap

st.title("🔎 Attention Explorer")
st.markdown(
    "Type a sentence in the sidebar and watch a real transformer read it: the tokens it "
    "makes, the attention of every layer and head, the vectors inside, and how context "
    "moves each word's vector from layer to layer. Every number is the real model's number."
)
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
st.plotly_chart(attention_heatmap(trace.layers[0].weights[0], trace.tokens), width="stretch")
