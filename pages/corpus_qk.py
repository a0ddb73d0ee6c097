"""Corpus query–key space: one head's queries and keys for thousands of corpus tokens at once (AttentionViz)."""
import streamlit as st

from analysis.corpus_qk import DEFAULT_POINTS, MAX_POINTS
from ui.corpus import choose_corpus, distinct_passages, qk_finding, qk_space, read_now
from ui.defaults import pick_layer_and_head
from ui.frame import require_frame
from ui.state import current_model_name, current_trace
from ui.widgets import linked, plot
from viz.corpus import corpus_qk_figure

PAGE = require_frame()   # this file's name: its controls' keys start with it
model_name = current_model_name()
trace = current_trace()
layer, head = pick_layer_and_head(trace, PAGE)
chosen = choose_corpus()
if chosen is None:
    st.stop()
texts, described = distinct_passages(*chosen)      # each passage once, at most MAX_SEARCH_SENTENCES
cols = st.columns(2)
points = cols[0].slider("Tokens drawn (each a query and a key)", 500, MAX_POINTS, DEFAULT_POINTS, step=500,
                        **linked("points"), help="A seeded sample: about the same number from each passage.")
colour_by = cols[1].radio("Colour by", ["kind", "position", "token"], horizontal=True, **linked("colour"),
                          format_func={"kind": "query / key", "position": "position", "token": "token"}.get)
if not read_now(model_name, texts, described, "Draw"):     # the built-in corpus: by itself; yours: a switch
    st.stop()

space, note = qk_space(model_name, texts, layer, head, points)   # a job of the server's queue, once per server
frequent = space.frequent_tokens(10)
fig = corpus_qk_figure(space, colour_by, frequent, f"Layer {layer}, head {head}: {len(space):,} corpus tokens")
plot(fig, f"corpus_qk_L{layer}_H{head}")
st.caption(qk_finding(space, layer))
st.caption(f"● queries, ◆ keys: {len(space):,} tokens from {len(set(space.sentence.tolist()))} passages "
           f"(special tokens left out), {note}. The axes hold {space.explained.sum():.0%} of the spread. "
           + ("Coloured: the 10 most frequent tokens, the rest grey. " if colour_by == "token" else "")
           + "Hover a point for its token, passage and position. For a larger corpus or a Ray cluster: "
             "`jobs.corpus_qk.corpus_qk(model, texts, layer, head, engine=\"ray\")`.")
