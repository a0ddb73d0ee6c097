"""The long-context page's numbers and the sentences written from them.

Sinks and where a head's attention lands are read from the summary streamed during the forward pass
(trace.summary: nothing recomputed, so they cost the same at 8 tokens and at 4,096); how far each head
looks at each position recomputes the heads of one layer, one at a time (trace.head), and is cached.
"""
from __future__ import annotations

import numpy as np

from core import Trace
from analysis.long_context import (Stretch, busiest_stretches, distance_by_query, even_distance,
                                   even_first_share, first_token_share, stretch_width)
from ui.plain import plain
from ui.state import cached, trace_for

NAMED_STRETCHES = 5   # how many of a head's busiest stretches are shaded and listed
SINK = 0.5            # a head with at least this share on the first token is counted as a sink
STANDS_OUT = 1.5     # a stretch with this many times its even share is shaded in the figure
TEXT_LIMIT = 90       # characters of a stretch's text shown in the table


def sink_shares(trace: Trace) -> np.ndarray:
    """(L, H) each head's share of attention on the first token, from the streamed summary."""
    return first_token_share(trace.summary.received)


def distances_for(model_name: str, text: str, layer: int) -> np.ndarray:
    """(H, T) every head of `layer`: mean distance looked at each query position (one head recomputed at a time)."""
    def compute() -> np.ndarray:
        trace = trace_for(model_name, text)
        return np.stack([distance_by_query(trace.head(layer, head).weights)
                         for head in range(trace.n_heads)]).astype(np.float32)            # (H, T)
    return cached(("long-context distance", model_name, text, layer), compute,
                  f"Measuring how far each head of layer {layer} looks…")


def first_token_name(trace: Trace) -> str:
    return trace.tokens[0] if trace.tokens else ""


def sink_caption(shares: np.ndarray, trace: Trace) -> str:
    """What the (L, H) first-token shares say: how many heads are sinks, the strongest, where they sit."""
    n_layers, n_heads = shares.shape
    even = even_first_share(len(trace), trace.causal)
    sinks = int((shares >= SINK).sum())
    best = divmod(int(shares.argmax()), n_heads)
    by_layer = shares.mean(axis=1)
    deepest = int(by_layer.argmax())
    words = (f"**{sinks} of the {n_layers * n_heads} heads** put at least {SINK:.0%} of their attention on the "
             f"first token ({plain(first_token_name(trace))}); a head spreading its attention evenly over the "
             f"{len(trace):,} tokens would put {even:.1%} there"
             + (" (each query sees only the tokens before it, so the first is seen by all)" if trace.causal else "")
             + f". The strongest is **layer {best[0]}, head {best[1]}** ({shares.max():.1%}); "
             f"layer {deepest} leans on it most, {by_layer[deepest]:.1%} on average over its heads.")
    if sinks == 0:
        words += " No head here is a sink: each spreads its attention beyond the first token."
    return words


def distance_caption(distances: np.ndarray, layer: int, chosen: int, trace: Trace) -> str:
    """What the (H, T) distance curves say at the end of the text, against spreading evenly."""
    t = distances.shape[-1]
    tail = slice(t - t // 8 if t >= 64 else 0, t)                # the last eighth of a long text's queries
    late = distances[:, tail].mean(axis=1)                                      # (H,)
    even = float(even_distance(t, trace.causal)[tail].mean())
    far, near = int(late.argmax()), int(late.argmin())
    where = f"the last {tail.stop - tail.start:,} queries" if tail.start else f"all {t} queries"
    words = (f"Over {where} of layer {layer}, head {far} looks farthest ({late[far]:.1f} positions on average) "
             f"and head {near} nearest ({late[near]:.1f}); spreading evenly would give {even:.1f}. "
             f"Head {chosen}: {late[chosen]:.1f}.")
    if late[near] <= max(1.5, 0.1 * even):
        words += f" Head {near} stays next to each query: a local head, whatever the length of the text."
    return words


def overall_distance_caption(trace: Trace) -> str:
    """The mean distance of every head over the whole text (streamed summary): the farthest and nearest heads."""
    distance = trace.summary.distance                                          # (L, H)
    far = divmod(int(distance.argmax()), distance.shape[1])
    near = divmod(int(distance.argmin()), distance.shape[1])
    return (f"Over every layer and the whole text: layer {far[0]}, head {far[1]} looks farthest "
            f"({distance.max():.1f} positions on average), layer {near[0]}, head {near[1]} nearest "
            f"({distance.min():.1f}).")


def stretches_for(trace: Trace, layer: int, head: int) -> list[Stretch]:
    """The chosen head's busiest stretches of text, the first token and the special tokens left out."""
    skip = sorted({0} | {i for i, special in enumerate(trace.special_mask) if special})
    return busiest_stretches(trace.summary.received[layer, head], stretch_width(len(trace)),
                             NAMED_STRETCHES, trace.causal, skip)


def stretch_text(trace: Trace, stretch: Stretch) -> str:
    """The piece of the text a stretch covers (cut from the text by the tokenizer's offsets; a stretch of
    several tokens widened to whole words), shortened."""
    words = [i for i in range(stretch.start, stretch.stop) if not trace.special_mask[i]]
    spans = [trace.offsets[i] for i in words if trace.offsets[i][1] > trace.offsets[i][0]]
    if spans and trace.text and len(words) == 1:
        piece = trace.text[spans[0][0]:spans[0][1]]                          # one token: itself
    elif spans and trace.text:
        start, stop = spans[0][0], spans[-1][1]
        while start > 0 and not trace.text[start - 1].isspace() and start > spans[0][0] - 20:
            start -= 1                                                        # out to whole words
        while stop < len(trace.text) and not trace.text[stop].isspace() and stop < spans[-1][1] + 20:
            stop += 1
        piece = trace.text[start:stop]
    else:
        piece = " ".join(trace.tokens[stretch.start:stretch.stop])
    piece = " ".join(piece.split())
    return piece if len(piece) <= TEXT_LIMIT else piece[:TEXT_LIMIT - 1] + "…"


def stretch_rows(trace: Trace, stretches: list[Stretch]) -> list[dict]:
    return [{"#": rank, "positions": f"{s.start}–{s.stop - 1}" if s.stop - s.start > 1 else f"{s.start}",
             "share": s.share, "× even": s.share / s.even if s.even > 0 else float("nan"),
             "text": stretch_text(trace, s)} for rank, s in enumerate(stretches, start=1)]


def concentration_caption(trace: Trace, layer: int, head: int, stretches: list[Stretch]) -> str:
    """Where the chosen head's attention goes: its first-token share, then the busiest stretch, named."""
    first = float(trace.summary.received[layer, head, 0])
    words = f"Layer {layer}, head {head} puts {first:.1%} of its attention on the first token. "
    if not stretches:
        return words + "The rest of the text gets none of it."
    best = stretches[0]
    width = best.stop - best.start
    where = f"positions {best.start}–{best.stop - 1}" if width > 1 else f"position {best.start}"
    words += (f"Of the rest, its busiest stretch of {width} token{'s' if width > 1 else ''} is {where}, "
              f"“{plain(stretch_text(trace, best))}”, with {best.share:.1%} of its "
              f"attention, {best.share / best.even:.1f}× what the same stretch would get if every query spread "
              "its attention evenly.")
    return words


