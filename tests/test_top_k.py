"""core.model.top_k: the next-token top k from block maxima must be torch.topk's answer."""
from __future__ import annotations

import pytest
import torch

from core.model import top_k


@pytest.mark.parametrize("vocab", [50257, 49152, 32000, 128 * 80, 1000, 300])
@pytest.mark.parametrize("k", [1, 5, 20])
def test_top_k_equals_torch_topk(vocab, k):
    logits = torch.randn(37, vocab, generator=torch.Generator().manual_seed(vocab + k)) * 4
    logits[3, -1] = 100.0                           # the largest in the columns after the last whole block
    logits[4, :20] = torch.arange(20.0) + 50         # the whole top k inside one block
    values, indices = top_k(logits, k)
    theirs = logits.topk(k, dim=-1)
    torch.testing.assert_close(values, theirs.values, rtol=0, atol=0)
    assert torch.equal(indices, theirs.indices)      # distinct values: the same columns, in the same order
    assert torch.equal(logits.gather(-1, indices), values)


def test_ties_give_the_same_values_and_columns_that_hold_them():
    """Soft-capped logits (Gemma 2) can saturate into ties: the values are torch.topk's and each column
    really holds its value, whichever of the tied columns is named."""
    logits = torch.full((4, 30000), -5.0)
    logits[:, ::997] = 30.0                          # 31 ties for first place in every row
    values, indices = top_k(logits, 20)
    torch.testing.assert_close(values, logits.topk(20, dim=-1).values, rtol=0, atol=0)
    assert torch.equal(logits.gather(-1, indices), values) and len(set(indices[0].tolist())) == 20
