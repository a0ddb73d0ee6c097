"""exBERT-style search: the corpus contexts whose query at a head points the way yours does come first."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.corpus_search import QueryIndex, head_queries
from core import Transformer, TransformerConfig

PLANTED = 99      # the token whose contexts are planted in the corpus


def planted_model() -> Transformer:
    """A tiny encoder without position embeddings: at layer 0 a token's query depends on the token
    alone, so every context of the planted token asks its head exactly the same question."""
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=120, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_positions=64,
                               positional="none")
    return Transformer(config).eval()


def test_planted_contexts_come_first_and_the_rest_do_not():
    net = planted_model()
    rng = np.random.default_rng(0)
    corpus = [list(rng.integers(5, 60, size=rng.integers(8, 14))) for _ in range(60)]
    planted = {3: 2, 17: 5, 29: 0, 44: 7}                     # sentence -> where the planted token goes
    for s, position in planted.items():
        corpus[s][position] = PLANTED
    traces = [net.trace(ids) for ids in corpus]
    index = QueryIndex.build([head_queries(t, 0, 1) for t in traces])
    mine = net.trace([7, 8, PLANTED, 9])                      # the planted token in a sentence of my own
    hits = index.nearest(head_queries(mine, 0, 1)[2], k=6)
    assert {(h.sentence, h.position) for h in hits[:4]} == set(planted.items())
    assert all(h.similarity == pytest.approx(1.0, abs=1e-5) for h in hits[:4])
    assert hits[4].similarity < 0.999                             # the next context is a different question


def test_one_context_per_sentence_and_specials_left_out():
    vectors = [np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])]
    index = QueryIndex.build(vectors, skip=[[True, False, False], [False, False]])
    assert len(index) == 4                                    # sentence 0's first token skipped
    hits = index.nearest(np.array([1.0, 0.0]), k=5)
    assert [(h.sentence, h.position) for h in hits] == [(1, 0), (0, 1)]
    every = index.nearest(np.array([1.0, 0.0]), k=5, one_per_sentence=False)
    assert len(every) == 4 and every[0].similarity == pytest.approx(1.0)
    with pytest.raises(ValueError, match="numbers"):
        index.nearest(np.ones(3))


def test_the_corpus_index_of_minilm_finds_the_same_context_first(minilm):
    """A sentence of the corpus, searched from its own token, finds itself first (cosine 1)."""
    from jobs.corpus_search import corpus_query_index

    texts = ["The cat sat on the mat.", "She read the book that he wrote.", "Dogs bark at night."]
    index, covered = corpus_query_index(minilm, texts, 3, 5)
    assert covered == [0, 1, 2]
    trace = minilm.trace(texts[1])
    position = trace.tokens.index("book")
    hit = index.nearest(head_queries(trace, 3, 5)[position], k=1)[0]
    assert (hit.sentence, hit.position) == (1, position) and hit.similarity == pytest.approx(1.0, abs=1e-5)
    specials = [minilm.trace(text).special_mask for text in texts]
    assert not any(specials[s][p] for s, p in zip(index.sentence, index.position))   # [CLS], [SEP] left out


MARKER = 98       # the token the planted head looks at from PLANTED


def looking_model() -> Transformer:
    """A tiny encoder with one hand-set head (layer 0, head 1): from the PLANTED token it looks at the
    MARKER token (score ≈ 35), and everywhere else its scores are all 0 (even attention). No position
    embeddings and no norm before layer 0, so the head's scores are exactly these."""
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=120, d_model=32, n_heads=4, n_layers=1, d_ff=64, max_positions=64,
                               positional="none", embed_norm=False)
    net = Transformer(config).eval()
    attention = net.blocks[0].attention
    with torch.no_grad():
        table = net.embeddings.token.weight
        table.normal_(0, 0.1)
        table[:, 30:] = 0
        table[PLANTED, 30] = 1.0                               # dimension 30 says "PLANTED", 31 "MARKER"
        table[MARKER, 31] = 1.0
        head = slice(8, 16)                                    # head 1 of 4: d_head 8
        for linear, source in ((attention.query, 30), (attention.key, 31)):
            linear.weight[head] = 0
            linear.bias[head] = 0
            linear.weight[8, source] = 10.0                    # q·k = 100 for PLANTED → MARKER, else 0
    return net


def test_search_by_attention_pattern_finds_the_planted_contexts_first():
    """The planted contexts are the ones where the head looks three tokens back from PLANTED (to the
    MARKER); decoys hold PLANTED with the MARKER elsewhere, or the MARKER three back from another token."""
    from analysis.corpus_search import BINS, PatternIndex, head_profiles

    net = looking_model()
    rng = np.random.default_rng(1)
    corpus = [list(rng.integers(5, 60, size=rng.integers(10, 16))) for _ in range(50)]
    planted = {4: 5, 19: 8, 33: 6, 41: 9}                     # sentence -> where PLANTED goes (MARKER 3 before)
    for s, position in planted.items():
        corpus[s][position], corpus[s][position - 3] = PLANTED, MARKER
    corpus[7][6], corpus[7][8] = PLANTED, MARKER              # decoy: the MARKER two after
    corpus[12][2] = PLANTED                                   # decoy: no MARKER, even attention
    corpus[25][7], corpus[25][4] = 11, MARKER                 # decoy: MARKER three back, but no PLANTED
    index = PatternIndex.build([head_profiles(net.trace(ids), 0, 1) for ids in corpus])
    mine = head_profiles(net.trace([7, MARKER, 8, 9, PLANTED, 10]), 0, 1)[4]
    assert mine[BINS.index("-3")] > 0.99                        # my token looks three back
    hits = index.nearest(mine, k=6)
    assert {(h.sentence, h.position) for h in hits[:4]} == set(planted.items())
    assert all(h.similarity > 0.99 for h in hits[:4]) and hits[4].similarity < 0.5
    assert index.measure == "overlap"


def test_a_pattern_profile_keeps_every_weight_in_one_place():
    from analysis.corpus_search import BINS, NEAR, pattern_profiles

    t = 2 * NEAR + 6
    weights = np.random.default_rng(0).dirichlet(np.ones(t), size=t)         # (T, T) rows of one
    sink = np.zeros(t, dtype=bool)
    sink[[0, t - 1]] = True                                                  # [CLS] ... [SEP]
    profiles = pattern_profiles(weights, sink)
    np.testing.assert_allclose(profiles.sum(axis=1), 1.0, atol=1e-6)
    row = NEAR + 3
    assert profiles[row, BINS.index("itself")] == pytest.approx(weights[row, row])
    assert profiles[row, BINS.index("-1")] == pytest.approx(weights[row, row - 1])
    assert profiles[row, BINS.index("sink")] == pytest.approx(weights[row, 0] + weights[row, -1])
    assert profiles[row, BINS.index("further ahead")] == pytest.approx(weights[row, row + NEAR + 1:t - 1].sum())
