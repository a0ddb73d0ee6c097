"""The induction task's run: trained in the server's queue, with progress under the Train button, and
a training-step scrubber over its snapshots (the induction score per head and the loss on the repeat).

A run lives in st.session_state["induction_run"] (this session's only), as the reversal run does.
"""
from __future__ import annotations

from typing import Optional

import numpy as np
import streamlit as st

from training.cost import duration
from training.induction import (PROBE_SEQUENCES, InductionProbeSet, InductionTask, InductionTrainConfig,
                                chance_score, induction_recorder, phase_change, train_induction)
from training.probe import ProbeRecorder
from training.weights import snapshot
from ui.training import every_step, recorded_run, step_progress, training_slot
from ui.training_probe import step_slider
from ui.widgets import plot
from viz.attention import attention_heatmap
from viz.causal import layer_head_map
from viz.induction import induction_forming

KIND = "induction"          # the server's calibration of this kind of run
SCORE_GOAL = 0.5            # an induction head: more than half of its attention on the induction target


def train_induction_run(run: dict, net, task: InductionTask, cfg: InductionTrainConfig) -> None:
    """Train `run` (this session's) in the queue; the weights of the last report stay on Stop."""
    box = st.container()
    bar, status = box.empty(), box.empty()
    probe = InductionProbeSet.of(task)
    run["chance"] = chance_score(probe)
    with recorded_run(run, KIND):
        with training_slot(status):
            run["probe"] = induction_recorder(net, task, probe, cfg.steps)
            show = step_progress(bar, cfg.steps, KIND, run["estimate_s"])
            for p in train_induction(net, task, cfg, probe, on_step=every_step(run["probe"].on_step, show)):
                run["history"].append(p)
                run["weights"] = snapshot(net)
                status.markdown(f"loss on the repeat **{p.repeat_loss:.2f}** nats · best head's induction score "
                                f"**{p.best_score:.0%}** · {p.elapsed:.0f} s")
    last = run["history"][-1]
    run["status"] = (f"Done: {last.step:,} steps in {last.elapsed:.0f} s (estimated before the start: "
                     f"{duration(run['promised_s'])}); best head's induction score {last.best_score:.0%}.")


def phase_words(recorder: ProbeRecorder) -> str:
    """The phase change named from the numbers, or why none is named."""
    found = phase_change(recorder.steps, recorder.losses(), recorder.statistic())
    if found is None:
        return ("**No phase change yet.** The loss on the repeat has not fallen suddenly while a head's induction "
                "score rose: the model still guesses among the tokens it has seen. With the defaults it comes all "
                "at once at about step 300; a learned position table, a longer sequence or shorter segments "
                "need (many) more steps.")
    return (f"**Phase change between step {found.start:,} and step {found.end:,}.** In those "
            f"{found.end - found.start:,} steps the loss on the repeated tokens fell from {found.loss_before:.2f} to "
            f"{found.loss_after:.2f} nats while **layer {found.layer}, head {found.head}**'s induction score rose "
            f"from {found.score_before:.0%} to {found.score_after:.0%}: the induction head formed, and the model "
            "began copying what followed the earlier copy.")


def induction_scrubber(recorder: Optional[ProbeRecorder], key: str, chance: Optional[float] = None) -> None:
    """The snapshots on a step slider: both curves with the phase change, every head's score at that step,
    and the chosen head's attention on the first probe sequence."""
    if recorder is None or len(recorder.steps) < 2:
        st.info("Only the random start was recorded: the run stopped before its first snapshot. Train again "
                "(or longer) to watch the head form.")
        return
    steps, scores, losses = recorder.steps, recorder.statistic(), recorder.losses()      # scores (N, L, H)
    found = phase_change(steps, losses, scores)
    st.markdown(phase_words(recorder))
    step = step_slider(recorder, key)
    index = steps.index(recorder.at(step).step)
    final = np.unravel_index(int(np.argmax(scores[-1])), scores.shape[1:])
    plot(induction_forming(steps, losses, scores, step, (found.start, found.end) if found else None,
                           (int(final[0]), int(final[1])), chance),
         f"{key}_forming")
    st.caption("Above: the loss on the tokens of the repeat (predictable only by copying). Below: each head's "
               "induction score, its mean attention from a repeated token to the token after its earlier copy, "
               f"over {PROBE_SEQUENCES} fixed probe sequences (dotted: layer 0, solid: layer 1). The shaded steps are "
               "the phase change, found from these numbers.")
    c1, c2 = st.columns(2)
    plot(layer_head_map(scores[index], f"Induction score at step {steps[index]:,}", "induction score",
                        diverging=False, zmax=1.0), f"{key}_scores", c1)
    layer, head = (found.layer, found.head) if found else (int(final[0]), int(final[1]))
    snap = recorder.snapshots[index]
    plot(attention_heatmap(snap.attentions[layer, head], recorder.probe.query_tokens,
                           f"Layer {layer}, head {head} at step {steps[index]:,} (first probe sequence)"),
         f"{key}_attention", c2)
    c2.caption("Tokens are the symbols' numbers. An induction head draws a stripe below the diagonal in the "
               "repeat: each repeated token looks at the token after its earlier copy.")

