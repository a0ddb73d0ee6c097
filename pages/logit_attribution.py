"""Direct logit attribution: which heads and MLPs write the predicted token's logit directly."""
import numpy as np
import streamlit as st

from analysis.logit_attribution import applies, logit_attribution
from ui.attention import head_map, head_opener
from ui.colour_words import colour_words
from ui.causal import does_not_apply
from ui.frame import require_frame
from ui.predictions import token_text
from ui.state import current_model_and_trace
from ui.widgets import linked, plot, sentence_key, token_labels
from viz.causal import contribution_bars, layer_head_map

TOP = 10

PAGE = require_frame()   # this file's name: its controls' keys start with it
model, trace = current_model_and_trace()
reason = applies(model.config)
if reason:
    does_not_apply(f"Direct logit attribution does not apply to this model: {reason} Pick a decoder in the sidebar "
                   "(GPT-2, a Llama-family model, or one trained on **Train a tiny transformer**).")
t = len(trace)
key = sentence_key(trace.text)
position = st.selectbox("Position (the model predicts the token after it)", list(range(t)), index=t - 1,
                        format_func=token_labels(trace).__getitem__, **linked(f"position_{key}"))
logits = np.asarray(trace.logits[position], dtype=np.float64)
top = [int(i) for i in np.argsort(-logits)[:TOP]]
names = {i: token_text(model, i) for i in top}
left, right = st.columns(2)
# Labels as dicts, not lambdas: a page's lambda would keep its whole namespace alive (ui/widgets.token_labels).
token = left.selectbox("Token", top, format_func={i: f"{names[i]!r} (logit {logits[i]:.2f})" for i in top}.__getitem__,
                       **linked(f"token_{key}_{position}"))
choices = [None] + [i for i in top if i != token]
other = right.selectbox("Minus the logit of (optional)", choices, **linked(f"other_{key}_{position}"),
                        format_func={None: "nothing: the logit itself", **{i: repr(names[i]) for i in top}}.__getitem__)
dla = logit_attribution(model, trace, position, token, other)
what = f"logit({names[token]!r})" + (f" − logit({names[other]!r})" if other is not None else "")
cols = st.columns(3)
cols[0].metric("Sum of the contributions", f"{dla.total:.4f}")
cols[1].metric("The model's own " + ("logit difference" if other is not None else "logit"), f"{dla.logit:.4f}")
cols[2].metric("Difference", f"{dla.total - dla.logit:.1e}")
st.caption(f"Attributed: {what} after position {position}. Convention (as TransformerLens's logit_attrs): the final "
           f"norm's scale is frozen at this run's value ({'rms' if model.config.norm_kind == 'rmsnorm' else 'σ'} = "
           f"{dla.scale:.3f}), so the norm acts on each part alone as a fixed linear map; its bias β and each "
           "attention layer's W_O bias are counted as bias terms.")

head_map(layer_head_map(dla.heads, f"Each head's direct contribution to {what}", "contribution", clickable=True),
         f"{PAGE}_heads", key=f"{PAGE}_heads_map")
best = np.unravel_index(int(np.argmax(np.abs(dla.heads))), dla.heads.shape)
st.caption(f"{colour_words().up.capitalize()} heads push the token up, {colour_words().down} heads push it down. "
           f"The largest: layer {best[0]}, head {best[1]} "
           f"({dla.heads[best]:+.3f}). A head's share is its output through its slice of W_O, then the frozen norm "
           "and the unembedding. **Click a cell to open that head.**")
head_opener(trace, PAGE, "Open this head", default=(int(best[0]), int(best[1])))
names_by_layer, values = dla.by_layer
bias = dla.final_bias
plot(contribution_bars(names_by_layer + ["norm β"], np.append(values, bias),
                       f"Where {what} is written, part by part", "contribution"), f"{PAGE}_layers")
st.caption("Bars in the order the parts write into the residual stream: the embeddings, then each layer's attention "
           "(its heads plus its W_O bias) and its MLP, then the final norm's β. Their sum is the logit above.")
