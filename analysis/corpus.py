"""Head statistics over a corpus: each head's numbers on many sentences, then mean ± spread.

One sentence's statistics (analysis/head_stats.py, and the detectors of analysis/detectors.py) can make a head
look like a previous-token
head by chance; Clark et al. (2019) averaged them over a thousand segments. Here every sentence's
(layers, heads) statistics are kept, so each cell of the L×H map has a distribution behind it:

    values[n, s, l, h]   statistic s of layer l, head h on sentence n
    mean[s, l, h]        its mean over the sentences
    spread[s, l, h]      its standard deviation over the sentences (0 for one sentence)

A sentence is *typical* of a head when its value is close to the head's mean, in units of the
head's spread; the least typical sentences are where the head behaves unusually.
Pure numpy: how the sentences are run (in this process or on Ray) is jobs/'s business.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from core import Trace

from .budget import FLOAT32, batch_size, block_bytes, chunks, job_budget_bytes
from .detectors import duplicate_token_pattern, induction_pattern, pattern_scores, previous_token_pattern
from .head_stats import STATISTICS, special_masks, head_statistics

# The head detectors (analysis/detectors.py), measured on every sentence like the statistics above:
# name -> (short label, what it means). Each is a share of the head's attention, 0 to 1.
DETECTORS: dict[str, tuple[str, str]] = {
    "previous_token": ("previous-token score", "detector: share of all the head's attention on the key just "
                                               "before each query"),
    "duplicate_token": ("duplicate-token score", "detector: share on earlier copies of the query's own token"),
    "induction": ("induction score", "detector: share on the token just after an earlier copy of the query's "
                                     "token (on a sentence; 0 where nothing repeats)"),
    "sink": ("sink score", "detector: mean attention of each query but the first on the first token"),
}
CORPUS_STATISTICS = {**STATISTICS, **DETECTORS}    # what a corpus result holds per head
NAMES = tuple(CORPUS_STATISTICS)                   # the order of the statistic axis
# Where a share-of-attention statistic looks, for a sentence a person reads ("puts 63 % of its attention ...").
WHERE: dict[str, str] = {
    "cls": "on [CLS]", "sep": "on [SEP]", "previous": "on the token just before", "next": "on the token just after",
    "self": "on itself", "previous_token": "on the token just before", "duplicate_token": "on earlier copies of "
    "its own token", "induction": "on the token after an earlier copy of its own", "sink": "on the first token",
}


def key_masks(tokens: Sequence[str], special_mask: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    """(opening, closing) key masks: [CLS]/[SEP] in BERT-style sentences, else the tokenizer's own
    specials (one at position 0 opens, the others close). The rule the Head statistics page uses."""
    opening, closing = special_masks(tokens, special_mask)
    if opening.any() or closing.any():
        return opening, closing
    special = np.asarray(special_mask, dtype=bool)
    opening = np.zeros_like(special)
    opening[:1] = special[:1]
    return opening, special & ~opening


def sentence_fixed_bytes(config, t: int, n_heads: int = 0, d_model: int = 0) -> int:
    """Bytes one sentence's statistics need whatever the chunk: the layer recomputed from the trace
    (every intermediate of one block: analysis/budget.block_bytes for `config`; without one, a
    standard block of n_heads and d_model with d_ff = 4 d_model), the three detector patterns
    (float64) with the transient tables that build them, and the |i - k| distances."""
    if config is not None:
        layer = block_bytes(config, t)
    else:                                             # q, k, v, head_out; scores, weights, softmax; FFN
        layer = (4 * t * d_model + 3 * n_heads * t * t + 8 * t * d_model + 8 * t * d_model) * FLOAT32
    return layer + 6 * t * t * 8 + 2 * t * t * FLOAT32


def head_bytes(t: int) -> int:
    """Bytes per head of a chunk: its weights as float64 for the detectors (8 T²) and the statistics'
    float32 temporaries (at most two T × T at once, 8 T²), with room for one more float64 table."""
    return 24 * t * t


def statistics_chunk(config, t: int, budget: int | None = None, n_heads: int = 0, d_model: int = 0) -> int:
    """Heads measured at once at t tokens so one sentence's work stays within the per-job budget
    (default $ATTENTION_EXPLORER_JOB_MB); at least one head."""
    budget = job_budget_bytes() if budget is None else int(budget)
    heads = config.n_heads if config is not None else n_heads
    fixed = sentence_fixed_bytes(config, t, n_heads, d_model)
    return batch_size(head_bytes(t), max(1, budget - fixed), most=heads)


def sentence_bytes(config, t: int, budget: int | None = None) -> int:
    """Peak bytes of one sentence's statistics at t tokens with the chunk the budget allows: over the
    budget only when one head at a time still does not fit (a very long text on a large model)."""
    return sentence_fixed_bytes(config, t) + statistics_chunk(config, t, budget) * head_bytes(t)


def sentence_values(trace: Trace, budget: int | None = None, config=None) -> np.ndarray:
    """(statistics, layers, heads) float32: every statistic and detector of every head on one sentence
    (the Head statistics and Head detectors pages' measures).

    One layer at a time, recomputed from the trace and let go after (not kept in the layer cache), and
    a chunk of heads at a time within the per-job budget (statistics_chunk): stacking every layer's
    weights took L · H · T² floats and several temporaries of that size (about 0.4 GB for one 512-token
    MiniLM sentence). The numbers do not depend on the chunks: every head is measured on its own.
    config: the model's TransformerConfig, for the estimate (without it, a standard block's)."""
    t, n_layers, n_heads = len(trace), trace.n_layers, trace.n_heads
    opening, closing = key_masks(trace.tokens, trace.special_mask)
    patterns = {"previous_token": previous_token_pattern(t), "duplicate_token": duplicate_token_pattern(trace.ids),
                "induction": induction_pattern(trace.ids)}                    # (T, T) float64 each
    first = np.zeros(t, dtype=bool)
    first[0] = True
    out = np.zeros((len(NAMES), n_layers, n_heads), dtype=np.float32)      # (S, L, H)
    parts = chunks(n_heads, statistics_chunk(config, t, budget, n_heads, trace.resid.shape[-1]))
    for layer in range(n_layers):
        weights = trace.recompute_layer(layer).weights                     # (H, T, T) float32
        for part in parts:
            heads = slice(part.start, part.stop)
            w = weights[heads]                                              # (h, T, T)
            stats = head_statistics(w[None], opening, closing)              # each field (1, h)
            for name in STATISTICS:
                out[NAMES.index(name), layer, heads] = stats.get(name)[0]
            w64 = np.asarray(w, dtype=np.float64)                           # (h, T, T)
            for name, pattern in patterns.items():
                out[NAMES.index(name), layer, heads] = pattern_scores(w64[None], pattern)[0]
            if t >= 2:             # the sink: mean attention of each query but the first on the first token
                out[NAMES.index("sink"), layer, heads] = w64[:, 1:][..., first].sum(-1).mean(-1)
            del w64
        del weights
    return out


@dataclass(frozen=True, eq=False)
class CorpusStats:
    """Per-sentence head statistics of one model over one corpus, and their summaries."""
    model: str
    texts: tuple[str, ...]
    values: np.ndarray            # (sentences, statistics, layers, heads) float32
    n_tokens: np.ndarray          # (sentences,) tokens each sentence made
    engine: str = "local"         # how it was computed: "local", "ray", or the reason Ray was not used
    note: str = ""

    def __post_init__(self):
        if self.values.ndim != 4 or self.values.shape[:2] != (len(self.texts), len(NAMES)):
            raise ValueError(f"values must be (sentences={len(self.texts)}, statistics={len(NAMES)}, layers, "
                             f"heads), got {self.values.shape}")

    @property
    def n_sentences(self) -> int:
        return len(self.texts)

    @property
    def shape(self) -> tuple[int, int]:
        """(layers, heads)."""
        return self.values.shape[2], self.values.shape[3]

    def per_sentence(self, name: str) -> np.ndarray:
        """(sentences, layers, heads): one statistic on every sentence."""
        if name not in CORPUS_STATISTICS:
            raise KeyError(f"unknown statistic {name!r}; choose from {list(NAMES)}")
        return self.values[:, NAMES.index(name)]

    def mean(self, name: str) -> np.ndarray:
        """(layers, heads) mean over the sentences (float64 sums: 10,000 sentences lose no digits)."""
        return self.per_sentence(name).mean(axis=0, dtype=np.float64)

    def spread(self, name: str) -> np.ndarray:
        """(layers, heads) standard deviation over the sentences."""
        return self.per_sentence(name).std(axis=0, dtype=np.float64)

    def typical(self, name: str, layer: int, head: int, k: int = 5) -> tuple[list[int], list[int]]:
        """(most typical, least typical) sentence indices for one head: nearest to its mean first,
        farthest from it first; a passage that repeats is listed once. Ties go to the earlier sentence."""
        column = self.per_sentence(name)[:, layer, head].astype(np.float64)   # (sentences,)
        gap = np.abs(column - column.mean())
        return self._distinct(np.argsort(gap, kind="stable"), k), self._distinct(np.argsort(-gap, kind="stable"), k)

    def _distinct(self, order: np.ndarray, k: int) -> list[int]:
        seen, kept = set(), []
        for i in order:
            if self.texts[i] not in seen:
                seen.add(self.texts[i])
                kept.append(int(i))
                if len(kept) == k:
                    break
        return kept


@dataclass(frozen=True)
class Strongest:
    """The head with the highest mean of one statistic over a corpus, and how many heads pass half."""
    layer: int
    head: int
    mean: float
    spread: float
    over_half: int       # heads whose mean is above 0.5 (for a share of attention: most of it)
    heads: int           # every head of the model
    sentences: int


def strongest(stats: CorpusStats, name: str) -> Strongest:
    """The head with the highest mean `name` (ties: the first in layer, head order)."""
    mean, spread = stats.mean(name), stats.spread(name)
    layer, head = divmod(int(mean.argmax()), mean.shape[1])
    return Strongest(layer, head, float(mean[layer, head]), float(spread[layer, head]), int((mean > 0.5).sum()),
                     int(mean.size), stats.n_sentences)


def combine(model: str, texts: Sequence[str], rows: Sequence[tuple[np.ndarray, int]],
            engine: str = "local", note: str = "") -> CorpusStats:
    """CorpusStats from one (values (S, L, H), n_tokens) row per text, in the texts' order."""
    if len(rows) != len(texts):
        raise ValueError(f"{len(rows)} results for {len(texts)} sentences")
    if not rows:
        raise ValueError("the corpus has no sentences.")
    values = np.stack([v for v, _ in rows]).astype(np.float32)        # (N, S, L, H)
    n_tokens = np.asarray([n for _, n in rows], dtype=np.int32)
    return CorpusStats(model, tuple(texts), values, n_tokens, engine, note)
