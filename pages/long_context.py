"""Long context: attention sinks, how far each head looks along the text, and where one head's attention lands."""
import pandas as pd
import streamlit as st

from analysis.long_context import even_distance, even_first_share
from ui.defaults import pick_layer_and_head
from ui.frame import require_frame
from ui.long_context import (STANDS_OUT, concentration_caption, distance_caption, distances_for,
                             first_token_name, overall_distance_caption, sink_caption, sink_shares, stretch_rows,
                             stretches_for)
from ui.state import current_model_name, current_trace
from ui.widgets import plot
from viz.long_context import distance_profile, received_profile, sink_heatmap, sinks_by_layer

PAGE = require_frame()   # this file's name: its controls' keys start with it
trace = current_trace()
model_name = current_model_name()
if trace.summary is None:
    st.info("This model's trace keeps no streamed summary, so this page has nothing to draw from.")
    st.stop()
st.caption(f"{len(trace):,} tokens · {trace.n_layers} layers × {trace.n_heads} heads. The sinks and the "
           "stretches below come from the summary measured during the forward pass (nothing recomputed); the "
           "distance curves recompute the chosen layer's heads one at a time.")

st.subheader("Attention sinks")
shares = sink_shares(trace)                                                  # (L, H)
st.markdown(sink_caption(shares, trace))
plot(sink_heatmap(shares, first_token_name(trace), "Share of each head's attention on the first token"),
     "long_context_sinks")
plot(sinks_by_layer(shares, even_first_share(len(trace), trace.causal), "The first token's share across layers"),
     "long_context_sinks_by_layer")

st.subheader("How far each head looks")
st.caption(overall_distance_caption(trace))
layer, head = pick_layer_and_head(trace, PAGE)
distances = distances_for(model_name, trace.text, layer)                     # (H, T)
st.markdown(distance_caption(distances, layer, head, trace))
plot(distance_profile(distances, range(trace.n_heads), layer, f"Layer {layer}: mean distance looked, by position",
                      even=even_distance(len(trace), trace.causal), chosen=head), f"long_context_distance_L{layer}")
st.caption((f"Each point averages about {len(trace) / 256:.0f} neighbouring query positions. " if len(trace) > 256
            else "") + "A line on the dotted diagonal looks all the way back to the first token; the dashed line is "
           "a head that spreads its attention evenly over what it can see. Hover a line for its numbers.")

st.subheader(f"Where layer {layer}, head {head} looks in the whole text")
stretches = stretches_for(trace, layer, head)
st.markdown(concentration_caption(trace, layer, head, stretches))
marks = [(s.start, s.stop, str(rank)) for rank, s in enumerate(stretches, start=1)
         if s.share >= STANDS_OUT * s.even]                                  # only those that stand out
plot(received_profile(trace.summary.received[layer, head], marks,
                      f"Layer {layer}, head {head}: attention each part of the text receives"),
     f"long_context_received_L{layer}_H{head}")
st.dataframe(pd.DataFrame(stretch_rows(trace, stretches)), hide_index=True, width="stretch", key=f"{PAGE}_stretches",
             column_config={"share": st.column_config.NumberColumn("share", format="percent",
                                                                   help="share of the head's attention"),
                            "× even": st.column_config.NumberColumn(
                                "× even", format="%.1f", help="the share over what even attention would give it")})
st.caption(f"Model: {model_name}. The busiest stretches leave out the first token and the special tokens "
           f"(sinks that would win every time); the figure shades those that get at least {STANDS_OUT}× what even "
           "attention would give them, numbered as in the table.")
