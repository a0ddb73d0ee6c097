"""The induction task: an induction head forms on repeated random segments, the fixed-offset shortcut's
data does not make one, the phase change is found from the numbers, and the Train page shows it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from training.induction import (InductionProbeSet, InductionTask, InductionTrainConfig, induction_config,
                                induction_recorder, induction_targets, measure, new_attention_only, phase_change,
                                train_induction)
from training.probe import previous_token_share
from ui.induction import phase_words

ROOT = Path(__file__).resolve().parents[1]
TASK = InductionTask()                       # the page's defaults: 64 symbols, 32 tokens, segments of 3 to 15


def test_sequences_draw_lengths_places_and_tokens_afresh():
    ids, repeat = TASK.sample(200, np.random.default_rng(0))
    lengths = repeat.sum(axis=1) + 1
    starts = repeat.argmax(axis=1)
    assert len(set(lengths)) >= 8 and len(set(starts)) >= 10          # no fixed length, no fixed place
    assert len({tuple(r) for r in ids}) == 200
    for row in range(20):                                              # the repeat really repeats
        probe = InductionProbeSet(ids[row:row + 1], repeat[row:row + 1], ())
        for _, q, k in induction_targets(probe.ids, probe.repeat):
            assert ids[row, q] == ids[row, k - 1]


def test_attention_only_model_adds_nothing_but_attention():
    net = new_attention_only(induction_config(TASK), seed=0)
    ids, _ = TASK.sample(2, np.random.default_rng(1))
    _, records, _, _ = net.run(torch.from_numpy(ids))
    assert all(float(r.mlp_out.detach().abs().max()) == 0.0 for r in records)
    assert not any(p.requires_grad for b in net.blocks for p in b.mlp.parameters())


def train(task: InductionTask, steps: int, seed: int = 0):
    net = new_attention_only(induction_config(task), seed=seed)
    probe = InductionProbeSet.of(task)
    recorder = induction_recorder(net, task, probe, steps)
    history = list(train_induction(net, task, InductionTrainConfig(steps=steps, seed=seed), probe,
                                   on_step=recorder.on_step))
    return net, probe, recorder, history


@pytest.fixture(scope="module")
def formed():
    return train(TASK, InductionTrainConfig().steps)                   # the page's default budget


@pytest.mark.slow   # 600 steps: 65 s on 1 thread at load 33; minutes under load with 2 threads
def test_an_induction_head_forms_and_the_phase_change_is_named(formed):
    net, probe, recorder, history = formed
    m = measure(net, probe)
    assert m.scores.max() > 0.5                                        # one head is an induction head
    assert m.scores[1].max() > m.scores[0].max()                       # … in layer 1, reading layer 0
    assert m.repeat_loss < 0.5 * history[0].repeat_loss
    steps, losses, scores = np.array(recorder.steps), recorder.losses(), recorder.statistic()
    found = phase_change(steps, losses, scores)
    assert found is not None and found.layer == 1
    assert found.loss_after < found.loss_before - 0.5 and found.score_after > found.score_before + 0.2
    # The named window is where the loss falls, suddenly: a plateau before it (less than a quarter of the whole
    # fall), a short window (at most 15 % of the run), and the head's score passes one half inside it.
    fall = losses[0] - losses.min()
    assert losses[0] - found.loss_before < 0.25 * fall
    assert found.end - found.start <= 0.15 * steps[-1]
    passed = steps[np.argmax(scores[:, found.layer, found.head] > 0.5)]
    assert found.start < passed <= found.end
    # The circuit the module describes: layer 0 holds a previous-token head (on the drawn probe sequence).
    assert previous_token_share(recorder.snapshots[-1].attentions)[0].max() > 0.5
    # The scrubber names it in words.
    words = phase_words(recorder)
    assert f"Phase change between step {found.start:,} and step {found.end:,}" in words
    assert f"layer 1, head {found.head}" in words


def test_the_fixed_offset_shortcut_fails_on_the_real_task():
    shortcut = InductionTask(fixed_offset=True)
    net, probe, _, history = train(shortcut, 200)
    m = measure(net, probe)                                            # the probe always has random offsets
    assert m.scores.max() < 0.3
    assert m.repeat_loss > 3.0                                         # no better than guessing among symbols


def test_no_phase_change_in_a_flat_or_slow_curve():
    steps = np.arange(0, 1000, 50)
    scores = np.zeros((len(steps), 2, 2))
    assert phase_change(steps, np.full(len(steps), 4.0), scores) is None
    slow = np.linspace(4.0, 1.0, len(steps))                           # a steady slope, not a sudden drop
    scores[:, 1, 0] = np.linspace(0, 0.8, len(steps))
    assert phase_change(steps, slow, scores) is None
    sudden = np.where(steps < 500, 4.0, 1.0)
    scores[:, 1, 0] = np.where(steps < 500, 0.05, 0.7)                 # the head rises as the loss falls
    found = phase_change(steps, sudden, scores)
    assert (found.start, found.end, found.layer, found.head) == (450, 500, 1, 0)


def test_train_page_trains_and_scrubs():
    at = AppTest.from_file(str(ROOT / "pages" / "induction.py"), default_timeout=300).run()
    assert not at.exception
    at.number_input(key="induction_steps").set_value(60)
    at.button(key="induction_start").click().run()
    assert not at.exception, at.exception
    assert any("Done: 60 steps" in str(m.value) for m in at.success)
    texts = " ".join(str(m.value) for m in at.markdown)
    assert "phase change" in texts.lower()
    assert len(at.session_state["induction_run"]["probe"].steps) > 5
