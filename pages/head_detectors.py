"""Head detectors: induction, previous-token, duplicate-token and sink heads, as layer × head maps."""
import numpy as np
import streamlit as st

from analysis.detectors import (duplicate_token_scores, previous_token_scores, sentence_induction_scores,
                                sink_scores, top_heads)
from ui.attention import head_map, head_opener
from ui.causal import detector_scores_for, does_not_apply, induction_for
from ui.frame import require_frame
from ui.predictions import token_texts
from ui.state import current_model_and_trace, current_model_name
from ui.widgets import linked, plot
from viz.attention import attention_heatmap
from viz.causal import layer_head_map, loss_by_position

SENTENCE = {
    "previous": ("Previous token", "the share of the head's attention on the token just before each query",
                 previous_token_scores),
    "duplicate": ("Duplicate token", "the share on earlier copies of each query's own token",
                  duplicate_token_scores),
    "induction": ("Induction (on your sentence)", "the share on the token after an earlier copy of the query's token",
                  sentence_induction_scores),
    "sink": ("Sink: first token", "the mean attention each query (but the first) puts on the first token", sink_scores),
    "special": ("Sink: special tokens", "the mean attention each query (but the first) puts on [CLS], [SEP], <s>…",
                lambda trace, progress=None: sink_scores(trace, on="special", progress=progress)),
}


def name_top(scores: np.ndarray, what: str) -> None:
    best = top_heads(scores, 3)
    st.caption(f"Top {what} heads: " + "; ".join(f"**layer {l}, head {h}** ({s:.2f})" for l, h, s in best) + ".")


PAGE = require_frame()   # this file's name: its controls' keys start with it
model, trace = current_model_and_trace()
name = current_model_name()
tab_probe, tab_sentence = st.tabs(["Induction on repeated random tokens", "On your sentence"])

with tab_probe:
    st.markdown("A run of random tokens, then the **same run again**. In the repeat every token has an earlier copy; "
                "an *induction head* looks from it to the token that came **after** that copy, and so lets the model "
                "predict the rest of the repeat (Olsson et al., 2022). Score: that attention weight, averaged over the "
                "repeat and over 4 random sequences.")
    try:
        probe = induction_for(name)
    except ValueError as exc:
        does_not_apply(f"The probe could not run on this model: {exc}")
    head_map(layer_head_map(probe.scores, "Induction score of every head", "induction score", diverging=False,
                            zmax=1.0, clickable=True), f"{PAGE}_induction", key=f"{PAGE}_induction_map")
    name_top(probe.scores, "induction")
    st.caption("**Click a cell to open that head** on the *One head* page, on your sentence.")
    st.caption(f"Chance (a head spreading its attention evenly over what it may see): {probe.chance:.3f}. A random "
               "model's heads all score about that; a trained model's induction heads score far above it.")
    if not model.config.causal:
        st.caption("This model is an encoder: every token sees the whole text, the repeat included. Induction is "
                   "a decoder's way of predicting a repeat, so an encoder's heads need not show it.")
    layer, head, _ = top_heads(probe.scores, 1)[0]
    texts = token_texts(model, probe.ids[0])
    tokens = [texts[int(i)] for i in probe.ids[0]]
    plot(attention_heatmap(probe.stripes[layer, head], tokens,
                           f"Layer {layer}, head {head} on the first probe: the stripe below the diagonal"),
         f"{PAGE}_stripe")
    st.caption(f"An induction head draws a stripe {probe.n - 1} positions below the diagonal, in the second half: "
               "each repeated token looks at the token after its earlier copy.")
    if probe.loss is not None:
        plot(loss_by_position(probe.loss, probe.n, probe.start, "Loss predicting each token of the probe"),
             f"{PAGE}_loss")
        first = probe.loss[probe.start:probe.start + probe.n - 1].mean()
        repeat = probe.loss[probe.start + probe.n:].mean()
        verdict = ("much lower on the repeat: the model copies what came after the earlier copy."
                   if repeat < 0.5 * first
                   else "no lower on the repeat: this model does not (yet) copy with induction heads.")
        st.caption(f"Mean loss on the first run {first:.2f} nats, on the repeat {repeat:.2f}: {verdict}")
    else:
        st.caption("This model has no language-model head, so there is no loss on the repeat to show.")

with tab_sentence:
    choice = st.radio("Detector", list(SENTENCE), format_func={k: v[0] for k, v in SENTENCE.items()}.__getitem__,
                      **linked("detector"), horizontal=True)
    title, meaning, detect = SENTENCE[choice]
    scores = detector_scores_for(name, trace, choice, detect)
    if not np.isfinite(scores).any():
        st.info("Your sentence has no special tokens with this model's tokenizer, so there is nothing to sink into.")
    elif len(trace) < 2:
        st.info("A single token has no previous token or earlier copies: type a longer sentence.")
    else:
        head_map(layer_head_map(scores, f"{title} score of every head on your sentence", "score", diverging=False,
                                zmax=1.0, clickable=True), f"{PAGE}_{choice}", key=f"{PAGE}_sentence_{choice}_map")
        name_top(scores, title.lower())
        st.caption(f"Score: {meaning}, over all queries of your sentence. **Click a cell to open that head** "
                   "on the *One head* page.")
        repeats = (np.asarray(trace.ids)[:, None] == np.asarray(trace.ids)).sum() > len(trace)
        if choice in ("duplicate", "induction") and not repeats:
            st.caption("Your sentence repeats no token, so no head can score here: try one with a repeated word.")
        st.caption("No mouse handy? Pick a head here instead.")
        head_opener(trace, PAGE, "Open this head", default=top_heads(scores, 1)[0][:2])
