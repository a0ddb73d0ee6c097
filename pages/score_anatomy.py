"""Inside one attention score (q, k, q ⊙ k), and what a head writes (norm-based attention)."""
import math

import numpy as np
import streamlit as st

from analysis.score_parts import norm_attention, score_parts
from ui.defaults import pick_layer_and_head
from ui.frame import require_frame
from ui.state import cached, current_model_and_trace, current_model_name
from ui.widgets import linked, pick_window, plot, sentence_key, token_label, token_labels
from viz.attention import attention_heatmap
from viz.common import PLOT_WIDTH
from viz.score_parts import key_shares, score_bars

HALF = PLOT_WIDTH / 2 - 60   # px: one of two heatmaps abreast, its colour bar aside

PAGE = require_frame()   # this file's name: its controls' keys start with it
model, trace = current_model_and_trace()
model_name, key = current_model_name(), sentence_key(trace.text)
layer, head = pick_layer_and_head(trace, PAGE)
lt = trace.layers[layer]
words = [i for i, s in enumerate(trace.special_mask) if not s] or [0]
cols = st.columns(2)
query = cols[0].selectbox("Query token (asking)", range(len(trace)), index=words[0],
                          format_func=token_labels(trace).__getitem__, **linked(f"query_{key}"))
strongest = int(np.argmax(lt.weights[head, query]))
key_pos = cols[1].selectbox("Key token (answering)", range(len(trace)), index=strongest,
                            format_func=token_labels(trace).__getitem__, **linked(f"key_{key}_{query}"),
                            help="Starts at the key this query weights most in this head.")
config = model.config
parts = score_parts(trace, layer, head, query, key_pos, scale=config.attn_scale, softcap=config.attn_softcap)
d_head = len(parts.q)
divisor = "√d_head" if config.attn_scale is None else f"√{config.attn_scale:g}"
cols = st.columns(4)
cols[0].metric("Σ q ⊙ k", f"{parts.dot:.4f}", help=f"The sum of the {d_head} bars of q ⊙ k, dimension by dimension.")
cols[1].metric(f"÷ {divisor}", f"{parts.scale:.4f}", help=f"d_head = {d_head}" + (
    "; this model divides by √query_pre_attn_scalar instead" if config.attn_scale is not None else ""))
cols[2].metric("= score", "masked (−∞)" if parts.masked else f"{parts.score:.4f}",
               help="Recomputed with the model's own attention code: equal to trace.scores bit for bit.")
cols[3].metric("weight after softmax", f"{lt.weights[head, query, key_pos]:.4f}",
               help="The score against every other key of this query, through the softmax.")
if parts.masked:
    st.info("This key comes after the query: the causal mask sets the score to −∞ (weight 0). "
            "The bars show what q·k would have been.")
elif parts.score != parts.trace_score:
    st.warning(f"The recomputed score differs from the traced one ({parts.trace_score:.6f}).")
else:
    cap = config.attn_softcap
    capped = ("" if cap is None else
              f", soft-capped to {cap:g} · tanh(… / {cap:g}) = {cap * math.tanh(parts.dot / parts.scale / cap):.6f}")
    st.caption(f"Σ q⊙k ÷ √{parts.scale ** 2:g} = {parts.dot / parts.scale:.6f} (summed in float64){capped}; the "
               f"traced score is {parts.trace_score:.6f}, identical to the model's float32 arithmetic.")
if trace.n_kv_heads != trace.n_heads:
    st.caption(f"Grouped-query attention: query head {head} reads key/value head {parts.kv_head}.")
plot(score_bars(parts.q, parts.k, parts.product, token_label(trace, query), token_label(trace, key_pos),
                f"Layer {layer}, head {head}: {token_label(trace, query)} → {token_label(trace, key_pos)}"),
     f"score_parts_L{layer}H{head}")

st.subheader("What the head writes")
st.markdown("A weight says how much a query **looks** at a key. What reaches the query is the weight times the "
            "key's value vector passed through W_O (this head's slice). Kobayashi et al. (2020) measure that "
            "directly: **‖αᵢⱼ · vⱼ · W_O‖**. A key with a large weight but a short vector ([SEP] and [CLS] often) "
            "is looked at and contributes almost nothing.")
norms = cached(("norm-attention", model_name, trace.text, layer, head),
               lambda: norm_attention(model.net, trace, layer, head), "Measuring what each key writes…")
window = pick_window(len(trace), f"{PAGE}_window_{key}", size=24, limit=48, around=query)   # two maps abreast
tokens = [trace.tokens[i] for i in window]
sl = slice(window.start, window.stop)
cols = st.columns(2)
cols[0].markdown(f"**Weights α** (layer {layer}, head {head}): where it looks")
plot(attention_heatmap(lt.weights[head][sl, sl], tokens, zmax=None, positions=list(window), height=560, width_px=HALF),
     f"weights_L{layer}H{head}", where=cols[0])
cols[1].markdown(f"**‖α·v·W_O‖** (layer {layer}, head {head}): what it writes")
plot(attention_heatmap(norms[sl, sl], tokens, zmax=None, positions=list(window), value_name="norm", height=560,
                       width_px=HALF),
     f"norm_attention_L{layer}H{head}", where=cols[1])
plot(key_shares(lt.weights[head][:, sl], norms[:, sl], tokens, positions=list(window),
                title="Each key's share of the weight vs its share of what the head writes"),
     f"key_shares_L{layer}H{head}")
sink = int(np.argmax(lt.weights[head].sum(axis=0)))
w_share = lt.weights[head].sum(axis=0)[sink] / max(lt.weights[head].sum(), 1e-30)
n_share = norms.sum(axis=0)[sink] / max(norms.sum(), 1e-30)
st.caption(f"The most looked-at key here is {token_label(trace, sink)}: {w_share:.0%} of the weight, "
           f"{n_share:.0%} of what the head writes. W_O's bias is left out (it is added whatever the head looks "
           "at); so are the residual connection and, in post-LN models such as MiniLM, the LayerNorm after it.")
