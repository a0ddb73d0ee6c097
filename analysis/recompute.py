"""The forward pass recomputed by hand, one arrow at a time, for the "inside the model" pages.

Each function takes the model's weights and a Trace and redoes one stretch of the chain
with plain numpy (float64, so our arithmetic adds no error of its own), starting from
the trace's own input of that stretch:

    x = attn_in                         (T, d_model)
    q, k, v = x · W + b, split into heads   (T, d_head) each; k, v per key/value head (grouped-query)
    q/k norm models: q and k RMS-normalised, per head (Qwen3) or over the whole projection (OLMo 2)
    RoPE models: q and k turned by position (pairs of dimensions rotated)
    dots_j = q_i · k_j;  scaled_j = dots_j / √d_head;  weights = softmax(scaled)
        (T5: scaled_j = dots_j + bias[bucket(j − i)], no ÷√d_head; the bias table is the stack's first layer's)
    head_out_i = Σ_j weights_j · v_j
    concat (T, d_model) · W_O + b_O = attn_out
    residual add, norm -> resid_mid;  feed-forward up (and gate), activation, down;  add, norm -> resid_post

Every family's switches are followed: LayerNorm or RMSNorm, pre-, post-norm, parallel or post-sublayer
(OLMo 2), q/k norm (Qwen3, OLMo 2), grouped-query
attention (query head h reads key/value head config.kv_head_of(h)), rotary positions (full or partial), a gated
(SwiGLU) feed-forward, GELU (exact or tanh), ReLU or SiLU, with or without biases. For an encoder–decoder
(T5) the pages' trace is its encoder's, so the blocks recomputed are the encoder's (pages_stack), with
T5's unscaled scores and relative position bias.

The mathematics itself (attention, rotation, norms, activations) is analysis/kernels.py, the
numpy twin of core/ that every recomputation shares; this file reads the weights and wires the
kernels the way the block does. The tests check every result against the trace, so the numbers
the pages show are the numbers the model computed. Weights are only read (detached copies), never changed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import NamedTuple, Optional

import numpy as np
import torch
from torch import nn

from core.attention import MultiHeadAttention, RelativePositionBias, relative_bucket
from core.config import TransformerConfig
from core.model import Transformer
from core.seq2seq import EncoderDecoder
from core.trace import Trace
from . import kernels
from .kernels import rotate  # noqa: F401  (the rotary figure's test turns vectors with it, from here)
from .vectors import unit_rows


# -- reading weights --------------------------------------------------------------------------
def _array(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy()


@dataclass(frozen=True)
class Affine:
    """y = x · W + b, with W stored (d_in, d_out) as a learner writes it (nn.Linear keeps Wᵀ)."""
    w: np.ndarray   # (d_in, d_out)
    b: np.ndarray   # (d_out,)

    @classmethod
    def of(cls, linear: nn.Linear, rows: slice = slice(None)) -> "Affine":
        """The linear layer, or only the output features `rows` of it (one head's slice).
        A layer without a bias (Llama) gets b = 0."""
        w = _array(linear.weight[rows]).T
        b = _array(linear.bias[rows]) if linear.bias is not None else np.zeros(w.shape[1])
        return cls(w, b)

    @property
    def has_bias(self) -> bool:
        return bool(np.any(self.b))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(x, dtype=np.float64) @ self.w + self.b


def apply_norm(x: np.ndarray, module: nn.Module) -> np.ndarray:
    """The model's normalisation module applied by the numpy kernel: LayerNorm (γ and β) or,
    for an RMSNorm (no β: Llama, Mistral, Qwen2), the RMS norm."""
    if isinstance(module, nn.LayerNorm):
        return kernels.layer_norm(x, _array(module.weight), _array(module.bias), module.eps)
    return kernels.rms_norm(x, _array(module.weight), module.eps)


def norm_name(config: TransformerConfig) -> str:
    """"LayerNorm" or "RMSNorm": the word the pages use for this model's normalisation."""
    return "RMSNorm" if config.norm_kind == "rmsnorm" else "LayerNorm"


ACTIVATION_NAMES = {"gelu": "GELU", "gelu_tanh": "GELU (tanh approximation)", "relu": "ReLU", "silu": "SiLU"}


def rope_angles(config: TransformerConfig, t: int, attention: Optional[MultiHeadAttention] = None) -> np.ndarray:
    """(T, d_rot/2) the rotary angles of positions 0..T-1 in this model (the one place that says which
    dimensions of a head turn: d_rot = d_head, or config.rotary_dims with partial rotary; the kernel's
    rotate leaves the dimensions after d_rot unturned). attention: one layer's, whose own base and
    scaling it reads (Gemma 3's sliding layers turn with another base); None: the config's."""
    theta = config.rope_theta if attention is None else attention.rope_theta
    scaling = config.rope_scaling if attention is None else getattr(attention.rope_scaling, "kind", None)
    factor = config.rope_factor if scaling == "linear" else 1.0
    return kernels.rope_angles(np.arange(t), config.rotated_dims, theta, factor)


# -- which blocks: a single stack's, or an encoder–decoder's encoder ---------------------------------
class Stack(NamedTuple):
    """The blocks the step pages recompute and what their self-attention reads besides its input."""
    blocks: nn.ModuleList
    bias: Optional[RelativePositionBias]   # T5: the stack's relative-position table (its first layer's)
    pad_id: Optional[int]                  # an encoder–decoder's encoder hides padding keys; None: no key hidden


def pages_stack(net: Transformer | EncoderDecoder) -> Stack:
    """A single-stack model's blocks; for an encoder–decoder (T5) its encoder's, whose Trace the pages
    read (ui/state.py trace_for): the encoder's self-attention sees every source token but padding."""
    if isinstance(net, EncoderDecoder):
        return Stack(net.encoder, net.encoder_bias, net.config.pad_id)
    return Stack(net.blocks, None, None)


def visible_keys(stack: Stack, trace: Trace, attention: MultiHeadAttention) -> np.ndarray:
    """(T, T) True where query i may look at key j: the causal triangle, a sliding window, padding."""
    allowed = kernels.allowed_keys(trace.causal, len(trace.tokens), attention.window)
    if stack.pad_id is not None:
        allowed = allowed & (np.asarray(trace.ids) != stack.pad_id)[None, :]
    return allowed


def relative_bias(table: RelativePositionBias, queries: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
    """T5's position bias for the given query positions and keys 0..T-1, read from the stack's table:
    (the bucket of each distance key − query (Q, T), each head's learned number for it (H, Q, T)). The
    buckets are cut by core's relative_bucket, the one copy of T5's rule."""
    distance = torch.arange(t)[None, :] - torch.as_tensor(np.asarray(queries))[:, None]        # (Q, T)
    buckets = relative_bucket(distance, table.bidirectional, table.n_buckets, table.max_distance).numpy()
    numbers = _array(table.buckets.weight)                                                      # (buckets, H)
    return buckets, numbers[buckets].transpose(2, 0, 1)                                         # (Q, T), (H, Q, T)


# -- one head, one query token -------------------------------------------------------------------
@dataclass(frozen=True)
class HeadSteps:
    layer: int
    head: int
    query: int                 # position of the query token
    x: np.ndarray              # (T, d_model)  the layer's attn_in
    w_q: Affine                # d_model -> d_head, this head's slice of W_Q
    w_k: Affine
    w_v: Affine
    q: np.ndarray              # (T, d_head)
    k: np.ndarray              # (T, d_head)
    v: np.ndarray              # (T, d_head)
    allowed: np.ndarray        # (T,)  keys the query may see
    dots: np.ndarray           # (T,)  q_i · k_j
    scale: float               # √d_head (1.0 in T5, which does not divide)
    scaled: np.ndarray         # (T,)  dots / √d_head (T5: dots + bias), -inf where hidden
    exps: np.ndarray           # (T,)  exp(scaled - max(scaled))
    weights: np.ndarray        # (T,)  exps / Σ exps
    head_out: np.ndarray       # (d_head,)  Σ_j weights_j · v_j
    kv_head: int = 0           # the key/value head this query head reads (itself without grouped-query)
    q_raw: Optional[np.ndarray] = None    # (T, d_head)  RoPE models: q before the rotation
    k_raw: Optional[np.ndarray] = None    # (T, d_head)  RoPE models: k before the rotation
    angles: Optional[np.ndarray] = None   # (T, d_rot/2)  RoPE models: the angle of each turned pair at each position
    bias: Optional[np.ndarray] = None     # (T,)  T5: this head's relative position bias for each key
    buckets: Optional[np.ndarray] = None  # (T,)  T5: the bucket of each key's distance key − query

    @property
    def d_head(self) -> int:
        return self.q.shape[1]

    def agreement(self, trace: Trace) -> dict[str, float]:
        """Largest difference from the model's own forward pass: scores, weights, output.
        Only the scores the mask allows are compared (hidden ones are −∞ on both sides)."""
        own = trace.layers[self.layer]
        scores = np.where(self.allowed, self.scaled, 0) - np.where(self.allowed, own.scores[self.head, self.query], 0)
        return {"scores": float(np.abs(scores).max()),
                "weights": float(np.abs(self.weights - own.weights[self.head, self.query]).max()),
                "output": float(np.abs(self.head_out - own.head_out[self.head, self.query]).max())}


def head_steps(net: Transformer, trace: Trace, layer: int, head: int, query: int) -> HeadSteps:
    config = net.config
    t, dh = len(trace.tokens), config.d_head
    kv = config.kv_head_of(head)
    rows, kv_rows = slice(head * dh, (head + 1) * dh), slice(kv * dh, (kv + 1) * dh)
    stack = pages_stack(net)
    attention = stack.blocks[layer].attention
    x = np.asarray(trace.layers[layer].attn_in, dtype=np.float64)       # (T, d_model)
    w_q = Affine.of(attention.query, rows)
    w_k, w_v = Affine.of(attention.key, kv_rows), Affine.of(attention.value, kv_rows)
    q, k, v = w_q(x), w_k(x), w_v(x)                                       # (T, d_head) each
    if config.qk_norm == "head":                                           # Qwen3: this head's vectors
        q, k = apply_norm(q, attention.q_norm), apply_norm(k, attention.k_norm)
    elif config.qk_norm == "full":                                         # OLMo 2: every head together
        q = apply_norm(Affine.of(attention.query)(x), attention.q_norm)[:, rows]       # (T, d_head)
        k = apply_norm(Affine.of(attention.key)(x), attention.k_norm)[:, kv_rows]      # (T, d_head)
    q_raw = k_raw = angles = None
    if config.positional == "rotary":
        angles = rope_angles(config, t, attention)                         # (T, d_head/2)
        q_raw, k_raw = q, k
        q, k = kernels.rotate(q_raw, angles), kernels.rotate(k_raw, angles)
    allowed = visible_keys(stack, trace, attention)[query]
    dots = k @ q[query]                                                    # (T,)  q_i · k_j for every j
    buckets = bias = None
    if stack.bias is not None:                                             # T5: the same table in every layer
        buckets, all_heads = relative_bias(stack.bias, np.array([query]), t)   # (1, T), (H, 1, T)
        buckets, bias = buckets[0], all_heads[head, 0]                     # (T,), (T,)
    scale = math.sqrt(dh if config.attn_scale is None else config.attn_scale) if attention.scaled else 1.0
    scaled = kernels.scaled_scores(q[query], k, allowed, config.attn_scale, config.attn_softcap,
                                   scaled=attention.scaled, bias=bias)     # (T,)  dots / √d_head, -inf where hidden
    exps, weights = kernels.softmax(scaled)
    head_out = weights @ v                                                 # (d_head,)
    return HeadSteps(layer, head, query, x, w_q, w_k, w_v, q, k, v, allowed, dots, scale,
                     scaled, exps, weights, head_out, kv, q_raw, k_raw, angles, bias, buckets)


def softmax_formula(steps: HeadSteps, key: int, limit: int = 6) -> str:
    """The softmax of one key written out with the numbers (plain text, no user text)."""
    terms = [f"e^{s:.2f}" for s in steps.scaled[steps.allowed][:limit]]
    more = int(steps.allowed.sum()) - len(terms)
    denominator = " + ".join(terms) + (f" + … ({more} more)" if more > 0 else "")
    shift = float(np.max(steps.scaled[steps.allowed]))
    return (f"weight[{key}] = e^{steps.scaled[key]:.2f} / ({denominator})\n"
            f"          = {math.exp(steps.scaled[key] - shift):.4f}·e^{shift:.2f} / "
            f"({steps.exps.sum():.4f}·e^{shift:.2f}) = {steps.weights[key]:.4f}")


# -- the whole layer, all tokens ------------------------------------------------------------------
@dataclass(frozen=True)
class LayerSteps:
    layer: int
    norm: str                  # the layout: "post" (BERT), "pre" (GPT), "parallel" (GPT-NeoX), "post_sublayer" (OLMo 2)
    resid_pre: np.ndarray      # (T, d_model)  the block's input
    attn_in: np.ndarray        # (T, d_model)
    q: np.ndarray              # (H, T, d_head)  rotated in RoPE models
    k: np.ndarray              # (H_kv, T, d_head)  one per key/value head; rotated in RoPE models
    v: np.ndarray              # (H_kv, T, d_head)
    scores: np.ndarray         # (H, T, T)  q·kᵀ/√d_head (T5: q·kᵀ + bias), -inf where hidden
    weights: np.ndarray        # (H, T, T)
    head_out: np.ndarray       # (H, T, d_head)
    heads_concat: np.ndarray   # (T, d_model)  heads side by side
    attn_out: np.ndarray       # (T, d_model)  concat · W_O + b_O
    attn_sum: np.ndarray       # (T, d_model)  resid_pre + attn_out (before the LayerNorm in post-LN;
                               #   post-sublayer: resid_pre + norm(attn_out))
    resid_mid: np.ndarray      # (T, d_model)
    mlp_in: np.ndarray         # (T, d_model)
    mlp_pre: np.ndarray        # (T, d_ff)  x · W_up + b_up (gated: x · W_gate, the gate before act)
    mlp_hidden: np.ndarray     # (T, d_ff)  after the activation (gated: act(gate) * up)
    mlp_out: np.ndarray        # (T, d_model)  hidden · W_down + b_down
    mlp_sum: np.ndarray        # (T, d_model)  resid_mid + mlp_out (post-sublayer: + norm(mlp_out))
    resid_post: np.ndarray     # (T, d_model)  the next layer's input
    mlp_up: Optional[np.ndarray] = None   # (T, d_ff)  gated feed-forward: x · W_up, multiplied by act(gate)

    def agreement(self, trace: Trace) -> dict[str, float]:
        """Largest difference from the model's own forward pass, relative to the largest value."""
        own = trace.layers[self.layer]
        pairs = {"concat": (self.heads_concat, own.heads_concat), "attn_out": (self.attn_out, own.attn_out),
                 "resid_mid": (self.resid_mid, own.resid_mid), "mlp_out": (self.mlp_out, own.mlp_out),
                 "resid_post": (self.resid_post, own.resid_post)}
        return {name: float(np.abs(ours - theirs).max() / max(1.0, np.abs(theirs).max()))
                for name, (ours, theirs) in pairs.items()}


def per_head(x: np.ndarray, n_heads: int) -> np.ndarray:
    """(T, d_model) -> (H, T, d_head): each head's slice of the dimensions."""
    t, d = x.shape
    return x.reshape(t, n_heads, d // n_heads).transpose(1, 0, 2)  # (H, T, d_head)


class AttentionSteps(NamedTuple):
    q: np.ndarray              # (H, T, d_head)  rotated in RoPE models
    k: np.ndarray              # (H_kv, T, d_head)
    v: np.ndarray              # (H_kv, T, d_head)
    scores: np.ndarray         # (H, T, T)
    weights: np.ndarray        # (H, T, T)
    head_out: np.ndarray       # (H, T, d_head)
    heads_concat: np.ndarray   # (T, d_model)
    attn_out: np.ndarray       # (T, d_model)


def attention_steps(attention: MultiHeadAttention, attn_in: np.ndarray, config: TransformerConfig,
                    allowed: np.ndarray, bias: Optional[np.ndarray] = None) -> AttentionSteps:
    """Every head of one attention layer on attn_in (T, d_model), with the numpy kernels; allowed (T, T):
    the keys each query may see; bias (H, T, T): T5's relative positions, added to the scores."""
    t = attn_in.shape[0]
    q, k, v = (Affine.of(lin)(attn_in) for lin in (attention.query, attention.key, attention.value))
    if config.qk_norm == "full":                                           # OLMo 2: before the split into heads
        q, k = apply_norm(q, attention.q_norm), apply_norm(k, attention.k_norm)
    q = per_head(q, config.n_heads)                                        # (H, T, d_head)
    k, v = per_head(k, config.kv_heads), per_head(v, config.kv_heads)      # (H_kv, T, d_head) each
    if config.qk_norm == "head":                                           # Qwen3: each head on its own
        q, k = apply_norm(q, attention.q_norm), apply_norm(k, attention.k_norm)
    if config.positional == "rotary":
        angles = rope_angles(config, t, attention)
        q, k = kernels.rotate(q, angles), kernels.rotate(k, angles)
    scores, weights, head_out = kernels.attend(q, k, v, allowed, config.attn_scale, config.attn_softcap,
                                               scaled=attention.scaled, bias=bias)   # (H, T, T), (H, T, d_head)
    heads_concat = head_out.transpose(1, 0, 2).reshape(t, config.d_attention)  # (T, H*d_head)
    return AttentionSteps(q, k, v, scores, weights, head_out, heads_concat, Affine.of(attention.output)(heads_concat))


class FeedForwardSteps(NamedTuple):
    mlp_pre: np.ndarray             # (T, d_ff)  x · W_up + b_up (gated: x · W_gate, the gate before act)
    mlp_hidden: np.ndarray          # (T, d_ff)  after the activation (gated: act(gate) * up)
    mlp_out: np.ndarray             # (T, d_model)
    mlp_up: Optional[np.ndarray]    # (T, d_ff)  gated only: x · W_up


def feed_forward_steps(mlp: nn.Module, mlp_in: np.ndarray, activation: str) -> FeedForwardSteps:
    """down(act(up(x))), or gated: down(act(gate(x)) * up(x)), with the numpy kernels."""
    if mlp.gate is None:
        mlp_pre, mlp_up = Affine.of(mlp.up)(mlp_in), None
        mlp_hidden = kernels.ACTIVATIONS[activation](mlp_pre)
    else:
        mlp_pre, mlp_up = Affine.of(mlp.gate)(mlp_in), Affine.of(mlp.up)(mlp_in)
        mlp_hidden = kernels.swiglu(mlp_pre, mlp_up, activation)
    return FeedForwardSteps(mlp_pre, mlp_hidden, Affine.of(mlp.down)(mlp_hidden), mlp_up)


def layer_steps(net: Transformer, trace: Trace, layer: int) -> LayerSteps:
    """Recompute block `layer` from its input trace.layers[layer].resid_pre (an encoder–decoder's: its
    encoder's block, see pages_stack)."""
    config = net.config
    stack = pages_stack(net)
    block = stack.blocks[layer]
    pre_ln = config.norm in ("pre", "parallel", "sandwich")   # these normalise before each sublayer
    sublayer = config.norm == "post_sublayer"            # OLMo 2: the norm on each sublayer's output
    # Sandwich (Gemma 2, 3): a second norm on each sublayer's output, besides the one on its input.
    attn_out_norm, mlp_out_norm = block.attn_out_norm, block.mlp_out_norm
    x = np.asarray(trace.layers[layer].resid_pre, dtype=np.float64)       # (T, d_model)
    # The block's wiring: where the norms sit and what the residual adds; the attention and the
    # feed-forward stay as they are whatever the layout.
    attn_in = apply_norm(x, block.attn_norm) if pre_ln else x
    t = len(trace.tokens)
    bias = relative_bias(stack.bias, np.arange(t), t)[1] if stack.bias is not None else None   # (H, T, T)
    a = attention_steps(block.attention, attn_in, config, visible_keys(stack, trace, block.attention), bias)
    attn_sum = x + (apply_norm(a.attn_out, block.attn_norm) if sublayer else
                    apply_norm(a.attn_out, attn_out_norm) if attn_out_norm is not None else a.attn_out)
    resid_mid = attn_sum if pre_ln or sublayer else apply_norm(attn_sum, block.attn_norm)
    # Parallel (GPT-NeoX): the feed-forward reads the layer input, beside attention, not resid_mid.
    mlp_in = apply_norm(x if config.norm == "parallel" else resid_mid, block.mlp_norm) if pre_ln else resid_mid
    f = feed_forward_steps(block.mlp, mlp_in, config.activation)
    mlp_sum = resid_mid + (apply_norm(f.mlp_out, block.mlp_norm) if sublayer else
                           apply_norm(f.mlp_out, mlp_out_norm) if mlp_out_norm is not None else f.mlp_out)
    resid_post = mlp_sum if pre_ln or sublayer else apply_norm(mlp_sum, block.mlp_norm)
    return LayerSteps(layer, config.norm, x, attn_in, a.q, a.k, a.v, a.scores, a.weights, a.head_out,
                      a.heads_concat, a.attn_out, attn_sum, resid_mid, mlp_in, f.mlp_pre, f.mlp_hidden,
                      f.mlp_out, mlp_sum, resid_post, f.mlp_up)


def top_neurons(hidden_row: np.ndarray, k: int = 10) -> list[tuple[int, float]]:
    """The k feed-forward neurons with the largest activation for one token."""
    hidden_row = np.asarray(hidden_row)
    order = np.argsort(-hidden_row, kind="stable")[:k]
    return [(int(i), float(hidden_row[i])) for i in order]


# -- embeddings -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddingSteps:
    token_embed: np.ndarray          # (T, d_model)  rows of the token table picked by id
    pos_embed: np.ndarray            # (T, d_model)
    type_embed: np.ndarray | None    # (T, d_model)  segment A for every token
    summed: np.ndarray               # (T, d_model)  token · embed_scale + position (+ segment)
    embed: np.ndarray                # (T, d_model)  after the LayerNorm (BERT) = layer 0's input

    def agreement(self, trace: Trace) -> float:
        """Largest difference from the model's own layer-0 input."""
        return float(np.abs(self.embed - trace.embed).max())


def embedding_steps(net: Transformer, trace: Trace) -> EmbeddingSteps:
    emb = net.embeddings
    ids = np.asarray(trace.ids)
    t = len(ids)
    token = _array(emb.token.weight[torch.as_tensor(ids)])                # (T, d_model)
    if net.config.positional == "learned":                                # RoBERTa counts from pad_id + 1
        pos = _array(emb.position.weight[emb.position_ids(torch.as_tensor(ids)[None])[0]])
    elif net.config.positional == "sinusoidal":
        pos = _array(emb.sinusoid[:t])
    else:                                                                  # rotary or none: nothing added
        pos = np.zeros_like(token)
    summed = token * net.config.embed_scale + pos                         # Gemma scales the rows by √d_model
    segment = None
    if emb.segment is not None:
        segment = np.repeat(_array(emb.segment.weight[:1]), t, axis=0)    # (T, d_model) all segment 0
        summed = summed + segment
    embed = apply_norm(summed, emb.norm) if emb.norm is not None else summed
    return EmbeddingSteps(token, pos, segment, summed, embed)


def position_table(net: Transformer, n: int) -> Optional[np.ndarray]:
    """(n, d_model) the rows the first n positions read from the learned table (after RoBERTa's
    offset), or the sinusoid; None for rotary or no positions (nothing is added to the tokens)."""
    emb, config = net.embeddings, net.config
    n = min(n, config.n_positions)
    if config.positional == "learned":
        first = config.position_offset
        return _array(emb.position.weight[first:first + n])
    if config.positional == "sinusoidal":
        return _array(emb.sinusoid[:n])
    return None


def cosine_matrix(rows: np.ndarray) -> np.ndarray:
    """(n, n) cosine similarity of every row with every other."""
    unit = unit_rows(rows)
    return unit @ unit.T


# -- parameter counts -----------------------------------------------------------------------------
@dataclass(frozen=True)
class ParamCount:
    step: str          # what the weights do
    shape: str         # e.g. "W 384×384 + b 384"
    count: int
    part: str = "attention"   # "attention", "norm" or "feed-forward"


def layer_parameter_counts(net: Transformer, layer: int = 0) -> list[ParamCount]:
    """Every weight of one block, counted from the tensors themselves, in the order the block uses them."""
    config = net.config
    block = pages_stack(net).blocks[layer]
    a = block.attention
    norm = norm_name(config)
    where = {"post": "after", "post_sublayer": "on the output of"}.get(config.norm, "before")
    kv = " (shared by a group of query heads)" if config.kv_heads < config.n_heads else ""
    attn_norm = [(f"{norm} {where} attention", block.attn_norm, "norm")]
    mlp_norm = [(f"{norm} {where} feed-forward", block.mlp_norm, "norm")]
    ffn = ([("feed-forward gate (W_gate)", block.mlp.gate, "feed-forward")] if block.mlp.gate is not None else []) + \
        [("feed-forward up (W_up)", block.mlp.up, "feed-forward"),
         ("feed-forward down (W_down)", block.mlp.down, "feed-forward")]
    attention = [("W_Q (query)", a.query, "attention"), (f"W_K (key){kv}", a.key, "attention"),
                 (f"W_V (value){kv}", a.value, "attention"), ("W_O (output)", a.output, "attention")]
    if a.q_norm is not None:     # Qwen3 (per head), OLMo 2 (whole projection): RMSNorm on q and k before RoPE
        over = "each head's" if config.qk_norm == "head" else "all heads'"
        attention[3:3] = [(f"q norm ({norm} over {over} queries)", a.q_norm, "norm"),
                          (f"k norm ({norm} over {over} keys)", a.k_norm, "norm")]
    if config.norm == "sandwich":        # Gemma 2, 3: a norm on each sublayer's output too
        parts = (attn_norm + attention + [(f"{norm} on the output of attention", block.attn_out_norm, "norm")]
                 + mlp_norm + ffn + [(f"{norm} on the output of feed-forward", block.mlp_out_norm, "norm")])
    else:
        parts = ((attention + attn_norm + ffn + mlp_norm) if config.norm in ("post", "post_sublayer")
                 else (attn_norm + attention + mlp_norm + ffn))
    out = []
    for step, module, part in parts:
        w, b = module.weight, getattr(module, "bias", None)
        shape = ("γ " if w.dim() == 1 else "W ") + "×".join(str(s) for s in reversed(w.shape))
        if b is not None:
            shape += (" + β " if w.dim() == 1 else " + b ") + str(b.shape[0])
        out.append(ParamCount(step, shape, count_weights(w, b), part))
    return out


def count_weights(*tensors: Optional[torch.Tensor]) -> int:
    """How many numbers the given tensors hold (None, a missing bias, holds none): every count on
    the step pages is made by this function from real tensors, never by a formula of our own
    (core/budget.py's formula, used before a model is loaded, is checked against these counts in
    tests/test_steps.py)."""
    return sum(int(t.numel()) for t in tensors if t is not None)


def attention_parameters(config: TransformerConfig) -> dict[str, int]:
    """Parameters of a multi-head attention with config.n_heads heads and with one head of
    full width, counted on real (empty, meta-device) modules: splitting into heads slices
    W_Q, W_K, W_V into H column blocks of d_head; it adds no weights and removes none."""
    with torch.device("meta"):
        heads = MultiHeadAttention(config)
        # the one full-width head is plain: its own keys and values (n_kv_heads = None)
        full = MultiHeadAttention(replace(config, n_heads=1, n_kv_heads=None, head_dim=None))
    rows = slice(0, config.d_head)                                          # one head's output features

    def one_head(linear: nn.Linear) -> int:                                 # one head's slice of W (and b)
        return count_weights(linear.weight[rows], None if linear.bias is None else linear.bias[rows])

    # Without grouped-query attention: H heads × (W_Q, W_K, W_V slices) + W_O. With it: H query
    # slices, but only H_kv key and value slices.
    return {"multi_head": count_weights(*heads.parameters()), "one_full_head": count_weights(*full.parameters()),
            "per_head_qkv": sum(one_head(lin) for lin in (heads.query, heads.key, heads.value)),
            "per_head_q": one_head(heads.query), "per_kv_head": one_head(heads.key) + one_head(heads.value),
            "kv_heads": config.kv_heads, "output": count_weights(*heads.output.parameters())}
