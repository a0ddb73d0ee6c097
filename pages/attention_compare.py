"""Heads side by side: 2–4 chosen heads on one colour scale, and the difference of two."""
import streamlit as st

from ui.attention import attention_window, colour_max
from ui.family import specials_text
from ui.colour_words import colour_words
from ui.frame import require_frame
from ui.head_choice import suggested_head
from ui.state import current_trace
from ui.widgets import head_label, linked, plot
from ui.words import attention_view, units, window_key, word_toggle, words_caption
from viz.attention import compare_heatmaps, compare_rows_px, difference_heatmap

# After the head with a clear pattern on this sentence: heads that differ visibly in MiniLM on most
# sentences, so the page opens on a contrast.
CONTRASTS = [(2, 5), (4, 3), (5, 11), (0, 0)]

PAGE = require_frame()   # this file's name: its controls' keys start with it
trace = current_trace()
count = st.radio("How many heads", [2, 3, 4], horizontal=True, **linked("count"))
every_head = [(layer, head) for layer in range(trace.n_layers) for head in range(trace.n_heads)]
suggestion = suggested_head(trace)
defaults = [(suggestion.layer, suggestion.head)] + [p for p in CONTRASTS if p != (suggestion.layer, suggestion.head)]
pairs = []
for slot, col in enumerate(st.columns(count)):
    default = every_head.index(defaults[slot]) if defaults[slot] in every_head else slot
    pairs.append(col.selectbox(f"Head {'ABCD'[slot]}", every_head, index=default, **linked(f"pick_{slot}"),
                               format_func=head_label))

cols = st.columns([1, 2])
specials = specials_text(trace)
hide = bool(specials) and cols[0].toggle(f"Hide {specials}", **linked("hide"),
                                         help="Rows are renormalised over the remaining tokens.")
whole_words = word_toggle(PAGE, cols[0])
with cols[1]:
    zmax = colour_max(PAGE)
kept = attention_view(trace.head(0, 0).weights, trace, hide, whole_words)[1]
window = attention_window(kept, trace, window_key(PAGE, whole_words), limit=96)
positions = kept[window]
names_of = units(trace, whole_words).names
tokens = [names_of[i] for i in positions]
shown = [attention_view(trace.head(layer, head).weights, trace, hide, whole_words)[0][window, window]
         for layer, head in pairs]
names = [f"{'ABCD'[i]}: layer {layer}, head {head}" for i, (layer, head) in enumerate(pairs)]
if hide:
    st.caption(f"{specials} hidden; each row renormalised to sum to 1 over the remaining tokens.")
if whole_words:
    words_caption(trace, hide)
if len(set(pairs)) < len(pairs):
    st.info("The same head is chosen twice: pick different layers or heads to compare.")
plot(compare_heatmaps(shown, names, tokens, positions=positions, zmax=zmax), "attention_heads_side_by_side")

st.subheader("Difference of two heads")
cols = st.columns(2)
first = cols[0].selectbox("From", range(count), format_func=names.__getitem__, **linked("diff_a"))
second = cols[1].selectbox("subtract", range(count), index=1, format_func=names.__getitem__,
                           **linked("diff_b"))
if first == second:
    st.info("Choose two different heads to subtract.")
else:
    up, down = colour_words().up, colour_words().down
    st.caption(f"**{up.capitalize()}**: {names[first]} puts more weight there; **{down}**: {names[second]} does. "
               "White: they agree. The scale is symmetric around 0 and stretched to the largest difference.")
    plot(difference_heatmap(shown[first], shown[second], tokens, positions=positions,   # as tall as A and B
                            title=f"{names[first]} minus {names[second]}", height=compare_rows_px(count) + 160),
         "attention_head_difference")
