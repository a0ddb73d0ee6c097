"""Knock heads out: what changes when chosen heads say nothing, and which heads matter most."""
import numpy as np
import streamlit as st

from analysis.recompute import cosine_matrix
from ui.ablation import first_head, importance_section
from ui.frame import require_frame
from ui.state import cached, current_model_and_trace, current_model_name
from ui.widgets import head_label, linked, plot
from viz.attention import key_bar
from viz.training import token_probabilities

MODES = {"zero": "zero (the head says nothing)", "mean": "mean (the head says its average, for every token)"}

PAGE = require_frame()   # this file's name: its controls' keys start with it
model, trace = current_model_and_trace()
name = current_model_name()
all_heads = [(layer, head) for layer in range(trace.n_layers) for head in range(trace.n_heads)]
cols = st.columns([3, 2])
heads = cols[0].multiselect("Heads to knock out", all_heads, default=[first_head(name, trace)],
                            format_func=head_label, **linked("heads"))
mode = cols[1].radio("Replace each output with", list(MODES), format_func=MODES.get, **linked("mode"))
if not heads:
    st.info("Pick at least one head to knock out.")
    st.stop()
ablated = cached(("ablated", name, trace.text, tuple(heads), mode),
                 lambda: model.trace(trace.text, ablate=heads, mode=mode), "Running without those heads…")

if model.config.lm_head and trace.top_ids is not None:
    vocab = model.vocabulary()
    before, after = (np.exp(row - row.max()) for row in (trace.logits_at(-1), ablated.logits_at(-1)))
    before, after = before / before.sum(), after / after.sum()
    top = int(np.argmax(before))
    st.metric(f"P(next token = “{vocab[top]}”)", f"{after[top]:.1%}", f"{after[top] - before[top]:+.1%} without them")
    left, right = st.columns(2)
    scale = max(float(before.max()), float(after.max()))
    for col, probs, title in ((left, before, "Next token, intact"), (right, after, "Without the chosen heads")):
        fig = token_probabilities(probs, vocab, 10, highlight=top, title=title)
        fig.update_xaxes(range=[0, min(1.0, scale * 1.25 + 0.02)])      # one axis for both: compare lengths
        plot(fig, f"{PAGE}_next_token", col)
    measure = "KL divergence of the next-token distribution (nats)"
else:
    intact_final, ablated_final = trace.layers[-1].resid_post, ablated.layers[-1].resid_post
    if model.has_sentence_embedding:     # the sentence vector is the mean of the final token vectors
        pooled = np.stack([intact_final.mean(0), ablated_final.mean(0)])
        st.metric("Cosine of the sentence vector to the intact one", f"{cosine_matrix(pooled)[0, 1]:.4f}",
                  help="1 = the sentence means exactly the same to the model without those heads.")
    change = 1 - np.sum(intact_final * ablated_final, -1) / (
        np.linalg.norm(intact_final, axis=-1) * np.linalg.norm(ablated_final, axis=-1))
    plot(key_bar(change.astype(np.float32), trace.tokens, "How much each token's final vector turned (1 − cosine)",
                 value_name="1 − cosine"), f"{PAGE}_token_change")
    measure = "1 − cosine of the sentence vector to the intact one"

importance_section(name, trace, mode, measure, PAGE)
