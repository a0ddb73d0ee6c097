"""The recipes of the two small models that ship with the app, and the runs that make them.

A fresh install has only MiniLM, an encoder: the pages that need a decoder, and the Encoder–decoder
page, would have nothing to show until someone trains. So the app ships two models trained here, with
the app's own code on the app's own data (nothing comes from a model hub):

  Grammar LM     a GPT-style decoder on the built-in grammar corpus (training/corpus.py), through the
                 same tokenizer and loop as the Train page (training/bpe.py, training/lm.py)
  reversal toy   the Encoder–decoder page's letter-reversal model (training/reversal.py)

Every choice is in a frozen recipe below and every random draw comes from its seeds, so a rebuild
(`python -m jobs.shipped`, which also writes the folders) gives the same models. Torch's thread count
changes the order of float sums: the build runs on one thread, so the same machine gives the same bits.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Optional

import numpy as np
import torch

from core import Transformer, TransformerConfig
from core.seq2seq import EncoderDecoder

from .bpe import train_bpe
from .corpus import CorpusConfig, generate_corpus
from .lm import Progress, TrainConfig, lm_config, make_stream, new_model, train_lm
from .reversal import ReversalTask, Seq2SeqProgress, accuracy, new_seq2seq, seq2seq_config, train_seq2seq
from .weights import snapshot


@dataclass(frozen=True)
class GrammarLMRecipe:
    corpus_seed: int = 0          # the built-in corpus, as the Train page generates it
    n_sentences: int = 12_000     # the Train page's largest corpus: every word seen in every role
    vocab_size: int = 384         # BPE; the corpus's 119 words each become one token (328 tokens in all)
    context: int = 32             # tokens the model reads at once: three or four sentences
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    steps: int = 2000             # about a minute on one CPU thread; the loss is flat from step 1,500
    batch_size: int = 32
    lr: float = 3e-3
    warmup: int = 30
    seed: int = 0                 # initial weights and batches

    def corpus(self) -> list[str]:
        return generate_corpus(CorpusConfig(seed=self.corpus_seed, n_sentences=self.n_sentences))

    def model_config(self, vocab_size: int) -> TransformerConfig:
        return lm_config(vocab_size, self.context, self.d_model, self.n_heads, self.n_layers)

    def train_config(self) -> TrainConfig:
        return TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr, warmup=self.warmup,
                           seed=self.seed, report_every=100)


@dataclass(frozen=True)
class ReversalRecipe:
    """The Encoder–decoder page's default settings (pages/seq2seq.py), so its controls describe the model shown."""
    n_letters: int = 10
    max_len: int = 8
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    steps: int = 800
    lr: float = 3e-3
    seed: int = 0

    def task(self) -> ReversalTask:
        return ReversalTask(n_letters=self.n_letters, min_len=min(3, self.max_len), max_len=self.max_len)

    def model_config(self) -> TransformerConfig:
        return seq2seq_config(self.task(), self.d_model, self.n_heads, self.n_layers)


GRAMMAR_LM = GrammarLMRecipe()
REVERSAL = ReversalRecipe()
# The Grammar LM's weights kept at these steps of its build, besides its random start (step 0) and its last
# step: Across training checkpoints shows its heads forming with no Hub (models/shipped.py).
CHECKPOINT_STEPS = (100, 200, 400, 800)


@dataclass(frozen=True, eq=False)
class TrainedLM:
    net: Transformer              # trained, in eval mode
    initial: dict                 # the random weights it started from (Try your model's "before")
    checkpoints: dict             # step -> the weights after that many steps (CHECKPOINT_STEPS)
    tokenizer_json: str
    history: list[Progress]
    info: dict                    # what config.json's "info" says about the run


@dataclass(frozen=True, eq=False)
class TrainedReversal:
    net: EncoderDecoder           # trained, in eval mode
    history: list[Seq2SeqProgress]
    info: dict


def one_thread() -> None:
    """The build's float sums in one fixed order (see the module's note)."""
    torch.set_num_threads(1)


def train_grammar_lm(recipe: GrammarLMRecipe = GRAMMAR_LM,
                     report: Optional[Callable[[Progress], None]] = None) -> TrainedLM:
    """Corpus -> BPE -> decoder, as the Train page does it, with the recipe's settings."""
    lines = recipe.corpus()
    tokenizer = train_bpe(lines, recipe.vocab_size)
    stream = make_stream(tokenizer.encode_lines(lines), recipe.context)
    net = new_model(recipe.model_config(tokenizer.vocab_size), seed=recipe.seed)
    initial = snapshot(net)
    history, checkpoints = [], {}
    for progress in train_lm(net, stream, recipe.train_config()):
        history.append(progress)
        if progress.step in CHECKPOINT_STEPS:     # kept between steps: the run itself is not touched
            checkpoints[progress.step] = snapshot(net)
        if report:
            report(progress)
    last = history[-1]
    info = {"label": "Grammar LM", "steps": last.step, "val_loss": round(last.val_loss, 4), "status": "done",
            "shipped": True, "recipe": asdict(recipe),
            "words": sorted({word for line in lines for word in line.split()})}   # all it knows (119)
    return TrainedLM(net.eval(), initial, checkpoints, tokenizer.to_json(), history, info)


def train_reversal_toy(recipe: ReversalRecipe = REVERSAL,
                       report: Optional[Callable[[Seq2SeqProgress], None]] = None) -> TrainedReversal:
    """The reversal model with the page's default settings, trained as its Train button does."""
    task = recipe.task()
    net = new_seq2seq(recipe.model_config(), recipe.seed)
    history = []
    for progress in train_seq2seq(net, task, steps=recipe.steps, lr=recipe.lr, seed=recipe.seed,
                                  report_every=max(10, recipe.steps // 20)):
        history.append(progress)
        if report:
            report(progress)
    held_out = task.split(seed=recipe.seed)[1]
    info = {"label": "reversal toy", "accuracy": accuracy(net, task, held_out), "shipped": True,
            "recipe": asdict(recipe),
            # the curve the page draws for it: step, loss, held-out exact match
            "history": [[p.step, round(p.loss, 4), p.accuracy] for p in history]}
    return TrainedReversal(net.eval(), history, info)


def lm_top_next(net: Transformer, tokenizer_json: str, prompt: str) -> str:
    """The likeliest next word after `prompt` (for the build's own check)."""
    from .bpe import BPETokenizer

    tok = BPETokenizer.from_json(tokenizer_json)
    with torch.no_grad():
        logits = net(torch.tensor([tok.encode(prompt)]))[0, -1]       # (vocab,)
    return tok.vocabulary()[int(np.argmax(logits.numpy()))].lstrip("▁")
