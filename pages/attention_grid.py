"""All heads at once: every layer and head of the model as a grid of small heatmaps."""
import streamlit as st

from ui.attention import colour_max, export_all_heads, head_opener, open_head
from ui.frame import require_frame
from ui.state import current_model_name, current_trace
from ui.widgets import plot
from viz.heads import MAX_THUMB, heads_grid

PAGE = "attention_grid"

require_frame()
st.title("🧩 All heads at once")
trace = current_trace()
n = len(trace.tokens)
# BERT-style models frame the text with [CLS] … [SEP]; a decoder trained here has neither.
framed = trace.tokens[0] == "[CLS]" and trace.tokens[-1] == "[SEP]"
patterns = ("top-left is `[CLS]`. Patterns jump out even without labels: a bright line just below the diagonal "
            "is a *previous-token* head, a bright last column is a head parked on `[SEP]`." if framed else
            "top-left is the first token. Patterns jump out even without labels: a bright line just below the "
            "diagonal is a *previous-token* head, a bright first column a head parked on the first token.")
st.markdown(f"Every head of every layer ({trace.n_layers} × {trace.n_heads} = "
            f"{trace.n_layers * trace.n_heads} heads), each a small version of the *One head* heatmap: "
            f"rows are query tokens, columns key tokens, {patterns} **Click a thumbnail** to open that head.")
zmax = colour_max(PAGE)
if n > MAX_THUMB:
    st.caption(f"This sentence has {n} tokens, so each thumbnail is pooled down to {MAX_THUMB} × {MAX_THUMB}: "
               f"a cell is the attention that a block of about {n / MAX_THUMB:.1f} query tokens gives, on "
               f"average, to a block of about {n / MAX_THUMB:.1f} key tokens (summed), so rows still sum "
               "to 1. Open a head to see every token.")
event = plot(heads_grid(trace.attentions, zmax=zmax), "attention_all_heads", key=f"{PAGE}_chart",
             on_select="rerun", selection_mode="points")
# The clickable markers are the figure's last trace, one per head in layer-major order.
markers = trace.n_layers * trace.n_heads
picked = [p["point_index"] for p in (event.selection.points if event else []) if p.get("curve_number") == markers]
if picked:
    open_head(*divmod(int(picked[0]), trace.n_heads))

st.caption("No mouse handy? Pick a head here instead.")
head_opener(trace, PAGE)

st.subheader("Export")
st.caption("PNG of the grid: the camera icon above it. The attention of the whole sentence, every layer "
           "and head, at full resolution:")
export_all_heads(trace, current_model_name(), PAGE)
