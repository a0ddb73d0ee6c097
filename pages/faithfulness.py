"""Is an explanation faithful? Delete the tokens each method ranks highest and watch the output (ERASER)."""
import numpy as np
import pandas as pd
import streamlit as st

from analysis.faithfulness import RANDOM
from ui.attribution import stop_if_too_long
from ui.faithfulness import IG_STEPS, curves_for, explanations_for, n_ranked, summary
from ui.frame import require_frame
from ui.state import current_model_and_trace, current_model_name
from ui.widgets import linked, pick_window, plot, sentence_key
from viz.attribution import methods_heatmap
from viz.faithfulness import erasure_chart

STEPS, BINS = "k = 1, 2, 3 … tokens", "ERASER's bins: 1, 5, 10, 20 and 50 % of the tokens"

PAGE = require_frame()   # this file's name: its controls' keys start with it
model, trace = current_model_and_trace()
stop_if_too_long(trace, "The faithfulness test")
model_name = current_model_name()
words = sum(not special for special in trace.special_mask)
if words < 2:
    st.info(f"Erasure needs at least two tokens besides the special ones; this text has {words}. "
            "Type a longer sentence in the sidebar.")
    st.stop()
if len(trace) > 128:
    st.caption("Long text: five rankings (two of them gradients), then about a hundred forward passes over the "
               "shortened texts. This takes a while, once: the result is kept.")
try:
    explained = explanations_for(model_name, trace.text)
except ValueError as exc:
    st.error(f"The tokens cannot be ranked here: {exc}")
    st.stop()
n = n_ranked(explained)
if len(explained.tokens) < len(trace):
    st.warning(f"The sentence encoder reads at most {len(explained.tokens)} tokens; the test covers those.",
               icon="✂️")
st.caption(f"The output m is the {explained.output}. Special tokens are never ranked or deleted; deleting a "
           f"token removes it, so the ones after it move one place left. Integrated gradients use {IG_STEPS} "
           "steps from zero token rows.")
for note in explained.notes:
    st.caption(note)

choice = st.radio("Delete or keep", [STEPS, BINS], index=1 if n >= 20 else 0, horizontal=True,
                  **linked("bins"), help="ERASER's bins suit long texts; on a short sentence 1 % of the "
                                           "tokens rounds up to one token, so k = 1, 2, 3 … says more.")
try:
    curves = curves_for(model_name, trace.text, choice == BINS, explained)
except ValueError as exc:
    st.error(f"The shortened texts could not be scored: {exc}")
    st.stop()
plot(erasure_chart(curves, n if choice == BINS else None, output="m",
                   title=f"Deleting (left) and keeping only (right) each method's top k of {n} tokens"),
     "faithfulness_erasure")

methods = [name for name in curves if name != RANDOM]
comp = {name: curves[name].comprehensiveness_aopc for name in methods}
suff = {name: curves[name].sufficiency_aopc for name in methods}
chance = curves[RANDOM]
best_comp, best_suff = max(comp, key=comp.get), min(suff, key=suff.get)
st.markdown(f"On this sentence, deleting the top tokens of **{best_comp}** moves the output most "
            f"(comprehensiveness {comp[best_comp]:.3f}; chance {chance.comprehensiveness_aopc:.3f}), and keeping "
            f"only the top tokens of **{best_suff}** keeps it best (sufficiency {suff[best_suff]:.3f}; "
            f"chance {chance.sufficiency_aopc:.3f}).")
beaten = [name for name in methods if comp[name] <= chance.comprehensiveness_aopc
          and suff[name] >= chance.sufficiency_aopc]
if beaten:
    st.markdown("No better than chance on either score here: " + ", ".join(f"*{name}*" for name in beaten) + ".")
st.dataframe(pd.DataFrame(summary(curves, explained.tokens)), hide_index=True, width="stretch")
st.caption("AOPC: the area over the perturbation curve, the mean of a curve over the k shown. One sentence is "
           "an anecdote: the ERASER paper averages these scores over a whole data set.")

with st.expander("What each method ranked", expanded=len(explained.tokens) <= 24):
    key = sentence_key(trace.text)
    ranked = [p for p, special in enumerate(explained.special_mask) if not special]   # specials are not ranked
    window = pick_window(len(ranked), f"{PAGE}_window_{key}", show_all=96)
    shown = ranked[window.start:window.stop]
    matrix = np.stack([scores[shown] for scores in explained.scores.values()])        # (methods, tokens shown)
    plot(methods_heatmap(matrix, list(explained.scores), [explained.tokens[p] for p in shown], positions=shown,
                         title="Token scores of each method (each row ÷ its largest |value|)"),
         "faithfulness_scores")
    st.caption("Special tokens are left out: they are never ranked. Attention, rollout and flow are shares and "
               "never negative; gradients can be negative (a token that pulls the output down), and such tokens "
               "are ranked last.")
