"""One head: the attention weights of a chosen layer and head, token by token."""
import numpy as np
import pandas as pd
import streamlit as st

from ui.attention import attention_window, colour_max, head_csv, head_overview
from ui.family import kv_note, specials_text
from ui.defaults import fixed_scale_note, pick_layer_and_head, stretch_changes_nothing
from ui.frame import require_frame
from ui.interactive import interactive_heatmap
from ui.quiz import answer_fold, attention_quiz
from ui.state import current_model_name, current_trace
from ui.widgets import linked, plot
from ui.words import attention_view, units, window_key, word_toggle, words_caption
from viz.attention import attention_heatmap


def strongest_links(matrix: np.ndarray, positions: list[int], tokens: list[str], top: int = 5) -> pd.DataFrame:
    order = np.argsort(matrix, axis=None)[::-1][:top]
    q, k = np.unravel_index(order, matrix.shape)
    return pd.DataFrame({"query": [f"#{positions[i]} {tokens[positions[i]]}" for i in q],
                         "key": [f"#{positions[j]} {tokens[positions[j]]}" for j in k],
                         "weight": np.round(matrix[q, k], 3)})


PAGE = require_frame()   # this file's name: its controls' keys start with it
trace = current_trace()
layer, head = pick_layer_and_head(trace, PAGE)
if kv_note(trace, head):
    st.caption(kv_note(trace, head))
waiting = attention_quiz(trace, layer, head, PAGE)   # optional: predict first; the answer stays folded
specials = specials_text(trace)
cols = st.columns([1, 2])
hide = bool(specials) and cols[0].toggle(f"Hide {specials}", **linked("hide"),
                                         help=f"Many heads park most of their weight on {specials}; hiding "
                                              "them shows how the rest is shared out.")
whole_words = word_toggle(PAGE, cols[0])
weights = trace.head(layer, head).weights                          # (T, T): this head alone
largest = float(weights.max())   # hiding specials only raises it
with cols[1]:
    zmax = 1.0 if stretch_changes_nothing(largest) else colour_max(PAGE)
    if stretch_changes_nothing(largest):
        fixed_scale_note(largest)

matrix, kept = attention_view(weights, trace, hide, whole_words)   # (rows, rows): pieces or words
names = units(trace, whole_words)
if hide:
    st.caption(f"{specials} {'are' if ' and ' in specials else 'is'} hidden and each row is **renormalised** to sum "
               "to 1 over the tokens that remain, so the numbers are shares of the attention *not* spent on them.")
if whole_words:
    words_caption(trace, hide)
window = attention_window(kept, trace, window_key(PAGE, whole_words))
positions = kept[window]
shown = matrix[window, window]                                      # (window, window)
tokens = [names.names[i] for i in positions]
title = (f"Layer {layer}, head {head}" + (f" · {specials} hidden" if hide else "")
         + (" · whole words" if whole_words else ""))
with answer_fold(waiting, "This head's heatmap and strongest links"):
    head_overview(matrix, kept, window, title, f"attention_L{layer}_H{head}")
    interactive_heatmap(shown, tokens, positions, title, zmax, key=f"{PAGE}_view")
    with st.expander("Zoom, pan or save as PNG: the same head as a Plotly figure"):
        plot(attention_heatmap(shown, tokens, title, zmax=zmax, positions=positions), f"attention_L{layer}_H{head}")

    # The strongest links between words (specials left out: they soak up weight in most heads).
    words = [i for i, p in enumerate(positions) if not names.special[p]] or list(range(len(positions)))
    links = strongest_links(shown[np.ix_(words, words)], [positions[i] for i in words], list(names.names))
    st.caption("Strongest links between words in this view (tokens shown as plain text):")
    st.dataframe(links, hide_index=True, width="content", key=f"{PAGE}_links")

st.subheader("Export")
st.caption("PNG, SVG or PDF: the Plotly figure's camera icon and its SVG · PDF menu (in the expander "
           "under the heatmap). The table holds the model's own numbers for this head over the whole sentence ("
           + (f"{specials} included, " if specials else "") + "nothing renormalised).")
st.download_button("This head (CSV)", lambda: head_csv(weights, trace), file_name=f"attention_L{layer}_H{head}.csv",
                   mime="text/csv", key=f"{PAGE}_csv", on_click="ignore", icon=":material/download:")
st.caption(f"Model: {current_model_name()} · {len(trace.tokens)} tokens · "
           f"{trace.n_layers} layers × {trace.n_heads} heads.")
