"""Direct logit attribution adds up to the model's own logit (difference), for every language-model family."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("transformers")

from hf_tiny import SENTENCES, hf_model, save_checkpoint, tokenizer_for  # noqa: E402

from analysis.logit_attribution import applies, logit_attribution  # noqa: E402
from models import load_model  # noqa: E402

CASES = [("gpt2", True), ("gpt2", False), ("llama", False), ("mistral", True), ("qwen2", False)]


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    built = {}

    def get(family: str, tied: bool):
        if (family, tied) not in built:
            folder = save_checkpoint(hf_model(family, tied=tied, seed=1), tokenizer_for(family),
                                     tmp_path_factory.mktemp(f"{family}{int(tied)}"))
            built[family, tied] = load_model(str(folder))
        return built[family, tied]
    return get


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{'tied' if c[1] else 'untied'}")
def test_contributions_sum_to_the_logit(loaded, case):
    model = loaded(*case)
    trace = model.trace(SENTENCES["plain"])
    for position, token, other in [(-1, 17, None), (3, 200, 45), (len(trace) - 2, 5, 6)]:
        dla = logit_attribution(model, trace, position, token, other)
        expected = trace.logits[position, token] - (trace.logits[position, other] if other is not None else 0)
        assert dla.logit == pytest.approx(float(expected), abs=1e-6)
        assert dla.total == pytest.approx(float(expected), abs=1e-4)
        assert dla.heads.shape == (model.config.n_layers, model.config.n_heads)
        names, values = dla.by_layer
        assert names[:3] == ["embed", "attn 0", "mlp 0"]
        assert float(values.sum() + dla.final_bias) == pytest.approx(float(expected), abs=1e-4)
        if dla.token_embed is not None:           # no embedding norm: the embedding splits exactly
            assert dla.token_embed + dla.pos_embed == pytest.approx(dla.embed, abs=1e-6)


def test_the_frozen_scale_is_the_real_runs(loaded):
    """Each head's share is its written vector through the norm with the real run's σ: doubling
    σ halves every share, so shares are read off the real run's final norm, not a fresh one."""
    model = loaded("gpt2", True)
    trace = model.trace(SENTENCES["plain"])
    dla = logit_attribution(model, trace, -1, 17)
    x = trace.layers[-1].resid_post[-1].astype(np.float64)
    assert dla.scale == pytest.approx(float(np.sqrt(x.var() + model.config.eps)), rel=1e-6)
    # The one head's share, computed here by hand from the trace and the weights.
    layer, head, d_head = 1, 2, model.config.d_head
    w_o = model.net.blocks[layer].attention.output.weight.detach().numpy().astype(np.float64)
    written = w_o[:, head * d_head:(head + 1) * d_head] @ trace.layers[layer].head_out[head, -1]
    gamma = model.net.final_norm.weight.detach().numpy()
    unembed = model.net.unembedding().detach().numpy()[17]
    expected = ((written - written.mean()) / dla.scale * gamma) @ unembed
    assert dla.heads[layer, head] == pytest.approx(float(expected), abs=1e-5)


def test_a_model_trained_here_sums_too():
    from training.lm import lm_config, new_model

    net = new_model(lm_config(97, context=16, d_model=32, n_heads=4, n_layers=3), seed=3).eval()
    trace = net.trace([5, 17, 3, 44, 90, 12])
    dla = logit_attribution(net, trace, -1, 44, 3)
    assert dla.total == pytest.approx(float(trace.logits[-1, 44] - trace.logits[-1, 3]), abs=1e-4)


def test_an_encoder_is_refused_with_the_reason(minilm):
    assert "no language-model head" in applies(minilm.config)
    with pytest.raises(ValueError, match="does not apply"):
        logit_attribution(minilm, minilm.trace("a b c"), -1, 5)


def test_bad_positions_and_tokens_are_named(loaded):
    model = loaded("gpt2", True)
    trace = model.trace("a b c")
    with pytest.raises(ValueError, match="no position 40"):
        logit_attribution(model, trace, 40, 5)
    with pytest.raises(ValueError, match="outside the vocabulary"):
        logit_attribution(model, trace, 0, 5000)
