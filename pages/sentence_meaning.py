"""Sentence meaning: MiniLM's sentence embeddings, their cosines, a map, and which tokens carry a similarity."""
import numpy as np
import streamlit as st

from analysis.sentence import similarity_by_token
from ui.frame import require_frame
from ui.heads import sentence_list, sentence_vectors, similarity_and_map
from ui.state import current_model, current_model_name, current_sentence
from ui.widgets import linked, plot, show_text
from viz.attention import attention_heatmap, key_bar
from viz.embedding_space import projection_figure

require_frame()
st.title("📐 Sentence meaning")
st.markdown("all-MiniLM-L6-v2 is a **sentence encoder**: the mean of its last layer's token vectors, scaled "
            "to length 1, is the sentence's meaning. Sentences that mean alike point alike: their **cosine** "
            "is near 1. *bank* by a river and *bank* for money should land apart.")
model = current_model()
if not model.has_sentence_embedding:
    st.info("This model has no sentence embedding: it is not a sentence encoder (a decoder predicts the next "
            "token instead). Pick MiniLM in the sidebar to compare sentences.")
    st.stop()
sentences, vectors = sentence_vectors(current_model_name(), sentence_list(current_sentence()))
if len(sentences) < 2:
    st.info("Type at least two sentences (one per line) to compare them.")
    st.stop()
cosines, projection = similarity_and_map(vectors)
labels = [f"{i + 1}. {s}" for i, s in enumerate(sentences)]

left, right = st.columns([3, 2])
with left:
    plot(attention_heatmap(cosines.astype(np.float32), labels, "Cosine of every pair of sentences", zmin=-0.2,
                           zmax=1.0, value_name="cosine", numbers=len(sentences) <= 12,
                           key_tokens=[str(i + 1) for i in range(len(sentences))],   # columns: the numbers
                           query_title="sentence", key_title="sentence (number)"), "sentence_cosines")
with right:
    plot(projection_figure(projection, [str(i + 1) for i in range(len(sentences))], ["sentences"] * len(sentences),
                           title="The sentences in 2-D (PCA of their vectors)", height=460), "sentence_map")
st.caption("The map squeezes 384 dimensions into 2, so distances there are rough; the cosines are exact. "
           "Points are numbered as in the list.")

st.subheader("Which tokens carry the similarity")
pair = st.columns(2)
a = pair[0].selectbox("Sentence A", range(len(sentences)), format_func=labels.__getitem__, **linked("a"))
b = pair[1].selectbox("Sentence B", range(len(sentences)), index=1, format_func=labels.__getitem__,
                      **linked("b"))
tokens, hidden = model.sentence_states(sentences[a])
shares = similarity_by_token(hidden, vectors[b])
plot(key_bar(shares.astype(np.float32), tokens, f"Each token of A's share of cos(A, B) = {shares.sum():.3f}",
             value_name="share of the cosine"), "sentence_token_shares")
st.caption("The sentence vector is the mean of the token vectors, so the cosine splits exactly into one share "
           "per token of A (they add up to the cosine): a tall bar is a token whose vector points towards B. "
           "The *Which tokens drove it* page attributes the same similarity with gradients instead.")
show_text(f"A: {sentences[a]}\nB: {sentences[b]}")
