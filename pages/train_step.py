"""One training step, step by step: logits → softmax → loss, gradients, and how far an embedding moved."""
import math

import streamlit as st
import torch

from training.lm import lm_config, make_stream, new_model, step_breakdown
from ui.frame import require_frame
from ui.state import current_sentence
from ui.training import bpe_json, builtin_corpus, current_run, tokenizer_from_json
from ui.widgets import linked, plot, sentence_key, show_text
from viz.training import embedding_move, gradient_norms, logits_to_loss

BATCH = 8   # your sentence + 7 windows of the training text


def word_to_predict(ids: list[int], vocab: list[str]) -> int:
    """The position to open on: the last one whose next token is a whole word ("▁like", not "m"),
    so the step predicts a word from the words before it; else the last position."""
    starts = [p for p in range(len(ids) - 1)
              if vocab[ids[p + 1]].startswith("▁") and sum(ch.isalpha() for ch in vocab[ids[p + 1]]) >= 2]
    return starts[-1] if starts else len(ids) - 2


require_frame()

run = current_run()
if run is None:
    st.caption("No model trained in this session yet: this is the default model with random weights, "
               "on the built-in corpus (train one on **Train a tiny transformer** to see a trained one).")
    tokenizer = tokenizer_from_json(bpe_json(tuple(builtin_corpus(0, 6000)), 384))
    config, ids_all = lm_config(tokenizer.vocab_size), tokenizer.encode_lines(builtin_corpus(0, 6000))
    net = new_model(config, seed=0)
else:
    state = st.radio("Model", ["after training", "before training (random)"], horizontal=True, **linked("state"))
    tokenizer, config, ids_all = run.tokenizer, run.config, run.stream_ids
    net = run.model(trained=state == "after training")

sentence = current_sentence()
if not sentence.strip():
    st.info("The sentence is empty: type one in the sidebar; it becomes the first sequence of the batch.")
    st.stop()
show_text(sentence)
ids = tokenizer.encode(sentence)
if len(ids) < 2:
    st.info("The sentence makes a single token: there is no next token to predict. Type a few words.")
    st.stop()
window = config.max_positions
if len(ids) > window:
    st.warning(f"The sentence makes {len(ids):,} tokens; the model's context is {window} tokens, so the batch "
               f"uses its first {window} tokens as input (and the next ones as targets).")
ids = ids[: window + 1]
vocab = tokenizer.vocabulary()

# The batch: your sentence first (targets = the same tokens shifted by one), then random corpus windows.
x0, y0 = torch.tensor(ids[:-1]), torch.tensor(ids[1:])
try:
    stream = make_stream(ids_all, len(x0))
except ValueError as exc:
    st.error(f"The training text is too short for a batch of this length: {exc}")
    st.stop()
xs, ys = stream.batch("train", BATCH - 1, torch.Generator().manual_seed(0))
x, y = torch.cat([x0[None], xs]), torch.cat([y0[None], ys])             # (BATCH, T)

c1, c2, c3 = st.columns(3)
position = 0
if len(x0) > 1:
    position = c1.slider("Position in your sentence", 0, len(x0) - 1, word_to_predict(ids, vocab),
                         **linked(f"pos_{sentence_key(sentence)}"))
follow = c2.selectbox("Token whose embedding to follow", sorted(set(ids)), **linked(f"token_{sentence_key(sentence)}"),
                      format_func=vocab.__getitem__)
lr = c3.select_slider("Learning rate of this step", [0.01, 0.03, 0.1, 0.3, 1.0], 0.1, **linked("lr"))
step = step_breakdown(net, x, y, position, int(follow), float(lr))

st.header("1 · Logits → softmax → loss, at one position")
seen = " ".join(vocab[i] for i in step.context_ids)
st.markdown(f"The model has read **{position + 1}** tokens; the true next token is "
            f"**`{vocab[step.target_id]}`**. Each of the {len(vocab)} vocabulary entries gets a score (logit); "
            "softmax turns the scores into probabilities; the loss is −ln of the true token's probability.")
st.code(f"read:   “{tokenizer.decode(list(step.context_ids)).strip()}”   (tokens: {seen})\n"
        f"target: {vocab[step.target_id]}   (▁ starts a word)", language=None)
st.code(f"logit of the target   z = {step.logits[step.target_id]:.4f}\n"
        f"log Σ exp(logits)       = {step.log_sum_exp:.4f}\n"
        f"p(target) = exp(z − log Σ exp) = {step.probs[step.target_id]:.5f}\n"
        f"loss = −ln p(target)    = {step.position_loss:.4f}   (guessing uniformly: ln {len(vocab)} = "
        f"{math.log(len(vocab)):.4f})\n"
        f"batch loss (mean over {x.numel()} positions of {BATCH} sequences) = {step.batch_loss:.4f}", language=None)
plot(logits_to_loss(step.logits, step.probs, vocab, step.target_id), "logits_softmax")

st.header("2 · Gradient norm of each part")
st.caption("‖∇‖ of all the weights in each part: how strongly the loss pulls on them in this step.")
plot(gradient_norms(step.grad_norms), "gradient_norms")

st.header("3 · How far the update moved one embedding")
m1, m2, m3 = st.columns(3)
m1.metric("‖Δ embedding‖ = lr · ‖∇‖", f"{step.embed_moved:.4g}")
m2.metric("relative to ‖embedding‖", f"{step.embed_moved / max(step.embed_norm, 1e-12):.2%}")
m3.metric("cosine(before, after)", f"{step.embed_cosine:.5f}")
tied = "tied" if config.tie_embeddings else "untied"
st.caption(f"This model's unembedding is **{tied}**. " + (
    "Tied: the embedding table is also the output layer, so every row moves in every step (softmax pushes "
    "down the scores of all wrong tokens), even for tokens absent from the batch." if config.tie_embeddings else
    "Untied: a row of the embedding table moves only if its token appears in the batch."))
plot(embedding_move(step.embed_before, step.embed_after, vocab[step.token_id]), "embedding_move")
