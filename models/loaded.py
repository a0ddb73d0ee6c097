"""A loaded model: a core Transformer joined with its tokenizer.

Read-only after loading: `trace(text)` builds everything it returns afresh, so one
instance can be cached and shared by every browser session and thread.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from core import Trace, Transformer, TransformerConfig

from .text import TextTokenizer


@dataclass(frozen=True, eq=False)
class LoadedModel:
    name: str
    config: TransformerConfig
    net: Transformer
    tokenizer: TextTokenizer
    description: str = ""
    folder: Path | None = None
    info: dict = field(default_factory=dict)

    def trace(self, text: str, ablate: Sequence[tuple[int, int]] = (), mode: str = "zero") -> Trace:
        """Tokenize `text` and run it; raises EmptyTextError (a ValueError) on empty text.
        ablate: (layer, head) pairs knocked out ("zero" or "mean", see core.attention.KnockOut)."""
        enc = self.tokenizer.encode(text)
        return self.net.trace(enc.ids, enc.tokens, enc.offsets, enc.special_mask,
                              truncated=enc.truncated, text=text, n_input_tokens=enc.n_input_tokens,
                              ablate=ablate, mode=mode)

    def embedding_table(self) -> np.ndarray:
        """(vocab, d_model) input embedding matrix, read-only (shares memory with the model)."""
        table = self.net.token_table.detach().numpy()
        table.flags.writeable = False
        return table

    def vocabulary(self) -> list[str]:
        """Token strings by id."""
        return [self.tokenizer.id_to_token(i) or f"<{i}>" for i in range(self.config.vocab_size)]
