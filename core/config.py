"""The shape of a transformer, in one frozen record.

Every module in core reads its sizes from a TransformerConfig; nothing else
decides a dimension. Frozen, so a cached model's config can be shared safely.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal


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
    positional: Literal["learned", "sinusoidal"] = "learned"
    norm: Literal["post", "pre"] = "post"     # post-LN is BERT; pre-LN is GPT-2
    activation: Literal["gelu", "relu"] = "gelu"
    eps: float = 1e-12              # LayerNorm epsilon (BERT: 1e-12; GPT-2: 1e-5)
    type_vocab_size: int = 0        # segment (sentence A/B) embeddings; 0 = none
    embed_norm: bool = True         # BERT normalises token+position+type before layer 0
    causal: bool = False            # decoder-only models hide the future from each token
    lm_head: bool = False           # add a final LayerNorm and logits over the vocabulary
    tie_embeddings: bool = True     # logits use the token table transposed (no extra matrix)
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name, upper in SIZE_LIMITS.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= upper:
                raise ValueError(f"{name} must be a whole number from 1 to {upper:,}, got {value!r}.")
        for name in ("type_vocab_size", "pad_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number from 0, got {value!r}.")
        for name in ("embed_norm", "causal", "lm_head", "tie_embeddings"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}.")
        if isinstance(self.eps, bool) or not isinstance(self.eps, (int, float)) or not 0 < self.eps < 1:
            raise ValueError(f"eps (the LayerNorm epsilon) must be a small positive number, got {self.eps!r}.")
        if self.d_model % self.n_heads != 0:
            raise ValueError(
                f"d_model={self.d_model} is not divisible by n_heads={self.n_heads}: "
                "multi-head attention splits the d_model dimensions evenly between the heads, "
                f"so each head would get {self.d_model / self.n_heads:.2f} dimensions. "
                "Choose a number of heads that divides d_model."
            )
        if self.positional not in ("learned", "sinusoidal"):
            raise ValueError(f"positional must be 'learned' or 'sinusoidal', got {self.positional!r}.")
        if self.norm not in ("post", "pre"):
            raise ValueError(f"norm must be 'post' or 'pre', got {self.norm!r}.")
        if self.activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {self.activation!r}.")
        if self.positional == "sinusoidal" and self.d_model % 2 != 0:
            raise ValueError("the sinusoidal encoding pairs sin and cos dimensions, so d_model must be even.")

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TransformerConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config fields: {sorted(unknown)}")
        return cls(**data)
