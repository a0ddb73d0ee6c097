"""Step 3 · One attention head, with numbers: X → Q, K, V → scores → softmax → output."""
import numpy as np
import pandas as pd
import streamlit as st

from analysis.recompute import head_steps, softmax_formula
from ui.defaults import head_reason
from ui.family import checkpoint_caption, kv_note, require_step_page
from ui.frame import require_frame
from ui.head_choice import pick_head, pick_layer
from ui.relative_positions import score_with_bias
from ui.state import current_model_and_trace
from ui.steps import spread_query
from ui.widgets import linked, pick_window, plot, token_labels
from viz.steps import matrix_heatmap, step_bars, weighted_sum_figure

WINDOW = 32


require_frame()
model, trace = current_model_and_trace()
require_step_page(model, "step_head")
t, d, dh = len(trace.tokens), model.config.d_model, model.config.d_head
c1, c2 = st.columns(2)
with c1:
    layer = pick_layer(trace, "step_head")
with c2:
    head = pick_head(trace, "step_head")
head_reason(trace, "step_head")
query = st.selectbox("Query token", range(t), index=spread_query(trace, layer, head), **linked(f"query_{t}"),
                     format_func=token_labels(trace).__getitem__,
                     help="Opens on the word whose attention in this head is spread over the most keys, so the "
                          "weighted sum below mixes several values.")
chain = head_steps(model.net, trace, layer, head, query)
keys = pick_window(t, "step_head_window", size=WINDOW, limit=WINDOW, around=query)
span = slice(keys.start, keys.stop)
key_tokens = [trace.tokens[i] for i in keys]
window_note = f" (tokens {keys.start}–{keys.stop - 1})" if len(keys) < t else ""

st.subheader("① X → Q, K, V")
kv, bias = chain.kv_head, " + b" if model.config.qkv_bias else ""
st.markdown(f"X ({t} × {d}) · W_Q ({d} × {dh}){bias} → **Q** ({t} × {dh});  the same with W_K → **K** and W_V → "
            f"**V**. Head {head} owns dimensions {head * dh}–{(head + 1) * dh - 1} of W_Q: "
            f"{model.config.n_heads} heads × {dh} = {model.config.d_attention}"
            + (f"; its K and V are key/value head {kv}'s dimensions {kv * dh}–{(kv + 1) * dh - 1} of W_K and W_V."
               if kv_note(trace, head) else "."))
if kv_note(trace, head):
    st.caption(kv_note(trace, head))
checkpoint_caption(model, ("W_Q", "W_K", "W_V"), layer)
if model.config.qk_norm:                     # Qwen3 (per head), OLMo 2 (all heads together)
    over = (f"each head's {dh} dimensions" if model.config.qk_norm == "head" else
            f"the whole projection, all heads together ({d} query and {model.config.kv_heads * dh} key dimensions)")
    st.caption(f"This model applies a q/k norm: right after W_Q and W_K, RMSNorm over {over} (a learned γ, no β). "
               "The Q and K below are after that norm.")
plot(matrix_heatmap(chain.x[span], f"X = layer {layer} input: {t} × {d}{window_note}", key_tokens, keys.start),
     "step_head_x")
cols = st.columns(3)
for col, name, affine in zip(cols, "QKV", (chain.w_q, chain.w_k, chain.w_v)):
    with col:
        shared = f" (key/value head {kv})" if name != "Q" and kv_note(trace, head) else ""
        plot(matrix_heatmap(affine.w, f"W_{name}: {d} × {dh}{shared}", x_title=f"{name} dimension",
                            y_title="X dimension", height=360), f"step_head_w{name.lower()}")
cols = st.columns(3)
for col, name, m in zip(cols, "QKV", (chain.q, chain.k, chain.v)):
    with col:
        plot(matrix_heatmap(m[span], f"{name}: {t} × {dh}", key_tokens, keys.start, x_title=f"{name} dimension"),
             f"step_head_{name.lower()}")

if chain.q_raw is not None:
    rot = model.config.rotated_dims          # fewer than d_head with partial rotary (GPT-NeoX)
    what = ("each row of Q and K is" if rot == dh else
            f"the first {rot} dimensions of each row of Q and K (the other {dh - rot} are not turned) are")
    st.markdown(f"**Rotary positions:** before scoring, {what} cut into pairs (dimension i with i + {rot // 2}) and "
                "each pair is turned by position × θ_i (step 2 explains it). The same Q, before and after the turn:")
    cols = st.columns(2)
    for col, name, m in zip(cols, ("Q before RoPE", "Q after RoPE (what the scores use)"), (chain.q_raw, chain.q)):
        with col:
            plot(matrix_heatmap(m[span], f"{name}: {t} × {dh}", key_tokens, keys.start, x_title="Q dimension"),
                 f"step_head_{'q_raw' if 'before' in name else 'q_rope'}")

st.subheader("② Scores of the query against every key")
st.text(f"query: {trace.tokens[query]} (position {query})")
plot(step_bars(chain.dots[span], key_tokens, f"Dot products q_{query} · k_j{window_note} — orange: the query token "
               "itself", keys.start, query), "step_head_dots")
if chain.bias is not None:   # T5: a learned bias per distance added, nothing divided
    score_with_bias(model, trace, chain, keys, window_note)
else:
    plot(step_bars(chain.scaled[span], key_tokens, f"Divided by √d_head = √{dh} = {chain.scale:.3f}{window_note}",
                   keys.start, query, colour="#7048e8"), "step_head_scaled")
    st.caption("Why divide: a dot product of two random d-dimensional vectors grows like √d; without the scaling the "
               "softmax would put nearly all weight on one key and its gradients would vanish.")
plot(step_bars(chain.weights[span], key_tokens,
               f"Softmax: the attention weights (they sum to {chain.weights.sum():.4f})"
               f"{window_note}", keys.start, query, fmt="{:.3f}", colour="#2b8a3e"), "step_head_softmax")
top = int(np.argmax(chain.weights))
key = st.selectbox("Write out the softmax for key", range(t), index=top, **linked(f"key_{t}"),
                   format_func=[label + ("" if seen else " (hidden by the mask)")
                                for label, seen in zip(token_labels(trace), chain.allowed)].__getitem__)
st.code(softmax_formula(chain, key), language=None)
st.caption("e^x / Σ e^x: every weight is positive and they add up to 1. The code subtracts the largest score "
           "before exponentiating (the factor cancels), which keeps e^x from overflowing.")

st.subheader("③ The weighted sum of V's rows = the head's output")
st.markdown(f"output = Σ_j weight_j · v_j  →  1 × {dh} for this query;  for all queries, weights ({t} × {t}) · V "
            f"({t} × {dh}) = {t} × {dh}.")
plot(weighted_sum_figure(chain.weights[span], chain.v[span], chain.head_out, key_tokens, keys.start,
                         f"weight_j · v_j for each key{window_note}, and their sum"), "step_head_output")
gaps = chain.agreement(trace)
st.caption("Recomputed on this page from X and the weights; the model's own forward pass agrees to "
           + ", ".join(f"{v:.1e} ({k})" for k, v in gaps.items()) + ".")
score = "score" if chain.bias is not None else "scaled"
table = pd.DataFrame({"position": range(t), "key": trace.tokens, "q·k": chain.dots,
                      **({"bucket": chain.buckets, "bias": chain.bias} if chain.bias is not None else {}),
                      score: chain.scaled, f"e^({score} - max)": chain.exps, "weight": chain.weights})
st.download_button("Download this query's numbers (CSV)", table.to_csv(index=False),
                   f"layer{layer}_head{head}_query{query}.csv", "text/csv", key="step_head_csv")
