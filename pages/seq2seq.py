"""Encoder–decoder: a real one picked in the sidebar (T5, BART, Marian: ui/seq2seq.py), or a model that reverses
letters (the pre-trained one that ships with the app until you train your own, ui/reversal.py), whose
cross-attention aligns output with input."""
import streamlit as st

from training.cost import cost_problem, duration, seq2seq_cost
from training.reversal import ReversalTask, new_seq2seq, predictions, seq2seq_config, trace_reversal
from training.weights import snapshot
from models import LoadedSeq2Seq
from ui.frame import require_frame
from ui.reversal import current_reversal_run, decoder_rows, model_of, run_banner
from ui.seq2seq import encoder_decoder_page
from ui.state import current_model
from ui.training import calibration, estimate_note, train_reversal
from ui.training_probe import letters_heatmap, show_letters, training_scrubber
from ui.widgets import linked, plot
from viz.training import accuracy_curve

require_frame()
picked = current_model()
if isinstance(picked, LoadedSeq2Seq):    # a real encoder–decoder in the sidebar: its own source and output
    encoder_decoder_page(picked)
    st.stop()
st.subheader("Reversing letters: a translation model in miniature")
st.markdown("To reverse `abcd` a model must look at `d` first, then `c`…: a trained model's cross-attention "
            "draws an anti-diagonal. A trained one is shown below; train your own with these settings.")

c1, c2, c3, c4 = st.columns(4)
n_letters = c1.slider("Letters (a, b, …)", 3, 26, 10, **linked("letters"))
max_len = c2.slider("Longest string", 3, 12, 8, **linked("max_len"))
d_model = c3.selectbox("d_model", [16, 32, 64, 96, 128], index=2, **linked("d_model"))
n_heads = c4.number_input("Heads", 1, 8, 4, **linked("heads"))
c1, c2, c3, c4 = st.columns(4)
n_layers = c1.number_input("Layers (each side)", 1, 4, 2, **linked("layers"))
steps = c2.number_input("Steps", 10, 10_000, 800, step=100, **linked("steps"))
lr = c3.select_slider("Peak learning rate", [3e-4, 1e-3, 3e-3, 1e-2], 3e-3, **linked("lr"))
seed = c4.number_input("Seed", 0, 10_000, 0, **linked("seed"))
task = ReversalTask(n_letters=n_letters, min_len=min(3, max_len), max_len=max_len)
try:
    config = seq2seq_config(task, int(d_model), int(n_heads), int(n_layers))
except ValueError as exc:
    st.error(str(exc))
    st.stop()
cost = seq2seq_cost(config, task, int(steps), 64, max(10, int(steps) // 20))
promised, problem = calibration("seq2seq").seconds(cost), cost_problem(cost)
if problem:
    st.error(problem)

run = current_reversal_run()       # this session's run, else the pre-trained toy that ships with the app
go_col, stop_col = st.columns(2)
if go_col.button("Train", type="primary", key="seq2seq_start", width="stretch", disabled=bool(problem),
                 help=f"About {duration(promised)} ({estimate_note('seq2seq')})."):
    net = new_seq2seq(config, int(seed))
    run = dict(config=config, task=task, initial=snapshot(net), weights=snapshot(net), history=[], status="running",
               seed=int(seed), estimate_s=cost.seconds, promised_s=promised, probe=None)
    st.session_state["seq2seq_run"] = run
    stop_col.button("Stop", key="seq2seq_stop", width="stretch")
    train_reversal(run, net, task, int(steps), float(lr), int(seed))
    st.rerun()

if run is None:
    st.info(f"Press **Train**: these settings take about **{duration(promised)}** here "
            f"({estimate_note('seq2seq')}). Until then, below is the untrained model: its attention is nearly "
            "uniform and its output is noise.")
    net, task, history = new_seq2seq(config, int(seed)).eval(), task, []
else:
    task, history = run["task"], run["history"]
    run_banner(run, duration(promised))
    state = st.radio("Model", ["after training", "before training (random)"], horizontal=True, **linked("state"))
    net = model_of(run, trained=state == "after training")
    if history:
        plot(accuracy_curve([x.step for x in history], [x.loss for x in history], [x.accuracy for x in history]),
             "seq2seq_training")
    examples = task.split(seed=run["seed"])[1][:12]
    written = predictions(net, task, examples)
    st.markdown(f"**Held-out examples** (never seen in training): "
                f"{sum(w == e[::-1] for w, e in zip(written, examples))} of {len(examples)} right here.")
    st.dataframe({"input": examples, "reversed": [e[::-1] for e in examples], "model wrote": written,
                  "right": ["✅" if w == e[::-1] else "❌" for w, e in zip(written, examples)]}, hide_index=True)

text = st.text_input(f"Letters to reverse (from '{task.letters}', up to {task.max_len})",
                     task.letters[: min(task.max_len, 7)], max_chars=64,
                     **linked(f"text_{task.n_letters}_{task.max_len}"))   # a fresh box when the task changes
try:
    tr = trace_reversal(net, task, text.strip().lower())
except ValueError as exc:
    st.info(f"Cannot run this input: {exc}")
    st.stop()
right = tr.output == text.strip().lower()[::-1]
st.markdown(f"Input **{tr.source}** → model writes **{tr.output or '(nothing)'}** "
            f"{'✅' if right else '❌ (the reverse is ' + tr.source[::-1] + ')'}")
n_layers, n_heads = tr.decoder.n_layers, tr.decoder.n_heads   # the model shown (a run keeps its own settings)
c1, c2 = st.columns(2)
layer = c1.slider("Layer", 0, n_layers - 1, n_layers - 1, **linked("layer")) if n_layers > 1 else 0
heads = ["mean of all heads"] + [f"head {h}" for h in range(n_heads)]
head = c2.selectbox("Head", range(len(heads)), format_func=heads.__getitem__, **linked("head")) - 1


def pick(weights):
    return weights.mean(axis=0) if head < 0 else weights[min(head, len(weights) - 1)]


enc, dec = tr.encoder, tr.decoder
st.subheader("Cross-attention: which input letter each output step reads")
st.caption(f"Weight on the mirror position (anti-diagonal), mean of heads: {tr.anti_diagonal_share(layer):.0%}. "
           "Row i predicts output letter i, so it should look at input letter n−1−i.")
st.caption(decoder_rows(tr.source, dec.tokens))
show_letters(letters_heatmap(pick(dec.layers[layer].cross.weights), dec.tokens, enc.tokens,
                             "decoder input (query)", "encoder letter (key)"), "cross_attention")
if run is not None:
    st.subheader("How it formed: the cross-attention while training")
    if run.get("shipped"):
        st.info("Snapshots of training are kept for runs trained in this session: press **Train** to watch the "
                "anti-diagonal form step by step.")
    else:
        training_scrubber(run.get("probe"), "seq2seq_probe_step", layer, None if head < 0 else head, letters=True)
c1, c2 = st.columns(2)
c1.subheader("Encoder self-attention")
show_letters(letters_heatmap(pick(enc.layers[layer].weights), enc.tokens, enc.tokens, "letter (query)",
                             "letter (key)"), "encoder_self_attention", c1)
c2.subheader("Decoder masked self-attention")
show_letters(letters_heatmap(pick(dec.layers[layer].weights), dec.tokens, dec.tokens, "query",
                             "key (only the past)"), "decoder_self_attention", c2)
