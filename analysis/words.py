"""Words from pieces: which tokens make up one word, and attention merged to word level.

A tokenizer cuts "unbelievably" into un ##bel ##ie ##va ##bly (WordPiece), GPT-2 into
Ġun bel iev ably, a sentencepiece model into ▁un bel iev ably. Every family records each
piece's character span in the text (Trace.offsets), so the grouping is read from the spans,
never from the piece strings' markers:

    a piece joins the previous piece's word when their spans touch (no whitespace between)
    and the characters on both sides of the join are letters, digits or accents;
    pieces of one character (byte-level pieces of an emoji or an accented letter) overlap
    and always join; a piece that is only whitespace (GPT-2's lone Ġ, a newline) joins the
    word after it; every special token ([CLS], [SEP], <s>) is a word of its own.

So punctuation is a word of its own, as BERT's pre-tokenizer makes it ("isn't" is isn ' t,
"arrow." is arrow .), for every family alike.

Attention to word level (BertViz issues #23 and #40), `merge_words`:

    key side     a word receives the sum of what its pieces receive     (columns added)
    query side   a word attends as the mean of its pieces               (rows averaged)

so each merged row is a mean of rows that sum to 1, and sums to 1 itself.
"""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core.trace import Trace


@dataclass(frozen=True)
class Words:
    word_of: tuple[int, ...]        # (T,) the word each piece belongs to, 0..W-1, in reading order
    labels: tuple[str, ...]         # (W,) each word's text, from the sentence itself
    special: tuple[bool, ...]       # (W,) True for a special token's own word

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_pieces(self) -> int:
        return len(self.word_of)

    def pieces(self, word: int) -> list[int]:
        """The piece positions that make up `word`."""
        return [i for i, w in enumerate(self.word_of) if w == word]

    @property
    def split_words(self) -> int:
        """How many words the tokenizer cut into more than one piece."""
        return int((np.bincount(self.word_of, minlength=len(self)) > 1).sum())


def _word_char(ch: str) -> bool:
    """Letters, digits and combining accents hold a word together; anything else splits it."""
    return unicodedata.category(ch)[0] in "LNM"


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """The span without its leading and trailing whitespace (GPT-2's Ġ counts the space before it)."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _place(word_of: list[int], pieces: list[int], word: int) -> None:
    for i in pieces:
        word_of[i] = word


def find_words(text: str, offsets: Sequence[tuple[int, int]], special_mask: Sequence[bool],
               tokens: Sequence[str]) -> Words:
    """Group the pieces into words by their character spans in `text` (rules in the module doc)."""
    n = len(tokens)
    if not (len(offsets) == len(special_mask) == n):
        raise ValueError(f"need one offset and one special flag per token ({n}), "
                         f"got {len(offsets)} and {len(special_mask)}")
    spans = [_trimmed(text, int(a), int(b)) for a, b in offsets]
    blank = [not special_mask[i] and spans[i][0] >= spans[i][1] for i in range(n)]
    if n and all(blank[i] or special_mask[i] for i in range(n)):
        # No spans at all (a trace built from ids alone): every piece stays its own word.
        return Words(tuple(range(n)), tuple(tokens), tuple(bool(s) for s in special_mask))

    word_of = [0] * n
    count, last_end = 0, None   # last_end: where the open word's text ends; None when no word is open
    pending: list[int] = []     # whitespace pieces waiting for the word after them
    for i in range(n):
        start, end = spans[i]
        if blank[i]:
            pending.append(i)
            continue
        if special_mask[i]:
            if pending and last_end is None:    # whitespace with no word before it: a word of its own
                count += 1
            _place(word_of, pending, count - 1)
            pending, last_end = [], None
            word_of[i], count = count, count + 1
            continue
        joins = not pending and last_end is not None and (start < last_end or (
            start == last_end and _word_char(text[last_end - 1]) and _word_char(text[start])))
        if joins:
            last_end = max(last_end, end)
        else:
            count, last_end = count + 1, end
        word_of[i] = count - 1
        _place(word_of, pending, count - 1)   # " flies": the space goes with the word after it
        pending = []
    if pending:                         # trailing whitespace joins the last word
        if last_end is None:
            count += 1
        _place(word_of, pending, count - 1)

    members_of: list[list[int]] = [[] for _ in range(count)]
    for i, word in enumerate(word_of):
        members_of[word].append(i)
    labels, special = [], []
    for members in members_of:
        if len(members) == 1 and special_mask[members[0]]:
            labels.append(tokens[members[0]])
            special.append(True)
            continue
        filled = [spans[i] for i in members if not blank[i]]
        labels.append(text[filled[0][0]:max(b for _, b in filled)] if filled else "".join(tokens[i] for i in members))
        special.append(False)
    return Words(tuple(word_of), tuple(labels), tuple(special))


def words_of(trace: Trace) -> Words:
    """The words of a traced sentence."""
    return find_words(trace.text, trace.offsets, trace.special_mask, trace.tokens)


def merge_words(weights: np.ndarray, word_of: Sequence[int]) -> np.ndarray:
    """(…, T, T) piece-level attention -> (…, W, W) word-level.

    Key pieces of a word are summed (the word receives all that its pieces receive), query
    pieces averaged (the word looks where its pieces look, on average), so rows that summed
    to 1 still do. word_of: (T,) word index per piece; every word 0..W-1 needs a piece.
    """
    weights = np.asarray(weights)
    word_of = np.asarray(word_of, dtype=np.int64)
    t = weights.shape[-1]
    if weights.ndim < 2 or weights.shape[-2] != t or word_of.shape != (t,):
        raise ValueError(f"weights must be (…, T, T) with one word index per piece, got {weights.shape} "
                         f"and {word_of.shape}")
    n_words = int(word_of.max()) + 1 if t else 0
    counts = np.bincount(word_of, minlength=n_words)
    if t and (word_of.min() < 0 or (counts == 0).any()):
        raise ValueError("word indices must cover 0..W-1, each word with at least one piece")
    dtype = np.result_type(weights.dtype, np.float32)
    weights = weights.astype(dtype, copy=False)
    if t and (np.diff(word_of) >= 0).all():
        # Words are runs of neighbouring pieces (always, in reading order): add each run directly,
        # O(T²) instead of a (T, W) matrix product, which matters for every head of 512 pieces.
        starts = np.flatnonzero(np.r_[True, np.diff(word_of) > 0])          # (W,) first piece of each word
        to_words = np.add.reduceat(weights, starts, axis=-1)               # (…, T, W)  key pieces summed
        summed = np.add.reduceat(to_words, starts, axis=-2)                # (…, W, W)  query pieces summed
        return summed / counts[:, None].astype(dtype)                      # … then averaged
    member = np.zeros((t, n_words), dtype=dtype)                          # (T, W)  one-hot: piece -> word
    member[np.arange(t), word_of] = 1.0
    to_words = weights @ member                                            # (…, T, W)  key pieces summed
    mean_rows = (member / counts).T                                        # (W, T)  averages a word's rows
    return mean_rows @ to_words                                            # (…, W, W)
