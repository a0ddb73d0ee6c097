"""Heads forming during training: the probe's snapshots are bounded, evenly spaced and true to the
model; the reversal model's cross-attention turns towards the anti-diagonal; time estimates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.pca import fit_pca
from core.seq2seq import Seq2SeqTrace
from training.bpe import train_bpe
from training.corpus import CorpusConfig, generate_corpus
from training.cost import Calibration, duration, seconds_left, seq2seq_cost
from training.lm import TrainConfig, lm_config, make_stream, new_model, train_lm
from training.probe import (Probe, ProbeRecorder, Snapshot, anti_diagonal_share, lm_recorder,
                            previous_token_share, probe_string, reversal_recorder, reversal_trace)
from training.reversal import ReversalTask, new_seq2seq, seq2seq_config, train_seq2seq

TASK = ReversalTask(n_letters=6, min_len=3, max_len=5)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models train faster on one thread on a shared 2-core machine; put back after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fake_recorder(total: int, limit: int = 10, max_bytes: int = 10**9, size: int = 4) -> ProbeRecorder:
    """A recorder whose snapshots are small arrays marked with their step (no model needed)."""
    probe = Probe("x", ["a"] * size, ["a"] * size, ["w1", "w2"], ["g", "g"], "previous-token share")

    def take(step: int) -> Snapshot:
        return Snapshot(step, np.full((1, 1, size, size), step, np.float32), np.full((2, 3), step, np.float32))
    return ProbeRecorder(probe, take, previous_token_share, total, limit=limit, max_bytes=max_bytes)


@pytest.mark.parametrize("total,limit", [(1000, 10), (37, 40), (7, 40), (999, 40)])
def test_snapshots_are_bounded_and_evenly_spaced(total, limit):
    rec = fake_recorder(total, limit)
    for step in range(1, total + 1):
        rec.on_step(step)
        assert len(rec.snapshots) <= limit
    steps = rec.steps
    assert steps[0] == 0 and steps[-1] == total                 # the random start and the trained model
    gaps = np.diff(steps[:-1])                                  # the last one may come sooner than a full gap
    assert len(set(gaps)) <= 1 and 0 < steps[-1] - steps[-2] <= rec.every
    assert all(s.attentions[0, 0, 0, 0] == s.step for s in rec.snapshots)   # each snapshot is of its own step


def test_a_run_longer_than_planned_is_thinned_evenly():
    """When the list is full, every other snapshot goes and the spacing doubles."""
    rec = fake_recorder(total=50, limit=6)
    for step in range(1, 401):
        rec.on_step(step)
    assert len(rec.snapshots) <= 6
    assert len(set(np.diff(rec.steps))) == 1 and rec.steps[0] == 0 and rec.steps[-1] >= 400 - rec.every


def test_memory_is_bounded_in_bytes_too():
    one = fake_recorder(1).snapshots[0].nbytes
    rec = fake_recorder(total=500, limit=40, max_bytes=5 * one, size=16)   # a big probe: fewer snapshots
    for step in range(1, 501):
        rec.on_step(step)
        assert rec.nbytes <= 5 * rec.snapshots[0].nbytes
    assert rec.limit == 5 * one // rec.snapshots[0].nbytes or rec.limit == 2


def test_statistics_on_known_heads():
    t = 5
    previous = np.eye(t, k=-1)
    previous[0, 0] = 1.0                                        # the first token can only see itself
    uniform = np.tril(np.ones((t, t))) / np.arange(1, t + 1)[:, None]
    shares = previous_token_share(np.stack([previous, uniform])[None])     # (1 layer, 2 heads)
    assert shares[0, 0] == pytest.approx(1.0)
    assert shares[0, 1] == pytest.approx(np.mean([1 / (i + 1) for i in range(1, t)]))
    mirror = np.fliplr(np.eye(4))[None, None]                   # (1, 1, 4, 4) reads back to front
    assert anti_diagonal_share(mirror)[0, 0] == pytest.approx(1.0)
    assert anti_diagonal_share(np.eye(4)[None, None])[0, 0] == pytest.approx(0.0)


@pytest.fixture(scope="module")
def lm_run():
    lines = generate_corpus(CorpusConfig(seed=0, n_sentences=600))
    bpe = train_bpe(lines, 128)
    ids = bpe.encode_lines(lines)
    net = new_model(lm_config(bpe.vocab_size, context=16, d_model=32, n_heads=2, n_layers=2), seed=0)
    rec = lm_recorder(net, bpe, lines, ids, 30, limit=8)
    kept = []
    list(train_lm(net, make_stream(ids, 16), TrainConfig(steps=30, batch_size=8, report_every=30, eval_batches=1),
                  on_good_weights=kept.append, on_step=rec.on_step))
    return net, bpe, lines, rec


def test_the_last_snapshot_is_the_trained_model(lm_run):
    net, bpe, lines, rec = lm_run
    assert rec.probe.text == lines[0] and rec.steps[-1] == 30 and len(rec.snapshots) <= 8
    ids = bpe.encode(rec.probe.text)[:16]
    trace = net.eval().trace(ids)
    assert np.array_equal(rec.snapshots[-1].attentions, trace.attentions)
    rows = [bpe.vocabulary().index("▁" + w) for w in rec.probe.words]
    assert np.array_equal(rec.snapshots[-1].embeddings, net.token_table[rows].detach().numpy())
    assert not np.array_equal(rec.snapshots[0].attentions, rec.snapshots[-1].attentions)   # it learned


def test_a_snapshot_puts_training_mode_back(lm_run):
    net, bpe, lines, _ = lm_run
    net.train()
    rec = lm_recorder(net, bpe, lines, bpe.encode_lines(lines), 10)          # takes the step-0 snapshot
    assert net.training                                          # put back after the eval-mode trace
    assert rec.snapshots[0].attentions.base is None               # a copy: the trace itself is let go
    net.eval()


def test_the_embedding_map_uses_one_basis_for_every_step(lm_run):
    _, _, _, rec = lm_run
    points, explained = rec.embedding_map()
    assert points.shape == (len(rec.snapshots), len(rec.probe.words), 2)
    assert 0 < explained.sum() <= 1
    assert np.allclose(points[-1], fit_pca(rec.snapshots[-1].embeddings, 2).project(rec.snapshots[-1].embeddings))
    assert not np.allclose(points[0], points[-1])


def test_reversal_cross_attention_turns_to_the_anti_diagonal():
    """A short seeded run: the probe's anti-diagonal share rises from the first snapshot to the last,
    and the recorded statistic is the trace's own measure."""
    model = new_seq2seq(seq2seq_config(TASK, d_model=32, n_heads=2, n_layers=1), seed=0)
    rec = reversal_recorder(model, TASK, 60, limit=6)
    list(train_seq2seq(model, TASK, steps=60, batch_size=32, lr=1e-2, report_every=60, on_step=rec.on_step))
    share = rec.statistic().mean(axis=-1)[:, 0]                  # (steps,) mean of the heads, layer 0
    assert share[-1] > share[0] + 0.1
    encoder, decoder = reversal_trace(model, TASK, rec.probe.text)
    assert share[-1] == pytest.approx(Seq2SeqTrace("", "", encoder, decoder).anti_diagonal_share(0), abs=1e-6)
    assert rec.probe.key_tokens == list(probe_string(TASK)) and rec.probe.query_tokens[0] == "<bos>"


def test_time_estimates_and_their_calibration():
    config = seq2seq_config(ReversalTask(), 64, 4, 2)
    cost = seq2seq_cost(config, ReversalTask(), 800, 64, 40)
    assert 10 < cost.seconds < 200                               # measured: ~40 s on one idle core
    assert seq2seq_cost(config, ReversalTask(), 1600, 64, 40).seconds == pytest.approx(2 * cost.seconds, rel=0.01)
    calibration = Calibration(load=lambda: 0.0)                  # a quiet server (a busy one: tests/test_training.py)
    assert calibration.factor == 1.0 and calibration.seconds(cost) == cost.seconds
    calibration.record(40.0, 80.0)                               # a whole run twice as slow as estimated
    calibration.record(40.0, 40.0, steps_done=400, steps=800)    # half a run, also twice as slow
    calibration.record(40.0, 1.0, steps_done=1, steps=800)       # stopped at once: says nothing
    assert calibration.runs == 2 and calibration.factor == pytest.approx(2.0)
    assert seconds_left(0, 800, 0.0) is None and seconds_left(200, 800, 10.0) == pytest.approx(30.0)
    assert [duration(s) for s in (0.43, 40, 150)] == ["0.4 s", "40 s", "2.5 min"]


def test_a_finished_recorder_lets_go_of_the_model():
    """A session keeps its run's snapshots, not the model it trained (the snapshot function held it)."""
    import gc
    import weakref

    model = new_seq2seq(seq2seq_config(TASK, d_model=16, n_heads=2, n_layers=1), seed=0)
    rec = reversal_recorder(model, TASK, 10)
    alive = weakref.ref(model)
    rec.close()
    rec.on_step(10)                                              # after the run: nothing more is taken
    del model
    gc.collect()
    assert alive() is None and rec.steps == [0]


def test_a_persons_own_text_gets_a_probe_of_its_own_words():
    """Text without the built-in word groups: the map shows its most frequent tokens; a text too short
    for a probe gives no recorder (the page says so) rather than an error."""
    lines = ["<b>bold</b> 🍌 bananas fly like arrows", "time flies like an arrow 🍌"] * 30
    bpe = train_bpe(lines, 64)
    net = new_model(lm_config(bpe.vocab_size, context=4, d_model=16, n_heads=2, n_layers=1), seed=0)
    rec = lm_recorder(net, bpe, lines, bpe.encode_lines(lines), 10)
    assert rec.probe.text == lines[0] and len(rec.probe.query_tokens) == 4          # cut to the context
    assert set(rec.probe.groups) == {"most frequent tokens"} and 2 <= len(rec.probe.words) <= 30
    assert rec.snapshots[0].attentions.shape == (1, 2, 4, 4)
    one_word = train_bpe(["a"] * 10, 32)
    small = new_model(lm_config(one_word.vocab_size, context=4, d_model=16, n_heads=2, n_layers=1), seed=0)
    assert lm_recorder(small, one_word, ["a"], one_word.encode_lines(["a"]), 10) is None
