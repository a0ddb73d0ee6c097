"""Head detectors: a model whose induction circuit is set by hand scores its planted heads highest;
random models score no head above chance; the patterns are TransformerLens's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.detectors import (duplicate_token_pattern, duplicate_token_scores, induction_pattern,
                                induction_probe, previous_token_scores, repeated_tokens,
                                sentence_induction_scores, sink_scores, top_heads)
from core import Transformer, TransformerConfig

VOCAB, POSITIONS, D = 12, 24, 64
TOK, POS, PREV, OUT = (np.arange(VOCAB), 12 + np.arange(POSITIONS), 36 + np.arange(VOCAB), 48 + np.arange(VOCAB))


@pytest.fixture(scope="module")
def planted() -> Transformer:
    """Two layers, two heads each, RMSNorm (which only rescales, by the same factor at every position).
    Residual stream: token one-hot | position one-hot | previous token | predicted token.
    Layer 0 head 0 is a previous-token head: query position i meets key position j when j = i − 1,
    and it copies the key's token into the "previous token" dims. Layer 1 head 0 is the induction
    head: the query's token meets keys whose previous token is the same, and it copies the key's
    token into the "predicted" dims, which the unembedding reads. Every other weight is zero."""
    config = TransformerConfig(vocab_size=VOCAB, d_model=D, n_heads=2, n_layers=2, d_ff=8, max_positions=POSITIONS,
                               positional="learned", norm="pre", norm_kind="rmsnorm", activation="relu", eps=1e-6,
                               embed_norm=False, causal=True, lm_head=True, tie_embeddings=False, bias=False,
                               qkv_bias=False)
    torch.manual_seed(0)
    net = Transformer(config).eval()
    with torch.no_grad():
        for name, p in net.named_parameters():
            p.fill_(1.0 if name.endswith("norm.weight") else 0.0)
        net.embeddings.token.weight[TOK, TOK] = 1.0
        net.embeddings.position.weight[np.arange(POSITIONS), POS] = 1.0
        prev, ind = net.blocks[0].attention, net.blocks[1].attention
        prev.query.weight[np.arange(POSITIONS), POS] = 2.0          # q dim i for position i
        prev.key.weight[np.arange(POSITIONS) + 1, POS] = 2.0        # k dim j + 1 for position j
        prev.value.weight[TOK, TOK] = 1.0
        prev.output.weight[PREV, TOK] = 1 / np.sqrt(32)             # undo the norm's √(64/2) scale
        ind.query.weight[TOK, TOK] = 3.0                             # q: this token
        ind.key.weight[TOK, PREV] = 3.0                              # k: the token before the key
        ind.value.weight[TOK, TOK] = 1.0
        ind.output.weight[OUT, TOK] = 1.0
        net.unembed.weight[TOK, OUT] = 10.0
    return net


def test_planted_induction_head_scores_highest(planted):
    probe = induction_probe(planted, n=10, batch=6, seed=1)
    assert top_heads(probe.scores, 1)[0][:2] == (1, 0)
    assert probe.scores[1, 0] > 0.9
    others = np.delete(probe.scores.ravel(), 2)
    assert others.max() < 0.2
    # The repeat is predicted: the loss on the second half is far below the first half's.
    second = probe.loss[probe.start + probe.n:]
    first = probe.loss[:probe.n - 1]
    assert second.mean() < 0.1 * first.mean()


def test_induction_score_equals_a_plain_loop(planted):
    """An independent reading of the definition: for each sequence, each head, each second-half
    token, the weight on the token after its earlier copy, averaged."""
    probe = induction_probe(planted, n=8, batch=3, seed=4)
    expected = np.zeros((2, 2))
    for ids in probe.ids:
        trace = planted.trace(ids)
        for layer in range(2):
            for head in range(2):
                for q in range(probe.n, 2 * probe.n):
                    earlier = [j for j in range(q) if ids[j] == ids[q]][0]
                    expected[layer, head] += trace.attentions[layer, head, q, earlier + 1]
    np.testing.assert_allclose(probe.scores, expected / (len(probe.ids) * probe.n), atol=1e-6)


def test_sentence_detectors_find_the_planted_heads(planted):
    ids = repeated_tokens(VOCAB, 9, batch=1, seed=2)[0]
    trace = planted.trace(ids)
    assert top_heads(previous_token_scores(trace), 1)[0][:2] == (0, 0)
    assert previous_token_scores(trace)[0, 0] > 0.9
    assert top_heads(sentence_induction_scores(trace), 1)[0][:2] == (1, 0)
    # A head that looks evenly (all zero weights) puts 1 / (q + 1) on the first token from query q.
    t = len(ids)
    assert sink_scores(trace)[0, 1] == pytest.approx(np.mean(1 / (np.arange(1, t) + 1)), abs=1e-6)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_random_model_has_no_head_above_chance(seed):
    from training.lm import lm_config, new_model

    net = new_model(lm_config(500, context=64, d_model=64, n_heads=4, n_layers=3), seed=seed).eval()
    probe = induction_probe(net, n=20, batch=8, seed=seed)
    assert probe.scores.shape == (3, 4)
    assert probe.scores.max() < 1.5 * probe.chance
    assert probe.chance == pytest.approx(np.mean(1 / (np.arange(20, 40) + 1)))


def test_patterns_are_transformerlens():
    ids = [7, 3, 7, 5, 3]
    # duplicate: earlier positions with the same token (diagonal excluded)
    expected = np.zeros((5, 5))
    expected[2, 0] = expected[4, 1] = 1
    np.testing.assert_array_equal(duplicate_token_pattern(ids), expected)
    # induction: the key after an earlier copy
    expected = np.zeros((5, 5))
    expected[2, 1] = expected[4, 2] = 1
    np.testing.assert_array_equal(induction_pattern(ids), expected)


def test_duplicate_and_special_sinks_on_a_real_encoder(minilm):
    trace = minilm.trace("the cat saw the dog and the cat ran")
    scores = duplicate_token_scores(trace)
    assert scores.shape == (6, 12) and ((0 <= scores) & (scores <= 1)).all()
    special = sink_scores(trace, on="special")
    assert ((0 <= special) & (special <= 1 + 1e-6)).all()
    with pytest.raises(ValueError, match="first"):
        sink_scores(trace, on="middle")
