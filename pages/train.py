"""Train a tiny transformer: corpus → BPE tokenizer → decoder-only model, with a live loss curve."""
import math
import os

import pandas as pd
import streamlit as st

from training.bpe import vocab_problem
from training.cost import cost_problem, duration, training_cost
from training.lm import TrainConfig, count_parameters, data_problem, lm_config, new_model
from ui.frame import require_frame
from ui.library import own_models_manager
from ui.state import current_sentence
from ui.training import (Run, bpe_json, calibration, corpus_picker, current_run, estimate_note, start_weights,
                         tokenizer_from_json, train_language_model)
from ui.widgets import linked, plot, show_text
from viz.training import loss_curve

require_frame()

run = current_run()

st.header("1 · Text to learn from")
lines, builtin = corpus_picker()
st.caption(f"{len(lines):,} lines, {sum(len(s.split()) for s in lines):,} words. A few of them:")
st.code("\n".join(lines[:6]), language=None)

st.header("2 · Tokenizer: byte-pair encoding")
vocab_size = st.slider("Vocabulary size", 32, 2048, 384, step=16, **linked("vocab"),
                       help="BPE starts from single characters and merges the most frequent pair until it has "
                            "this many tokens.")
problem = vocab_problem(lines, vocab_size)
if problem:
    st.error(problem)
    st.stop()
tokenizer = tokenizer_from_json(bpe_json(tuple(lines), vocab_size))
merges = tokenizer.merges()
left, right = st.columns([2, 3])
left.markdown(f"**{len(merges):,} merges learned, in order** (the first is the most frequent pair):")
left.dataframe(pd.DataFrame({"merge": [f"{a} + {b}" for a, b in merges], "new token": [a + b for a, b in merges]},
                            index=range(1, len(merges) + 1)), height=300)
right.markdown("**How the sidebar's sentence splits** (▁ marks the start of a word):")
sentence = current_sentence()
if not sentence.strip():
    right.info("The sentence is empty: type one in the sidebar to see how this tokenizer splits it.")
else:
    with right:
        show_text(sentence)
    pieces = tokenizer.split(sentence)
    right.code(" | ".join(pieces[:200]) + (" | …" if len(pieces) > 200 else ""), language=None, wrap_lines=True)
    unknown = pieces.count("<unk>")
    right.caption(f"{len(pieces):,} tokens" + (f"; {unknown} are <unk>: characters never seen in the training "
                                              "text." if unknown else "."))
ids = tokenizer.encode_lines(lines)

st.header("3 · The model")
c1, c2, c3, c4 = st.columns(4)
context = c1.number_input("Context (tokens)", 0, 256, 32, **linked("context"))
d_model = c2.selectbox("d_model", [16, 32, 48, 64, 96, 128, 192, 256], index=3, **linked("d_model"))
n_heads = c3.number_input("Heads", 1, 16, 4, **linked("heads"))
n_layers = c4.number_input("Layers", 1, 8, 2, **linked("layers"))
c1, c2, c3, c4 = st.columns(4)
positional = c1.radio("Positions", ["learned", "sinusoidal"], **linked("positional"))
tied = c2.checkbox("Tied embeddings", True, **linked("tied"),
                   help="Tie the unembedding to the embedding: the logits use the embedding matrix transposed, "
                        "no extra matrix. Untied adds a vocab × d_model matrix.")
steps = c3.number_input("Steps", 10, 20_000, 800, step=100, **linked("steps"))
batch = c4.number_input("Batch (sequences)", 1, 256, 32, **linked("batch"))
c1, c2 = st.columns(2)
lr = c1.select_slider("Peak learning rate", [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0, 10.0], 3e-3, **linked("lr"))
seed = c2.number_input("Seed (initial weights and batches)", 0, 10_000, 0, **linked("seed"))

problems, config = [], None
cfg = TrainConfig(steps=int(steps), batch_size=int(batch), lr=float(lr), seed=int(seed),
                  warmup=min(30, int(steps) // 5 + 1))
try:
    config = lm_config(tokenizer.vocab_size, max(int(context), 1), int(d_model), int(n_heads), int(n_layers),
                       positional, tied)
except ValueError as exc:
    problems.append(str(exc))
cost = training_cost(config, cfg) if config is not None else None
promised = calibration("lm").seconds(cost) if cost else 0.0
problems += [p for p in [data_problem(len(ids), int(context)), cost and cost_problem(cost)] if p]
for p in problems:
    st.error(p)
if config is not None:
    counts = {t: count_parameters(lm_config(tokenizer.vocab_size, max(int(context), 1), int(d_model), int(n_heads),
                                            int(n_layers), positional, t)) for t in (True, False)}
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Parameters, tied", f"{counts[True]:,}", help="The token table is also the unembedding.")
    m2.metric("Parameters, untied", f"{counts[False]:,}", f"+{counts[False] - counts[True]:,} (vocab × d_model)",
              delta_color="off")
    m3.metric("Training tokens", f"{len(ids):,}", f"{int(len(ids) * 0.1):,} held out", delta_color="off")
    m4.metric("Estimated time", duration(promised), f"{cost.bytes / 1e6:,.0f} MB of memory", delta_color="off",
              help=f"Before training: {estimate_note('lm')}. Others training at the same time slow it down.")

st.header("4 · Train")
go_col, stop_col = st.columns(2)
start = go_col.button("Train", type="primary", key="train_start", disabled=bool(problems), width="stretch")
if start:
    net = new_model(config, seed=int(seed))
    label = f"{'grammar' if builtin else 'my text'} {n_layers}L{n_heads}H d{d_model} ctx{context}"
    run = Run(label, config, cfg, tokenizer.to_json(), builtin, ids, start_weights(net), start_weights(net),
              estimate_s=cost.seconds, promised_s=promised)
    st.session_state["train_run"] = run
    stop_col.button("Stop", key="train_stop", width="stretch", help="Stops and keeps the last good weights.")
    train_language_model(run, net, lines, int(context))     # progress right here, under the buttons
    st.rerun()

if run is None:
    if not problems:
        st.info(f"Choose the settings above and press **Train**: these take about **{duration(promised)}** here "
                f"({estimate_note('lm')}).")
    st.stop()
h = run.history
(st.success if run.status == "done" else st.warning)(run.message or run.status)
if h:
    last = h[-1]
    st.caption(f"{run.label}: validation loss {last.val_loss:.3f} after {last.step:,} steps "
               f"({last.tokens_per_s:,.0f} tokens/s).")
    plot(loss_curve([x.step for x in h], [x.loss for x in h], [x.val_loss for x in h],
                    uniform=math.log(run.config.vocab_size)), "loss_curve")
if run.folder:
    start = f" (and its random start as `{os.path.basename(run.untrained_folder)}`)" if run.untrained_folder else ""
    st.markdown(f"Saved as `{os.path.basename(run.folder)}`{start}, now in the "
                "sidebar's **Model** picker on every page; **Try your model** shows next-token predictions, "
                "generated text, before/after views, the heads forming during training and the *man : king :: "
                "woman : ?* check.")
own_models_manager()
