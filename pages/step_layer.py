"""Step 4 · From heads to the next layer: concat → W_O → add & norm → feed-forward → add & norm."""
import numpy as np
import pandas as pd
import streamlit as st

from analysis.recompute import ACTIVATION_NAMES, attention_parameters, layer_parameter_counts, layer_steps, norm_name, \
    top_neurons
from models import LoadedSeq2Seq
from ui.family import checkpoint_caption, require_step_page
from ui.frame import require_frame
from ui.head_choice import pick_layer
from ui.state import current_model_and_trace
from ui.steps import encoder_block_caption, feed_forward_text, layout_caption, parameters_text, rms_norm_caption, \
    shared_bias_text
from ui.widgets import linked, pick_window, plot, token_labels
from viz.steps import activation_histogram, matrix_heatmap, strip_dims, strip_note, top_neurons_figure, vector_strip

WINDOW = 32
DIMS = {"24 largest": "largest", "first 24": "first", "all (colours only)": "all"}


def head_borders(fig, n_heads: int, d_head: int):
    for h in range(n_heads):
        if h:
            fig.add_vline(x=h * d_head - 0.5, line=dict(color="#212529", width=1))
        fig.add_annotation(x=(h + 0.5) * d_head - 0.5, y=1.0, yref="paper", yanchor="bottom", showarrow=False,
                           text=f"h{h}", font=dict(size=10, color="#495057"))
    return fig


require_frame()
model, trace = current_model_and_trace()
require_step_page(model, "step_layer")
config = model.config
NORM, ACT, gated = norm_name(config), ACTIVATION_NAMES[config.activation], config.mlp == "gated"
st.markdown("Every head returns a small vector per token. The block glues them together, mixes them with W_O, "
            "adds the result to its input (the **residual**), runs a **feed-forward** network on each token on "
            f"its own and adds again, with a {NORM} "
            + {"post": "after each add", "post_sublayer": "on each sublayer's output, before its add",
               "sandwich": "before and after each sublayer"}.get(config.norm, "before each sublayer")
            + " — and that is the next layer's input."
            + (" In this model the two run **in parallel**: attention and the feed-forward both read the layer's "
               "input, and both outputs are added to it." if config.norm == "parallel" else ""))
t, d, h, dh, dff = len(trace.tokens), config.d_model, config.n_heads, config.d_head, config.d_ff
layer = pick_layer(trace, "step_layer")
encoder_decoder = isinstance(model, LoadedSeq2Seq)   # T5: the pages' trace is its encoder's
if encoder_decoder:
    encoder_block_caption(model, layer, NORM)
words = [i for i, s in enumerate(trace.special_mask) if not s] or [0]
token = st.selectbox("Token (for the feed-forward)", range(t), index=words[0], **linked(f"token_{t}"),
                     format_func=token_labels(trace).__getitem__)
block = layer_steps(model.net, trace, layer)
rows = pick_window(t, "step_layer_window", size=WINDOW, limit=WINDOW, around=token)
span = slice(rows.start, rows.stop)
labels = [trace.tokens[i] for i in rows]
note = f" (tokens {rows.start}–{rows.stop - 1})" if len(rows) < t else ""
post, parallel = block.norm == "post", block.norm == "parallel"
# OLMo 2 (post_sublayer) and Gemma 2, 3 (sandwich) normalise what each sublayer adds, before the add.
out_norm = block.norm in ("post_sublayer", "sandwich")
added = (lambda what: f"{NORM}({what})") if out_norm else (lambda what: what)   # noqa: E731
how = DIMS[st.radio("Dimensions shown", list(DIMS), horizontal=True, **linked("dims"),
                    help=f"{d} numbers do not fit across the page: see a few of them as numbers, or all as colours.")]

st.subheader("① Concatenate the heads, then W_O")
st.markdown(f"{h} heads × ({t} × {dh}) side by side → **concat** ({t} × {h * dh}) · W_O ({h * dh} × {d})"
            f"{' + b' if config.bias else ''} → "
            f"**attention output** ({t} × {d}). W_O lets each output dimension draw on every head.")
checkpoint_caption(model, ("norm before attention", "W_O", "norm after attention"), layer)
layout_caption(block.norm, parallel, post, NORM)
# One figure in view per step, the others a tab away: the page once ran 4,400–6,300 px tall.
concat_tab, out_tab = st.tabs(["Heads concatenated", "· W_O → attention output"])
with concat_tab:
    plot(head_borders(matrix_heatmap(block.heads_concat[span],
                                     f"Heads concatenated: {t} × {h * dh}{note} — one band per head", labels,
                                     rows.start), h, dh), "step_layer_concat")
with out_tab:
    plot(matrix_heatmap(block.attn_out[span], f"Attention output = concat · W_O: {t} × {d}{note}", labels, rows.start,
                        dims=strip_dims(block.attn_out[span], how)), "step_layer_attn_out")

st.subheader(f"② Residual add, {NORM}" if post else "② Residual add")
st.markdown(f"resid_mid = {NORM + '(' if post else ''}layer input + {added('attention output')}{')' if post else ''}  "
            f"({t} × {d}). The residual keeps the token's own vector; attention only adds to it.")
one_tab, every_tab = st.tabs([f"One token: {trace.tokens[token]} (position {token})", "Every token: resid_mid"])
with one_tab:
    attn_added = block.attn_sum[token] - block.resid_pre[token]           # attn_out, or its norm
    first_add = np.stack([block.resid_pre[token], attn_added, block.attn_sum[token], block.resid_mid[token]])
    dims = strip_dims(first_add, how)
    plot(vector_strip(first_add, ["layer input", f"+ {added('attention output')}", "= sum",
                                  f"{NORM} → resid_mid" if post else "resid_mid"],
                      f"The add{' and the norm' if post else ''} for one token, each 1 × {d}", dims=dims),
         "step_layer_add_norm_1")
    st.caption(strip_note(dims, d, how))
with every_tab:
    plot(matrix_heatmap(block.resid_mid[span], f"resid_mid: {t} × {d}{note}", labels, rows.start,
                        dims=strip_dims(block.resid_mid[span], how)), "step_layer_resid_mid")

st.subheader(f"③ Feed-forward: {d} → {dff} → {d}")
b = " + b" if config.bias else ""
st.markdown(feed_forward_text(config, t, parallel))
checkpoint_caption(model, ("norm before feed-forward", "W_gate", "W_up", "W_down", "norm after feed-forward"),
                   layer)
if NORM == "RMSNorm" and block.norm == "pre":   # the norm the feed-forward reads through, with this token's numbers
    rms_norm_caption(block.resid_mid[token], token)
left, right = st.columns([3, 2])
with left:
    act = ACT.split()[0]
    plot(activation_histogram(block.mlp_pre[token], block.mlp_hidden[token],
                              f"The {dff} feed-forward neurons for this token",
                              f"gate x·W_gate, before {act}" if gated else f"before {act} (x·W_up{b})",
                              f"{act}(gate) × x·W_up" if gated else f"after {act}"), "step_layer_histogram")
with right:
    plot(top_neurons_figure(top_neurons(block.mlp_hidden[token], 10), "Most active neurons",
                            "value W_down reads" if gated else f"activation after {act}"), "step_layer_top")
active = float((block.mlp_hidden[token] > 0.1).mean())
squash = "exactly" if act == "ReLU" else "nearly"   # GELU and SiLU dip a little below zero
st.caption(f"{act} lets positive values through and squashes negative ones to {squash} zero"
           + (" (then the gate's value is multiplied by W_up's)" if gated else "")
           + f": {100 * active:.0f}% of the {dff} neurons are clearly on (> 0.1) for this token.")

st.subheader(f"④ Residual add, {NORM} → the next layer's input" if post else "④ Residual add → next layer")
one_tab, every_tab = st.tabs([f"One token: {trace.tokens[token]} (position {token})", "Every token: resid_post"])
with one_tab:
    mlp_added = block.mlp_sum[token] - block.resid_mid[token]             # mlp_out, or its norm
    second_add = np.stack([block.resid_mid[token], mlp_added, block.mlp_sum[token], block.resid_post[token]])
    plot(vector_strip(second_add, ["resid_mid", f"+ {added('feed-forward output')}", "= sum",
                                   f"{NORM} → resid_post" if post else "resid_post"],
                      f"The add{' and the norm' if post else ''} for the same token, each 1 × {d}",
                      dims=strip_dims(second_add, how)), "step_layer_add_norm_2")
with every_tab:
    plot(matrix_heatmap(block.resid_post[span],
                        f"resid_post = {NORM + '(' if post else ''}resid_mid + {added('mlp_out')}"
                        f"{')' if post else ''}: {t} × {d}{note}", labels, rows.start,
                        dims=strip_dims(block.resid_post[span], how)), "step_layer_resid_post")
relative_gaps = block.agreement(trace)
st.caption("Recomputed on this page from the layer's input and the weights; the model's own forward pass agrees "
           "to " + ", ".join(f"{v:.0e} ({k})" for k, v in relative_gaps.items()) + " (relative to the largest value).")

counts = layer_parameter_counts(model.net, layer)
total = sum(c.count for c in counts)
ffn = sum(c.count for c in counts if c.part == "feed-forward")
with st.expander(f"Parameters of one block: {total:,}"):
    table = pd.DataFrame([(c.step, c.shape, c.count) for c in counts], columns=["step", "weights", "parameters"])
    st.dataframe(table, hide_index=True,
                 column_config={"parameters": st.column_config.NumberColumn(format="localized")})
    blocks = "blocks of the encoder" if encoder_decoder else "blocks"
    st.markdown(f"**{total:,}** parameters per block × {config.n_layers} {blocks} = {total * config.n_layers:,}. "
                f"The feed-forward holds {100 * ffn / total:.0f}% of them." + shared_bias_text(model.net))
    st.markdown(parameters_text(attention_parameters(config), config))
