"""Activation patching: which layer, position or head carries the difference between two prompts."""
import numpy as np
import streamlit as st

from ui.attention import head_map, head_opener
from ui.colour_words import colour_words
from ui.causal import DECODER_PAIR, ENCODER_PAIR, answers_for, does_not_apply, patch_grid_for
from ui.frame import require_frame
from ui.state import current_model, current_model_name, current_trace
from ui.widgets import linked, plot
from viz.causal import layer_head_map, layer_position_map

KINDS = {"resid_pre": "Residual stream (each layer's input) · layer × position",
         "attn_out": "Attention output · layer × position",
         "mlp_out": "MLP output · layer × position",
         "head": "Each head's output (all positions) · layer × head"}

PAGE = require_frame()   # this file's name: its controls' keys start with it
model, name = current_model(), current_model_name()
lm = model.config.lm_head
default = DECODER_PAIR if lm else ENCODER_PAIR
left, right = st.columns(2)
clean_text = left.text_area("Clean prompt", default[0], **linked("clean"), height=90, max_chars=600)
corrupted_text = right.text_area("Corrupted prompt", default[1], **linked("corrupted"), height=90, max_chars=600,
                                 help="Change a word or two, keeping the number of tokens: activations are "
                                      "copied position by position.")
answers = None
if lm:
    a, b = st.columns(2)
    answer_text = a.text_input("Answer the clean prompt should give", default[2], **linked("answer"))
    other_text = b.text_input("Answer the corrupted prompt gives", default[3], **linked("other"),
                              help="Mind the leading space: GPT-2 reads \" Mary\" and \"Mary\" as different tokens.")
    answers = answers_for(model, answer_text, other_text)
    if isinstance(answers, str):
        does_not_apply(answers)
shared = answers.shared if answers else ""      # both answers' first tokens, read by the model first
clean = current_trace(clean_text + shared)
corrupted = current_trace(corrupted_text + shared)
if len(clean) != len(corrupted):
    st.warning(f"The clean prompt makes {len(clean)} tokens and the corrupted one {len(corrupted)}: patching copies "
               "activations position by position, so both need the same number. Change words for words that "
               "split into as many pieces; the tokens side by side:", icon="↔️")
    t = max(len(clean), len(corrupted))
    st.dataframe({"position": list(range(t)), "clean": clean.tokens + [""] * (t - len(clean)),
                  "corrupted": corrupted.tokens + [""] * (t - len(corrupted))}, hide_index=True)
    st.stop()
if answers and answers.n_shared and tuple(clean.ids[-answers.n_shared:]) != answers.shared_ids:
    does_not_apply(f"Both answers begin with {answers.shared!r}, but after the clean prompt those characters make "
                   "other tokens, so the model cannot be asked for the rest. Pick answers that part at once.")
differ = [i for i in range(len(clean)) if clean.ids[i] != corrupted.ids[i]]
if not differ:
    does_not_apply("The two prompts make the same tokens: there is no difference to trace. Change a word of the "
                   "corrupted prompt.")
st.caption(f"{len(clean)} tokens each; they differ at position{'s' if len(differ) > 1 else ''} "
           f"{', '.join(map(str, differ))}.")

answer = other = None
if answers:
    answer, other = answers.answer, answers.other
    read_first = (f" Both answers begin with the same {answers.n_shared} token"
                  f"{'s' if answers.n_shared > 1 else ''} ({answers.shared!r}), so the model reads "
                  f"{'them' if answers.n_shared > 1 else 'it'} after each prompt and the tokens where the answers "
                  "part are measured." if answers.n_shared else "")
    st.caption("Measured: logit(answer) − logit(other) at the last position, on the first token where the answers "
               "differ, normalised so that the clean run scores **1** and the corrupted run **0**." + read_first)
    st.dataframe({"": ["answer", "other"], "token measured": [answers.answer_piece, answers.other_piece],
                  "id": [answer, other]}, hide_index=True)
else:
    st.caption("This model has no language-model head, so the measure is its sentence embedding: the cosine of the "
               "patched run's mean-pooled vector to the clean run's, normalised so that the clean run scores "
               "**1** and the corrupted run **0**.")

kind = st.radio("What to patch", list(KINDS), format_func=KINDS.get, **linked("kind"))
try:
    grid = patch_grid_for(name, clean, corrupted, kind, answer, other)
except ValueError as exc:
    does_not_apply(f"Patching could not run: {exc}")
metric = grid.metric
st.caption(f"Measure: the {metric.name}.")
cols = st.columns(3)
cols[0].metric("Clean run", f"{metric.clean:.3f}")
cols[1].metric("Corrupted run", f"{metric.corrupted:.3f}")
cols[2].metric("Difference to explain", f"{metric.clean - metric.corrupted:+.3f}")
values = grid.normalised
if not np.isfinite(values).any():
    does_not_apply("The clean and corrupted runs score the same, so no patch can move the output towards the "
                   "clean one. Try answers the two prompts disagree on.")
label = "share recovered"
best = np.unravel_index(int(np.nanargmax(np.abs(values))), values.shape)
if kind == "head":
    where = f"layer {best[0]}, head {best[1]}"
    head_map(layer_head_map(values, "Patching each head's output (all positions)", label, clickable=True),
             f"{PAGE}_{kind}", key=f"{PAGE}_head_map", sentence=clean.text)
else:
    where = f"layer {best[0]}, position {best[1]}"
    plot(layer_position_map(values, clean.tokens, f"Patching the {KINDS[kind].split(' · ')[0].lower()}", label),
         f"{PAGE}_{kind}")
st.caption(f"{colour_words().up.capitalize()}: the patch moves the output towards the clean run (1 = all the way); "
           f"{colour_words().down}: away from it. "
           f"The strongest single patch: {where} ({values[best]:+.2f}). Hover a cell for its value"
           + ("." if kind == "head" else " and token."))
if kind == "head":
    st.caption("**Click a cell to open that head** on the *One head* page, with the clean prompt as the sentence. "
               "No mouse handy? Pick a head here instead.")
    head_opener(clean, PAGE, "Open this head", default=(int(best[0]), int(best[1])), sentence=clean.text)
if kind == "resid_pre":
    st.caption("Read the residual-stream map from the top: at layer 0 only the changed tokens' own positions "
               "matter; lower down, the information moves to the positions that read it"
               + (" (for a next-token answer, the last one)." if lm else "."))
