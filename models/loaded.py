"""A loaded model: a core Transformer joined with its tokenizer.

Read-only after loading: `trace(text)` builds everything it returns afresh, so one
instance can be cached and shared by every browser session and thread.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from torch import nn

from core import Trace, TransformerConfig
from core.model import computed

from .text import TextTokenizer


@dataclass(frozen=True, eq=False)
class Loaded:
    """What every loaded model is: a core network (a Transformer, or an EncoderDecoder for
    models/seq2seq.py's LoadedSeq2Seq), its tokenizer, and what the loader said about it."""
    name: str
    config: TransformerConfig
    net: nn.Module
    tokenizer: TextTokenizer
    description: str = ""
    folder: Path | None = None
    info: dict = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class LoadedModel(Loaded):
    """A single-stack model: `net` is a core Transformer (an encoder like BERT or a decoder like GPT-2)."""

    def trace(self, text: str, ablate: Sequence[tuple[int, int]] = (), mode: str = "zero",
              patch_from: Trace | None = None, sites: Sequence[tuple] = ()) -> Trace:
        """Tokenize `text` and run it; raises EmptyTextError (a ValueError) on empty text.
        ablate: (layer, head) pairs knocked out ("zero" or "mean", see core.attention.KnockOut).
        patch_from, sites: activation patching, the clean trace's values written at those sites
        (see core.model.patches_for)."""
        enc = self.tokenizer.encode(text)
        return self.net.trace(enc.ids, enc.tokens, enc.offsets, enc.special_mask,
                              truncated=enc.truncated, text=text, n_input_tokens=enc.n_input_tokens,
                              ablate=ablate, mode=mode, patch_from=patch_from, sites=sites)

    @property
    def has_sentence_embedding(self) -> bool:
        return bool(self.info.get("sentence"))

    def sentence_embedding(self, text: str) -> np.ndarray:
        """(d_model,) the sentence's meaning as its sentence-transformers package computes it: the
        mean of the last hidden states over its tokens (cut at its max_seq_length), normalised.
        A model that is not a sentence encoder (a decoder, a plain BERT) raises ValueError."""
        if not self.has_sentence_embedding:
            raise ValueError(f"{self.name} has no sentence embedding: it is not a sentence encoder "
                             "(all-MiniLM-L6-v2 is; a decoder predicts next tokens instead).")
        tokens, hidden = self.sentence_states(text)
        pooled = torch.from_numpy(hidden)[None].mean(dim=1)                           # (1, d_model)
        if self.info["sentence"]["normalize"]:
            pooled = pooled / pooled.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return pooled[0].numpy()

    def sentence_states(self, text: str) -> tuple[list[str], np.ndarray]:
        """The tokens a sentence embedding pools and their last hidden states (T, d_model)."""
        if not self.has_sentence_embedding:
            raise ValueError(f"{self.name} has no sentence embedding: it is not a sentence encoder.")
        enc = self.tokenizer.encode(text, max_tokens=self.info["sentence"]["max_tokens"])
        with torch.inference_mode():
            hidden = self.net.run(torch.tensor([enc.ids]))[1][-1].resid_post        # (1, T, d_model)
        return enc.tokens, hidden[0].numpy()

    def embedding_table(self) -> np.ndarray:
        """(vocab, d_model) input embedding matrix in float32, read-only (shares memory with the model;
        a float32 copy when the model keeps its checkpoint's bf16/fp16)."""
        table = computed(self.net.token_table.detach()).numpy()
        table.flags.writeable = False
        return table

    def vocabulary(self) -> list[str]:
        """Token strings by id."""
        return [self.tokenizer.id_to_token(i) or f"<{i}>" for i in range(self.config.vocab_size)]
