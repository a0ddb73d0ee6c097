"""Which head to open first: one whose pattern a learner can recognise, and why it was chosen.

Layer 0, head 0 is often a diffuse, nearly white picture. Head statistics (analysis/head_stats.py)
already say which heads have a clear pattern on this sentence; this picks one, in the order a
learner most easily recognises:

    previous   most of each token's attention on the token just before  (a line below the diagonal)
    self       most of it on the token itself                           (the diagonal)
    next       most of it on the token just after                       (a line above the diagonal)
    cls, sep   most of it on a special token                            (one dark column: a "sink")

A pattern counts when its share is at least CLEAR (half of the attention). When no head has one
(an untrained model, a two-token sentence) the most focused head is shown, and the reason says so.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .head_stats import HeadStats

CLEAR = 0.5   # a pattern is "clear" when at least half of each token's attention follows it

@dataclass(frozen=True)
class Pattern:
    target: str      # where the attention goes ("{name}": the special token's name)
    kind: str        # what such a head is called


SINK = Pattern("{name}", "a sink: the head 'rests' on {name} when it has nothing to do")
# statistic -> its pattern, in order of preference.
PATTERNS: dict[str, Pattern] = {
    "previous": Pattern("the token just before it", "a previous-token head"),
    "self": Pattern("the token itself", "a sharp diagonal: each token looks at itself"),
    "next": Pattern("the token just after it", "a next-token head"),
    "cls": SINK, "sep": SINK,
}


@dataclass(frozen=True)
class HeadChoice:
    layer: int
    head: int
    pattern: str | None      # a key of PATTERNS, or None when no head has a clear pattern
    share: float             # the pattern's share (or the head's entropy in bits when pattern is None)
    reason: str              # one line for a caption: "layer 0 · head 2: 99% of each token's attention …"


def recognisable_head(stats: HeadStats, n_tokens: int, special_names: dict[str, str] | None = None,
                      layer: int | None = None, head: int | None = None) -> HeadChoice:
    """The head with the clearest pattern a learner recognises, with a one-line reason.

    special_names: {"cls": "[CLS]", "sep": "[SEP]"} (or "<s>", …); a sink on a special token is
    only chosen when its name is given. layer / head: keep that layer (or head) fixed, because
    the person chose it, and pick the other one.
    """
    names = special_names or {}
    n_layers, n_heads = stats.entropy.shape
    allowed = np.ones((n_layers, n_heads), dtype=bool)                 # (layers, heads)
    if layer is not None:
        allowed[np.arange(n_layers) != layer] = False
    if head is not None:
        allowed[:, np.arange(n_heads) != head] = False
    if not allowed.any():
        raise ValueError(f"layer {layer} / head {head} is outside this model's {n_layers} × {n_heads} heads")

    def where(index: int) -> tuple[int, int]:
        return divmod(int(index), n_heads)

    if n_tokens < 3:
        # With one or two tokens there is nowhere else to look: every head is the same picture.
        first = where(np.flatnonzero(allowed)[0])
        return HeadChoice(*first, None, 0.0, f"layer {first[0]} · head {first[1]}: with only {n_tokens} "
                          f"token{'s' if n_tokens != 1 else ''} every head looks alike; try a longer sentence.")
    for pattern, shape in PATTERNS.items():
        if pattern in ("cls", "sep") and pattern not in names:
            continue
        share = np.where(allowed, stats.get(pattern), -1.0)             # (layers, heads)
        best = int(share.argmax())
        if share.flat[best] >= CLEAR:
            at = where(best)
            name = names.get(pattern, "")
            return HeadChoice(*at, pattern, float(share.flat[best]),
                              f"layer {at[0]} · head {at[1]}: on average {share.flat[best]:.0%} of each token's "
                              f"attention goes to {shape.target.format(name=name)} ({shape.kind.format(name=name)}).")
    entropy = np.where(allowed, stats.entropy, np.inf)                   # (layers, heads)
    best = int(entropy.argmin())
    at = where(best)
    spread = 2.0 ** float(entropy.flat[best])     # entropy in bits -> "as spread as an even split over N tokens"
    return HeadChoice(*at, None, float(entropy.flat[best]),
                      f"layer {at[0]} · head {at[1]}: no head gives half its attention to a neighbour, itself or a "
                      f"special token here; this is the most focused one (as spread out as an even split over "
                      f"{spread:.1f} tokens).")


def heads_with(stats: HeadStats, pattern: str, threshold: float = CLEAR) -> list[tuple[int, int, float]]:
    """Every head whose `pattern` share (a key of PATTERNS) is at least `threshold`, strongest first,
    as (layer, head, share): what a caption may truthfully say the picture shows."""
    share = stats.get(pattern)                                            # (layers, heads)
    layers, heads = np.nonzero(share >= threshold)
    found = [(int(layer), int(head), float(share[layer, head])) for layer, head in zip(layers, heads)]
    return sorted(found, key=lambda found_head: -found_head[2])


def best_head(values: np.ndarray, layer: int | None = None, head: int | None = None) -> tuple[int, int]:
    """(layer, head) with the largest of `values` (layers, heads), within a layer or head kept fixed."""
    allowed = np.full(values.shape, -np.inf)                              # (layers, heads)
    allowed[layer if layer is not None else slice(None), head if head is not None else slice(None)] = 0.0
    return divmod(int(np.argmax(values + allowed)), values.shape[1])
