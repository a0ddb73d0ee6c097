"""Knocking heads out: equal to transformers with the same heads removed, and the batched
importance map equal to one ablated run per head."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.ablation import Outputs, head_importance, next_token_shift
from analysis.sentence import mean_pooled

SENTENCE = "The bank of the river was muddy after the storm."
TOL = dict(atol=1e-4, rtol=0)


def reference_with_heads_out(reference_bert, text, ablate, mode):
    """transformers' BertModel with the same heads replaced by a forward pre-hook on W_O."""
    model, tokenizer = reference_bert
    d_head = model.config.hidden_size // model.config.num_attention_heads
    handles = []
    for layer in sorted({l for l, _ in ablate}):
        heads = [h for l, h in ablate if l == layer]

        def hook(module, args, heads=heads):
            x = args[0].clone()                                              # (B, T, H * d_head)
            for h in heads:
                part = x[..., h * d_head:(h + 1) * d_head]
                x[..., h * d_head:(h + 1) * d_head] = 0 if mode == "zero" else part.mean(dim=1, keepdim=True)
            return (x,) + tuple(args[1:])

        handles.append(model.encoder.layer[layer].attention.output.dense.register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            out = model(**tokenizer(text, return_tensors="pt"), output_attentions=True, output_hidden_states=True)
    finally:
        for handle in handles:
            handle.remove()
    return out


@pytest.mark.parametrize("mode", ["zero", "mean"])
@pytest.mark.parametrize("ablate", [[(0, 3)], [(2, 5), (2, 7), (4, 0)], [(5, 11)]])
def test_ablated_trace_equals_the_reference(minilm, reference_bert, ablate, mode):
    trace = minilm.trace(SENTENCE, ablate=ablate, mode=mode)
    ref = reference_with_heads_out(reference_bert, SENTENCE, ablate, mode)
    np.testing.assert_allclose(trace.hidden_states, torch.stack(ref.hidden_states)[:, 0].numpy(), **TOL)
    np.testing.assert_allclose(trace.attentions, torch.stack(ref.attentions)[:, 0].numpy(), **TOL)
    intact = minilm.trace(SENTENCE)
    assert not np.allclose(intact.hidden_states[-1], trace.hidden_states[-1], atol=1e-4)   # it did change
    first = min(l for l, _ in ablate)
    np.testing.assert_array_equal(intact.layers[first].weights, trace.layers[first].weights)  # W_O comes after
    for layer, head in [(l, h) for l, h in ablate if l == first]:   # later layers' inputs changed already
        head_out = trace.layers[layer].head_out[head]
        if mode == "zero":
            assert not head_out.any()
        else:
            np.testing.assert_allclose(head_out, np.broadcast_to(intact.layers[layer].head_out[head].mean(0), head_out.shape),
                                       atol=1e-5)


def test_a_head_that_does_not_exist_is_named(minilm):
    with pytest.raises(ValueError, match=r"no head \(6, 0\)"):
        minilm.trace(SENTENCE, ablate=[(6, 0)])
    with pytest.raises(ValueError, match="mode"):
        minilm.trace(SENTENCE, ablate=[(0, 0)], mode="half")


def test_batched_importance_equals_one_run_per_head(minilm):
    enc = minilm.tokenizer.encode(SENTENCE)
    effects = head_importance(minilm.net, enc.ids)
    assert effects.shape == (6, 12) and (effects >= -1e-6).all()
    intact = mean_pooled(torch.from_numpy(np.array(minilm.trace(SENTENCE).hidden_states[-1]))[None])
    for layer, head in [(0, 0), (3, 9), (5, 11), tuple(np.unravel_index(effects.argmax(), effects.shape))]:
        alone = minilm.trace(SENTENCE, ablate=[(int(layer), int(head))])
        pooled = mean_pooled(torch.from_numpy(np.array(alone.hidden_states[-1]))[None])
        assert effects[layer, head] == pytest.approx(float(1 - (intact * pooled).sum()), abs=1e-5)


def test_batched_importance_of_a_language_model_is_the_next_token_kl():
    from training.lm import lm_config, new_model

    net = new_model(lm_config(97, context=16, d_model=32, n_heads=4, n_layers=3), seed=3).eval()
    ids = [5, 17, 3, 44, 90, 12]
    effects = head_importance(net, ids, mode="mean")
    intact = net.trace(ids)
    for layer, head in [(0, 1), (2, 3)]:
        alone = net.trace(ids, ablate=[(layer, head)], mode="mean")
        kl = next_token_shift(Outputs(None, torch.from_numpy(np.array(intact.logits[-1:]))),
                              Outputs(None, torch.from_numpy(np.array(alone.logits[-1:]))))
        assert effects[layer, head] == pytest.approx(float(kl), abs=1e-5)
