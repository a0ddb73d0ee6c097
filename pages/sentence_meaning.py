"""Sentence meaning: MiniLM's sentence embeddings, their cosines, a map, and which tokens carry a similarity."""
import numpy as np
import streamlit as st

from analysis.sentence import similarity_by_token
from ui.frame import require_frame
from ui.heads import MAX_SENTENCE_CHARS, sentence_list, sentence_vectors, similarity_and_map
from ui.state import current_model, current_model_name, current_sentence
from ui.widgets import linked, plot, show_text
from viz.attention import attention_heatmap, key_bar
from viz.embedding_space import projection_figure

PAGE = require_frame()   # this file's name: its controls' keys start with it
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
# Numbered as in the text box (its first line is 1); the sidebar's sentence, compared first, is 0.
sidebar = current_sentence().strip()[:MAX_SENTENCE_CHARS]
box = [line.strip()[:MAX_SENTENCE_CHARS] for line in st.session_state.get(f"{PAGE}_list", "").splitlines()
       if line.strip()]
numbers = ["0" if s == sidebar or s not in box else str(box.index(s) + 1) for s in sentences]
labels = [f"{n}. {s}" for n, s in zip(numbers, sentences)]

left, right = st.columns([3, 2])
with left:
    plot(attention_heatmap(cosines.astype(np.float32), labels, "Cosine of every pair of sentences", zmin=-0.2,
                           zmax=1.0, value_name="cosine", numbers=len(sentences) <= 12,
                           key_tokens=numbers,   # columns: the numbers
                           query_title="sentence", key_title="sentence (number)"), "sentence_cosines")
with right:
    plot(projection_figure(projection, numbers, ["sentences"] * len(sentences),
                           title="The sentences in 2-D (PCA of their vectors)", height=460), "sentence_map")
st.caption("The map squeezes 384 dimensions into 2, so distances there are rough; the cosines are exact. "
           "Points are numbered as in the text box (line 1 is 1); 0 is the sidebar's sentence.")

st.subheader("Which tokens carry the similarity")
# Open on the two sentences that mean most alike: the pair with the most to explain.
closest = np.where(np.eye(len(sentences), dtype=bool), -np.inf, cosines)      # (n, n) the diagonal left out
first, second = sorted(np.unravel_index(int(np.argmax(closest)), closest.shape))
pair = st.columns(2)
a = pair[0].selectbox("Sentence A", range(len(sentences)), index=int(first), format_func=labels.__getitem__,
                      **linked("a"))
b = pair[1].selectbox("Sentence B", range(len(sentences)), index=int(second), format_func=labels.__getitem__,
                      **linked("b"))
tokens, hidden = model.sentence_states(sentences[a])
shares = similarity_by_token(hidden, vectors[b])
plot(key_bar(shares.astype(np.float32), tokens, f"Each token of A's share of cos(A, B) = {shares.sum():.3f}",
             value_name="share of the cosine"), "sentence_token_shares")
st.caption("The sentence vector is the mean of the token vectors, so the cosine splits exactly into one share "
           "per token of A (they add up to the cosine): a tall bar is a token whose vector points towards B. "
           "The *Which tokens drove it* page attributes the same similarity with gradients instead.")
show_text(f"A: {sentences[a]}\nB: {sentences[b]}")
