"""Training a decoder-only language model, one small step at a time.

The loop is a generator: it yields a Progress record every few steps, so a page can
draw a live loss curve, and the caller stops it simply by not asking for more. Every
random choice (initial weights, batches) comes from one seed, so a run can be repeated.
Torch's thread count is process-wide: callers set it once, never here.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Iterator, Optional

import numpy as np
import torch
from torch.nn import functional as F

from core import Transformer, TransformerConfig

from .loop import LossNotFinite, train_steps
from .weights import seeded, snapshot


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 600              # optimizer updates
    batch_size: int = 32          # sequences per update
    lr: float = 3e-3              # peak learning rate (AdamW), after a short warm-up
    warmup: int = 30              # steps of linear warm-up: big early updates make pre-LN unstable
    weight_decay: float = 0.01
    grad_clip: float = 1.0        # gradient norm limit, one more guard against blow-ups
    seed: int = 0
    report_every: int = 10        # a Progress record every this many steps
    eval_batches: int = 4         # validation batches per report

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "report_every", "eval_batches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"the learning rate must be a positive number, got {self.lr}.")


@dataclass(frozen=True)
class Progress:
    step: int                     # updates done so far
    total: int
    loss: float                   # mean training loss since the last report
    val_loss: float               # loss on held-out text (never trained on)
    tokens_per_s: float           # training tokens processed per second of wall time
    elapsed: float                # seconds since the start


# -- data -----------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class TokenStream:
    """A corpus as one stream of ids, split into a training part and a held-out part."""
    train: torch.Tensor           # (N_train,) long
    val: torch.Tensor             # (N_val,) long
    context: int                  # tokens the model sees at once

    def batch(self, split: str, size: int, generator: torch.Generator):
        """Random windows: x = ids[i : i+context], y = the same shifted by one (the next tokens)."""
        data = self.train if split == "train" else self.val
        starts = torch.randint(0, len(data) - self.context, (size,), generator=generator)
        offsets = torch.arange(self.context)
        x = data[starts[:, None] + offsets]            # (B, context)
        y = data[starts[:, None] + offsets + 1]        # (B, context)
        return x, y


def make_stream(ids: np.ndarray, context: int, val_fraction: float = 0.1) -> TokenStream:
    """Split the ids (the last `val_fraction` held out); refuses a corpus too small for the context."""
    problem = data_problem(len(ids), context, val_fraction)
    if problem:
        raise ValueError(problem)
    ids = torch.as_tensor(np.asarray(ids), dtype=torch.long)
    cut = len(ids) - int(len(ids) * val_fraction)
    return TokenStream(ids[:cut], ids[cut:], context)


def data_problem(n_tokens: int, context: int, val_fraction: float = 0.1) -> Optional[str]:
    if context < 1:
        return "The context length must be at least 1 token: the model needs something to read."
    n_val = int(n_tokens * val_fraction)
    if n_val <= context or n_tokens - n_val <= 4 * context:
        need = int(math.ceil((context + 1) / val_fraction)) if val_fraction else 0
        return (f"The corpus is too small for a context of {context} tokens: it has {n_tokens:,} tokens, "
                f"and training needs many windows of {context + 1} tokens plus a held-out part "
                f"({val_fraction:.0%}) longer than one window. Add text (at least {max(need, 5 * context):,} "
                "tokens) or shorten the context.")
    return None


# -- the model ---------------------------------------------------------------------------------
def lm_config(vocab_size: int, context: int = 32, d_model: int = 64, n_heads: int = 4, n_layers: int = 2,
              positional: str = "learned", tie_embeddings: bool = True,
              d_ff: Optional[int] = None) -> TransformerConfig:
    """A GPT-style decoder: pre-LN, causal mask, logits over the vocabulary. Checks its own sizes."""
    return TransformerConfig(
        vocab_size=vocab_size, d_model=d_model, n_heads=n_heads, n_layers=n_layers,
        d_ff=d_ff or 4 * d_model, max_positions=context, positional=positional, norm="pre",
        activation="gelu", eps=1e-5, type_vocab_size=0, embed_norm=False, causal=True,
        lm_head=True, tie_embeddings=tie_embeddings)


def new_model(config: TransformerConfig, seed: int = 0) -> Transformer:
    """A decoder with random starting weights, the same for the same seed."""
    return seeded(lambda: Transformer(config), seed)


def count_parameters(config: TransformerConfig) -> int:
    with torch.device("meta"):
        return sum(p.numel() for p in Transformer(config).parameters())


def lm_loss(net: Transformer, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    logits = net(x)                                                    # (B, T, vocab)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))  # over B*T positions


@torch.no_grad()
def evaluate(net: Transformer, data: TokenStream, batches: int, seed: int = 1234, batch_size: int = 64) -> float:
    """Mean validation loss on fixed held-out windows (the same windows at every report)."""
    gen = torch.Generator().manual_seed(seed)
    was_training = net.training
    net.eval()
    losses = [lm_loss(net, *data.batch("val", batch_size, gen)).item() for _ in range(batches)]
    net.train(was_training)
    return float(np.mean(losses))


def learning_rate(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    done = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))


def train_lm(net: Transformer, data: TokenStream, cfg: TrainConfig,
             on_good_weights: Optional[Callable[[dict], None]] = None,
             on_step: Optional[Callable[[int], None]] = None) -> Iterator[Progress]:
    """Train `net` in place through the one loop, yielding Progress every `cfg.report_every` steps.

    on_good_weights(snapshot) is called at each report with weights whose loss was finite,
    so a caller that is interrupted keeps the last good model. A NaN/inf loss puts the
    last good weights back into `net` and raises LossNotFinite.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    optimizer = torch.optim.AdamW(net.parameters(), lr=cfg.lr, betas=(0.9, 0.95),
                                  weight_decay=cfg.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: learning_rate(step, cfg) / cfg.lr)

    def batch_loss(step: int) -> tuple[torch.Tensor, int]:
        x, y = data.batch("train", cfg.batch_size, gen)
        return lm_loss(net, x, y), x.numel()

    last_good, last_good_step = snapshot(net), 0
    try:
        for tick in train_steps(net, batch_loss, optimizer, cfg.steps, cfg.report_every, schedule, cfg.grad_clip,
                                on_step):
            val = evaluate(net, data, cfg.eval_batches)
            if math.isfinite(val):
                last_good, last_good_step = snapshot(net), tick.step
                if on_good_weights:
                    on_good_weights(last_good)
            yield Progress(tick.step, tick.total, tick.loss, val, tick.tokens_per_s, tick.elapsed)
    except LossNotFinite as exc:
        net.load_state_dict(last_good)
        net.eval()
        raise LossNotFinite(exc.step, exc.loss,
                            f"The loss became {exc.loss} at step {exc.step}: the updates grew too large "
                            "(try a smaller learning rate). The model keeps its last good weights "
                            f"(from step {last_good_step}).") from None
    net.eval()


# -- using the trained model ------------------------------------------------------------------------
@torch.no_grad()
def next_token_probs(net: Transformer, ids: list[int], temperature: float = 1.0) -> np.ndarray:
    """P(next token | the last `context` ids), softmax(logits / temperature); (vocab,)."""
    if not ids:
        raise ValueError("the prefix has no tokens.")
    if temperature <= 0:
        raise ValueError("the temperature must be above 0.")
    window = ids[-net.config.max_positions:]
    logits = net(torch.tensor([window]))[0, -1]                        # (vocab,)
    return torch.softmax(logits.double() / temperature, dim=-1).numpy()


def generate(net: Transformer, ids: list[int], n_tokens: int, temperature: float = 1.0,
             seed: int = 0) -> list[int]:
    """Sample `n_tokens` more tokens one at a time (the same seed gives the same text)."""
    rng = np.random.default_rng(seed)
    out = list(ids)
    for _ in range(n_tokens):
        probs = next_token_probs(net, out, temperature)
        nxt = int(rng.choice(len(probs), p=probs / probs.sum()))
        out.append(nxt)
    return out[len(ids):]


# -- one training step, every number shown ----------------------------------------------------------
@dataclass(frozen=True)
class StepBreakdown:
    position: int                 # which position of the first sequence is explained
    context_ids: list[int]        # the ids that position could see
    target_id: int                # the true next token
    logits: np.ndarray            # (vocab,) scores at that position
    probs: np.ndarray             # (vocab,) softmax(logits)
    position_loss: float          # -log probs[target_id]
    batch_loss: float             # mean over every position of every sequence in the batch
    grad_norms: dict[str, float]  # part of the model -> L2 norm of its parameters' gradient
    token_id: int                 # the token whose embedding we follow
    embed_before: np.ndarray      # (d_model,)
    embed_after: np.ndarray       # (d_model,)
    lr: float

    @property
    def embed_moved(self) -> float:
        return float(np.linalg.norm(self.embed_after - self.embed_before))

    @property
    def embed_norm(self) -> float:
        return float(np.linalg.norm(self.embed_before))

    @property
    def embed_cosine(self) -> float:
        """cos(before, after): how much the update turned the row, not only stretched it."""
        return float(self.embed_before @ self.embed_after
                     / max(self.embed_norm * np.linalg.norm(self.embed_after), 1e-12))

    @property
    def log_sum_exp(self) -> float:
        """log Σ exp(logits), computed stably (shifted by the largest logit)."""
        top = float(self.logits.max())
        return float(np.log(np.exp(self.logits - top).sum()) + top)


def part_of(name: str) -> str:
    """Group parameter names into the parts a learner sees: embeddings, block i, final norm, unembedding."""
    if name.startswith("blocks."):
        return f"block {name.split('.')[1]}"
    if name.startswith("embeddings.token"):
        return "token embeddings"
    if name.startswith("embeddings."):
        return "position embeddings"
    if name.startswith("final_norm"):
        return "final LayerNorm"
    return "unembedding"


def step_breakdown(net: Transformer, x: torch.Tensor, y: torch.Tensor, position: int,
                   token_id: int, lr: float = 0.1) -> StepBreakdown:
    """One plain gradient step (w ← w − lr·∇w) on a copy of `net`, explained.

    The original model is not changed. Plain SGD, not Adam, so the move of an
    embedding row is exactly lr × its gradient and can be checked by hand.
    """
    work = copy.deepcopy(net).train()
    logits = work(x)                                                   # (B, T, vocab)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    work.zero_grad(set_to_none=True)
    loss.backward()
    squares: dict[str, float] = {}
    for name, p in work.named_parameters():
        if p.grad is not None:
            squares[part_of(name)] = squares.get(part_of(name), 0.0) + float(p.grad.pow(2).sum())
    row = logits[0, position].detach().double()
    before = work.token_table[token_id].detach().clone()
    with torch.no_grad():
        for p in work.parameters():
            if p.grad is not None:
                p -= lr * p.grad
    probs = torch.softmax(row, dim=-1)
    target = int(y[0, position])
    return StepBreakdown(
        position=position, context_ids=[int(i) for i in x[0, : position + 1]], target_id=target,
        logits=row.numpy(), probs=probs.numpy(), position_loss=float(-torch.log(probs[target])),
        batch_loss=float(loss.detach()), grad_norms={k: math.sqrt(v) for k, v in squares.items()},
        token_id=token_id, embed_before=before.numpy(),
        embed_after=work.token_table[token_id].detach().numpy().copy(), lr=lr)
