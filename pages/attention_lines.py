"""Lines view: each query token joined to the key tokens it attends to; hover a token to follow it."""
import streamlit as st

from ui.attention import attention_window
from ui.frame import require_frame
from ui.interactive import interactive_lines
from ui.head_choice import chosen, pick_layer
from ui.state import current_trace
from ui.widgets import linked, plot, sentence_key
from ui.words import attention_view, units, window_key, word_toggle, words_caption
from viz.lines import MIN_WEIGHT, lines_figure

LINES_WINDOW = 64   # more tokens than this make the two columns too tall to read

PAGE = require_frame()   # this file's name: its controls' keys start with it
trace = current_trace()
layer = pick_layer(trace, PAGE)
mode = st.radio("Heads", ["One head", "All heads of the layer", "Some heads"], horizontal=True,
                **linked("mode"))
if mode == "One head":
    heads = [st.selectbox("Head", range(trace.n_heads), **linked("one"),
                          index=chosen("head", trace.n_heads, trace))]
elif mode == "Some heads":
    heads = st.multiselect("Heads", range(trace.n_heads), default=list(range(min(3, trace.n_heads))),
                           **linked("some"))
else:
    heads = list(range(trace.n_heads))
if not heads:
    st.info("Pick at least one head to draw.")
    st.stop()

whole_words = word_toggle(PAGE)
layer_weights, kept = attention_view(trace.layers[layer].weights, trace, False, whole_words)  # (H, n, n)
names = units(trace, whole_words)
if whole_words:
    words_caption(trace, False)
window = attention_window(kept, trace, window_key(PAGE, whole_words), limit=LINES_WINDOW)
positions = kept[window]
tokens = [names.names[i] for i in positions]
weights = layer_weights[:, window, window]                          # (H, window, window)
title = f"Layer {layer}, " + (f"head {heads[0]}" if len(heads) == 1 else f"{len(heads)} heads")
interactive_lines(weights, tokens, positions, heads, title, key=f"{PAGE}_view")
st.caption("With no token under the mouse, each query shows only its strongest line in each head (faint). "
           "Under the mouse, every line of at least 0.01 is drawn, its opacity the weight.")

with st.expander("A figure to zoom or save as PNG (all lines, or those of chosen query tokens)"):
    focus = st.multiselect("Only the lines from these query tokens (empty: all)", positions,
                           format_func=names.labels().__getitem__,
                           **linked(f"focus_{sentence_key(trace.text)}{'_words' if whole_words else ''}"))
    local_focus = [positions.index(i) for i in focus]
    fig = lines_figure(weights, tokens, heads, focus=local_focus, positions=positions, title=title)
    plot(fig, f"attention_lines_L{layer}")
    st.caption(f"Lines for weights below {MIN_WEIGHT} are not drawn (they would be invisible and slow the "
               "page). Click a head in the legend to hide it, double-click to show it alone.")
