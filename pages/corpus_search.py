"""Search the corpus by head (after exBERT): the corpus contexts where a head asks what it asks here,
or looks where it looks here."""
import streamlit as st

from analysis.corpus_search import NEAR, head_profiles, head_queries
from ui.corpus import choose_corpus, distinct_passages, query_index, read_now, search_finding, search_hit
from ui.frame import require_frame
from ui.head_choice import pick_head, pick_layer
from ui.state import current_model_name, current_trace
from ui.widgets import linked, sentence_key, token_labels

PAGE = require_frame()   # this file's name: its controls' keys start with it
model_name = current_model_name()
trace = current_trace()
cols = st.columns(3)
with cols[0]:
    layer = pick_layer(trace, PAGE)
with cols[1]:
    head = pick_head(trace, PAGE)
words = [i for i, (token, special) in enumerate(zip(trace.tokens, trace.special_mask))   # a word, not "▁" or "."
         if not special and any(c.isalnum() for c in token)] or [0]
position = cols[2].selectbox("Your token", range(len(trace)), index=words[0],
                             format_func=token_labels(trace).__getitem__,
                             **linked(f"token_{sentence_key(trace.text)}"))
chosen = choose_corpus()
if chosen is None:
    st.stop()
texts, described = distinct_passages(*chosen)      # each passage once, at most MAX_SEARCH_SENTENCES
SEARCH_BY = {"query": "what the head asks (query vectors)", "pattern": "where the head looks (attention pattern)"}
kind = st.radio("Search by", list(SEARCH_BY), format_func=SEARCH_BY.get, horizontal=True, **linked("by"))
if kind == "pattern":
    st.caption(f"Each attention row is pooled by where the key sits relative to the token: the **sink** (the first "
               f"token and special tokens), each offset from −{NEAR} to +{NEAR}, and further back / further ahead. "
               "Two rows are compared by their **overlap** Σ min(p, q) over those places: the share of attention "
               "both put in the same place (1 = the same pattern, 0 = nothing in common), whatever the words.")
k = st.slider("Contexts to show", 1, 10, 5, **linked("k"))
if not read_now(model_name, texts, described, "Search"):     # the built-in corpus: by itself; yours: a switch
    st.stop()
index, covered = query_index(model_name, texts, layer, head, kind)
mine = (head_queries if kind == "query" else head_profiles)(trace, layer, head)[position]
hits = index.nearest(mine, k=k)
meaning = "Cosine 1 = the same question" if kind == "query" else "Overlap 1 = the same pattern"
st.caption(f"Layer {layer}, head {head}: {len(index):,} corpus tokens from {len(covered)} passages. "
           f"{meaning}; the bars show where the head looked from the found token (orange).")
st.caption(search_finding(model_name, [texts[covered[hit.sentence]] for hit in hits], hits,
                          trace.tokens[position], index.measure))
for rank, hit in enumerate(hits):
    search_hit(model_name, texts[covered[hit.sentence]], hit.position, layer, head,
               f"{index.measure} {hit.similarity:.3f}", PAGE, rank)
