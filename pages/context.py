"""Context at work: each token's vector in the sidebar's sentence, moving from layer to layer.

Three tabs, all read from the trace's hidden states: each token's path (one PCA fitted on every
layer at once, analysis.context.project_trajectories), the vocabulary entries its vector is nearest
at each layer (the model's input table, ui.embedding.input_vectors), and how far each block
moved it (analysis.context.layer_movement). The same word in two sentences: pages/context_pair.py.
"""
import time

import pandas as pd
import streamlit as st

from analysis.context import layer_movement, project_trajectories, word_around, word_vectors
from ui.context import nearest_csv, paths_at_hand, paths_to_draw, token_to_follow, trajectory_csv
from ui.embedding import input_vectors
from ui.frame import require_frame
from ui.quiz import FOLLOW, answer_fold, movement_quiz
from ui.state import current_model_name, current_trace
from ui.widgets import linked, plot, sentence_key, token_labels
from viz.common import LAYER_CONVENTION
from viz.context import lens_figure, movement_figure, trajectory_figure

MAX_DRAWN = 40      # more paths than this are an unreadable tangle (and slow to draw)

require_frame()
# A long text takes a while on a busy server: a status at the top spins, naming the part being drawn,
# until the last part is on the page (Streamlit shows each part as it comes, so without it half a page
# would look finished). The trace itself has its own spinner.
started = time.perf_counter()
trace = current_trace()                    # its own spinner; it may stop the page with a message
progress = st.status("Drawing the page…", expanded=False)
# Token pickers hold positions in this sentence: a new sentence gets fresh pickers (and defaults).
text_key = sentence_key(trace.text)
words = [i for i, special in enumerate(trace.special_mask) if not special]
if len(words) == 1:
    st.info("This sentence is a single token: there is no context to move it (only [CLS] and [SEP] "
            "around it). Add a few words to see context at work.")
asked = st.session_state.pop(FOLLOW, None)           # a Quiz question's token, when it sent the person here
first = asked[1] if asked and asked[0] == text_key and asked[1] < len(trace.tokens) else token_to_follow(trace, words)
token = st.selectbox("Token to follow (nearest entries and movement)", range(len(trace.tokens)),
                     index=first, format_func=token_labels(trace).__getitem__,
                     **linked(f"token_{text_key}"))
whole = word_around(trace, token)
dims = 3 if st.radio("Projection", ["2-D", "3-D"], horizontal=True, **linked("dims")) == "3-D" else 2
tab_paths, tab_lens, tab_move = st.tabs(["Trajectories", "What it is near", "How much each layer moves it"])

with tab_paths:
    drawn = st.multiselect("Tokens to draw", range(len(trace.tokens)), default=paths_to_draw(trace, words),
                           format_func=token_labels(trace).__getitem__, **linked(f"drawn_{text_key}"))
    if len(drawn) > MAX_DRAWN:
        st.warning(f"{len(drawn)} tokens chosen; only the first {MAX_DRAWN} are drawn to keep the paths "
                   "readable. Remove some to see others.")
        drawn = drawn[:MAX_DRAWN]
    progress.update(label="Drawing each token's path through the layers…")
    paths = project_trajectories([trace.hidden_states], dims)
    coords = paths.coords[0]                                            # (L+1, T, dims)
    if drawn:
        st.caption(f"One PCA fitted on all {len(trace.tokens)} tokens' {trace.n_layers + 1} vectors (the embeddings "
                   f"and after each layer) together ({100 * paths.explained.sum():.0f}% of the variance kept), so "
                   "the axes are the same for every layer. Point *emb* is the embedding, point *k* the vector after "
                   "layer k; arrows point the way each layer moved it. " + LAYER_CONVENTION + ". "
                   "Use the slider or ▶ Play to step through the layers; click a legend entry to hide a token.")
        extra = paths_at_hand(trace, words, drawn)                      # in the legend, one click away
        names = [f"{trace.tokens[i]} ({i})" for i in drawn + extra]     # positions tell repeats apart
        plot(trajectory_figure(coords[:, drawn + extra], names, paths.explained,
                               hidden=[False] * len(drawn) + [True] * len(extra),
                               title="Each token's path through the layers"), "context_trajectories")
    else:
        st.info("Pick at least one token to draw its path.")
    st.download_button("Download the projected coordinates (CSV)", trajectory_csv(trace.tokens, coords),
                       "context_coordinates.csv", "text/csv", key="context_coords_csv")

with tab_lens:
    st.info("A lens, not a readout: each row lists the vocabulary entries whose *input embeddings* point "
            "most nearly the same way as the hidden state. The embeddings live in that space; every layer moves "
            "the vectors further from it, so deeper rows are an approximation and the cosines shrink.")
    progress.update(label="Finding the nearest vocabulary entries at every layer…")
    n_entries = st.slider("Entries per layer", 3, 12, 8, **linked("k"))
    vectors, shown = trace.hidden_states[:, token], trace.tokens[token]
    if whole.split:
        average = st.toggle(f"Average the word's {len(whole.pieces)} pieces ({' + '.join(whole.pieces)})",
                            **linked("lens_average"))
        if average:
            vectors, shown = word_vectors(trace.hidden_states, whole.positions), " ".join(whole.pieces)
        st.caption("Using the average of the word's pieces." if average else
                   f"Using the piece “{trace.tokens[token]}” alone; switch on the toggle to average the word.")
    rows = input_vectors(current_model_name()).nearest_words(vectors, n_entries)   # one row per layer
    plot(lens_figure(rows, title=f"Nearest vocabulary entries to “{shown}”, per layer"), "context_nearest")
    st.download_button("Download this table (CSV)", nearest_csv(rows),
                       "context_nearest.csv", "text/csv", key="context_lens_csv")

with tab_move:
    progress.update(label="Measuring how much each layer moves the token…")
    waiting = movement_quiz(trace, token, "context")   # optional: guess the layer before the bars below
    movement = layer_movement(trace, token)
    if whole.split:
        st.caption(f"“{trace.tokens[token]}” is one piece of {' + '.join(whole.pieces)}: each piece is its own "
                   "vector, and this is this piece's movement.")
    with answer_fold(waiting, "How much each layer moves it"):
        plot(movement_figure(movement, title=f"How much each layer moves “{trace.tokens[token]}”"),
             "context_movement")
        st.caption("Bars: how far the layer moved the vector, and how big attention's and the feed-forward's "
                   "additions were (MiniLM normalises after each addition, so compare the two bars with each "
                   "other, not with the change). Line: cosine to the previous layer (1 = same direction).")
        movement_table = pd.DataFrame(movement)
        st.dataframe(movement_table.round(3), hide_index=True)
        st.download_button("Download the per-layer table (CSV)", movement_table.to_csv(index=False),
                           "context_movement.csv", "text/csv", key="context_move_csv")
progress.update(label=f"Page complete ({len(trace.tokens)} tokens, {time.perf_counter() - started:.1f} s)",
                state="complete")
