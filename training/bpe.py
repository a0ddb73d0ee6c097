"""Byte-pair encoding, trained on our own corpus with the `tokenizers` library.

BPE starts from single characters and, again and again, glues together the pair of
neighbouring pieces seen most often, until the vocabulary has the size asked for.
The list of merges, in the order they were learned, *is* the tokenizer.
Words are split on spaces first; "▁" marks the start of a word (as in SentencePiece).
"""
from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

PAD, UNK, EOS = "<pad>", "<unk>", "<eos>"
SPECIALS = [PAD, UNK, EOS]          # ids 0, 1, 2
WORD_START = "▁"
MIN_VOCAB, MAX_VOCAB = 32, 2048       # the train page's slider covers exactly this range
MAX_WORD_CHARS = 40     # BPE's work grows with the square of a word's length: longer runs are cut for training


def alphabet(lines: Sequence[str]) -> set[str]:
    """The characters BPE starts from: every character in the text (NFC), plus the word marker."""
    chars = set()
    for line in lines:
        chars.update(unicodedata.normalize("NFC", line))
    chars.discard(" ")
    return chars | {WORD_START}


def vocab_problem(lines: Sequence[str], vocab_size: int) -> str | None:
    """Why this vocabulary size cannot work for this text, or None."""
    if not any(line.strip() for line in lines):
        return "The text is empty: there is nothing to learn a tokenizer from."
    if not MIN_VOCAB <= vocab_size <= MAX_VOCAB:
        return f"Choose a vocabulary between {MIN_VOCAB} and {MAX_VOCAB} tokens."
    need = len(alphabet(lines)) + len(SPECIALS)
    if need > MAX_VOCAB:
        return (f"The text uses {need - len(SPECIALS) - 1:,} different characters, more than a vocabulary of at most "
                f"{MAX_VOCAB:,} tokens can hold one by one (BPE needs a token per character before it merges "
                "any). Train on text in fewer scripts, or remove rare symbols.")
    if vocab_size < need:
        return (f"A vocabulary of {vocab_size} is smaller than the alphabet: the text uses "
                f"{need - len(SPECIALS)} different characters (+ {len(SPECIALS)} special tokens), "
                f"and BPE needs one token per character before it can merge any. "
                f"Choose at least {need}.")
    return None


def _empty_tokenizer(lowercase: bool = False) -> Tokenizer:
    tok = Tokenizer(models.BPE(unk_token=UNK))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()]) if lowercase \
        else normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=WORD_START, prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement=WORD_START, prepend_scheme="always")
    return tok


@dataclass(frozen=True, eq=False)
class BPETokenizer:
    """A trained BPE tokenizer; `backend` is the `tokenizers` object (settings fixed)."""
    backend: Tokenizer

    @property
    def vocab_size(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    @property
    def eos_id(self) -> int:
        return self.backend.token_to_id(EOS)

    def merges(self) -> list[tuple[str, str]]:
        """The merges in the order they were learned (the first is the most frequent pair)."""
        raw = json.loads(self.backend.to_str())["model"]["merges"]
        return [tuple(m) if isinstance(m, list) else tuple(m.split(" ", 1)) for m in raw]

    def split(self, text: str) -> list[str]:
        return list(self.backend.encode(text).tokens)

    def encode(self, text: str) -> list[int]:
        return list(self.backend.encode(text).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self.backend.decode([int(i) for i in ids], skip_special_tokens=False)

    def vocabulary(self) -> list[str]:
        return [self.backend.id_to_token(i) for i in range(self.vocab_size)]

    def encode_lines(self, lines: Sequence[str]) -> np.ndarray:
        """One stream of ids for language modelling: each line followed by <eos>."""
        eos = self.eos_id
        out: list[int] = []
        for enc in self.backend.encode_batch(list(lines)):
            out.extend(enc.ids)
            out.append(eos)
        return np.asarray(out, dtype=np.int64)

    def to_json(self) -> str:
        return self.backend.to_str()

    @classmethod
    def from_json(cls, text: str) -> "BPETokenizer":
        return cls(Tokenizer.from_str(text))


def train_bpe(lines: Sequence[str], vocab_size: int) -> BPETokenizer:
    """Learn merges until the vocabulary holds `vocab_size` tokens (fewer if the text runs out)."""
    problem = vocab_problem(lines, vocab_size)
    if problem:
        raise ValueError(problem)
    # Text with no capital letters (the built-in corpus) cannot teach capitals: lower-case what the
    # person types too, so "Time flies" reads as "time flies" instead of "<unk>ime flies".
    lowercase = not any(ch != ch.lower() for line in lines for ch in line)
    tok = _empty_tokenizer(lowercase)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                  min_frequency=2, show_progress=False,
                                  initial_alphabet=sorted(alphabet(lines)))
    tok.train_from_iterator(bounded_words(lines), trainer=trainer)
    return BPETokenizer(tok)


def bounded_words(lines: Sequence[str], limit: int = MAX_WORD_CHARS) -> list[str]:
    """The training lines with every run of more than `limit` non-space characters cut into pieces.

    BPE counts pairs inside each word and rewrites the word after every merge, so one
    900 KB "word" (a text with no spaces) takes minutes of CPU; pieces of 40 characters
    keep the work linear in the text's length. Encoding later is unchanged: a long word is
    simply spelled with more tokens.
    """
    pattern = re.compile(r"\S{%d}" % limit)
    return [pattern.sub(lambda m: m.group(0) + " ", line) if len(line) > limit else line for line in lines]
