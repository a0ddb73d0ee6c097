"""A tokenizer's work, stage by stage, from the `tokenizers` library itself.

    text --normalizer--> normalised text --pre-tokenizer--> pre-tokens (words, punctuation)
         --model (WordPiece / BPE)--> pieces --vocabulary--> ids, + [CLS] ... [SEP]

Every stage is the library's own output (`normalizer.normalize_str`,
`pre_tokenizer.pre_tokenize_str`, `encode`), read from the model's shared tokenizer
without changing any of its settings. Pieces keep their character offsets into the
person's original text, so a page can show which characters made which token.
"""
from __future__ import annotations

from dataclasses import dataclass

from .text import TextTokenizer

SPECIAL_MEANINGS = {
    "[CLS]": "added at the start; BERT's summary slot for classifying the whole text",
    "[SEP]": "added at the end; separates sentence A from sentence B",
    "[UNK]": "a word the vocabulary cannot spell, not even piece by piece",
    "[PAD]": "fills short texts up to a batch's length (not used here: one text, no padding)",
    "[MASK]": "the blank BERT learned to fill in during pre-training",
}


@dataclass(frozen=True)
class Piece:
    token: str
    id: int
    start: int               # character span in the original text; (0, 0) for added specials
    end: int
    word: int | None         # index of the pre-token it came from; None for specials
    special: bool


@dataclass(frozen=True)
class TokenizerStages:
    text: str
    normalizer: str                              # the library's own description of each stage
    pre_tokenizer: str
    model_kind: str                              # "WordPiece", "BPE", ...
    normalized: str
    pre_tokens: list[tuple[str, tuple[int, int]]]   # (pre-token, span in the normalised text)
    pieces: list[Piece]
    vocab_size: int
    unk_token: str | None

    @property
    def n_unknown(self) -> int:
        return sum(p.token == self.unk_token for p in self.pieces)

    def pieces_by_word(self) -> list[tuple[int, list[Piece]]]:
        """Each pre-token's pieces, in order (words split into several pieces are the interesting ones)."""
        groups: dict[int, list[Piece]] = {}
        for p in self.pieces:
            if p.word is not None:
                groups.setdefault(p.word, []).append(p)
        return sorted(groups.items())


def _describe(component) -> str:
    return "none" if component is None else str(component)


def tokenizer_stages(tokenizer: TextTokenizer, text: str) -> TokenizerStages:
    """The stages of `tokenizer` on `text` (all of it: no truncation here)."""
    backend = tokenizer.backend
    normalizer, pre_tokenizer = backend.normalizer, backend.pre_tokenizer
    normalized = normalizer.normalize_str(text) if normalizer is not None else text
    if pre_tokenizer is not None:
        pre_tokens = [(s, tuple(span)) for s, span in pre_tokenizer.pre_tokenize_str(normalized)]
    else:
        pre_tokens = [(normalized, (0, len(normalized)))]
    enc = backend.encode(text)
    pieces = [Piece(tok, int(i), int(start), int(end), w, bool(s))
              for tok, i, (start, end), w, s in zip(enc.tokens, enc.ids, enc.offsets,
                                                    enc.word_ids, enc.special_tokens_mask)]
    model = backend.model
    return TokenizerStages(
        text=text, normalizer=_describe(normalizer), pre_tokenizer=_describe(pre_tokenizer),
        model_kind=type(model).__name__, normalized=normalized, pre_tokens=pre_tokens, pieces=pieces,
        vocab_size=tokenizer.vocab_size, unk_token=getattr(model, "unk_token", None),
    )
