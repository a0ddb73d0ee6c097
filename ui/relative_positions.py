"""Step 5 for an encoder–decoder (T5, BART, Marian): where its positions enter, and its three kinds of attention.

T5 has no position embeddings. Each pair (query i, key j) falls in a bucket of the distance j − i,
and each head has one learned number per bucket that is added to the score q·k (which T5 does not
divide by √d_head). The encoder's buckets cover both directions; the decoder's only the past (its
causal mask hides the future anyway). Every layer of a stack adds the same table, which the first
layer owns. BART and Marian add their positions to the token rows instead (learned or sinusoidal).

Then the decoder: its self-attention has the causal mask, and its cross-attention none: every output
token may read every source token.

Step 3 (One head with numbers) reuses the bucket table for T5: the query's bias row added to q·k, and
why nothing is divided by √d_head (score_with_bias).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from core import Trace
from core.attention import relative_bucket
from models import LoadedSeq2Seq
from models.families import display_name
from ui.widgets import linked, plot, token_labels, window_at
from viz.attention import attention_heatmap
from viz.common import DIVERGING_SCALE, PLOT_WIDTH
from viz.steps import scores_with_mask, step_bars, weights_with_mask

WINDOW = 24


def distance_text(distances: list[int], reach: int) -> str:
    """"−3", "−8 … −5", "≤ −20" (the group runs past what is shown), "≥ 20"."""
    low, high = min(distances), max(distances)
    sign = (lambda d: f"−{-d}" if d < 0 else str(d))
    if low == -reach and high < 0:
        return f"≤ {sign(high)}"
    if high == reach and low > 0:
        return f"≥ {sign(low)}"
    return sign(low) if low == high else f"{sign(low)} … {sign(high)}"


def bucket_table(bidirectional: bool, n_buckets: int, max_distance: int, table: np.ndarray) -> pd.DataFrame:
    """One row per bucket: the distances key − query it holds and the head's bias for it (table: (buckets,))."""
    reach = 2 * max_distance
    distances = torch.arange(-reach, reach + 1)
    buckets = relative_bucket(distances, bidirectional, n_buckets, max_distance).tolist()
    groups: dict[int, list[int]] = {}
    for d, b in zip(distances.tolist(), buckets):
        groups.setdefault(b, []).append(d)
    rows = []
    for b in sorted(groups):
        ds = groups[b]
        if not bidirectional and b == 0:
            text = "0 (itself); later keys are hidden by the mask"
        else:
            text = distance_text(ds, reach)
        rows.append({"bucket": b, "distance key − query": text, "bias of this head": float(table[b])})
    return pd.DataFrame(rows)


def relative_bias(model: LoadedSeq2Seq, trace: Trace, layer: int, head: int, rows: range) -> None:
    """T5: the bucket tables, the bias over this sentence and one query's score taken apart."""
    net, config = model.net, model.config
    t = len(trace.tokens)
    st.subheader("T5: positions as a bias on the scores")
    st.markdown(
        "T5 adds **no position vectors** to its tokens. Instead every head keeps one learned number for each "
        "**bucket** of the distance *key − query* and adds it to the score: "
        "`score = q·k + bias[bucket(j − i)]`, with no ÷√d_head. Near distances get a bucket each, farther ones "
        f"share buckets that widen logarithmically, and everything beyond {config.relative_max_distance} tokens "
        f"shares the last one. The encoder splits its {config.relative_buckets} buckets between keys before and "
        "after the query; the decoder gives them all to the past. Every layer of a stack adds the same table "
        "(the first layer's).")
    encoder = net.encoder_bias.buckets.weight.detach().cpu().numpy()        # (buckets, H)
    decoder = net.decoder_bias.buckets.weight.detach().cpu().numpy()        # (buckets, H)
    c1, c2 = st.columns(2)
    for col, name, bidirectional, table in ((c1, "Encoder: both directions", True, encoder),
                                            (c2, "Decoder: the past only", False, decoder)):
        col.markdown(f"**{name}** (head {head})")
        col.dataframe(bucket_table(bidirectional, config.relative_buckets, config.relative_max_distance,
                                   table[:, head]), hide_index=True, width="stretch",
                      column_config={"bias of this head": st.column_config.NumberColumn(format="%.3f")})
    with torch.inference_mode():
        bias = net.encoder_bias(t, t)[0, head].cpu().numpy()                 # (T, T)
    ws = slice(rows.start, rows.stop)
    tokens = [trace.tokens[i] for i in rows]
    lim = float(np.abs(bias).max()) or 1.0
    plot(attention_heatmap(bias[ws, ws], tokens, f"Head {head}'s bias for every query and key of your sentence",
                           zmin=-lim, zmax=lim, colorscale=DIVERGING_SCALE, value_name="bias",
                           positions=list(rows)), "t5_bias")
    st.caption("Each diagonal has one colour: the bias depends only on how far the key is from the query, not on "
               "the words. It is the same in every layer of the encoder; what differs between layers is q·k.")
    query = st.selectbox("Query token", range(t), index=min(t - 1, 2), format_func=token_labels(trace).__getitem__,
                         **linked(f"t5_query_{t}"))
    one = trace.head(layer, head)
    dot = one.q[query] @ one.k.T                                             # (T,) q·k, no ÷√d_head
    keys = window_at(t, WINDOW, max(0, query - WINDOW // 2))
    span = slice(keys.start, keys.stop)
    key_tokens = [trace.tokens[i] for i in keys]
    left, right = st.columns(2)
    plot(step_bars(dot[span], key_tokens, f"q·k of layer {layer}, head {head}", keys.start, query,
                   colour="#7048e8"), "t5_dot", left)
    plot(step_bars(bias[query, span], key_tokens, "+ the bias of each key's bucket", keys.start, query,
                   colour="#f76707"), "t5_bias_row", right)
    plot(step_bars(one.scores[query, span], key_tokens, "= the score the softmax reads", keys.start, query,
                   colour="#2b8a3e"), "t5_score_row")
    gap = float(np.abs(dot + bias[query] - one.scores[query]).max())
    st.caption(f"q·k + bias equals the model's own score for every key of this row (largest difference {gap:.1e}).")


def unscaled_caption(chain) -> str:
    """Why T5's scores are not divided by √d_head, with this head's own weights and this query's scores:
    T5 draws W_Q at initialisation with a standard deviation √d_head times smaller than W_K's (transformers'
    and Mesh TensorFlow's (d_model·d_head)^−½ against d_model^−½), so the division is in the weights."""
    root = float(np.sqrt(chain.d_head))
    sq, sk = float(np.std(chain.w_q.w)), float(np.std(chain.w_k.w))
    ratio = sk / sq if sq else float("inf")
    seen = chain.dots[chain.allowed]
    near = 1 / 1.5 < ratio / root < 1.5
    return (f"No ÷√d_head = √{chain.d_head} = {root:.2f} here: T5 folds that factor into its initialisation. It draws "
            f"W_Q with a standard deviation √d_head times smaller than W_K's ((d_model·d_head)^−½ against "
            f"d_model^−½), so q·k starts out the size that q·k/√d_head has in other models, and training learns "
            f"the scale it needs with no division. This head's W_Q has standard deviation {sq:.3g} and W_K "
            f"{sk:.3g}: {ratio:.2f} times smaller, "
            + ("still about √d_head. " if near else f"not the {root:.2f} of that start: these weights have moved "
               "away from it, and the softmax reads whatever scale they give. ")
            + f"This query's q·k run from {seen.min():.2f} to {seen.max():.2f}; divided by {root:.2f} they "
            f"would run from {seen.min() / root:.2f} to {seen.max() / root:.2f}, and the weights would be flatter.")


def score_with_bias(model: LoadedSeq2Seq, trace: Trace, chain, keys: range, window_note: str) -> None:
    """3 · One head with numbers, T5: this query's bias row (the head's bucket table, the same in every layer)
    added to q·k, their sum the score the softmax reads, and why nothing is divided by √d_head."""
    config = model.config
    span = slice(keys.start, keys.stop)
    key_tokens = [trace.tokens[i] for i in keys]
    query, head = chain.query, chain.head
    plot(step_bars(chain.bias[span], key_tokens, f"+ the position bias of each key's bucket (head {head}){window_note}",
                   keys.start, query, colour="#f76707"), "step_head_bias")
    shown = chain.buckets[span]
    st.caption(f"T5 adds no position vectors: the bias depends only on the distance key − query, cut into "
               f"{config.relative_buckets} buckets (here buckets {int(shown.min())}–{int(shown.max())}; "
               f"every distance beyond {config.relative_max_distance} shares the last). The table belongs to layer 0 "
               "and every layer of the encoder adds the same one; step 5 draws it whole.")
    with st.expander(f"Head {head}'s bucket table (encoder: keys before and after the query)"):
        table = model.net.encoder_bias.buckets.weight.detach().float().cpu().numpy()      # (buckets, H)
        st.dataframe(bucket_table(True, config.relative_buckets, config.relative_max_distance, table[:, head]),
                     hide_index=True, column_config={"bias of this head": st.column_config.NumberColumn(format="%.3f")})
    plot(step_bars(chain.scaled[span], key_tokens, f"= the score: q·k + bias, not divided by √d_head{window_note}",
                   keys.start, query, colour="#7048e8"), "step_head_scaled")
    st.caption(unscaled_caption(chain))


def decoder_sections(model: LoadedSeq2Seq, trace: Trace, layer: int, head: int) -> None:
    """The decoder's masked self-attention and its unmasked cross-attention, on the model's own output."""
    family = display_name(model.info.get("family")) or "This model"
    try:
        both = model.trace(trace.text)
    except (OSError, ValueError) as exc:
        st.error(f"The decoder could not run on this source: {exc}")
        return
    decoder = both.decoder
    st.subheader("The decoder: a causal mask on itself, none on the source")
    st.markdown(f"{family}'s decoder writes the output one token at a time (here its own greedy output, after the "
                "start token). Its **self-attention** hides later output tokens, as any decoder does. Its "
                "**cross-attention** has no mask: each output token may read every source token, since the "
                "whole source is known before the first word is written.")
    t = len(decoder.tokens)
    rows = window_at(t, WINDOW, 0)
    ws = slice(rows.start, rows.stop)
    tokens = [decoder.tokens[i] for i in rows]
    own = decoder.layers[layer]                                              # masked self-attention
    scores, weights = own.scores[head], own.weights[head]                    # (T, T) each
    left, right = st.columns(2)
    plot(scores_with_mask(scores[ws, ws], tokens, f"Self-attention scores (layer {layer}, head {head}): "
                          "future = −∞", rows.start), "decoder_scores", left)   # a half-width title: short
    plot(weights_with_mask(weights[ws, ws], ~np.isfinite(scores[ws, ws]), tokens,
                           "After the softmax: the future is exactly 0", rows.start), "decoder_weights", right)
    cross = decoder.layers[layer].cross.weights[head]                        # (T_target, S)
    source = window_at(cross.shape[1], 64, 0)
    plot(attention_heatmap(cross[ws, source.start:source.stop], tokens,
                           f"Cross-attention, layer {layer}, head {head}: every output token may read every source "
                           "token", key_tokens=[both.encoder.tokens[i] for i in source],
                           query_title="output token (query)", key_title="source token (key)",
                           positions=list(rows), key_positions=list(source), width_px=PLOT_WIDTH), "cross_attention")
    st.caption("No grey cell: nothing is hidden. Which source token each output token reads most is on the "
               "**Encoder–decoder** page." + (" T5's cross-attention adds no position bias either: where a source "
                                             "word sits matters only through the encoder's vectors."
                                             if model.config.positional == "relative" else ""))


def encoder_decoder_masks(model: LoadedSeq2Seq, trace: Trace, layer: int, head: int, rows: range) -> None:
    """Step 5's sections for an encoder–decoder: T5's bias (or where BART's and Marian's positions are), then
    the decoder's two attentions."""
    if model.config.positional == "relative":
        relative_bias(model, trace, layer, head, rows)
    else:
        kind = "sinusoidal" if model.config.positional == "sinusoidal" else "learned"
        st.subheader("Positions")
        st.markdown(f"{display_name(model.info.get('family')) or 'This model'} adds {kind} position vectors to "
                    "the token rows before the first layer (step 2), so its scores need no position term: "
                    "`score = q·k / √d_head`.")
    decoder_sections(model, trace, layer, head)
