"""The shape of a transformer, in one frozen record.

Every module in core reads its sizes from a TransformerConfig; nothing else
decides a dimension. Frozen, so a cached model's config can be shared safely.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal


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
        for name in ("vocab_size", "d_model", "n_heads", "n_layers", "d_ff", "max_positions"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, got {value!r}.")
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
