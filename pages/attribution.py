"""Which input tokens drove an output: gradient × input, integrated gradients, and rollout beside them."""
import numpy as np
import streamlit as st

from analysis.attribution import BASELINE
from ui.attribution import KINDS, SIMILARITY, STATE, explain, next_token_choices, stop_if_too_long, targets
from ui.colour_words import colour_words
from ui.frame import require_frame
from ui.state import current_model_and_trace, current_model_name
from ui.widgets import linked, pick_window, plot, sentence_key, token_labels
from viz.attribution import methods_heatmap, shaded_tokens

OTHER = "A banana is a kind of fruit."

PAGE = require_frame()   # this file's name: its controls' keys start with it
st.markdown(f"Pick one number the model computes, then ask which input tokens pushed it up ({colour_words().up}) "
            f"or down ({colour_words().down}). **Gradient × input** is one backward pass; **integrated gradients** "
            "(captum) add up the gradients along a straight path from a baseline to your sentence, so the scores sum "
            "to the change in the number. **Attention rollout** is shown beside them: where attention and "
            "gradients disagree, attention alone does not explain the output.")
model, trace = current_model_and_trace()
stop_if_too_long(trace, "Which tokens drove it")
model_name, key = current_model_name(), sentence_key(trace.text)
offered, missing = targets(model)
choice = st.radio("Explain", offered, horizontal=True, **linked("target"))
for line in missing:
    st.caption("Not offered for this model: " + line)
position, other, token_id = -1, "", -1
if choice == SIMILARITY:
    other = st.text_input("Second sentence (B): the similarity is cos(embedding of yours, embedding of B)",
                          OTHER, max_chars=2000, **linked("other"))
    if not other.strip():
        st.info("Type a second sentence to compare yours with.")
        st.stop()
elif choice == STATE:
    words = [i for i, s in enumerate(trace.special_mask) if not s] or [0]
    default = words[-1] if trace.causal else words[0]   # a decoder's last token sees the whole text
    position = st.selectbox("Token whose final state is explained", range(len(trace)), index=default,
                            format_func=token_labels(trace).__getitem__, **linked(f"pos_{key}"))
else:
    options = next_token_choices(model, trace)
    token_id = st.selectbox("Next token scored (the likeliest ten)", list(options),
                            format_func=options.get, **linked(f"next_{key}"))
steps = st.slider("Integrated gradients: steps on the path", 4, 128, 32, **linked("steps"),
                  help="Gauss–Legendre points between the baseline and the input. More steps: a smaller "
                       "convergence delta, more time.")
if len(trace) > 128:
    st.caption("Long text: each step is a forward and backward pass over every token; 32 steps on 512 tokens "
               "take about half a minute (once: the result is kept).")
try:
    result = explain(model_name, trace.text, KINDS[choice], int(position), other, int(token_id), int(steps))
except ValueError as exc:
    st.error(f"This cannot be explained here: {exc}")
    st.stop()
ig, gxi = result.integrated, result.grad_input
if choice == SIMILARITY and len(result.tokens) < len(trace):
    st.warning(f"The sentence encoder reads at most {len(result.tokens)} tokens (sentence-transformers cuts "
               f"there); the attribution covers those {len(result.tokens)} tokens.", icon="✂️")

cols = st.columns(4)
cols[0].metric("f(input)", f"{ig.value:.4f}", help=result.target)
cols[1].metric("f(baseline)", f"{ig.baseline_value:.4f}", help=f"Baseline: {BASELINE}.")
cols[2].metric("Σ integrated gradients", f"{ig.scores.sum():.4f}",
               help="Completeness: this sum should equal f(input) − f(baseline).")
gap = ig.value - ig.baseline_value
cols[3].metric("Convergence delta", f"{ig.delta:+.2e}", help="Σ scores − (f(input) − f(baseline)), from captum.")
st.caption(f"f = {result.target}. Baseline: {BASELINE}. Scores are attributed to the token embedding rows "
           f"and summed over their {model.config.d_model} dimensions; with {ig.n_steps} steps the integral misses "
           f"by {abs(ig.delta) / max(abs(gap), 1e-12):.2%} of the change f(input) − f(baseline).")

methods = {"integrated gradients": ig.scores, "gradient × input": gxi.scores, "attention rollout": result.rollout}
shown = st.radio("Shade the sentence by", list(methods), horizontal=True, **linked("shade"))
window = pick_window(len(result.tokens), f"{PAGE}_window_{key}", show_all=96)
tokens = [result.tokens[i] for i in window]
scores = methods[shown][window.start:window.stop]
plot(shaded_tokens(tokens, scores, f"{shown}: {colour_words().up} raises f, {colour_words().down} lowers it",
                   positions=list(window),
                   value_name=shown.split()[0] if shown != "attention rollout" else "share",
                   limit=float(np.abs(methods[shown]).max()) or 1.0), f"attribution_{PAGE}")   # one scale, all windows
matrix = np.stack([m[window.start:window.stop] for m in methods.values()])
plot(methods_heatmap(matrix, list(methods), tokens, positions=list(window),
                     title="The three methods side by side (each row ÷ its largest |value|)"), "attribution_methods")
agree = np.corrcoef(np.abs(ig.scores), result.rollout)[0, 1] if len(ig.scores) > 1 else float("nan")
st.caption("Rollout is a share of attention, never negative: it says where information *could* flow, not "
           "whether it raised or lowered f. Compare the size of the colours: "
           f"the correlation of |integrated gradients| with rollout here is {agree:.2f} "
           "(1 = they rank tokens alike). Gradient × input is the first step of a Taylor expansion and "
           "can miss saturated effects that integrated gradients catch.")
