"""Query–key space: one head's queries and keys drawn together in 2-D (AttentionViz), lines for the top weights."""
import numpy as np
import streamlit as st

from analysis.qk_space import head_qk, qk_space, query_links, strongest_links, weights_from
from ui.defaults import pick_layer_and_head
from ui.family import kv_note
from ui.frame import require_frame
from ui.query_key import FOCUS_KEYS, MIN_WEIGHT, default_query, focus_caption, projection_caption, word_positions
from ui.state import cached, current_model_name, current_trace, trace_for
from ui.widgets import MAX_WINDOW, linked, pick_window, plot, sentence_key, token_labels
from viz.qk_space import qk_figure

LABELLED = 24        # up to this many tokens, every point is labelled; beyond, the ends of the top lines
TOP_LABELS = 12      # lines whose ends get labels in a long sentence
LINES = ["one query's strongest keys", "each query's strongest key", "the strongest weights overall"]

PAGE = require_frame()   # this file's name: its controls' keys start with it
trace = current_trace()
model_name = current_model_name()
layer, head = pick_layer_and_head(trace, PAGE)
if kv_note(trace, head):
    st.caption(kv_note(trace, head))
n = len(trace.tokens)
if n < 2:
    st.info("This text is a single token: its query can only look at its own key, so the picture is one "
            "query and one key. Type a longer sentence to see a head choose between tokens.")

text = trace.text
space = cached(("qk space", model_name, text, layer, head),
               lambda: qk_space(*head_qk(trace_for(model_name, text), layer, head)),
               "Projecting queries and keys…")
weights = trace.head(layer, head).weights                           # (T, T)

long_text = n > LABELLED
cols = st.columns([4, 1])
mode = cols[0].radio("Lines", LINES, index=0 if long_text else 1, horizontal=True, **linked("lines"),
                     help="Follow one query to its strongest keys (the rest faded); one line per query to the key "
                          "it gives most weight; or the largest weights of the whole head wherever they are.")
words_only = cols[1].toggle("Words only", value=False, **linked("words"),
                            help="Leave out [CLS], [SEP] and punctuation, which often take most of a head's weight.")
count = None
if mode == LINES[2]:
    count = cols[0].slider("How many lines", 1, 200, 20, **linked("count"),
                           help="At most every query–key pair of the tokens shown.")
shown = pick_window(n, f"{PAGE}_window_{sentence_key(trace.text)}", size=128, show_all=MAX_WINDOW)
positions = word_positions(trace, list(shown)) if words_only else list(shown)
if len(positions) < 1:
    st.info("No words among the tokens shown: turn *Words only* off to see them.")
    st.stop()
if shown.stop - shown.start < n:
    st.caption(f"This text has {n} tokens: the picture shows positions {shown.start}–{shown.stop - 1} and only "
               "lines between them. The projection itself is fitted on every token of the sentence.")

local = weights[np.ix_(positions, positions)]                          # (shown, shown)
focus = None
if mode == LINES[0]:
    query = st.selectbox("Query to follow", positions, index=positions.index(default_query(trace, weights, positions)),
                         format_func=token_labels(trace).__getitem__, **linked(f"query_{sentence_key(trace.text)}"))
    focus = positions.index(query)
    links = query_links(local, focus, FOCUS_KEYS, MIN_WEIGHT)
else:
    links = strongest_links(local, count)
tokens = [trace.tokens[i] for i in positions]
# Every label goes where it covers no other label or point (viz.qk_space): a short text asks for all of them.
labelled = list(range(len(positions))) if len(positions) <= LABELLED else sorted(
    {int(i) for i in links[0][:TOP_LABELS]} | {int(i) for i in links[1][:TOP_LABELS]})
fig = qk_figure(space.query_xy[positions], space.key_xy[positions], tokens, links, positions=positions,
                labelled=labelled, explained=space.explained, focus=focus,
                title=f"Layer {layer}, head {head}: queries and keys", height=680 if len(positions) > 40 else 600)
plot(fig, f"query_key_L{layer}_H{head}")
if focus is not None:
    st.caption(focus_caption(trace, weights, positions[focus], [positions[int(k)] for k in links[1]]) +
               " Only its lines and labels are drawn; every other point is faded (hover any point for its token).")
    label_note = ""
else:
    label_note = ("Every point is labelled where its label fits; hover any point for its token. "
                  if len(positions) <= LABELLED else
                  f"Labels on the ends of the {min(TOP_LABELS, len(links[0]))} strongest lines; hover any point "
                  "for its token. ")
st.caption(f"● queries, ◆ keys. A query attends most to the keys with the largest dot product: keys far out "
           f"in its direction. Wider, darker lines are larger weights. {label_note}"
           + projection_caption(space.explained, 2 * n, space.queries.shape[1]))

st.subheader("The move changes the picture, not the head")
allowed = np.isfinite(trace.head(layer, head).scores)                # (T, T)  False where the mask hides a key
redone = weights_from(space.queries, space.keys, allowed)              # (T, T)
change = float(np.abs(redone - weights).max())
q_len, k_len = np.linalg.norm(space.queries, axis=1).mean(), np.linalg.norm(space.keys, axis=1).mean()
gap = float(np.abs(space.queries.mean(axis=0) - space.keys.mean(axis=0)).max())
st.markdown(
    f"- every key moved by one vector c (length **{np.linalg.norm(space.shift):.2f}**): each score in a "
    "query's row rises by the same q·c, which softmax ignores.\n"
    f"- queries × **{space.scale:.3f}**, keys ÷ {space.scale:.3f}: no q·k changes.\n"
    f"- c and the factor are chosen so both clouds now share a centre (the means differ by at most {gap:.1e}) "
    f"and an average length ({q_len:.2f} and {k_len:.2f}).\n"
    f"- every weight recomputed from the moved queries and keys differs from the head's own by at most "
    f"**{change:.1e}** (float rounding).")
