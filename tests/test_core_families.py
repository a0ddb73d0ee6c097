"""The family switches of core on their own: config validation, grouped-query attention, RoPE (full and
partial), RMSNorm, and the block's layout (post, pre, parallel)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core import MultiHeadAttention, RMSNorm, Transformer, TransformerConfig, apply_rotary, attend, rotary_angles
from core.budget import count_parameters

BASE = dict(vocab_size=50, d_model=32, n_heads=4, n_layers=2, d_ff=64, max_positions=16)
LLAMA = dict(BASE, positional="rotary", norm="pre", norm_kind="rmsnorm", n_kv_heads=2, mlp="gated",
             activation="silu", bias=False, qkv_bias=False, embed_norm=False, causal=True, lm_head=True,
             tie_embeddings=False)


def test_old_saved_config_dicts_still_load():
    old = dict(BASE, positional="learned", norm="pre", activation="gelu", eps=1e-5, type_vocab_size=0,
               embed_norm=False, causal=True, lm_head=True, tie_embeddings=True, pad_id=0)
    config = TransformerConfig.from_dict(old)
    assert config.n_kv_heads is None and config.kv_heads == 4
    assert config.norm_kind == "layernorm" and config.mlp == "standard"
    assert TransformerConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize("change,message", [
    (dict(n_kv_heads=3), "n_kv_heads=3 must be a positive divisor"),
    (dict(norm_kind="batchnorm"), "norm_kind must be one of"),
    (dict(positional="alibi"), "positional must be one of"),
    (dict(activation="gelu_fast"), "activation must be one of"),
    (dict(mlp="moe"), "mlp must be one of"),
    (dict(positional="rotary", d_model=12, n_heads=4), "d_head \\(3\\) must be even"),
    (dict(position_offset=16), "position_offset"),
    (dict(norm="hourglass"), "norm must be one of \\['post', 'pre', 'parallel', 'post_sublayer', 'sandwich'\\]"),
    (dict(attn_softcap=0.0), "attn_softcap must be a positive number or None"),
    (dict(sliding_window=0), "sliding_window must be a positive whole number"),
    (dict(sliding_window=4, sliding_layers=(0, 2)), "sliding_layers must list layer numbers from 0 to 1"),
    (dict(positional="rotary", rotary_dims=3), "rotary_dims must be an even number from 2 to d_head \\(8\\)"),
    (dict(positional="rotary", rotary_dims=10), "rotary_dims must be an even number"),
    (dict(embed_scale=0.0), "embed_scale must be a positive number"),
    (dict(head_dim=0), "head_dim must be a whole number"),
    (dict(d_model=30), "d_model=30 is not divisible by n_heads=4"),
    (dict(qk_norm="layer"), "qk_norm must be one of \\[None, 'head', 'full'\\]"),
])
def test_bad_switches_are_named(change, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**dict(BASE, **change))


def test_replace_keeps_a_plain_config_valid():
    from dataclasses import replace

    one_head = replace(TransformerConfig(**BASE), n_heads=1)    # as core/steps.py counts parameters
    assert one_head.kv_heads == 1


def test_grouped_attention_equals_repeated_keys():
    torch.manual_seed(0)
    q = torch.randn(1, 6, 5, 8)
    k, v = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    allowed = torch.ones(5, 5, dtype=torch.bool).tril()[None, None]
    scores, weights, head_out = attend(q, k, v, allowed)
    # The reference way: copy each key/value head to the 3 query heads of its group.
    s2, w2, o2 = attend(q, k.repeat_interleave(3, dim=1), v.repeat_interleave(3, dim=1), allowed)
    torch.testing.assert_close(scores, s2)
    torch.testing.assert_close(weights, w2)
    torch.testing.assert_close(head_out, o2)


@pytest.mark.parametrize("dims", [None, 4])                 # every dimension turned, or the first 4 (partial)
def test_rotary_scores_depend_only_on_distance(dims):
    torch.manual_seed(0)
    q, k = torch.randn(16), torch.randn(16)

    def score(m, n):
        qm = apply_rotary(q[None], torch.tensor([m]), 10000.0, dims)[0]
        kn = apply_rotary(k[None], torch.tensor([n]), 10000.0, dims)[0]
        return float(qm @ kn)

    assert score(3, 1) == pytest.approx(score(10, 8), abs=1e-4)
    assert score(5, 5) == pytest.approx(float(q @ k), abs=1e-4)
    assert rotary_angles(torch.arange(4), 16, 10000.0).shape == (4, 8)
    angles = rotary_angles(torch.tensor([1]), 16, 10000.0)[0]
    assert float(angles[0]) == 1.0 and float(angles[1]) == pytest.approx(10000 ** (-2 / 16))


def test_rmsnorm_scales_to_unit_root_mean_square():
    norm = RMSNorm(8, eps=0.0)
    x = torch.randn(3, 8) * 5 + 2
    y = norm(x)
    torch.testing.assert_close(y.pow(2).mean(-1), torch.ones(3))


def test_llama_shaped_transformer_traces():
    torch.manual_seed(0)
    config = TransformerConfig(**LLAMA)
    net = Transformer(config).eval()
    assert count_parameters(config) == sum(p.numel() for p in net.parameters())
    trace = net.trace([1, 2, 3, 4, 5])
    layer = trace.layers[0]
    assert layer.q.shape == (4, 5, 8) and layer.k.shape == (2, 5, 8) and layer.q_raw.shape == (4, 5, 8)
    assert trace.logits.shape == (5, 50) and trace.final.shape == (5, 32)
    assert math.isclose(float(trace.attentions[1, 3, 2].sum()), 1.0, abs_tol=1e-5)
    assert [trace.kv_head_of(h) for h in range(4)] == [0, 0, 1, 1]
    assert net.blocks[0].attention.query.bias is None and net.blocks[0].mlp.gate is not None


def test_gpt_shaped_transformer_unchanged_without_switches():
    """A config without the new switches builds exactly the modules it built before."""
    config = TransformerConfig(**dict(BASE, norm="pre", causal=True, lm_head=True, embed_norm=False))
    net = Transformer(config)
    assert isinstance(net.final_norm, torch.nn.LayerNorm) and net.blocks[0].mlp.gate is None
    assert count_parameters(config) == sum(p.numel() for p in net.parameters())
    assert net.trace([1, 2, 3]).layers[0].q_raw is None


def test_partial_rotary_turns_the_first_dimensions_only():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 16)                                               # (H, T, d_head)
    positions = torch.arange(6)
    partial = apply_rotary(x, positions, 10000.0, dims=4)
    torch.testing.assert_close(partial[..., 4:], x[..., 4:], rtol=0, atol=0)   # the content dimensions pass
    # The turned part is full RoPE on a 4-dimensional head: frequencies spread over d_rot, not d_head.
    torch.testing.assert_close(partial[..., :4], apply_rotary(x[..., :4], positions, 10000.0))
    assert apply_rotary(x, positions, 10000.0, dims=16).equal(apply_rotary(x, positions, 10000.0))


NEOX = dict(BASE, positional="rotary", norm="parallel", rotary_dims=4, embed_norm=False, causal=True,
            lm_head=True, tie_embeddings=False)


def neox_net(**change) -> Transformer:
    """A GPT-NeoX-shaped model (parallel block, a quarter of each head turned), seeded."""
    torch.manual_seed(0)
    return Transformer(TransformerConfig(**dict(NEOX, **change))).eval()


def test_parallel_block_adds_both_branches_to_its_input():
    net = neox_net()
    layer = net.trace([1, 2, 3, 4, 5]).layers[0]
    assert count_parameters(net.config) == sum(p.numel() for p in net.parameters())
    with torch.no_grad():
        mlp_in = net.blocks[0].mlp_norm(torch.from_numpy(np.array(layer.resid_pre))).numpy()
    np.testing.assert_allclose(layer.mlp_in, mlp_in, atol=1e-6)          # the layer input, not resid_mid
    np.testing.assert_allclose(layer.resid_post, layer.resid_pre + layer.attn_out + layer.mlp_out, atol=1e-5)
    np.testing.assert_array_equal(layer.q[..., 4:], layer.q_raw[..., 4:])


def test_layouts_differ_only_in_where_the_feed_forward_reads():
    """The same weights in a pre-LN and a parallel block: identical attention, different feed-forward input."""
    parallel, sequential = neox_net(), neox_net(norm="pre")
    sequential.load_state_dict(parallel.state_dict())
    a, b = parallel.trace([1, 2, 3, 4]).layers[0], sequential.trace([1, 2, 3, 4]).layers[0]
    np.testing.assert_array_equal(a.weights, b.weights)
    np.testing.assert_array_equal(a.resid_mid, b.resid_mid)
    with torch.no_grad():
        expected = sequential.blocks[0].mlp_norm(torch.from_numpy(np.array(b.resid_mid))).numpy()
    np.testing.assert_allclose(b.mlp_in, expected, atol=1e-6)
    assert np.abs(a.mlp_in - b.mlp_in).max() > 1e-3


# -- q/k norm (Qwen3: per head; OLMo 2: over the whole projection) ---------------------------------

def qk_attention(qk_norm):
    """One attention layer of a Llama-shaped model with the q/k norm, its γ left at 1, and its input."""
    torch.manual_seed(0)
    attention = MultiHeadAttention(TransformerConfig(**dict(LLAMA, qk_norm=qk_norm, eps=1e-6))).eval()
    return attention, torch.randn(1, 5, 32) * 3


@pytest.mark.parametrize("qk_norm,shape", [("head", (8, 8)), ("full", (32, 16))])
def test_qk_norm_weights_and_parameter_count(qk_norm, shape):
    config = TransformerConfig(**dict(LLAMA, qk_norm=qk_norm))
    net = Transformer(config)
    attention = net.blocks[0].attention
    # d_head, or H·d_head and H_kv·d_head
    assert (attention.q_norm.weight.shape[0], attention.k_norm.weight.shape[0]) == shape
    assert count_parameters(config) == sum(p.numel() for p in net.parameters())
    assert Transformer(TransformerConfig(**LLAMA)).blocks[0].attention.q_norm is None


def test_qk_norm_per_head_gives_each_head_unit_size_before_rope():
    attention, x = qk_attention("head")
    with torch.no_grad():
        a = attention(x)
    # Before RoPE every head's query and key has root mean square 1 (γ = 1); RoPE keeps lengths.
    torch.testing.assert_close(a.q_raw.pow(2).mean(-1), torch.ones(1, 4, 5), atol=1e-4, rtol=0)
    torch.testing.assert_close(a.k_raw.pow(2).mean(-1), torch.ones(1, 2, 5), atol=1e-4, rtol=0)
    torch.testing.assert_close(a.q.norm(dim=-1), a.q_raw.norm(dim=-1))
    # So a score is at most √d_head · γ² whatever the size of the input: the norm bounds the logits.
    assert float(a.scores.max()) <= math.sqrt(8) + 1e-4


def test_qk_norm_full_normalises_all_heads_together():
    attention, x = qk_attention("full")
    with torch.no_grad():
        a = attention(x)
        expected = attention.q_norm(attention.query(x))                       # (1, 5, 32) before the split
    q_all = a.q_raw.transpose(1, 2).reshape(1, 5, 32)                          # (1, T, H·d_head)
    torch.testing.assert_close(q_all, expected)
    torch.testing.assert_close(q_all.pow(2).mean(-1), torch.ones(1, 5), atol=1e-4, rtol=0)
    per_head = a.q_raw.pow(2).mean(-1)                                         # (1, H, T): not 1 head by head
    assert float((per_head - 1).abs().max()) > 0.05


# -- the post-sublayer layout (OLMo 2): the norm on each sublayer's output, before the add ----------

def test_post_sublayer_block_normalises_what_each_sublayer_adds():
    torch.manual_seed(0)
    config = TransformerConfig(**dict(LLAMA, norm="post_sublayer", qk_norm="full"))
    net = Transformer(config).eval()
    assert count_parameters(config) == sum(p.numel() for p in net.parameters())
    layer, block = net.trace([1, 2, 3, 4, 5]).layers[1], net.blocks[1]
    as_tensor = lambda a: torch.from_numpy(np.array(a))   # noqa: E731
    np.testing.assert_array_equal(layer.attn_in, layer.resid_pre)          # attention reads the raw residual
    np.testing.assert_array_equal(layer.mlp_in, layer.resid_mid)           # so does the feed-forward
    with torch.no_grad():
        attn_added = block.attn_norm(as_tensor(layer.attn_out)).numpy()
        mlp_added = block.mlp_norm(as_tensor(layer.mlp_out)).numpy()
    np.testing.assert_allclose(layer.resid_mid, layer.resid_pre + attn_added, atol=1e-5)
    np.testing.assert_allclose(layer.resid_post, layer.resid_mid + mlp_added, atol=1e-5)
    # What each sublayer adds has root mean square |γ|-sized whatever the sublayer's own scale.
    assert np.abs((attn_added ** 2).mean(-1) / (block.attn_norm.weight.detach().numpy() ** 2).mean() - 1).max() < 0.5


def test_post_sublayer_differs_from_pre_ln_with_the_same_weights():
    torch.manual_seed(0)
    sublayer = Transformer(TransformerConfig(**dict(LLAMA, norm="post_sublayer"))).eval()
    pre = Transformer(TransformerConfig(**dict(LLAMA, norm="pre"))).eval()
    pre.load_state_dict(sublayer.state_dict())
    a, b = sublayer.trace([1, 2, 3, 4]).layers[0], pre.trace([1, 2, 3, 4]).layers[0]
    assert np.abs(np.array(a.attn_in) - np.array(b.attn_in)).max() > 1e-3   # pre-LN normalises the input instead


def test_embed_scale_multiplies_the_token_rows_only():
    """Gemma: x = E_token[id] · √d_model (+ positions); the trace keeps the table's own rows."""
    torch.manual_seed(0)
    plain = Transformer(TransformerConfig(**dict(BASE, embed_norm=False))).eval()
    scaled = Transformer(TransformerConfig(**dict(BASE, embed_norm=False, embed_scale=math.sqrt(32)))).eval()
    scaled.load_state_dict(plain.state_dict())
    a, b = plain.trace([1, 2, 3]), scaled.trace([1, 2, 3])
    np.testing.assert_array_equal(a.token_embed, b.token_embed)
    np.testing.assert_allclose(b.embed, b.token_embed * math.sqrt(32) + np.array(b.pos_embed), atol=1e-5)
    assert np.abs(a.embed - b.embed).max() > 1e-2



def test_head_dim_wider_than_d_model_over_heads():
    """Qwen3-0.6B, gemma-7b: H heads of head_dim each, so W_Q gives H·head_dim numbers and W_O reads them back."""
    torch.manual_seed(0)
    config = TransformerConfig(**dict(LLAMA, d_model=30, head_dim=12, qk_norm="full"))   # 30 is not 4 · 12
    net = Transformer(config).eval()
    attention = net.blocks[0].attention
    assert config.d_head == 12 and config.d_attention == 48
    assert attention.query.weight.shape == (48, 30) and attention.key.weight.shape == (24, 30)
    assert attention.output.weight.shape == (30, 48) and attention.q_norm.weight.shape == (48,)
    assert count_parameters(config) == sum(p.numel() for p in net.parameters())
    layer = net.trace([1, 2, 3, 4]).layers[0]
    assert layer.q.shape == (4, 4, 12) and layer.heads_concat.shape == (4, 48) and layer.attn_out.shape == (4, 30)
    seen = np.tril(np.ones((4, 4), dtype=bool))                                # causal: the past only
    np.testing.assert_allclose(layer.scores[0][seen], (layer.q[0] @ layer.k[0].T / math.sqrt(12))[seen], atol=1e-5)


# -- Gemma 2 and 3: sandwich norms, soft-capping, ÷√query_pre_attn_scalar, sliding windows, local RoPE --

GEMMA2 = dict(LLAMA, norm="sandwich", attn_scale=24.0, attn_softcap=2.0, final_softcap=3.0,
              sliding_window=3, sliding_layers=(0,))


def test_sandwich_block_normalises_before_and_after_each_sublayer():
    torch.manual_seed(0)
    config = TransformerConfig(**GEMMA2)
    net = Transformer(config).eval()
    assert count_parameters(config) == sum(p.numel() for p in net.parameters())   # four norms a layer
    layer, block = net.trace([1, 2, 3, 4, 5]).layers[1], net.blocks[1]
    as_tensor = lambda a: torch.from_numpy(np.array(a))   # noqa: E731
    with torch.no_grad():
        np.testing.assert_allclose(layer.attn_in, block.attn_norm(as_tensor(layer.resid_pre)).numpy(), atol=1e-6)
        np.testing.assert_allclose(layer.mlp_in, block.mlp_norm(as_tensor(layer.resid_mid)).numpy(), atol=1e-6)
        attn_added = block.attn_out_norm(as_tensor(layer.attn_out)).numpy()
        mlp_added = block.mlp_out_norm(as_tensor(layer.mlp_out)).numpy()
    np.testing.assert_allclose(layer.resid_mid, layer.resid_pre + attn_added, atol=1e-5)
    np.testing.assert_allclose(layer.resid_post, layer.resid_mid + mlp_added, atol=1e-5)


def test_soft_capped_scores_and_logits_stay_within_the_caps():
    """scores = cap · tanh(q·kᵀ / √attn_scale / cap); logits = cap · tanh(logits / cap)."""
    torch.manual_seed(0)
    net = Transformer(TransformerConfig(**GEMMA2)).eval()
    with torch.no_grad():                      # big weights, so the caps bend the numbers
        for p in net.parameters():
            p.mul_(4.0)
    trace = net.trace(list(range(1, 9)))
    layer = trace.layers[1]
    seen = np.tril(np.ones((8, 8), dtype=bool))
    raw = layer.q[0] @ layer.k[0].T / math.sqrt(24.0)                          # head 0 reads k/v head 0
    np.testing.assert_allclose(layer.scores[0][seen], (2.0 * np.tanh(raw / 2.0))[seen], atol=1e-5)
    assert np.abs(raw[seen]).max() > 2.0 >= np.abs(layer.scores[0][seen]).max()
    logits = trace.logits
    assert np.abs(logits).max() <= 3.0
    uncapped = np.array(trace.final) @ net.unembedding().detach().numpy().T
    np.testing.assert_allclose(logits, 3.0 * np.tanh(uncapped / 3.0), atol=1e-5)


def test_sliding_layers_see_only_the_last_window_keys():
    torch.manual_seed(0)
    net = Transformer(TransformerConfig(**GEMMA2)).eval()
    trace = net.trace(list(range(1, 11)))
    i, j = np.indices((10, 10))
    band = (j <= i) & (j > i - 3)
    assert ((trace.layers[0].weights > 0) == band).all()                      # layer 0 slides
    assert ((trace.layers[1].weights > 0) == (j <= i)).all()                  # layer 1 sees the whole past
    np.testing.assert_array_equal(trace.attentions[0], trace.layers[0].weights)


def test_local_rope_base_turns_the_sliding_layers_only():
    """Gemma 3: sliding layers turn q and k with rope_local_theta, unscaled; global layers with rope_theta."""
    from core.rotary import RopeScaling

    config = TransformerConfig(**dict(LLAMA, sliding_window=3, sliding_layers=(0,), rope_local_theta=300.0,
                                      rope_theta=5000.0, rope_scaling="linear", rope_factor=4.0))
    net = Transformer(config).eval()
    local, global_ = net.blocks[0].attention, net.blocks[1].attention
    assert (local.rope_theta, local.rope_scaling) == (300.0, None)
    assert (global_.rope_theta, global_.rope_scaling) == (5000.0, RopeScaling.of(config))
    layer = net.trace([1, 2, 3, 4]).layers[0]
    turned = apply_rotary(torch.from_numpy(np.array(layer.q_raw)), torch.arange(4), 300.0).numpy()
    np.testing.assert_allclose(layer.q, turned, atol=1e-6)
