"""The encoder–decoder on string reversal: masks, the trace's three attentions, learning."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from training.reversal import (BOS, EOS, ReversalTask, accuracy, batch_of, new_seq2seq, predictions, seq2seq_config,
                               trace_reversal, train_seq2seq)

TASK = ReversalTask(n_letters=6, min_len=3, max_len=5)


@pytest.fixture(scope="module")
def trained():
    model = new_seq2seq(seq2seq_config(TASK, d_model=32, n_heads=2, n_layers=1), seed=0)
    reports = list(train_seq2seq(model, TASK, steps=500, batch_size=64, lr=3e-3, report_every=250))
    return model, reports


def test_batches_are_reversed_and_padded():
    source, target_in, target_out = batch_of(TASK, ["abc", "fedcb"])
    assert TASK.decode(source[0].tolist()) == "abc"
    assert target_in[0, 0] == BOS and TASK.decode(target_in[0].tolist()) == "cba"
    assert target_out[0].tolist()[:4] == TASK.encode("cba") + [EOS]
    assert source[0, 3:].tolist() == [0, 0]                      # padded to the longest


def test_unknown_letters_get_a_message():
    with pytest.raises(ValueError, match="only the letters"):
        TASK.encode("abz")


def test_held_out_strings_are_never_trained_on():
    held_out, test = TASK.split(n_test=50)
    assert len(test) == 50 == len(held_out)


def test_decoder_is_causal_and_source_padding_is_hidden():
    model = new_seq2seq(seq2seq_config(TASK, d_model=16, n_heads=2, n_layers=1), seed=1).eval()
    source, target_in, _ = batch_of(TASK, ["abcde"])
    changed = target_in.clone()
    changed[0, 4] = BOS
    with torch.no_grad():
        a, b = model(source, target_in), model(source, changed)
        assert torch.equal(a[0, :4], b[0, :4])                  # a later target token changes no earlier logit
        short, _, _ = batch_of(TASK, ["abc"])
        padded, _, _ = batch_of(TASK, ["abc", "abcde"])
        t_in = torch.tensor([[BOS] + TASK.encode("cba")])
        alone = model(short, t_in)
        with_pad = model(padded[:1], t_in)
    assert torch.allclose(alone, with_pad, atol=1e-5)             # padding keys change nothing


def test_loss_falls_and_accuracy_is_high(trained):
    _, reports = trained
    assert reports[-1].loss < reports[0].loss
    assert reports[-1].accuracy >= 0.9


def test_trace_shows_three_attentions_and_an_anti_diagonal(trained):
    model, _ = trained
    tr = trace_reversal(model, TASK, "abcde")
    assert tr.output == "edcba"
    enc, dec = tr.encoder, tr.decoder
    assert enc.tokens == list("abcde") and dec.tokens == ["<bos>"] + list("edcba")
    assert not enc.causal and dec.causal
    h = model.config.n_heads
    assert enc.layers[0].weights.shape == (h, 5, 5)
    assert dec.layers[0].weights.shape == (h, 6, 6)
    assert np.allclose(np.triu(dec.layers[0].weights, 1), 0)    # masked self-attention
    cross = dec.layers[0].cross.weights
    assert cross.shape == (h, 6, 5) and np.allclose(cross.sum(-1), 1, atol=1e-5)
    assert tr.anti_diagonal_share() > 0.5                          # output i looks at source n-1-i


def test_trace_refuses_bad_input(trained):
    model, _ = trained
    for bad in ("", "abcdefabc", "ab!"):
        with pytest.raises(ValueError):
            trace_reversal(model, TASK, bad)


def test_accuracy_of_an_untrained_model_is_low():
    model = new_seq2seq(seq2seq_config(TASK, d_model=16, n_heads=2, n_layers=1), seed=0)
    assert accuracy(model, TASK, TASK.split(n_test=50)[1]) < 0.2


def test_predictions_match_accuracy(trained):
    model, _ = trained
    strings = TASK.split(n_test=40)[1]
    written = predictions(model, TASK, strings)
    share = sum(w == s[::-1] for w, s in zip(written, strings)) / len(strings)
    assert share == pytest.approx(accuracy(model, TASK, strings), abs=0.05)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_untrained_model_never_writes_start_or_padding(seed):
    """The defect: an untrained model wrote <bos> as a letter, so '<bos>' showed twice on the page.
    Only letters and <eos> are ever targets, so only they may be written."""
    model = new_seq2seq(seq2seq_config(TASK, d_model=16, n_heads=2, n_layers=1), seed=seed).eval()
    for text in ("abc", "fedcb", "aaaaa"):
        tr = trace_reversal(model, TASK, text)
        assert tr.decoder.tokens.count("<bos>") == 1 and "<pad>" not in tr.decoder.tokens
    assert all(set(w) <= set(TASK.letters) for w in predictions(model, TASK, ["abc", "ffff"]))
