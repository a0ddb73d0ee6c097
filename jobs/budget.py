"""What a corpus job needs in memory, estimated before it starts (issue 27: every expensive job is).

A corpus job reads one passage at a time: the passage's forward pass, its trace, then its work, and
keeps only each passage's small result row. The work is cut to the per-job budget
($ATTENTION_EXPLORER_JOB_MB, analysis/budget.py): the head statistics measure one layer and a chunk
of heads at a time (analysis/corpus.statistics_chunk); the query–key space and the search index
read one head. So a job's peak is one passage's work at its longest length plus the rows kept, at
any corpus size; the estimate says so before the job starts, and the page shows it.

Per passage of t tokens (float32, 4 bytes a number):
  the trace          the residual stream ((2 L + 1) · t · d), the embedding's pieces (3 · t · d),
                     the streamed summary (received, thumbnails, mean attention)
  the forward pass   one block's intermediates at a time (analysis/budget.forward_bytes)
  the work           "stats": one layer recomputed and a chunk of heads (analysis/corpus.sentence_bytes);
                     "head": one head recomputed (trace.head), not its layer
The longest passage is bounded without tokenizing: a token covers at least one byte of UTF-8
(WordPiece and byte-level BPE alike), plus a few special tokens, and no more than the model reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from analysis.budget import FLOAT32, forward_bytes, job_budget_bytes
from analysis.corpus import NAMES, sentence_bytes
from core.budget import estimate_stored_bytes

KINDS = ("stats", "head", "layer")   # every head's statistics; one head's queries and keys (qk space);
                                     # every head of one layer (the search index)
SPECIAL_TOKENS = 4           # [CLS] … [SEP], <s> … </s>: added tokens a passage may get beyond its bytes


@dataclass(frozen=True)
class JobEstimate:
    """A corpus job's memory, before it starts."""
    passages: int
    longest_tokens: int      # an upper bound on the longest passage's tokens
    passage_bytes: int       # one passage at that length: trace + max(forward pass, the work)
    result_bytes: int        # every passage's result row, kept until the job ends
    budget_bytes: int        # the per-job budget the work was cut to

    @property
    def peak_bytes(self) -> int:
        return self.passage_bytes + self.result_bytes

    @property
    def within_budget(self) -> bool:
        return self.peak_bytes <= self.budget_bytes

    def describe(self, where: str = "the server's memory") -> str:
        """One sentence for the person about to start the job (`where` the memory is taken)."""
        mb = lambda n: f"{n / 1e6:,.0f} MB"                              # noqa: E731
        text = (f"Needs about {mb(self.peak_bytes)} of {where} while it runs: one passage at a "
                f"time (up to {self.longest_tokens:,} tokens) and {self.passages:,} small result"
                + ("" if self.passages == 1 else "s"))
        if self.within_budget:
            return text + f", within the per-job budget of {mb(self.budget_bytes)}."
        return text + (f", over the per-job budget of {mb(self.budget_bytes)} even one head at a time: "
                       "shorter passages need less.")


def longest_tokens(texts: Sequence[str], max_tokens: int) -> int:
    """An upper bound on the tokens of the longest passage, without tokenizing."""
    longest = max((len(text.encode("utf-8")) for text in texts), default=0)
    return max(1, min(int(max_tokens), longest + SPECIAL_TOKENS))


def trace_bytes(config, t: int) -> int:
    """What one passage's trace keeps (core.budget.estimate_stored_bytes: the residual stream, the
    embedding's pieces, a language model's next tokens and the summary streamed during the forward pass)."""
    return estimate_stored_bytes(config, t)


def work_budget(config, t: int, budget: int) -> int:
    """What a passage's work may take once its trace is held: the job's budget less the trace."""
    return max(1, int(budget) - trace_bytes(config, t))


def head_work_bytes(config, t: int) -> int:
    """One head recomputed from a trace (trace.head): the layer's input projections, its scores and
    weights (t × t each, twice while the softmax runs) and its output, and the search's pooled rows
    (a few t × t integer tables)."""
    return (3 * t * config.d_model + 4 * t * t + 4 * t * config.d_head) * FLOAT32 + 6 * t * t * 8


def row_bytes(config, kind: str, t: int, per_passage: int = 0) -> int:
    """One passage's result row: every statistic of every head ("stats"), or the head's vectors of
    the tokens it keeps ("head": `per_passage` tokens, all of them when 0), a query and a key each;
    "layer": those of every head of one layer."""
    if kind == "stats":
        return len(NAMES) * config.n_layers * config.n_heads * FLOAT32
    kept = per_passage or t
    heads = config.n_heads if kind == "layer" else 1
    return heads * kept * (2 * config.d_head * FLOAT32 + 2 * 8 + 64)      # q and k, position, the token's text


def estimate(config, max_tokens: int, texts: Sequence[str], kind: str = "stats", budget: int | None = None,
             per_passage: int = 0) -> JobEstimate:
    """The memory of a corpus job over `texts` with a model of `config` that reads up to `max_tokens`.
    per_passage: tokens kept from each passage ("head" jobs that sample, e.g. the query–key space)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    budget = job_budget_bytes() if budget is None else int(budget)
    t = longest_tokens(texts, max_tokens)
    work = sentence_bytes(config, t, work_budget(config, t, budget)) if kind == "stats" else head_work_bytes(config, t)
    passage = trace_bytes(config, t) + max(forward_bytes(config, t), work)
    return JobEstimate(len(texts), t, passage, len(texts) * row_bytes(config, kind, t, per_passage), budget)


def estimate_for(model, texts: Sequence[str], kind: str = "stats", budget: int | None = None,
                 per_passage: int = 0) -> JobEstimate:
    """estimate() for a loaded model (its config and its tokenizer's limit)."""
    max_tokens = getattr(model.tokenizer, "max_tokens", None) or model.config.n_positions
    return estimate(model.config, max_tokens, texts, kind, budget, per_passage)
