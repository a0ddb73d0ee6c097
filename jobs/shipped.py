"""Rebuild the models that ship with the app: python -m jobs.shipped [--only grammar-lm|reversal]

Trains the Grammar LM and the reversal toy from their recipes (training/shipped.py) on one CPU thread,
checks that they learned what a newcomer will ask of them, and writes them where the app opens them
(models/shipped.py: models/shipped_models/). A run takes about two minutes; the same machine gives
the same files. This command lives in jobs/ because it joins training (the runs) and models (the
saved format), as the corpus commands do; the app never runs it.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from core import from_state_dict
from models.saved import TEMP_SUFFIX, folder_bytes, save_model
from models.shipped import (GRAMMAR_LM, GRAMMAR_LM_STEPS, GRAMMAR_LM_UNTRAINED, REVERSAL, SHIPPED_DIR,
                            replace_folder, save_reversal)
from training.shipped import (GRAMMAR_LM as LM_RECIPE, REVERSAL as REVERSAL_RECIPE, lm_top_next, one_thread,
                              train_grammar_lm, train_reversal_toy)

# What the Grammar LM must have learned: the corpus decides each of these next words.
LM_CHECKS = {"paris is the capital of": "france", "the capital of japan is": "tokyo", "cows eat": "grass",
             "the cow eats": "grass", "the king rules": "his", "the queen rules": "her"}
MIN_REVERSAL_ACCURACY = 0.95


def build_grammar_lm(root: Path) -> list[str]:
    """Train, save the model, its random start and its weights at CHECKPOINT_STEPS under `root`; returns the
    checks that failed."""
    print(f"Grammar LM: {LM_RECIPE}", flush=True)
    lm = train_grammar_lm(report=lambda p: print(f"  step {p.step:5,} / {p.total:,}  loss {p.loss:.3f}  "
                                                 f"validation {p.val_loss:.3f}  {p.elapsed:4.0f} s", flush=True))
    failed = []
    for prompt, expected in LM_CHECKS.items():
        got = lm_top_next(lm.net, lm.tokenizer_json, prompt)
        print(f"  {prompt!r} -> {got!r}" + ("" if got == expected else f"  (expected {expected!r})"))
        if got != expected:
            failed.append(f"Grammar LM: {prompt!r} -> {got!r}, not {expected!r}")
    with tempfile.TemporaryDirectory(prefix=".build.", suffix=TEMP_SUFFIX, dir=root) as tmp:
        start = from_state_dict(lm.net.config, lm.initial)
        built = {GRAMMAR_LM: save_model(lm.net, lm.tokenizer_json, tmp, GRAMMAR_LM, info=lm.info),
                 GRAMMAR_LM_UNTRAINED: save_model(start, lm.tokenizer_json, tmp, GRAMMAR_LM_UNTRAINED, info={
                     "label": "Grammar LM (untrained, random weights)", "steps": 0, "shipped": True,
                     "recipe": asdict(LM_RECIPE)})}
        steps = Path(tmp) / GRAMMAR_LM_STEPS          # its weights during the build (Across training checkpoints)
        for step, state in sorted(lm.checkpoints.items()):
            save_model(from_state_dict(lm.net.config, state), lm.tokenizer_json, steps, f"step{step}", info={
                "label": f"Grammar LM at step {step:,}", "steps": step, "shipped": True,
                "recipe": asdict(LM_RECIPE)})
        built[GRAMMAR_LM_STEPS] = steps
        for name, folder in built.items():
            replace_folder(folder, root / name)
    return failed


def build_reversal(root: Path) -> list[str]:
    print(f"Reversal toy: {REVERSAL_RECIPE}", flush=True)
    toy = train_reversal_toy(report=lambda p: print(f"  step {p.step:4,} / {p.total:,}  loss {p.loss:.3f}  "
                                                    f"held-out exact match {p.accuracy:.0%}  {p.elapsed:4.0f} s",
                                                    flush=True))
    task = REVERSAL_RECIPE.task()
    save_reversal(toy.net, {"n_letters": task.n_letters, "min_len": task.min_len, "max_len": task.max_len},
                  toy.info, root / REVERSAL)
    accuracy = toy.info["accuracy"]
    print(f"  held-out exact match {accuracy:.1%}")
    return [] if accuracy >= MIN_REVERSAL_ACCURACY else [f"reversal toy: {accuracy:.1%} held-out exact match"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs.shipped", description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=[GRAMMAR_LM, REVERSAL], help="rebuild one of the two")
    parser.add_argument("--dir", type=Path, default=SHIPPED_DIR, help="where to write (default: %(default)s)")
    args = parser.parse_args(argv)
    one_thread()
    args.dir.mkdir(parents=True, exist_ok=True)
    started, failed = time.perf_counter(), []
    if args.only in (None, GRAMMAR_LM):
        failed += build_grammar_lm(args.dir)
    if args.only in (None, REVERSAL):
        failed += build_reversal(args.dir)
    for name in (GRAMMAR_LM, GRAMMAR_LM_UNTRAINED, GRAMMAR_LM_STEPS, REVERSAL):
        if (args.dir / name).is_dir():
            print(f"{args.dir / name}: {folder_bytes(args.dir / name) / 1e6:.2f} MB")
    print(f"{time.perf_counter() - started:.0f} s")
    for problem in failed:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
