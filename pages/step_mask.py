"""Step 5 · Masks: MiniLM sees both ways; a decoder hides the future with −∞ before the softmax."""
import numpy as np
import streamlit as st

from analysis.recompute import head_steps
from analysis.recognisable import HeadChoice, best_head
from models import LoadedSeq2Seq
from models.shipped import GRAMMAR_LM, unknown_words
from training.demo import fold_ids, untrained_causal_model
from ui.attention import is_long
from ui.defaults import head_reason
from ui.family import model_family
from ui.frame import require_frame
from ui.head_choice import explicit, pick_head, pick_layer
from ui.relative_positions import encoder_decoder_masks
from ui.steps import gemma_mask_sections
from ui.state import current_model_and_trace, current_model_name, current_trace, get_model, model_choices
from ui.widgets import linked, pick_window, plot, token_labels, window_at
from viz.common import PLOT_WIDTH
from viz.steps import scores_with_mask, step_bars, weights_with_mask

WINDOW = 24
MASK_SENTENCE = "the queen rules her kingdom and the king rides his horse ."   # every word the Grammar LM knows
FULL_ROOM = PLOT_WIDTH - 160   # px: the full-width grid's cells, its labels and colour bar aside


@st.cache_resource(show_spinner="Building a small random decoder…")
def untrained_decoder():
    return untrained_causal_model()


def causal_decoder(picked_model):
    """The decoder to show the mask with, as (key, label, model), or None: the sidebar's model when it
    is causal (GPT-2, Llama, a trained one), else the first causal model this session opened, else
    the Grammar LM that ships with the app (a trained decoder, so its patterns mean something)."""
    picked = current_model_name()
    if picked_model.config.causal:
        return picked, model_choices().get(picked, picked), picked_model
    offered = {**st.session_state.get("extra_models", {}), GRAMMAR_LM: model_choices().get(GRAMMAR_LM, GRAMMAR_LM)}
    for key, label in offered.items():
        try:
            other = get_model(key)
        except (OSError, ValueError):
            continue
        if other.config.causal:
            return key, label, other
    return None


require_frame()
model, trace = current_model_and_trace()
t = len(trace.tokens)

family = model_family(model)
rows = range(0)   # the encoder's window, which the decoder's opens on
if trace.causal:   # a decoder's own weights above the diagonal are all 0: its mask is the section below
    st.caption(f"{family} is a decoder: it never looks ahead. Its causal mask is drawn below, with its real "
               "scores.")
else:
    st.subheader(f"{family}: bidirectional, no mask")
    future = np.triu(trace.attentions, k=1).sum(axis=-1)           # (L, H, T): weight each query gives later keys
    later = future[..., :-1].mean(axis=-1) if t > 1 else np.zeros(future.shape[:2])   # (L, H); last query: none
    suggestion = None
    if t > 1 and trace.n_layers:   # open on the head that looks ahead the most: the point here
        mine = [explicit("layer", trace.n_layers), explicit("head", trace.n_heads)]
        at = best_head(later, *(mine if None in mine else (None, None)))
        suggestion = HeadChoice(*at, "later", float(later[at]), f"layer {at[0]} · head {at[1]} looks ahead the most: "
                                f"on average {later[at]:.0%} of each token's attention goes to tokens after it.")
    c1, c2 = st.columns(2)
    with c1:
        layer = pick_layer(trace, "step_mask", suggestion=suggestion)
    with c2:
        head = pick_head(trace, "step_mask", suggestion=suggestion)
    head_reason(trace, "step_mask", suggestion)
    if t > 1:
        st.metric("Attention weight on later tokens (mean over every layer, head and query)",
                  f"{100 * later.mean():.1f}%")
    st.caption("In the grids below each row is a query token and each column (labels along the top) a key; the "
               "dashed line is the diagonal, where a token looks at itself.")
    rows = pick_window(t, "step_mask_window", size=WINDOW, limit=WINDOW)
    ws = slice(rows.start, rows.stop)
    note = f" (tokens {rows.start}–{rows.stop - 1})" if len(rows) < t else ""
    above = (f"{later[layer, head]:.0%} of the weight is above the diagonal" if t > 1
             else "one token: nothing to mask")
    hidden = ~np.isfinite(trace.head(layer, head).scores[ws, ws])      # (window, window): True where masked
    plot(weights_with_mask(trace.head(layer, head).weights[ws, ws], hidden, [trace.tokens[i] for i in rows],
                           f"Layer {layer}, head {head}: {above}{note}", rows.start, room_px=FULL_ROOM),
         "mask_minilm")
    st.caption(f"Above the diagonal: a query looking at a token that comes *after* it. {family} does it in every "
               "layer, which is why it understands a word from both sides but cannot generate text left to right.")

if isinstance(model, LoadedSeq2Seq):   # T5's bias, BART's and Marian's positions, the decoder's two attentions
    encoder_decoder_masks(model, trace, layer, head, rows)
    st.stop()
st.subheader("A decoder: the causal mask")
found = causal_decoder(model)
if found:
    key, label, decoder = found
    st.text(f"Causal model: {label}" + (" (the one picked in the sidebar)" if decoder is model else
                                         " (ships with the app; pick another decoder in the sidebar)"
                                         if key == GRAMMAR_LM else ""))
    text = trace.text
    if key == GRAMMAR_LM and unknown_words(decoder, text):   # its words only: else pieces of letters
        text = MASK_SENTENCE
        st.caption(f"The Grammar LM knows only its corpus's words, so its mask is drawn on “{text}”, not yours.")
    ctrace = current_trace(text, key, notice=False)
    net = decoder.net
else:
    net = untrained_decoder()
    st.info(f"{family} is an encoder and no decoder is open in this session (pick one in the sidebar: the Grammar "
            "LM ships with the app; or train one on the **Train** page), so this is a small decoder "
            "with **random, untrained weights — only to show the mask**. It reads MiniLM's token ids folded into its "
            f"{net.config.vocab_size:,}-entry vocabulary; its attention patterns mean nothing, its mask is real.")
    ctrace = net.trace(fold_ids(trace.ids, net.config.vocab_size), trace.tokens, trace.offsets, trace.special_mask,
                       text=trace.text)
n_causal = len(ctrace.tokens)
c1, c2, c3 = st.columns(3)
clayer = c1.slider("Decoder layer", 0, ctrace.n_layers - 1, 0, **linked("dlayer")) if ctrace.n_layers > 1 else 0
chead = c2.slider("Decoder head", 0, ctrace.n_heads - 1, 0, **linked("dhead")) if ctrace.n_heads > 1 else 0
query = c3.selectbox("Query token", range(n_causal), index=min(n_causal - 1, 3), **linked(f"query_{n_causal}"),
                     format_func=token_labels(ctrace).__getitem__)
crows = window_at(n_causal, WINDOW, rows.start)
causal_span = slice(crows.start, crows.stop)
ctokens = [ctrace.tokens[i] for i in crows]
cnote = f" (tokens {crows.start}–{crows.stop - 1})" if len(crows) < n_causal else ""
left, right = st.columns(2)
with left:
    plot(scores_with_mask(ctrace.head(clayer, chead).scores[causal_span, causal_span], ctokens,
                          f"Scores q·kᵀ/√d_head, the future set to −∞{cnote}", crows.start), "mask_scores")
with right:
    plot(weights_with_mask(ctrace.head(clayer, chead).weights[causal_span, causal_span],
                           ~np.isfinite(ctrace.head(clayer, chead).scores[causal_span, causal_span]), ctokens,
                           f"After the softmax: the upper triangle is exactly 0{cnote}", crows.start), "mask_weights")
chain = head_steps(net, ctrace, clayer, chead, query)
keys = window_at(n_causal, WINDOW, max(0, query - WINDOW + 4))
span = slice(keys.start, keys.stop)
st.text(f"query: {ctrace.tokens[query]} (position {query})")
ktokens = [ctrace.tokens[i] for i in keys]
plot(step_bars(chain.scaled[span], ktokens, "One row: scaled scores, −∞ for every later token", keys.start, query,
               colour="#7048e8"), "mask_row_scores")
plot(step_bars(chain.weights[span], ktokens, "The same row after the softmax: later tokens get exactly 0", keys.start,
               query, fmt="{:.3f}", colour="#2b8a3e"), "mask_row_weights")
every = not is_long(ctrace)   # a long text: the shown head only (every layer's T×T at once would not fit)
later_weights = np.triu(ctrace.attentions if every else ctrace.head(clayer, chead).weights, k=1)
upper = float(later_weights.max()) if n_causal > 1 else 0.0
where = "every layer, head and query of the decoder" if every else f"every query of layer {clayer}, head {chead}"
st.caption(f"Largest weight on a later token, over {where}: {upper:.1e}. "
           "The first token can only look at itself, so its row is a single 1.")

gemma_mask_sections(net.config, ctrace, chain, clayer, chead, query, crows)
