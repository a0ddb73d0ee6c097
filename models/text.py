"""Text -> tokens, with the `tokenizers` library, configured once at load.

The fast tokenizer is shared by every thread of the app. Changing its padding or
truncation while another thread encodes raises `Already borrowed`, so settings are
fixed in __init__ and truncation is done here, on the encoded result, per call.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The app encodes from many threads and may fork (tests): the library's own thread pool would
# warn and risk a deadlock after a fork. Set before `tokenizers` is imported.
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tokenizers import Tokenizer  # noqa: E402


class EmptyTextError(ValueError):
    """The text has nothing the model could read."""


@dataclass(frozen=True)
class Encoded:
    tokens: list[str]
    ids: list[int]
    offsets: list[tuple[int, int]]
    special_mask: list[bool]
    truncated: bool
    n_input_tokens: int      # tokens the whole text made, before truncation


class TextTokenizer:
    def __init__(self, path: Path | str, max_tokens: int):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"tokenizer file not found: {path}")
        try:
            tok = Tokenizer.from_file(str(path))
        except Exception as exc:  # the library raises a bare Exception on bad JSON
            raise ValueError(f"{path}: not a readable tokenizer.json ({exc})") from exc
        # MiniLM's tokenizer.json pads every input to 128 tokens and truncates at 128;
        # we want the sentence as it is, cut at the model's own limit below.
        tok.no_padding()
        tok.no_truncation()
        self._tok = tok
        self.path = path
        self.max_tokens = max_tokens

    @property
    def backend(self) -> Tokenizer:
        """The `tokenizers` object, for pages that show its stages. Do not change its settings."""
        return self._tok

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size(with_added_tokens=True)

    def id_to_token(self, i: int) -> str:
        return self._tok.id_to_token(int(i))

    def token_to_id(self, token: str):
        return self._tok.token_to_id(token)

    def encode_target(self, text: str) -> list[int]:
        """Ids of a typed output for an encoder–decoder's decoder (its end token included): the same
        tokenizer here; a Marian SentencePiece pair spells it with its target model (models/spm_text.py)."""
        return list(self._tok.encode(text).ids)

    def encode(self, text: str, max_tokens: int | None = None) -> Encoded:
        """Tokens of `text`, cut at `max_tokens` (default: the model's limit) keeping the closing specials."""
        max_tokens = self.max_tokens if max_tokens is None else min(max_tokens, self.max_tokens)
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        if not text.strip():
            raise EmptyTextError("The text is empty: type a sentence to run it through the model.")
        enc = self._tok.encode(text)
        special = [bool(s) for s in enc.special_tokens_mask]
        tokens, ids, offsets = list(enc.tokens), list(enc.ids), [tuple(o) for o in enc.offsets]
        if all(special):
            raise EmptyTextError(
                "Nothing is left of the text after the tokenizer's cleaning "
                "(control and zero-width characters are removed): type some words.")
        n_input = len(ids)
        truncated = n_input > max_tokens
        if truncated:
            # Keep the leading tokens and the closing specials ([SEP]), as truncation does.
            tail = 0
            while tail < len(special) and special[-1 - tail]:
                tail += 1
            keep = max_tokens - tail
            pick = list(range(keep)) + list(range(n_input - tail, n_input))
            tokens = [tokens[i] for i in pick]
            ids = [ids[i] for i in pick]
            offsets = [offsets[i] for i in pick]
            special = [special[i] for i in pick]
        return Encoded(tokens, ids, offsets, special, truncated, n_input)
