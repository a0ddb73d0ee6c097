"""Training on a laptop: the train page's default models, timed on 2 CPU threads.

1. The default decoder-only model of the train page (built-in corpus of 6,000 sentences,
   BPE vocabulary up to 384, context 32, d_model 64, 4 heads, 2 layers, batch 32, 800 steps):
   the time to reach a validation loss of TARGET_VAL_LOSS, the final validation loss and
   the training tokens per second. Target: the stated loss in < 60 s.
2. The encoder-decoder on string reversal with the seq2seq page's defaults (10 letters,
   strings of 3-8, d_model 64, 4 heads, 2 layers each side, 800 steps): exact-match
   accuracy on 200 held-out strings and the training time. Target: >= 95 % in < 60 s.

Tokenizer training and corpus generation are timed separately (they are cached in the app).
Both runs record their probe every few steps as the app does (training/probe.py), and the
bench prints the time the pages promise (training/cost.py's estimate) next to the time
measured: the estimate is meant to be right within a factor of about two on an idle machine.

    python bench/train_tiny.py [--threads 2]

The machine may be shared: expect noise in the times, not in the losses (fixed seeds).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.corpus import CorpusConfig, generate_corpus  # noqa: E402
from training.cost import duration, seq2seq_cost, training_cost  # noqa: E402
from training.probe import lm_recorder, reversal_recorder  # noqa: E402
from training.reversal import ReversalTask, new_seq2seq, seq2seq_config, train_seq2seq  # noqa: E402
from training.lm import TrainConfig, lm_config, make_stream, new_model, train_lm  # noqa: E402
from training.bpe import train_bpe  # noqa: E402

# The stated validation loss, in nats per token: perplexity e^0.9 = 2.5, i.e. the model has
# narrowed the next token to about 2.5 equally likely choices. For scale, the bench prints
# ln(vocabulary) (a random model) and the corpus's unigram entropy (a model that ignores
# context); the default run ends near 0.8.
TARGET_VAL_LOSS = 0.9
SECONDS = 60.0


def decoder() -> bool:
    start = time.perf_counter()
    lines = generate_corpus(CorpusConfig(seed=0, n_sentences=6000))
    corpus_s = time.perf_counter() - start
    start = time.perf_counter()
    tokenizer = train_bpe(lines, 384)
    ids = tokenizer.encode_lines(lines)
    bpe_s = time.perf_counter() - start
    counts = np.bincount(ids, minlength=tokenizer.vocab_size)
    share = counts[counts > 0] / counts.sum()
    unigram = float(-(share * np.log(share)).sum())
    data = make_stream(ids, context=32)
    net = new_model(lm_config(tokenizer.vocab_size, context=32, d_model=64, n_heads=4, n_layers=2), seed=0)
    cfg = TrainConfig(steps=800, batch_size=32, lr=3e-3, seed=0, warmup=30, report_every=20)
    print(f"Decoder: corpus {len(lines):,} lines ({corpus_s:.2f} s), BPE {tokenizer.vocab_size} tokens "
          f"-> {len(ids):,} ids ({bpe_s:.2f} s); {sum(p.numel() for p in net.parameters()):,} parameters")
    print(f"  for scale: random model ln({tokenizer.vocab_size}) = {np.log(tokenizer.vocab_size):.2f}, "
          f"unigram entropy {unigram:.2f}; target val loss {TARGET_VAL_LOSS}")
    probe = lm_recorder(net, tokenizer, lines, ids, cfg.steps)
    estimate = training_cost(net.config, cfg).seconds
    reached, last = None, None
    for p in train_lm(net, data, cfg, on_step=probe.on_step):
        last = p
        if reached is None and p.val_loss <= TARGET_VAL_LOSS:
            reached = p
        if p.step % 200 == 0:
            print(f"  step {p.step:>4}: train {p.loss:.3f}  val {p.val_loss:.3f}  {p.elapsed:5.1f} s  "
                  f"{p.tokens_per_s:,.0f} tokens/s")
    print(f"  final: val loss {last.val_loss:.3f} after {last.step} steps in {last.elapsed:.1f} s, "
          f"{last.tokens_per_s:,.0f} training tokens/s")
    promise(estimate, last.elapsed, probe)
    if reached is None:
        print(f"  validation loss {TARGET_VAL_LOSS} NOT reached")
        return False
    ok = reached.elapsed < SECONDS
    print(f"  val loss <= {TARGET_VAL_LOSS} at step {reached.step}, {reached.elapsed:.1f} s "
          f"(target < {SECONDS:.0f} s): {'met' if ok else 'MISSED'}")
    return ok


def reversal() -> bool:
    task = ReversalTask(n_letters=10, min_len=3, max_len=8)
    net = new_seq2seq(seq2seq_config(task, 64, 4, 2), seed=0)
    print(f"\nEncoder-decoder, reversal of 3-8 letters from a-j: "
          f"{sum(p.numel() for p in net.parameters()):,} parameters")
    probe = reversal_recorder(net, task, 800)
    estimate = seq2seq_cost(net.config, task, 800, 64, 40).seconds
    last = None
    for p in train_seq2seq(net, task, steps=800, lr=3e-3, seed=0, report_every=40, on_step=probe.on_step):
        last = p
        if p.step % 200 == 0:
            print(f"  step {p.step:>4}: loss {p.loss:.3f}  held-out exact match {p.accuracy:6.1%}  {p.elapsed:5.1f} s")
    ok = last.accuracy >= 0.95 and last.elapsed < SECONDS
    print(f"  final: {last.accuracy:.1%} exact match on 200 held-out strings in {last.elapsed:.1f} s "
          f"(target >= 95 % in < {SECONDS:.0f} s; the time includes the accuracy checks): "
          f"{'met' if ok else 'MISSED'}")
    share = probe.statistic().mean(axis=-1)[:, -1]            # anti-diagonal share, mean of heads, last layer
    print(f"  probe {probe.probe.text!r}: anti-diagonal share {share[0]:.0%} at step 0 -> {share[-1]:.0%} "
          f"at step {probe.steps[-1]}")
    promise(estimate, last.elapsed, probe)
    return ok


def promise(estimate: float, measured: float, probe) -> None:
    """The estimate a page shows before the run, beside the measured time, and the probe's memory."""
    ratio = measured / estimate
    print(f"  the page promised {duration(estimate)}; measured {duration(measured)} (x{ratio:.2f}: "
          f"{'within' if 0.5 <= ratio <= 2 else 'OUTSIDE'} a factor of two). Probe: {len(probe.snapshots)} "
          f"snapshots, every {probe.every} steps, {probe.nbytes / 1e6:.2f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (the target is for 2)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    results = [decoder(), reversal()]
    print("\nAll targets met." if all(results) else "\nA target was MISSED (see above).")


if __name__ == "__main__":
    main()
