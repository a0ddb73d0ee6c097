"""Aggregates: the mean head of a layer, attention rollout across layers, several query tokens summed."""
import numpy as np
import streamlit as st

from analysis.flow import FULL_LIMIT
from analysis.rollout import mean_over_heads, summed_rows
from ui.attention import attention_window, colour_max, is_long, mean_starts, rollout_for
from viz.long_context import pooled_overview
from ui.faithfulness import flow_into_token, flow_matrix_for
from ui.family import specials_text
from ui.frame import require_frame
from ui.head_choice import chosen, pick_layer
from ui.state import current_model_name, current_trace
from ui.widgets import linked, plot, sentence_key, token_labels
from ui.words import attention_view, keys_view, units, window_key, word_toggle, words_caption
from viz.attention import attention_heatmap, key_bar

PAGE = require_frame()   # this file's name: its controls' keys start with it
trace = current_trace()
model_name = current_model_name()
layer = pick_layer(trace, PAGE, label="Layer (mean over heads) / rollout through layer")
cols = st.columns([1, 2])
specials = specials_text(trace)
hide = bool(specials) and cols[0].toggle(f"Hide {specials}", **linked("hide"), help="Rows renormalised over the rest.")
whole_words = word_toggle(PAGE, cols[0])
with cols[1]:
    zmax = colour_max(PAGE)
mean = mean_over_heads(trace.layers[layer].weights)                 # (T, T)
tab_mean, tab_roll, tab_flow, tab_sum = st.tabs(["Mean over heads", "Rollout", "Attention flow",
                                                  "Several query tokens"])


def heatmap(matrix: np.ndarray, title: str, name: str) -> None:
    shown, kept = attention_view(matrix, trace, hide, whole_words)      # (n, n): pieces or words
    window = attention_window(kept, trace, window_key(f"{PAGE}_{name}", whole_words))
    positions = kept[window]
    if hide:
        st.caption(f"{specials} hidden; each row renormalised to sum to 1 over the remaining tokens.")
    if whole_words:
        words_caption(trace, hide)
    names = units(trace, whole_words).names
    plot(attention_heatmap(shown[window, window], [names[i] for i in positions], title,
                           zmax=zmax, positions=positions), f"attention_{name}_L{layer}")


with tab_mean:
    st.caption(f"The {trace.n_heads} heads of layer {layer} averaged: what the layer as a whole mixes, "
               "before W_O weighs the heads differently.")
    heatmap(mean, f"Layer {layer}, mean of {trace.n_heads} heads", "mean")
with tab_roll:   # each control on the tab it steers: the skip share belongs to rollout (and flow, which reuses it)
    residual = st.slider("Rollout: share kept by the skip connection", 0.0, 0.9, 0.5, 0.05, **linked("residual"),
                         help="Abnar & Zuidema (2020) use 0.5: Â = 0.5·A + 0.5·I, rows renormalised. "
                              "Attention flow and the summed rollout use the same share.")
    rolled = rollout_for(model_name, trace.text, float(residual))[layer]  # (T, T)
    st.caption(f"Rollout through layers 0–{layer}: each layer's mean head plus the skip connection "
               f"({residual:.2f}·I), multiplied layer after layer. Row *i* estimates how much of token *i*'s "
               "vector after this layer comes from each input token. Rows sum to 1. It is an estimate: it "
               "ignores the values, W_O and the feed-forward.")
    if is_long(trace):   # rollout is T×T per layer: exact up to MEAN_SIDE tokens, an overview of blocks beyond
        starts = mean_starts(trace)
        st.caption(f"Rollout is exact up to {len(starts)} tokens. This text has {len(trace)}, so it is rolled "
                   f"out on each layer's mean head pooled into {len(starts)} blocks of about "
                   f"{len(trace) / len(starts):.0f} tokens (keys summed, queries averaged) and drawn as an overview "
                   "of blocks; the hover names each block's positions.")
        plot(pooled_overview(rolled, starts, title=f"Rollout through layer {layer}, blocks of tokens"),
             f"attention_rollout_L{layer}")
    else:
        heatmap(rolled, f"Rollout through layer {layer} (skip share {residual:.2f})", "rollout")
with tab_flow:
    st.caption(f"Attention flow (Abnar & Zuidema 2020) uses the same pipes as rollout, {1 - residual:.2f}·A + "
               f"{residual:.2f}·I per layer (the slider on the Rollout tab), "
               "but asks how much can get from input token *j* to token *i* **at once**: a pipe shared by many "
               "paths carries its capacity only once. Each value is between 0 and 1; rows need not sum to 1, and "
               "through more layers (more paths) most values climb towards 1.")
    if len(trace) <= FULL_LIMIT:
        heatmap(flow_matrix_for(model_name, trace.text, float(residual), layer),
                f"Attention flow through layer {layer} (skip share {residual:.2f})", "flow")
    else:
        flow_into_token(trace, model_name, layer, float(residual), PAGE)
with tab_sum:
    st.caption("Pick several query tokens (say the words of a phrase): their attention rows are **added**, "
               "showing where the phrase as a whole looks. The bars sum to the number of tokens picked.")
    words = [i for i, special in enumerate(trace.special_mask) if not special]
    queries = st.multiselect("Query tokens", range(len(trace.tokens)), default=words[:2],
                            format_func=token_labels(trace).__getitem__, **linked(f"rows_{sentence_key(trace.text)}"))
    source = st.radio("Attention of", ["one head", "the layer's mean head", "the rollout"], horizontal=True,
                      **linked("source"))
    head = 0
    if source == "one head":
        head = st.selectbox("Head", range(trace.n_heads), **linked("head"),
                            index=chosen("head", trace.n_heads, trace))
    matrix = {"one head": trace.head(layer, head).weights, "the layer's mean head": mean,
              "the rollout": rolled}[source]
    if not queries:
        st.info("Pick at least one query token.")
    else:
        total = summed_rows(matrix, queries)
        what = f"head {head} of layer {layer}" if source == "one head" else \
            (f"layer {layer}'s mean head" if source.startswith("the layer") else f"rollout through layer {layer}")
        total, bar_names, picked = keys_view(total, trace, whole_words, queries)   # per piece, or per word
        plot(key_bar(total, bar_names, f"Attention of {len(queries)} query tokens, summed ({what})",
                     highlight=picked), "attention_summed_queries")
        top = np.argsort(total)[::-1][:5]
        st.caption("Most attended: " + ", ".join(f"#{i} ({total[i]:.2f})" for i in top)
                   + ". Orange bars are the chosen query tokens themselves.")
