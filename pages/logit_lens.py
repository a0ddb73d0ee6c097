"""Logit lens: what the model would predict next if it stopped after each layer (nostalgebraist, 2020)."""
import numpy as np
import streamlit as st

from ui.frame import require_frame
from ui.predictions import decoder_and_trace, lens_for, token_texts
from ui.state import current_model_name
from ui.widgets import linked, pick_window, plot, sentence_key
from viz.lens import logit_lens_grid, visible_token

WINDOW, LIMIT = 16, 32

PAGE = require_frame()   # this file's name: its controls' keys start with it
model, trace = decoder_and_trace()
t = len(trace.tokens)
# A decoder's continuation is at the end of the text: open on the last positions.
shown = pick_window(t, f"{PAGE}_window_{sentence_key(trace.text)}", size=WINDOW, limit=LIMIT, at_end=True)
actual = st.toggle("Colour by the probability of the token that really comes next", **linked("actual"),
                   help="The cells keep the top token's text; the colour becomes the probability each layer "
                        "gives the next token of your text (the last position has none).")
lens = lens_for(current_model_name(), trace.text, shown)
names = token_texts(model, np.concatenate([lens.ids.ravel(), np.asarray(trace.ids)]))
top = [[[names[int(i)] for i in lens.ids[r, p]] for p in range(len(shown))] for r in range(lens.ids.shape[0])]
following = [names[trace.ids[i + 1]] if i + 1 < t else None for i in shown]
window = f" (tokens {shown.start}–{shown.stop - 1} of {t})" if len(shown) < t else ""
fig = logit_lens_grid(top, lens.probs, [visible_token(names[trace.ids[i]]) for i in shown],
                      f"Top next token at every layer × position{window}", start=shown.start,
                      next_probs=lens.next_probs if actual else None, next_tokens=following)
plot(fig, PAGE)
own = trace.top_ids[shown.start:shown.stop, 0]                  # the model's own first choice
agree = int((lens.ids[-1, :, 0] == own).sum())
st.caption("Cell text: the most likely next token at that layer (␣ = a leading space); colour: "
           + ("the probability of the token that really follows; " if actual else "its probability; ")
           + "hover for the top 5. The top row is the model's own output: its top token equals the argmax of "
           f"the model's logits at {agree} of {len(shown)} positions shown.")
if np.isfinite(lens.next_probs).any():
    st.caption(f"Mean probability of the token that really comes next: {np.nanmean(lens.next_probs[0]):.1%} read "
               f"from the embedding, {np.nanmean(lens.next_probs[-1]):.1%} at the output.")
