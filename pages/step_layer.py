"""Step 4 · From heads to the next layer: concat → W_O → add & norm → feed-forward → add & norm."""
import numpy as np
import pandas as pd
import streamlit as st

from core.recompute import attention_parameters, layer_parameter_counts, layer_steps, top_neurons
from ui.frame import require_frame
from ui.state import current_model_and_trace, pick_layer
from ui.widgets import pick_window, plot
from viz.steps import activation_histogram, matrix_heatmap, top_neurons_figure, vector_strip

WINDOW = 32




def head_borders(fig, n_heads: int, d_head: int):
    for h in range(n_heads):
        if h:
            fig.add_vline(x=h * d_head - 0.5, line=dict(color="#212529", width=1))
        fig.add_annotation(x=(h + 0.5) * d_head - 0.5, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                           text=f"h{h}", font=dict(size=10, color="#495057"))
    return fig


require_frame()
st.title("🧱 4 · From heads to the next layer")
st.markdown("Every head returns a small vector per token. The block glues them together, mixes them with W_O, "
            "adds the result to its input (the **residual**), normalises, runs a two-layer **feed-forward** "
            "network on each token on its own, adds and normalises again — and that is the next layer's input.")
model, trace = current_model_and_trace()
config = model.config
t, d, h, dh, dff = len(trace.tokens), config.d_model, config.n_heads, config.d_head, config.d_ff
layer = pick_layer(trace, "step_layer")
words = [i for i, s in enumerate(trace.special_mask) if not s] or [0]
token = st.selectbox("Token (for the feed-forward)", range(t), index=words[0], key=f"step_layer_token_{t}",
                     format_func=lambda i: f"{i} · {trace.tokens[i]}")
block = layer_steps(model.net, trace, layer)
rows = pick_window(t, "step_layer_window", size=WINDOW, limit=WINDOW, around=token)
span = slice(rows.start, rows.stop)
labels = [trace.tokens[i] for i in rows]
note = f" (tokens {rows.start}–{rows.stop - 1})" if len(rows) < t else ""
post = block.norm == "post"

st.subheader("① Concatenate the heads, then W_O")
st.markdown(f"{h} heads × ({t} × {dh}) side by side → **concat** ({t} × {d}) · W_O ({d} × {d}) + b → "
            f"**attention output** ({t} × {d}). W_O lets each output dimension draw on every head.")
if not post:
    st.caption("This model is pre-LN (as GPT-2): the LayerNorm comes *before* each sublayer — attention reads "
               "LayerNorm(layer input), the feed-forward reads LayerNorm(resid_mid) — and the residual stream "
               "itself is never normalised, so the adds below have no norm after them.")
plot(head_borders(matrix_heatmap(block.heads_concat[span], f"Heads concatenated: {t} × {d}{note} — one band per head",
                                 labels, rows.start), h, dh), "step_layer_concat")
plot(matrix_heatmap(block.attn_out[span], f"Attention output = concat · W_O + b: {t} × {d}{note}", labels, rows.start),
     "step_layer_attn_out")

st.subheader("② Residual add, LayerNorm" if post else "② Residual add")
st.markdown(f"resid_mid = {'LayerNorm(' if post else ''}layer input + attention output{')' if post else ''}  "
            f"({t} × {d}). The residual keeps the token's own vector; attention only adds to it.")
plot(matrix_heatmap(block.resid_mid[span], f"resid_mid: {t} × {d}{note}", labels, rows.start), "step_layer_resid_mid")
st.text(f"token: {trace.tokens[token]} (position {token})")
plot(vector_strip(np.stack([block.resid_pre[token], block.attn_out[token], block.attn_sum[token], block.resid_mid[token]]),
                  ["layer input", "+ attention output", "= sum", "LayerNorm → resid_mid" if post else "resid_mid"],
                  f"The add{' and the norm' if post else ''} for one token, each 1 × {d}"), "step_layer_add_norm_1")

st.subheader(f"③ Feed-forward: {d} → {dff} → {d}")
st.markdown(f"mlp_in ({t} × {d}) · W_up ({d} × {dff}) + b → **{config.activation.upper()}** → · W_down "
            f"({dff} × {d}) + b → mlp_out ({t} × {d}). Each token goes through alone: no mixing between tokens "
            "here, that was attention's job.")
left, right = st.columns([3, 2])
with left:
    plot(activation_histogram(block.mlp_pre[token], block.mlp_hidden[token],
                              f"The {dff} feed-forward neurons for this token"), "step_layer_histogram")
with right:
    plot(top_neurons_figure(top_neurons(block.mlp_hidden[token], 10), "Most active neurons"), "step_layer_top")
active = float((block.mlp_hidden[token] > 0.1).mean())
st.caption(f"GELU lets positive values through and squashes negative ones to nearly zero: {100 * active:.0f}% "
           f"of the {dff} neurons are clearly on (> 0.1) for this token.")

st.subheader("④ Residual add, LayerNorm → the next layer's input" if post else "④ Residual add → next layer")
plot(matrix_heatmap(block.resid_post[span], f"resid_post = {'LayerNorm(' if post else ''}resid_mid + mlp_out"
                    f"{')' if post else ''}: {t} × {d}{note}", labels, rows.start), "step_layer_resid_post")
plot(vector_strip(np.stack([block.resid_mid[token], block.mlp_out[token], block.mlp_sum[token], block.resid_post[token]]),
                  ["resid_mid", "+ feed-forward output", "= sum", "LayerNorm → resid_post" if post else "resid_post"],
                  f"The add{' and the norm' if post else ''} for the same token, each 1 × {d}"),
     "step_layer_add_norm_2")
relative_gaps = block.agreement(trace)
st.caption("Recomputed on this page from the layer's input and the weights; the model's own forward pass agrees "
           "to " + ", ".join(f"{v:.0e} ({k})" for k, v in relative_gaps.items()) + " (relative to the largest value).")

st.subheader("Parameters of one block")
counts = layer_parameter_counts(model.net, layer)
table = pd.DataFrame([(c.step, c.shape, c.count) for c in counts], columns=["step", "weights", "parameters"])
st.dataframe(table, hide_index=True, column_config={"parameters": st.column_config.NumberColumn(format="localized")})
total = sum(c.count for c in counts)
st.markdown(f"**{total:,}** parameters per block × {config.n_layers} blocks = {total * config.n_layers:,}. "
            f"The feed-forward holds {100 * (counts[5].count + counts[6].count) / total:.0f}% of them.")
ap = attention_parameters(config)
st.markdown(f"**Many heads cost nothing extra.** Head by head, W_Q, W_K and W_V are {d} × {dh} slices: "
            f"{h} heads × 3 × ({d}·{dh} + {dh}) = {h * ap['per_head_qkv']:,}, plus W_O {ap['output']:,} = "
            f"**{ap['multi_head']:,}**. One head of full width ({d} × {d} projections) has "
            f"**{ap['one_full_head']:,}** — counted on two real modules built with {h} heads and with 1. "
            "Splitting into heads changes what the weights can express (several attention patterns at once), "
            "not how many there are.")
