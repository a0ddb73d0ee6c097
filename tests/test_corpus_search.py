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
    assert all(h.cosine == pytest.approx(1.0, abs=1e-5) for h in hits[:4])
    assert hits[4].cosine < 0.999                             # the next context is a different question


def test_one_context_per_sentence_and_specials_left_out():
    vectors = [np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0]]), np.array([[1.0, 0.0], [0.0, 1.0]])]
    index = QueryIndex.build(vectors, skip=[[True, False, False], [False, False]])
    assert len(index) == 4                                    # sentence 0's first token skipped
    hits = index.nearest(np.array([1.0, 0.0]), k=5)
    assert [(h.sentence, h.position) for h in hits] == [(1, 0), (0, 1)]
    every = index.nearest(np.array([1.0, 0.0]), k=5, one_per_sentence=False)
    assert len(every) == 4 and every[0].cosine == pytest.approx(1.0)
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
    assert (hit.sentence, hit.position) == (1, position) and hit.cosine == pytest.approx(1.0, abs=1e-5)
    specials = [minilm.trace(text).special_mask for text in texts]
    assert not any(specials[s][p] for s, p in zip(index.sentence, index.position))   # [CLS], [SEP] left out
