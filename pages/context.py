"""Context at work: each token's vector moving from layer to layer."""
import numpy as np
import pandas as pd
import streamlit as st

from core.context import (VocabularyLens, cosine_per_layer, find_word, layer_movement, lens_skip_ids,
                          project_trajectories, word_around, word_vectors)
from ui.frame import require_frame
from ui.state import current_model_name, current_trace, get_model
from ui.widgets import plot, sentence_key, show_text, token_label
from viz.context import colour, cosine_figure, lens_figure, movement_figure, trajectory_figure

MAX_DRAWN = 40      # more paths than this are an unreadable tangle (and slow to draw)
DEFAULT_DRAWN = 12
PRESETS = {  # shared word -> (sentence A, sentence B)
    "bank": ("I sat on the bank of the river.", "I deposited money at the bank."),
    "flies": ("Time flies like an arrow.", "Fruit flies like a banana."),
    "bat": ("The bat flew out of the cave at night.", "He swung the bat and hit the ball."),
}
LOOK_FOR = {  # checked against the model's numbers in tests/test_context.py
    "flies": "Look at the nearest entries below: in *fruit flies*, **insects** joins the six nearest "
             "vocabulary entries at layer 2 and stays to the last layer (**insect** too, at layers 3–5); in "
             "*time flies* neither ever does, and the list stays forms of *fly* and flight words (flew, "
             "flying, flown, airplanes, soared). *flies* itself stays nearest in both: context tilts the "
             "vector, it does not swap the word.",
}


@st.cache_resource(show_spinner="Normalising the embedding table…", max_entries=4)
def get_lens(model_name: str) -> VocabularyLens:
    model = get_model(model_name)
    vocabulary = model.vocabulary()
    return VocabularyLens(model.embedding_table(), vocabulary, lens_skip_ids(vocabulary))


require_frame()
st.title("🧭 Context at work")
st.markdown("Attention mixes each token's vector with the vectors of its context, so the vector **moves** "
            "from layer to layer. Follow it: where it goes, what it ends up near, and which layer moved it.")
trace = current_trace()
# Token pickers hold positions in this sentence: a new sentence gets fresh pickers (and defaults).
text_key = sentence_key(trace.text)
words = [i for i, special in enumerate(trace.special_mask) if not special]
if len(words) == 1:
    st.info("This sentence is a single token: there is no context to move it (only [CLS] and [SEP] "
            "around it). Add a few words to see context at work.")
preferred = [i for i in words if trace.tokens[i] in PRESETS or trace.tokens[i] == "tower"]
token = st.selectbox("Token to follow (nearest entries and movement)", range(len(trace.tokens)),
                     index=(preferred or words)[0], format_func=lambda i: token_label(trace, i),
                     key=f"context_token_{text_key}")
dims = 3 if st.radio("Projection", ["2-D", "3-D"], horizontal=True, key="context_dims") == "3-D" else 2
tab_paths, tab_lens, tab_move, tab_pair = st.tabs(
    ["Trajectories", "What it is near", "How much each layer moves it", "Same word, two sentences"])

with tab_paths:
    chosen = st.multiselect("Tokens to draw", range(len(trace.tokens)), default=words[:DEFAULT_DRAWN],
                            format_func=lambda i: token_label(trace, i), key=f"context_drawn_{text_key}")
    if len(chosen) > MAX_DRAWN:
        st.warning(f"{len(chosen)} tokens chosen; only the first {MAX_DRAWN} are drawn to keep the paths "
                   "readable. Remove some to see others.")
        chosen = chosen[:MAX_DRAWN]
    paths = project_trajectories([trace.hidden_states], dims)
    coords = paths.coords[0]                                            # (L+1, T, dims)
    if chosen:
        st.caption(f"One PCA fitted on all {len(trace.tokens)} tokens at all {trace.n_layers + 1} layers "
                   f"together ({100 * paths.explained.sum():.0f}% of the variance kept), so the axes are the "
                   "same for every layer. Point 0 is the embedding; arrows point the way each layer moved it. "
                   "Use the slider or ▶ Play to step through the layers; click a legend entry to hide a token.")
        names = [f"{trace.tokens[i]} ({i})" for i in chosen]            # positions tell repeats apart
        plot(trajectory_figure(coords[:, chosen], names, paths.explained,
                               title="Each token's path through the layers"), "context_trajectories")
    else:
        st.info("Pick at least one token to draw its path.")
    layers, positions = np.meshgrid(np.arange(coords.shape[0]), np.arange(coords.shape[1]), indexing="ij")
    table = pd.DataFrame({"layer": layers.ravel(), "position": positions.ravel(),
                          "token": [trace.tokens[i] for i in positions.ravel()]})
    for c in range(coords.shape[2]):
        table[f"pc{c + 1}"] = coords[..., c].ravel()
    st.download_button("Download the projected coordinates (CSV)", table.to_csv(index=False),
                       "context_coordinates.csv", "text/csv", key="context_coords_csv")

with tab_lens:
    st.info("A lens, not a readout: each row lists the vocabulary entries whose *input embeddings* point "
            "most nearly the same way as the hidden state. Layer 0 lives in that space; every block moves "
            "the vectors further from it, so deeper rows are an approximation and the cosines shrink.")
    k = st.slider("Entries per layer", 3, 12, 8, key="context_k")
    whole = word_around(trace, token)
    vectors, shown = trace.hidden_states[:, token], trace.tokens[token]
    if whole.split:
        average = st.toggle(f"Average the word's {len(whole.pieces)} pieces ({' + '.join(whole.pieces)})",
                            key="context_lens_average")
        if average:
            vectors, shown = word_vectors(trace.hidden_states, whole.positions), " ".join(whole.pieces)
        st.caption("Using the average of the word's pieces." if average else
                   f"Using the piece “{trace.tokens[token]}” alone; switch on the toggle to average the word.")
    rows = get_lens(current_model_name()).table_rows(vectors, k)
    plot(lens_figure(rows, title=f"Nearest vocabulary entries to “{shown}”, per layer"),
         "context_nearest")
    lens_table = pd.DataFrame([[w for w, _ in row] for row in rows], columns=[f"{r + 1}" for r in range(k)])
    st.download_button("Download this table (CSV)", lens_table.rename_axis("layer").to_csv(),
                       "context_nearest.csv", "text/csv", key="context_lens_csv")

with tab_move:
    movement = layer_movement(trace, token)
    if whole.split:
        st.caption(f"“{trace.tokens[token]}” is one piece of {' + '.join(whole.pieces)}: each piece is its own "
                   "vector, and this is this piece's movement.")
    plot(movement_figure(movement, title=f"How much each layer moves “{trace.tokens[token]}”"), "context_movement")
    st.caption("Bars: how far the block moved the vector, and how big attention's and the feed-forward's "
               "additions were (MiniLM normalises after each addition, so compare the two bars with each "
               "other, not with the change). Line: cosine to the previous layer (1 = same direction).")
    movement_table = pd.DataFrame(movement)
    st.dataframe(movement_table.round(3), hide_index=True)
    st.download_button("Download the per-layer table (CSV)", movement_table.to_csv(index=False),
                       "context_movement.csv", "text/csv", key="context_move_csv")

with tab_pair:  # last: a sentence the model cannot read stops the page here, after the other tabs
    preset = st.selectbox("Example", list(PRESETS) + ["your own"], key="context_preset",
                          format_func=lambda w: w if w == "your own" else f"{w}: {' / '.join(PRESETS[w])}")
    word0, a0, b0 = ("", "", "") if preset == "your own" else (preset, *PRESETS[preset])
    left, right = st.columns(2)
    text_a = left.text_input("Sentence A", a0, max_chars=2000, key=f"context_a_{preset}")
    text_b = right.text_input("Sentence B", b0, max_chars=2000, key=f"context_b_{preset}")
    word = st.text_input("The shared word", word0, max_chars=100, key=f"context_word_{preset}").strip()
    if not (text_a.strip() and text_b.strip() and word):
        st.info("Type two sentences and a word they share.")
        st.stop()
    pair = [current_trace(text=text_a, notice=False), current_trace(text=text_b, notice=False)]
    found = [find_word(t, word) for t in pair]
    missing = [name for name, f in zip("AB", found) if not f]
    if missing:
        st.warning(f"The word is not in sentence {' or '.join(missing)} (whole words only, ignoring case):")
        show_text(word)
        for name, t in zip("AB", pair):
            if name in missing:
                st.caption(f"Sentence {name} as the model reads it:")
                show_text(" ".join(tok for tok, special in zip(t.tokens, t.special_mask) if not special))
        st.stop()
    first = [f[0] for f in found]
    if any(len(f) > 1 for f in found):
        st.caption("The word appears more than once; the first occurrence in each sentence is used.")
    piece = None
    if any(m.split for m in first):
        options = [None] + list(range(max(len(m.positions) for m in first)))
        piece = st.radio("The tokenizer split the word into pieces: use", options, horizontal=True,
                         key="context_piece", format_func=lambda p: "the average of its pieces" if p is None
                         else f"piece {p + 1}")
        for name, m in zip("AB", first):
            st.caption(f"Sentence {name}: {' + '.join(m.pieces)} → using "
                       + ("their average" if piece is None else m.pieces[min(piece, len(m.pieces) - 1)]))
        piece_of = [None if piece is None else min(piece, len(m.positions) - 1) for m in first]
    else:
        piece_of = [None, None]
    vectors = [word_vectors(t.hidden_states, m.positions, p) for t, m, p in zip(pair, first, piece_of)]
    both = project_trajectories([t.hidden_states for t in pair], dims)
    drawn = np.stack([both.pca.project(v) for v in vectors], axis=1)   # (L+1, 2, dims)
    names = [f"A · {word}", f"B · {word}"]
    plot(trajectory_figure(drawn, names, both.explained, colours=[colour(0), colour(1)],
                           dashes=["solid", "dash"], title="The word's path in each sentence (one shared PCA)",
                           height=560), "context_pair_paths")
    plot(cosine_figure(cosine_per_layer(*vectors), title="Cosine of the word's two vectors, layer by layer"),
         "context_pair_cosine")
    st.caption("The projection is fitted on every token of both sentences at every layer, so it is dominated by "
               "differences between words; the cosine is the exact measure. At layer 0 the two vectors differ "
               "only by position; every later drop is context pulling them apart.")
    if preset in LOOK_FOR:
        st.markdown(LOOK_FOR[preset])
    lens = get_lens(current_model_name())
    st.dataframe(pd.DataFrame({f"{name}: nearest entries": [", ".join(w for w, _ in row)
                                                            for row in lens.table_rows(v, 6)]
                               for name, v in zip("AB", vectors)}).rename_axis("layer"))
