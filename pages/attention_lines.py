"""Lines view: each query token joined to each key token, thicker where it attends more."""
import streamlit as st

from ui.attention import attention_window
from ui.frame import require_frame
from ui.state import chosen, current_trace, pick_layer
from ui.widgets import plot, sentence_key, token_labels
from viz.lines import MIN_WEIGHT, lines_figure

PAGE = "attention_lines"
LINES_WINDOW = 64   # more tokens than this make the two columns too tall to read

require_frame()
st.title("〰️ Lines view")
st.markdown("The sentence twice: **queries** on the left, **keys** on the right. Each line joins a query "
            "to a key it attends to; thicker and darker means more weight. Pick one head, or lay all the "
            "heads of a layer on top of each other, one colour per head.")
trace = current_trace()
layer = pick_layer(trace, PAGE)
mode = st.radio("Heads", ["One head", "All heads of the layer", "Some heads"], horizontal=True,
                key=f"{PAGE}_mode")
if mode == "One head":
    heads = [st.selectbox("Head", range(trace.n_heads), key=f"{PAGE}_one",
                          index=chosen("head", trace.n_heads))]
elif mode == "Some heads":
    heads = st.multiselect("Heads", range(trace.n_heads), default=[0, 1, 2], key=f"{PAGE}_some")
else:
    heads = list(range(trace.n_heads))

window = attention_window(list(range(len(trace.tokens))), trace, PAGE, limit=LINES_WINDOW)
positions = list(range(len(trace.tokens)))[window]
focus = st.multiselect("Only the lines from these query tokens (empty: all)", positions,
                       format_func=token_labels(trace).__getitem__, key=f"{PAGE}_focus_{sentence_key(trace.text)}",
                       help="As hovering a token does in BertViz: follow one word's attention.")
if not heads:
    st.info("Pick at least one head to draw.")
    st.stop()
tokens = [trace.tokens[i] for i in positions]
weights = trace.layers[layer].weights[:, window, window]            # (H, window, window)
local_focus = [positions.index(i) for i in focus]
fig = lines_figure(weights, tokens, heads, focus=local_focus, positions=positions,
                   title=f"Layer {layer}, " + (f"head {heads[0]}" if len(heads) == 1 else f"{len(heads)} heads"))
plot(fig, f"attention_lines_L{layer}")
st.caption(f"Lines for weights below {MIN_WEIGHT} are not drawn (they would be invisible and slow the "
           "page). Click a head in the legend to hide it, double-click to show it alone.")
