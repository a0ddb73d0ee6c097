"""Same word, two sentences: one word's vector in two contexts, drifting apart layer by layer.

Two sentences (a preset such as bank / bank, or your own) and a word they share: the word's
path in each (one PCA fitted on every token of both sentences at every layer,
analysis.context.project_trajectories), the cosine of its two vectors at each layer, and the
vocabulary entries each is nearest (ui.embedding.input_vectors). Presets: ui/context.py.
"""
import streamlit as st

from analysis.context import cosine_per_layer, find_word, project_trajectories, word_vectors
from ui.context import LOOK_FOR, PRESETS, nearest_by_sentence
from ui.embedding import input_vectors
from ui.frame import require_frame
from ui.state import current_model_name, current_trace
from ui.widgets import linked, plot, show_text
from viz.common import LAYER_CONVENTION
from viz.context import colour, cosine_figure, trajectory_figure

OWN = "your own"

require_frame()
preset = st.selectbox("Example", list(PRESETS) + [OWN], **linked("preset"),
                      format_func={OWN: OWN, **{w: f"{w}: {' / '.join(pair)}" for w, pair in PRESETS.items()}}.get)
shared_word, default_a, default_b = ("", "", "") if preset == OWN else (preset, *PRESETS[preset])
left, right = st.columns(2)
text_a = left.text_input("Sentence A", default_a, max_chars=2000, **linked(f"a_{preset}"))
text_b = right.text_input("Sentence B", default_b, max_chars=2000, **linked(f"b_{preset}"))
word = st.text_input("The shared word", shared_word, max_chars=100, **linked(f"word_{preset}")).strip()
dims = 3 if st.radio("Projection", ["2-D", "3-D"], horizontal=True, **linked("dims")) == "3-D" else 2
if not (text_a.strip() and text_b.strip() and word):
    st.info("Type two sentences and a word they share.")
    st.stop()

pair = [current_trace(text=text_a, notice=False), current_trace(text=text_b, notice=False)]
found = [find_word(sentence, word) for sentence in pair]
missing = [name for name, matches in zip("AB", found) if not matches]
if missing:
    st.warning(f"The word is not in sentence {' or '.join(missing)} (whole words only, ignoring case):")
    show_text(word)
    for name, sentence in zip("AB", pair):
        if name in missing:
            st.caption(f"Sentence {name} as the model reads it:")
            show_text(" ".join(token for token, special in zip(sentence.tokens, sentence.special_mask)
                               if not special))
    st.stop()
first = [matches[0] for matches in found]
if any(len(matches) > 1 for matches in found):
    st.caption("The word appears more than once; the first occurrence in each sentence is used.")
pieces_used = [None, None]      # None: the average of the word's pieces; else the piece's index
if any(match.split for match in first):
    options = [None] + list(range(max(len(match.positions) for match in first)))
    piece = st.radio("The tokenizer split the word into pieces: use", options, horizontal=True,
                     **linked("piece"),
                     format_func={None: "the average of its pieces", **{o: f"piece {o + 1}" for o in options[1:]}}.get)
    pieces_used = [None if piece is None else min(piece, len(match.positions) - 1) for match in first]
    for name, match, used in zip("AB", first, pieces_used):
        st.caption(f"Sentence {name}: {' + '.join(match.pieces)} → using "
                   + ("their average" if used is None else match.pieces[used]))

vectors = [word_vectors(sentence.hidden_states, match.positions, used)          # (L+1, d) each
           for sentence, match, used in zip(pair, first, pieces_used)]
both = project_trajectories([sentence.hidden_states for sentence in pair], dims)
plot(trajectory_figure(both.project_paths(vectors), [f"A · {word}", f"B · {word}"], both.explained,
                       colours=[colour(0), colour(1)], dashes=["solid", "dash"], height=560,
                       title="The word's path in each sentence (one shared PCA)"), "context_pair_paths")
plot(cosine_figure(cosine_per_layer(*vectors), title="Cosine of the word's two vectors, layer by layer"),
     "context_pair_cosine")
st.caption("The projection is fitted on every token of both sentences at every layer, so it is dominated by "
           "differences between words; the cosine is the exact measure. At the embeddings (emb) the two vectors "
           "differ only by position; every later drop is context pulling them apart. " + LAYER_CONVENTION + ".")
if preset in LOOK_FOR:
    st.markdown(LOOK_FOR[preset])
st.dataframe(nearest_by_sentence(input_vectors(current_model_name()), vectors))
