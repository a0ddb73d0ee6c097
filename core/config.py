"""The shape of a transformer, in one frozen record.

Every module in core reads its sizes from a TransformerConfig; nothing else
decides a dimension. Frozen, so a cached model's config can be shared safely.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, Optional

POSITIONAL = ("learned", "sinusoidal", "rotary", "relative", "none")
# Where the sinusoids' sin and cos columns sit: interleaved (sin, cos, sin, cos, ...: the paper's
# layout) or halves (every sin first, then every cos: Marian's).
SINUSOID_LAYOUTS = ("interleaved", "halves")
NORMS = ("layernorm", "rmsnorm")
ACTIVATIONS = ("gelu", "relu", "gelu_tanh", "silu")
MLPS = ("standard", "gated")
# Where the norms sit and how a block joins its two sublayers (see core/blocks.py).
LAYOUTS = ("post", "pre", "parallel", "post_sublayer", "sandwich")
# RMSNorm on the queries and keys before RoPE: over each head's d_head dimensions (Qwen3) or over
# the whole query / key projection before it is split into heads (OLMo 2).
QK_NORMS = (None, "head", "full")


# Far above any model this app can hold in memory; a config beyond them is damaged or hostile.
SIZE_LIMITS = {"vocab_size": 10_000_000, "d_model": 65_536, "n_heads": 1_024, "n_layers": 1_024,
               "d_ff": 1_048_576, "max_positions": 1_048_576}


@dataclass(frozen=True)
class TransformerConfig:
    vocab_size: int                 # rows of the token embedding table
    d_model: int                    # width of the residual stream (384 for MiniLM)
    n_heads: int                    # attention heads per layer; each gets d_model // n_heads dims
    n_layers: int                   # number of blocks stacked
    d_ff: int                       # hidden width of the feed-forward (usually 4 * d_model)
    max_positions: int              # longest sequence the position table covers
    # How a token learns where it is: a learned table (BERT, GPT-2), the fixed sinusoids of the
    # original paper, rotary (RoPE: q and k are rotated by position inside attention; Llama), relative
    # (T5: a learned bias per head and distance bucket added to every score; nothing added to the tokens), or none.
    positional: Literal["learned", "sinusoidal", "rotary", "relative", "none"] = "learned"
    # The block's layout: post-LN is BERT; pre-LN is GPT-2 and Llama; parallel is GPT-NeoX (Pythia),
    # where attention and the feed-forward both read the block's input and both outputs are added;
    # post_sublayer is OLMo 2, where each sublayer's output is normalised before the residual add.
    # (Named `norm` since before the parallel layout, so that saved models' configs still load.)
    # sandwich is Gemma 2 and 3: a norm before *and* after each sublayer, mid = x + LN2(Attn(LN1(x))).
    norm: Literal["post", "pre", "parallel", "post_sublayer", "sandwich"] = "post"
    # gelu is exact (erf, BERT); gelu_tanh is GPT-2's tanh approximation ("gelu_new"); silu is Llama's.
    activation: Literal["gelu", "relu", "gelu_tanh", "silu"] = "gelu"
    eps: float = 1e-12              # norm epsilon (BERT: 1e-12; GPT-2: 1e-5; Llama: 1e-5 or 1e-6)
    type_vocab_size: int = 0        # segment (sentence A/B) embeddings; 0 = none
    embed_norm: bool = True         # BERT normalises token+position+type before layer 0
    causal: bool = False            # decoder-only models hide the future from each token
    lm_head: bool = False           # add a final norm and logits over the vocabulary
    tie_embeddings: bool = True     # logits use the token table transposed (no extra matrix)
    pad_id: int = 0
    # -- switches for the Hugging Face families (defaults keep BERT and our trained models) --
    norm_kind: Literal["layernorm", "rmsnorm"] = "layernorm"  # RMSNorm only rescales (no centring, no β)
    n_kv_heads: Optional[int] = None  # key/value heads, fewer than n_heads: grouped-query; None: n_heads
    rope_theta: float = 10000.0     # RoPE base: pair i of a head turns by position * theta^(-2i/d_head)
    # RoPE frequency scaling for long contexts (core/rotary.py): None, "linear" (every frequency / factor)
    # or "llama3" (Llama 3.1/3.2: low frequencies / factor, high ones kept, a smooth band between).
    rope_scaling: Optional[Literal["linear", "llama3"]] = None
    rope_factor: float = 1.0              # linear and llama3: how much slower the slow pairs turn
    rope_low_freq_factor: float = 1.0     # llama3: wavelengths above original / low are divided by factor
    rope_high_freq_factor: float = 4.0    # llama3: wavelengths below original / high are kept
    rope_original_positions: int = 8192   # llama3: the context length the model was first trained on
    mlp: Literal["standard", "gated"] = "standard"  # gated = SwiGLU: down(act(gate(x)) * up(x))
    bias: bool = True               # biases on W_O and the feed-forward's linears (Llama has none)
    qkv_bias: bool = True           # biases on W_Q, W_K, W_V (Llama: no; Qwen2: yes)
    position_offset: int = 0        # RoBERTa: the first token reads position row pad_id + 1
    # Partial rotary: RoPE turns only the first rotary_dims dimensions of each head and leaves the
    # rest as they are (GPT-NeoX/Pythia: a quarter of d_head). None: every dimension (Llama).
    rotary_dims: Optional[int] = None
    # q/k norm: an RMSNorm (eps = `eps`) on q and k before RoPE, keeping attention logits from growing.
    # "head": over each head's d_head dimensions (Qwen3); "full": over the whole projection,
    # all heads together, before the split (OLMo 2). None: no q/k norm (every other family).
    qk_norm: Optional[Literal["head", "full"]] = None
    # The token rows are multiplied by this before anything is added (Gemma: √d_model, so that rows
    # of a table shared with the unembedding start at the size the residual stream works at).
    embed_scale: float = 1.0
    # Each head's width when it is not d_model / n_heads (Qwen3-0.6B: 128 for 1024 / 16; gemma-7b: 256
    # for 3072 / 16): W_Q gives n_heads · head_dim numbers and W_O reads them back to d_model. None: d_model / n_heads.
    head_dim: Optional[int] = None
    # -- encoder–decoders (core/seq2seq.py) --
    # The config describes both stacks of an encoder–decoder (n_layers each side, the same sizes):
    # T5, BART, Marian and the reversal toy; parameter counts and memory estimates then count both.
    encoder_decoder: bool = False
    # Scores are q·kᵀ/√d_head; T5 leaves out the √d_head (its initialisation absorbed it): q·kᵀ.
    scale_attention: bool = True
    # T5's relative positions (positional="relative"): each head adds a learned number per bucket of
    # the distance key − query; `relative_buckets` buckets (half per direction in the encoder), exact
    # up to a few tokens, logarithmic beyond, all distances past `relative_max_distance` in the last.
    relative_buckets: int = 32
    relative_max_distance: int = 128
    sinusoid_layout: Literal["interleaved", "halves"] = "interleaved"
    # A learned bias added to every logit (BART's and Marian's final_logits_bias).
    logits_bias: bool = False
    # The decoder's output is multiplied by this before the unembedding (the original T5: d_model^-0.5,
    # which keeps logits read from the shared token table small); 1 for every other model.
    output_scale: float = 1.0
    # -- Gemma 2 and 3 --
    # Scores are divided by √attn_scale instead of √d_head (Gemma 2's query_pre_attn_scalar). None: d_head.
    attn_scale: Optional[float] = None
    # Soft-capping: scores <- cap · tanh(scores / cap) before the mask and softmax (Gemma 2's
    # attn_logit_softcapping), and the logits the same way (final_logit_softcapping). None: no cap.
    attn_softcap: Optional[float] = None
    final_softcap: Optional[float] = None
    # Sliding-window attention: in the layers listed in sliding_layers (all layers when None) a query
    # sees only the last sliding_window keys, itself included. None: every layer sees the whole past.
    sliding_window: Optional[int] = None
    sliding_layers: Optional[tuple[int, ...]] = None
    # Gemma 3: the sliding layers turn q and k with this RoPE base and no scaling; the global layers
    # with rope_theta and rope_scaling. None: every layer the same.
    rope_local_theta: Optional[float] = None

    def __post_init__(self) -> None:
        for name, upper in SIZE_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
                raise ValueError(f"{name} must be a whole number from 1 to {upper:,}, got {value!r}.")
        for name in ("type_vocab_size", "pad_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number from 0, got {value!r}.")
        for name in ("embed_norm", "causal", "lm_head", "tie_embeddings", "bias", "qkv_bias", "encoder_decoder",
                     "scale_attention", "logits_bias"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}.")
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or not 0 < self.eps < 1:
            raise ValueError(f"eps (the LayerNorm epsilon) must be a small positive number, got {self.eps!r}.")
        if isinstance(self.embed_scale, bool) or not isinstance(self.embed_scale, (int, float)) \
                or not 0 < self.embed_scale < 1e6:
            raise ValueError(f"embed_scale must be a positive number, got {self.embed_scale!r}.")
        if isinstance(self.output_scale, bool) or not isinstance(self.output_scale, (int, float)) \
                or not 0 < self.output_scale < 1e6:
            raise ValueError(f"output_scale must be a positive number, got {self.output_scale!r}.")
        hd = self.head_dim
        if hd is not None and (isinstance(hd, bool) or not isinstance(hd, int) or not 1 <= hd <= 65_536):
            raise ValueError(f"head_dim must be a whole number from 1 to 65,536, got {hd!r}.")
        if hd is None and self.d_model % self.n_heads != 0:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}: "
                "multi-head attention splits the d_model dimensions evenly between the heads, "
                f"so each head would get {self.d_model / self.n_heads:.2f} dimensions. "
                "Choose a number of heads that divides d_model."
            )
        for name, allowed in (("positional", POSITIONAL), ("norm", LAYOUTS),
                              ("activation", ACTIVATIONS), ("norm_kind", NORMS), ("mlp", MLPS),
                              ("qk_norm", QK_NORMS), ("sinusoid_layout", SINUSOID_LAYOUTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}.")
        for name in ("relative_buckets", "relative_max_distance"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= 1_000_000:
                raise ValueError(f"{name} must be a whole number from 2 to 1,000,000, got {value!r}.")
        if self.positional == "relative" and not self.encoder_decoder:
            raise ValueError("relative positions (T5's bucketed bias) are built for encoder–decoders only here.")
        if self.positional == "sinusoidal" and self.d_model % 2 != 0:
            raise ValueError("the sinusoidal encoding pairs sin and cos dimensions, so d_model must be even.")
        # None stays None (not n_heads) so that dataclasses.replace(config, n_heads=...) stays valid.
        kv = self.kv_heads
        if not isinstance(kv, int) or kv < 1 or self.n_heads % kv:
            raise ValueError(
                f"n_kv_heads={self.n_kv_heads!r} must be a positive divisor of n_heads={self.n_heads}: "
                "in grouped-query attention each key/value head serves the same number of query heads.")
        if self.positional == "rotary":
            if self.d_head % 2:
                raise ValueError(f"rotary positions turn pairs of dimensions, so d_head ({self.d_head}) must be even.")
            if isinstance(self.rope_theta, bool) or not isinstance(self.rope_theta, (int, float)) \
                    or not self.rope_theta > 0:
                raise ValueError(f"rope_theta must be positive, got {self.rope_theta!r}.")
        dims = self.rotary_dims
        if dims is not None and (isinstance(dims, bool) or not isinstance(dims, int)
                                 or not 2 <= dims <= self.d_head or dims % 2):
            raise ValueError(f"rotary_dims must be an even number from 2 to d_head ({self.d_head}): "
                             f"rotary positions turn pairs of dimensions, got {dims!r}.")
        if self.rope_scaling not in (None, "linear", "llama3"):
            raise ValueError(f"rope_scaling must be None, 'linear' or 'llama3', got {self.rope_scaling!r}.")
        for name in ("rope_factor", "rope_low_freq_factor", "rope_high_freq_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"{name} must be a positive number, got {value!r}.")
        if self.rope_scaling == "llama3" and not self.rope_high_freq_factor > self.rope_low_freq_factor:
            raise ValueError("llama3 rope scaling needs rope_high_freq_factor > rope_low_freq_factor, got "
                             f"{self.rope_high_freq_factor!r} and {self.rope_low_freq_factor!r}.")
        if isinstance(self.rope_original_positions, bool) or not isinstance(self.rope_original_positions, int) \
                or self.rope_original_positions < 1:
            raise ValueError(f"rope_original_positions must be a positive whole number, "
                             f"got {self.rope_original_positions!r}.")
        for name in ("attn_scale", "attn_softcap", "final_softcap", "rope_local_theta"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not 0 < value < 1e9):
                raise ValueError(f"{name} must be a positive number or None, got {value!r}.")
        window = self.sliding_window
        if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window < 1):
            raise ValueError(f"sliding_window must be a positive whole number or None, got {window!r}.")
        if self.sliding_layers is not None:
            layers = self.sliding_layers
            if not isinstance(layers, (tuple, list)) or any(
                    isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.n_layers for i in layers):
                raise ValueError(f"sliding_layers must list layer numbers from 0 to {self.n_layers - 1}, "
                                 f"got {layers!r}.")
            object.__setattr__(self, "sliding_layers", tuple(layers))   # a saved config's JSON list
        if not isinstance(self.position_offset, int) or not 0 <= self.position_offset < self.max_positions:
            raise ValueError(f"position_offset must be a whole number in [0, {self.max_positions}), "
                             f"got {self.position_offset!r}.")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads if self.head_dim is None else self.head_dim

    @property
    def d_attention(self) -> int:
        """Width of all query heads side by side (what W_Q gives and W_O reads): d_model, unless head_dim."""
        return self.n_heads * self.d_head

    @property
    def rotated_dims(self) -> int:
        """Dimensions of each head that RoPE turns (the first ones): rotary_dims, or all of d_head."""
        return self.d_head if self.rotary_dims is None else self.rotary_dims

    @property
    def kv_heads(self) -> int:
        """Key/value heads per layer: n_kv_heads, or n_heads for plain multi-head attention."""
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def n_positions(self) -> int:
        """Longest sequence the positions allow (the table's rows after RoBERTa's offset)."""
        return self.max_positions - self.position_offset

    def window_of(self, layer: int) -> Optional[int]:
        """The sliding window of layer `layer` (how many of the latest keys a query sees), or None."""
        if self.sliding_window is None or (self.sliding_layers is not None and layer not in self.sliding_layers):
            return None
        return self.sliding_window

    def kv_head_of(self, head: int) -> int:
        """The key/value head that query head `head` reads (itself, without grouped-query attention)."""
        if not 0 <= head < self.n_heads:
            raise ValueError(f"head must be in [0, {self.n_heads}), got {head}.")
        return head // (self.n_heads // self.kv_heads)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TransformerConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        return cls(**data)
