"""Watch an induction head form: a 2-layer attention-only decoder trained on repeated random segments."""
import streamlit as st

from training.cost import cost_problem, duration, training_cost
from training.induction import (POSITIONS, InductionTask, InductionTrainConfig, induction_config,
                                new_attention_only)
from training.lm import TrainConfig
from training.weights import snapshot
from ui.frame import require_frame
from ui.induction import KIND, SCORE_GOAL, induction_scrubber, train_induction_run
from ui.training import calibration, estimate_note
from ui.widgets import linked

PAGE = require_frame()   # this file's name: its controls' keys start with it
DEFAULT, TRAIN = InductionTask(), InductionTrainConfig()
st.markdown("The model has **2 layers of attention and nothing else** (its feed-forward is zeroed and frozen): an "
            "induction head needs a head in layer 0 that passes each token's predecessor along, and a head in "
            "layer 1 that finds it. For a while the loss on the repeat barely moves, then it drops **suddenly** "
            "as the head forms: the *phase change*. With these defaults a layer-1 head passes an induction score "
            f"of {SCORE_GOAL:.0%} at about step 300 (seeds 0 to 4 tried), and the scrubber names the steps.")

c1, c2, c3, c4 = st.columns(4)
n_symbols = c1.select_slider("Symbols", [16, 32, 64, 128, 256], DEFAULT.n_symbols, **linked("symbols"))
context = c2.select_slider("Sequence length", [16, 24, 32, 48, 64], DEFAULT.context, **linked("context"))
longest = c3.slider("Longest segment", 2, 31, DEFAULT.max_len, **linked("longest"))
shortest = c4.slider("Shortest segment", 2, 31, DEFAULT.min_len, **linked("shortest"))
c1, c2, c3, c4 = st.columns(4)
d_model = c1.selectbox("d_model", [32, 64, 96, 128], index=1, **linked("d_model"))
n_heads = c2.selectbox("Heads per layer", [1, 2, 4, 8], index=2, **linked("heads"))
steps = c3.number_input("Steps", 50, 5_000, TRAIN.steps, step=100, **linked("steps"))
seed = c4.number_input("Seed", 0, 10_000, TRAIN.seed, **linked("seed"))
c1, c2 = st.columns(2)
lr = c1.select_slider("Peak learning rate", [1e-3, 3e-3, 1e-2], TRAIN.lr, **linked("lr"))
positional = c2.radio("Positions", POSITIONS, horizontal=True, **linked("positions"),
                      format_func={"rotary": "rotary (RoPE)", "learned": "a learned table"}.get,
                      help="Rotary positions score a query against a key by their distance alone, so the "
                           "previous-token head learned at one position holds at all of them. A learned table "
                           "must learn 'one place back' for each position on its own: the head forms much later "
                           "(at seed 0 about step 700; at seed 1 not within 1,200 steps).")
try:
    task = InductionTask(int(n_symbols), int(context), int(shortest), int(longest))
    config = induction_config(task, int(d_model), int(n_heads), positional=positional)
    cfg = InductionTrainConfig(steps=int(steps), lr=float(lr), seed=int(seed))
except ValueError as exc:
    st.error(f"These settings cannot be trained: {exc}")
    st.stop()
# The probe runs at about every thirtieth step: roughly one small validation batch per report.
cost = training_cost(config, TrainConfig(steps=cfg.steps, batch_size=cfg.batch_size, report_every=cfg.report_every,
                                         eval_batches=1))
promised, problem = calibration(KIND).seconds(cost), cost_problem(cost)
if problem:
    st.error(problem)

run = st.session_state.get("induction_run")
go_col, stop_col = st.columns(2)
if go_col.button("Train", type="primary", key="induction_start", width="stretch", disabled=bool(problem),
                 help=f"About {duration(promised)} ({estimate_note(KIND)})."):
    net = new_attention_only(config, cfg.seed)
    run = dict(config=config, task=task, cfg=cfg, weights=snapshot(net), history=[], status="running", probe=None,
               estimate_s=cost.seconds, promised_s=promised, chance=None)
    st.session_state["induction_run"] = run
    stop_col.button("Stop", key="induction_stop", width="stretch")
    train_induction_run(run, net, task, cfg)
    st.rerun()

if run is None:
    st.info(f"Press **Train**: these settings take about **{duration(promised)}** here ({estimate_note(KIND)}). "
            f"The scrubber then shows whether a head passes an induction score of {SCORE_GOAL:.0%} and when.")
    st.stop()
(st.success if run["status"].startswith("Done") else st.warning)(run["status"])
st.subheader("How it formed: scrub through training")
induction_scrubber(run.get("probe"), "induction_probe_step", run.get("chance"))
