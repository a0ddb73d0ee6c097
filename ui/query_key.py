"""Query–key space helpers: which tokens are drawn, which query is followed, and captions from the numbers.

At 141 tokens the picture holds 282 points; a line per query made a ring of lines with no way in. A long
text therefore opens on one query followed: its strongest keys are the only lines and labels, and every
other point is faded. "Words only" leaves out [CLS], [SEP] and punctuation, which often take most of a
head's weight and crowd the middle of the picture.
"""
from __future__ import annotations

import numpy as np

from core import Trace
from ui.plain import plain

FOCUS_KEYS = 5       # lines from the followed query: its strongest keys …
MIN_WEIGHT = 0.01    # … with at least this weight (always the strongest one)
WELL_HELD = 0.8      # share of the spread on the two axes above which distances in the picture can be trusted


def is_word(token: str, special: bool) -> bool:
    """A token with a letter or a digit in it that is not a special token ([CLS], <s>, …)."""
    return not special and any(ch.isalnum() for ch in token)


def word_positions(trace: Trace, positions: list[int]) -> list[int]:
    return [p for p in positions if is_word(trace.tokens[p], bool(trace.special_mask[p]))]


def default_query(trace: Trace, weights: np.ndarray, positions: list[int]) -> int:
    """The query to follow first: a whole word (not a ## piece, three letters or more) whose strongest key
    among the tokens shown is another word; the most confident such choice (to a tenth), the longest word
    among equals. Else the first word shown, else the first token."""
    words = word_positions(trace, positions)
    whole = [p for p in words if not trace.tokens[p].startswith("##") and len(trace.tokens[p].lstrip("▁Ġ")) >= 3]
    best, best_score = None, (-1.0, 0)
    shown = np.asarray(positions)
    for p in whole:
        row = weights[p, shown]                                            # (shown,)
        key = int(shown[int(row.argmax())])
        score = (round(float(row.max()), 1), len(trace.tokens[p]))
        if key != p and is_word(trace.tokens[key], bool(trace.special_mask[key])) and score > best_score:
            best, best_score = p, score
    return best if best is not None else (words[0] if words else positions[0])


def focus_caption(trace: Trace, weights: np.ndarray, query: int, keys: list[int]) -> str:
    """What the followed query's lines say, with the weights from the head itself."""
    row = weights[query]
    parts = [f"“{plain(trace.tokens[k])}” (#{k}) {row[k]:.0%}" for k in keys]
    rest = 1 - float(row[keys].sum())
    return (f"Query “{plain(trace.tokens[query])}” (#{query}) gives its weight to " + ", ".join(parts) +
            (f"; {rest:.0%} is spread over the other keys, none of which gets {MIN_WEIGHT:.0%}."
             if rest >= 0.005 else "."))


def projection_caption(explained: np.ndarray, n_points: int, d_head: int) -> str:
    """How much the two axes hold, and what that means for reading distances."""
    held = float(np.sum(explained))
    text = f"The axes hold {held:.0%} of the spread of the {n_points} points"
    if held < WELL_HELD:
        return (text + f": {1 - held:.0%} of it lies in the other {max(d_head - 2, 0)} directions, so two points "
                "close together here may be far apart in the head's own space. Trust the lines (the head's real "
                "weights) more than the distances.")
    return text + ": distances here are a fair guide to the dot products the head computes."
