"""Multi-head attention, written out step by step.

    scores  = q · kᵀ / √d_head          (masked positions set to -inf)
    weights = softmax(scores)            each query row sums to 1
    out     = weights · v                per head, then heads concatenated and W_O

Never a fused kernel: the weights are the thing this app exists to show.
Tensors carry a leading batch dimension B; a trace uses B = 1.

q/k norm (Qwen3, OLMo 2; config.qk_norm): q and k are RMS-normalised right after W_Q and W_K,
before RoPE: per head over d_head (Qwen3), or over the whole projection before the split (OLMo 2).
The trace's q_raw and k_raw are these normalised vectors, before the rotation.

T5 (config.positional == "relative", config.scale_attention False): scores = q · kᵀ + bias, with no
√d_head, where bias[h, i, j] is a learned number of head h for the bucket of the distance j − i
(RelativePositionBias below). The first layer owns the table and every layer of the stack adds the
same bias; the cross-attention adds none.

Grouped-query attention (Llama 2 70B, Mistral, Qwen2): there are fewer key/value heads
than query heads, and each key/value head is shared by a group of consecutive query
heads (query head h reads key/value head h // group). Scores and weights still have one
row per query head; only k and v are smaller.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple, Optional

import torch
from torch import nn

from .config import TransformerConfig
from .norms import RMSNorm
from .rotary import RopeScaling, rotary_angles, turn


def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, T, d_model) -> (B, H, T, d_head): each head gets its own slice of dimensions."""
    b, t, d = x.shape
    return x.view(b, t, n_heads, d // n_heads).transpose(1, 2)  # (B, H, T, d_head)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d_head) -> (B, T, d_model): the heads' outputs side by side."""
    b, h, t, dh = x.shape
    return x.transpose(1, 2).reshape(b, t, h * dh)  # (B, T, H*d_head)


@functools.lru_cache(maxsize=2)
def causal_mask(t_q: int, t_k: int, device=None) -> torch.Tensor:
    """(T_q, T_k) bool, True where a query may look: itself and the past.

    Shared between calls (every layer and every recomputed head of a text reads the same triangle;
    building it took longer than one head's masking at 4,096 tokens): never write into it. Made outside
    inference mode, so a training step or a gradient may read the mask a trace made first."""
    with torch.inference_mode(False):
        return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)


def window_mask(t_q: int, t_k: int, window: int, device=None) -> torch.Tensor:
    """(T_q, T_k) bool, True where a key is among the last `window` positions up to the query
    (itself included): key j > query i − window, as transformers' sliding_window_overlay. With the
    causal mask it leaves a band of `window` keys."""
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).triu(diagonal=t_k - t_q - window + 1)


def soft_cap(x: torch.Tensor, cap: Optional[float]) -> torch.Tensor:
    """cap · tanh(x / cap): about x while |x| is well below cap, never beyond ±cap (Gemma 2). None: x."""
    return x if cap is None else torch.tanh(x / cap) * cap


@dataclass(frozen=True)
class KnockOut:
    """Heads knocked out in one layer: their outputs replaced before W_O reads them.

    heads: (B, H) bool, True for a head knocked out in that batch row (one sentence may be run
    many times at once, each row with other heads out). mode "zero" replaces the head's output
    with zeros; "mean" with its mean over the sentence's positions (the head still adds its
    average, but no longer says anything about which token is which).
    """
    heads: torch.Tensor
    mode: str = "zero"

    def __post_init__(self) -> None:
        if self.mode not in ("zero", "mean"):
            raise ValueError(f"mode must be 'zero' or 'mean', got {self.mode!r}.")

    def apply(self, head_out: torch.Tensor) -> torch.Tensor:
        """head_out (B, H, T, d_head) -> the same with the knocked-out heads replaced (a new tensor)."""
        off = self.heads[:, :, None, None].to(head_out.device)           # (B, H, 1, 1)
        if self.mode == "zero":
            replacement = torch.zeros_like(head_out)
        else:
            replacement = head_out.mean(dim=2, keepdim=True).expand_as(head_out)   # (B, H, T, d_head)
        return torch.where(off, replacement, head_out)


@dataclass(frozen=True)
class Patch:
    """Activations of another run (the clean one) written into one block of this run.

    where: site -> bool mask of the places replaced, one row per batch row (one sentence may be
    run many times at once, each row patched somewhere else): "resid_pre", "attn_out" and
    "mlp_out" (B, T); "head_out" (B, H, T). clean: site -> the value written there, (1, T, d_model)
    or, for "head_out", (1, H, T, d_head). See analysis/patching.py.
    """
    where: dict
    clean: dict

    def apply(self, site: str, x: torch.Tensor) -> torch.Tensor:
        """x with the clean values at the places `where[site]` marks (x itself if none)."""
        if site not in self.where:
            return x
        mask = self.where[site].to(x.device)
        mask = mask[..., None]                                   # (B, T, 1) or (B, H, T, 1)
        return torch.where(mask, self.clean[site].to(x.dtype), x)


class AttentionResult(NamedTuple):
    q: torch.Tensor          # (B, H, T_q, d_head)  rotated by position with RoPE (its first rotary_dims)
    k: torch.Tensor          # (B, H_kv, T_k, d_head)  H_kv = H unless grouped-query; rotated with RoPE
    v: torch.Tensor          # (B, H_kv, T_k, d_head)
    scores: torch.Tensor     # (B, H, T_q, T_k)
    weights: torch.Tensor    # (B, H, T_q, T_k)
    head_out: torch.Tensor   # (B, H, T_q, d_head)
    attn_out: torch.Tensor   # (B, T_q, d_model)  (W_O maps H·d_head back to d_model)
    q_raw: Optional[torch.Tensor] = None   # (B, H, T_q, d_head)  before the rotation (RoPE only)
    k_raw: Optional[torch.Tensor] = None   # (B, H_kv, T_k, d_head)  before the rotation (RoPE only)


class Scratch:
    """Memory that one forward pass's layers reuse for their scores and weights, (B, H, T_q, T_k) each.

    A fresh T × T tensor per layer costs the kernel a page fault for every 4 KB it first writes (at 512
    tokens that made softmax three times slower than on memory already touched), while one layer's
    scores and weights are let go before the next layer runs anyway. Only for a pass that keeps no
    layer's scores or weights once the layer is done (a trace's forward keeps summaries of them);
    made for one call, never stored on a module (one cached model serves every session)."""

    def __init__(self):
        self.scores: Optional[torch.Tensor] = None
        self.weights: Optional[torch.Tensor] = None

    def buffers(self, shape: tuple, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Two buffers of this shape, like `like`'s dtype and device: the last ones when they fit."""
        if self.scores is None or self.scores.shape != shape or self.scores.dtype != like.dtype \
                or self.scores.device != like.device:
            self.scores = self.weights = None                 # let the old pair go before the new one
            self.scores = torch.empty(shape, dtype=like.dtype, device=like.device)
            self.weights = torch.empty(shape, dtype=like.dtype, device=like.device)
        return self.scores, self.weights


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
           allowed: Optional[torch.Tensor] = None, bias: Optional[torch.Tensor] = None, *, scaled: bool = True,
           scale: Optional[float] = None, softcap: Optional[float] = None, scratch: Optional[Scratch] = None):
    """Scaled dot-product attention: q (B, H, T_q, d_head); k, v (B, H_kv, T_k, d_head).
    scale: the scores' divisor's square (Gemma 2's query_pre_attn_scalar), d_head when None;
    softcap: scores <- cap · tanh(scores / cap) before the mask (Gemma 2), none when None.

    H_kv may divide H (grouped-query attention): query head h then reads k/v head h // (H / H_kv).
    allowed: bool, broadcastable to (B, H, T_q, T_k); False hides a key from a query.
    bias: broadcastable to (B, H, T_q, T_k), added to the scores (T5's relative positions).
    scale: divide q·kᵀ by √d_head (every family but T5).
    scratch: the scores and weights are written into its buffers (a trace's forward pass), not new ones.
    Returns (scores, weights, head_out), each with all H query heads.
    """
    b, h, t_q, d_head = q.shape
    h_kv = k.shape[1]
    if h_kv != h:
        # Group the query heads by the key/value head they share. For q·kᵀ each key head is copied
        # to its group (T_k × d_head numbers, as transformers' repeat_kv): matmul then reads k
        # transposed in place, which is faster than the contiguous kᵀ a broadcast would build. The
        # weights read v by broadcasting, without a copy.
        group = h // h_kv
        k = k[:, :, None].expand(b, h_kv, group, *k.shape[2:]).reshape(b, h, *k.shape[2:])   # (B, H, T_k, d_head)
        v = v[:, :, None]                                   # (B, H_kv, 1, T_k, d_head)
    # The scale goes on q (T_q × d_head numbers) rather than on the scores (T_q × T_k): at 4,096
    # tokens a pass over one head's scores costs more than the whole of q. Equal to dividing the
    # product within rounding (exactly, when √d_head is a power of two).
    if scaled:                               # Gemma 2's scale as the reference: a product by scale^-0.5
        q = q * (d_head ** -0.5 if scale is None else scale ** -0.5)
    scores_out = weights_out = None
    if scratch is not None:
        scores_out, weights_out = scratch.buffers((b, h, t_q, k.shape[2]), q)
    scores = torch.matmul(q, k.transpose(-2, -1), out=scores_out)           # (B, H, T_q, T_k)
    if bias is not None:
        scores = scores.add_(bias)
    scores = soft_cap(scores, softcap)
    if allowed is not None:
        scores = scores.masked_fill_(~allowed, float("-inf"))
    weights = torch.softmax(scores, dim=-1, out=weights_out)
    # A query that may see nothing (all keys padding) would give NaN; give it zeros. Its row is NaN from
    # the first key on, so one column says whether to look at the mask at all (a causal mask: never).
    if allowed is not None and bool(weights[..., :1].isnan().any()):
        blind = ~allowed.any(dim=-1, keepdim=True)                             # (…, T_q, 1)
        weights = weights.masked_fill_(blind, 0.0)
    if h_kv != h:
        head_out = torch.matmul(weights.view(b, h_kv, h // h_kv, t_q, -1), v)  # (B, H_kv, group, T_q, d_head)
        return scores, weights, head_out.view(b, h, t_q, d_head)              # (B, H, T_q, d_head)
    head_out = torch.matmul(weights, v)  # (B, H, T_q, d_head)
    return scores, weights, head_out


def relative_bucket(distance: torch.Tensor, bidirectional: bool, n_buckets: int, max_distance: int) -> torch.Tensor:
    """T5's bucket of each distance key − query (a tensor of whole numbers), as Mesh TensorFlow cut them.

    Bidirectional (the encoder): half the buckets for keys before the query, half for keys after.
    Causal (the decoder): keys after the query are never seen, so every bucket is for the past.
    Within one direction, the first half of the buckets are the distances 0, 1, 2, ... one each; the
    other half cover max_exact .. max_distance in logarithmically wider steps; farther is the last bucket.
    """
    bucket = torch.zeros_like(distance)
    if bidirectional:
        n_buckets //= 2
        bucket += (distance > 0).long() * n_buckets            # keys after the query: the upper half
        distance = distance.abs()
    else:
        distance = -torch.clamp(distance, max=0)               # how far back the key is (the future: 0)
    max_exact = n_buckets // 2
    far = max_exact + (torch.log(distance.float() / max_exact) / math.log(max_distance / max_exact)
                       * (n_buckets - max_exact)).long()
    far = torch.clamp(far, max=n_buckets - 1)
    return bucket + torch.where(distance < max_exact, distance, far)


class RelativePositionBias(nn.Module):
    """T5's positions: a learned number per head for each bucket of the distance key − query, added
    to the scores. One table per stack (the first layer's, in T5's checkpoints), shared by every layer."""

    def __init__(self, config: TransformerConfig, bidirectional: bool):
        super().__init__()
        self.bidirectional = bidirectional
        self.n_buckets, self.max_distance = config.relative_buckets, config.relative_max_distance
        self.buckets = nn.Embedding(config.relative_buckets, config.n_heads)   # (buckets, H)

    def forward(self, t_q: int, t_k: int) -> torch.Tensor:
        """(1, H, T_q, T_k) bias for every query and key."""
        device = self.buckets.weight.device
        distance = torch.arange(t_k, device=device)[None, :] - torch.arange(t_q, device=device)[:, None]  # (T_q, T_k)
        bucket = relative_bucket(distance, self.bidirectional, self.n_buckets, self.max_distance)
        return self.buckets(bucket).permute(2, 0, 1)[None]                   # (1, H, T_q, T_k)


class MultiHeadAttention(nn.Module):
    """W_Q, W_K, W_V, (RoPE on q and k), the explicit attention above, W_O."""

    def __init__(self, config: TransformerConfig, layer: int = 0):
        super().__init__()
        self.scaled = config.scale_attention                 # ÷ √d_head (all but T5)
        self.n_heads = config.n_heads
        self.n_kv_heads = config.kv_heads
        self.rope_theta = config.rope_theta if config.positional == "rotary" else None
        self.rotary_dims = config.rotated_dims               # all of d_head, or fewer (partial rotary)
        self.rope_scaling = RopeScaling.of(config)
        # Sliding-window layers (Gemma 2, 3) see only the latest `window` keys; Gemma 3 turns them
        # with their own RoPE base and no scaling.
        self.window = config.window_of(layer)
        if self.window is not None and config.rope_local_theta is not None and self.rope_theta is not None:
            self.rope_theta, self.rope_scaling = config.rope_local_theta, None
        self.scale, self.softcap = config.attn_scale, config.attn_softcap
        d, d_q, d_kv = config.d_model, config.d_attention, config.kv_heads * config.d_head
        self.query = nn.Linear(d, d_q, bias=config.qkv_bias)
        self.key = nn.Linear(d, d_kv, bias=config.qkv_bias)
        self.value = nn.Linear(d, d_kv, bias=config.qkv_bias)
        self.output = nn.Linear(d_q, d, bias=config.bias)
        # q/k norm (Qwen3: per head, over d_head; OLMo 2: over the whole projection): None without.
        self.qk_norm = config.qk_norm
        self.q_norm = self.k_norm = None
        if config.qk_norm is not None:
            per_head = config.qk_norm == "head"
            self.q_norm = RMSNorm(config.d_head if per_head else d_q, config.eps)
            self.k_norm = RMSNorm(config.d_head if per_head else d_kv, config.eps)

    def forward(self, x: torch.Tensor, source: Optional[torch.Tensor] = None,
                allowed: Optional[torch.Tensor] = None,
                positions: Optional[torch.Tensor] = None,
                knock_out: Optional["KnockOut"] = None,
                patch: Optional[Patch] = None, bias: Optional[torch.Tensor] = None,
                scratch: Optional[Scratch] = None) -> AttentionResult:
        """x: (B, T_q, d_model) queries; source: (B, T_k, d_model) keys/values (x itself if None).

        positions: (T,) token positions, used only by rotary models (self-attention).
        bias: (1, H, T_q, T_k) added to the scores (T5's relative positions), or None.
        knock_out: heads whose output is replaced (zero or its mean) before W_O reads it.
        patch: heads' outputs replaced by another run's before W_O reads them ("head_out").
        scratch: reusable memory for the scores and weights (see Scratch), or None for new tensors.
        """
        source = x if source is None else source
        q, k = self.query(x), self.key(source)                # (B, T_q, H*d_head), (B, T_k, H_kv*d_head)
        if self.qk_norm == "full":                            # OLMo 2: all heads normalised together
            q, k = self.q_norm(q), self.k_norm(k)
        q = split_heads(q, self.n_heads)                      # (B, H, T_q, d_head)
        k = split_heads(k, self.n_kv_heads)                   # (B, H_kv, T_k, d_head)
        if self.qk_norm == "head":                            # Qwen3: each head's vector on its own
            q, k = self.q_norm(q), self.k_norm(k)
        v = split_heads(self.value(source), self.n_kv_heads)  # (B, H_kv, T_k, d_head)
        q_raw = k_raw = None
        if self.rope_theta is not None:
            if positions is None:
                positions = torch.arange(x.shape[1], device=x.device)
            q_raw, k_raw = q, k
            angles = rotary_angles(positions, self.rotary_dims, self.rope_theta,
                                   self.rope_scaling)                  # (T, d_rot/2), once for q and k
            cos, sin = angles.cos(), angles.sin()
            q = turn(q_raw, cos, sin)                                  # (B, H, T, d_head)
            k = turn(k_raw, cos, sin)                                  # (B, H_kv, T, d_head)
        if self.window is not None:
            band = window_mask(q.shape[2], k.shape[2], self.window, q.device)   # (T_q, T_k)
            allowed = band if allowed is None else allowed & band
        scores, weights, head_out = attend(q, k, v, allowed, bias, scaled=self.scaled, scale=self.scale,
                                           softcap=self.softcap, scratch=scratch)
        if knock_out is not None:
            head_out = knock_out.apply(head_out)
        if patch is not None:
            head_out = patch.apply("head_out", head_out)
        attn_out = self.output(merge_heads(head_out))         # (B, T_q, d_model)
        return AttentionResult(q, k, v, scores, weights, head_out, attn_out, q_raw, k_raw)

    def one_head(self, x: torch.Tensor, head: int, allowed: Optional[torch.Tensor] = None,
                 positions: Optional[torch.Tensor] = None, knock_out: Optional["KnockOut"] = None,
                 patch: Optional[Patch] = None, bias: Optional[torch.Tensor] = None) -> AttentionResult:
        """Self-attention of query head `head` alone, as `forward` computes it: a page that shows one
        head of a long text pays for one T×T matrix instead of H. Each field has one head, (B, 1, …);
        attn_out is None (W_O reads every head).

        The projections run whole, by the same kernels on the same shapes as `forward`, and are then
        sliced: q, k, v equal the forward pass's bit for bit; RoPE and the q/k norms act row by row."""
        kv = head // (self.n_heads // self.n_kv_heads)        # the key/value head this query head reads
        one, kv_one = slice(head, head + 1), slice(kv, kv + 1)
        q, k = self.query(x), self.key(x)                     # (B, T, H*d_head), (B, T, H_kv*d_head)
        if self.qk_norm == "full":                            # OLMo 2 normalises every head together
            q, k = self.q_norm(q), self.k_norm(k)
        q = split_heads(q, self.n_heads)[:, one]              # (B, 1, T, d_head)
        k = split_heads(k, self.n_kv_heads)[:, kv_one]        # (B, 1, T, d_head)
        if self.qk_norm == "head":
            q, k = self.q_norm(q), self.k_norm(k)
        v = split_heads(self.value(x), self.n_kv_heads)[:, kv_one]   # (B, 1, T, d_head)
        q_raw = k_raw = None
        if self.rope_theta is not None:
            if positions is None:
                positions = torch.arange(x.shape[1], device=x.device)
            q_raw, k_raw = q, k
            angles = rotary_angles(positions, self.rotary_dims, self.rope_theta, self.rope_scaling)
            cos, sin = angles.cos(), angles.sin()
            q, k = turn(q_raw, cos, sin), turn(k_raw, cos, sin)          # (B, 1, T, d_head)
        if self.window is not None:                           # Gemma's sliding layers, as in forward
            band = window_mask(q.shape[2], k.shape[2], self.window, q.device)   # (T_q, T_k)
            allowed = band if allowed is None else allowed & band
        if bias is not None and bias.shape[1] > 1:            # T5's relative bias: this head's row
            bias = bias[:, one]                                # (1, 1, T, T)
        scores, weights, head_out = attend(q, k, v, allowed, bias, scaled=self.scaled, scale=self.scale,
                                           softcap=self.softcap)
        if knock_out is not None:
            head_out = KnockOut(knock_out.heads[:, one], knock_out.mode).apply(head_out)
        if patch is not None and "head_out" in patch.where:
            mask = patch.where["head_out"][:, one, :, None].to(head_out.device)       # (B, 1, T, 1)
            head_out = torch.where(mask, patch.clean["head_out"][:, one].to(head_out.dtype), head_out)
        return AttentionResult(q, k, v, scores, weights, head_out, None, q_raw, k_raw)
