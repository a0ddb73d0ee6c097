"""Query–key space: one head's queries and keys drawn together in 2-D (AttentionViz), lines for the top weights."""
import numpy as np
import streamlit as st

from analysis.qk_space import head_qk, qk_space, strongest_links, weights_from
from ui.defaults import pick_layer_and_head
from ui.family import kv_note
from ui.frame import require_frame
from ui.state import cached, current_model_name, current_trace, trace_for
from ui.widgets import MAX_WINDOW, linked, pick_window, plot, sentence_key
from viz.qk_space import qk_figure

LABELLED = 24        # up to this many tokens, every point is labelled; beyond, the ends of the top lines
TOP_LABELS = 12      # lines whose ends get labels in a long sentence

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

cols = st.columns([3, 2])
mode = cols[0].radio("Lines", ["each query's strongest key", "the strongest weights overall"],
                     horizontal=True, **linked("lines"),
                     help="One line per query to the key it gives most weight, or the largest weights of "
                          "the whole head wherever they are.")
count = None
if mode.startswith("the strongest"):
    count = cols[1].slider("How many lines", 1, 200, 20, **linked("count"),
                           help="At most every query–key pair of the tokens shown.")
shown = pick_window(n, f"{PAGE}_window_{sentence_key(trace.text)}", size=128, show_all=MAX_WINDOW)
positions = list(shown)
if len(positions) < n:
    st.caption(f"This text has {n} tokens: the picture shows positions {shown.start}–{shown.stop - 1} and only "
               "lines between them. The projection itself is fitted on every token of the sentence.")

local = weights[shown.start:shown.stop, shown.start:shown.stop]        # (shown, shown)
links = strongest_links(local, count)
tokens = [trace.tokens[i] for i in positions]
labelled = None if len(positions) <= LABELLED else sorted(
    {int(i) for i in links[0][:TOP_LABELS]} | {int(i) for i in links[1][:TOP_LABELS]})
fig = qk_figure(space.query_xy[shown.start:shown.stop], space.key_xy[shown.start:shown.stop], tokens, links,
                positions=positions, labelled=labelled, explained=space.explained,
                title=f"Layer {layer}, head {head}: queries and keys", height=680 if len(positions) > 40 else 600)
plot(fig, f"query_key_L{layer}_H{head}")
label_note = ("Every point is labelled." if labelled is None else
              f"Labels on the ends of the {min(TOP_LABELS, len(links[0]))} strongest lines; hover any point "
              "for its token.")
st.caption(f"● queries, ◆ keys. A query attends most to the keys with the largest dot product: keys far out "
           f"in its direction. Wider, darker lines are larger weights. {label_note} The axes hold "
           f"{space.explained.sum():.0%} of the spread of the {2 * n} points.")

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
