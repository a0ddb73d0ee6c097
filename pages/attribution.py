"""Which input tokens drove an output: gradient × input, integrated gradients, and rollout beside them."""
import streamlit as st

from ui.attribution import (KINDS, SIMILARITY, STATE, explain, explain_key, first_view, next_token_choices,
                            stop_if_too_long, targets)
from ui.attribution_view import IG_ON_LOAD, draw_first_view, draw_full
from ui.colour_words import colour_words
from ui.frame import require_frame
from ui.jobs import is_ready
from ui.state import current_model_and_trace, current_model_name
from ui.widgets import linked, pick_window, sentence_key, token_labels

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
target = (model_name, trace.text, KINDS[choice], int(position), other, int(token_id))
try:
    quick = first_view(*target)
except ValueError as exc:
    st.error(f"This cannot be explained here: {exc}")
    st.stop()
if choice == SIMILARITY and len(quick.tokens) < len(trace):
    st.warning(f"The sentence encoder reads at most {len(quick.tokens)} tokens (sentence-transformers cuts "
               f"there); the attribution covers those {len(quick.tokens)} tokens.", icon="✂️")
window = pick_window(len(quick.tokens), f"{PAGE}_window_{key}", show_all=96)
holder = st.empty()
if not is_ready(explain_key(*target, int(steps))):
    with holder.container():
        draw_first_view(quick, window, PAGE)
        if len(quick.tokens) > IG_ON_LOAD:
            st.caption(f"Long text: integrated gradients take a forward and backward pass over all "
                       f"{len(quick.tokens)} tokens for each of the {steps} steps (about half a minute on 512 "
                       "tokens; once: the result is kept), in the server's queue for expensive work.")
            if not st.button("Compute integrated gradients", key=f"{PAGE}_ig", type="primary"):
                st.stop()
result = explain(*target, int(steps))        # its progress bar under the first view, which it then replaces
holder.empty()
draw_full(result, window, PAGE, model.config.d_model)
