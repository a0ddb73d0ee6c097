"""The "whole words" switch every attention view shares, and the word view it turns on.

A page asks `word_toggle(page)` for the switch, then `attention_view(matrix, trace, hide, whole_words)`
instead of ui.attention.view: the matrix as shown and the positions it keeps. With whole words on,
positions are word numbers and `units(trace, True)` names them; off, they are piece positions as before.
Hiding [CLS]/[SEP] composes: the specials are dropped and rows renormalised over the pieces left (as
without words), then those pieces are merged into words, so rows still sum to 1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

from core import Trace
from analysis.words import merge_words, words_of
from ui import url
from ui.attention import view
from ui.state import cached, trace_for


@dataclass(frozen=True)
class Units:
    """What a view's rows and columns are: the tokenizer's pieces, or whole words."""
    names: tuple[str, ...]       # indexed by position (piece position, or word number)
    special: tuple[bool, ...]    # True for a special token ([CLS], <s>)
    whole_words: bool

    def labels(self) -> list[str]:
        """"3 · flies" for a picker: pass `format_func=units(trace, w).labels().__getitem__`."""
        return [f"{i} · {name}" for i, name in enumerate(self.names)]


def units(trace: Trace, whole_words: bool) -> Units:
    if not whole_words:
        return Units(tuple(trace.tokens), tuple(trace.special_mask), False)
    found = words_of(trace)
    return Units(found.labels, found.special, True)


def word_toggle(page: str, where=st) -> bool:
    """The switch, keyed per page."""
    return bool(where.toggle(
        "Whole words", key=f"{page}_words", bind=url.bound(f"{page}_words"),
        help="Merge the pieces the tokenizer cut a word into (un ##bel ##ie ##va ##bly → unbelievably), "
             "using each piece's place in your text. A word receives the sum of what its pieces receive and "
             "looks where its pieces look on average, so every row still sums to 1."))


def attention_view(matrix: np.ndarray, trace: Trace, hide_specials: bool,
                   whole_words: bool) -> tuple[np.ndarray, list[int]]:
    """(…, T, T) -> (the matrix as shown, the positions it keeps): pieces, or words when asked."""
    shown, kept = view(matrix, trace, hide_specials)           # (…, P, P): specials dropped if asked
    if not whole_words:
        return shown, kept
    word_of = np.asarray(words_of(trace).word_of)[kept]        # (P,) the word of each piece kept
    kept_words, local = np.unique(word_of, return_inverse=True)
    return merge_words(shown, local), [int(w) for w in kept_words]   # (…, W, W)


def window_key(page: str, whole_words: bool) -> str:
    """Word views keep their own token window: a piece window may not fit the (fewer) words."""
    return f"{page}_words" if whole_words else page


def all_heads_in_words(model_name: str, text: str):
    """(L, H, W, W): every head of the sentence at word level, computed once per sentence."""
    def merge():
        trace = trace_for(model_name, text)
        return merge_words(trace.attentions, words_of(trace).word_of)
    return cached(("attention in words", model_name, text), merge, "Merging pieces into words…")


def words_caption(trace: Trace, hide_specials: bool, where=st) -> None:
    """"12 pieces → 9 words; rows still sum to 1", counted over what the view shows."""
    found = words_of(trace)
    pieces = sum(1 for s in trace.special_mask if not (hide_specials and s))
    words = sum(1 for s in found.special if not (hide_specials and s))
    split = found.split_words
    detail = (f"{split} word{'s were' if split != 1 else ' was'} cut into pieces; a word's row is the mean of "
              "its pieces' rows and its column the sum of their columns." if split else
              "No word of this sentence is cut into pieces, so words and pieces are the same here.")
    where.caption(f"**Whole words:** {pieces} pieces → {words} words; rows still sum to 1. {detail}")


def keys_view(values: np.ndarray, trace: Trace, whole_words: bool,
              highlight: list[int]) -> tuple[np.ndarray, tuple[str, ...], list[int]]:
    """One number per key piece (T,) -> per word (W,) when asked: a word receives what its pieces receive.
    Returns (values, names, the highlighted pieces' words)."""
    if not whole_words:
        return np.asarray(values), tuple(trace.tokens), list(highlight)
    found = words_of(trace)
    summed = np.bincount(found.word_of, weights=np.asarray(values, dtype=np.float64), minlength=len(found))  # (W,)
    return summed.astype(np.float32), found.labels, sorted({found.word_of[i] for i in highlight})
