"""Activation patching grids on a GPT-2-small-shaped model (random weights: 12 layers × 12 heads,
d_model 768, vocabulary 50,257) at 20 tokens, against transformers doing the same patches with
forward hooks, batched the same way (one forward per layer, one row per patched site), in one run.
Target (issue 25): ours ≤ 1.5 × transformers, for the residual grid and for the 144-head grid.

    python bench/patching.py [--tokens 20] [--repeats 3] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from analysis.patching import make_metric, patch_grid  # noqa: E402


def reference_grid(hf, clean_ids: list[int], corrupted_ids: list[int], kind: str,
                   direction: torch.Tensor) -> np.ndarray:
    """transformers: per layer one batched forward of the corrupted prompt, row r patching site r
    with the clean run's activation (captured by hooks), scored by the same logit difference."""
    blocks, n_heads = hf.transformer.h, hf.config.n_head
    d_head = hf.config.n_embd // n_heads
    seen, handles = {}, []
    for layer, block in enumerate(blocks):
        handles.append(block.register_forward_pre_hook(
            lambda m, a, kw, l=layer: seen.__setitem__(("resid", l), (a[0] if a else kw["hidden_states"]).clone()),
            with_kwargs=True))
        handles.append(block.attn.c_proj.register_forward_pre_hook(
            lambda m, a, l=layer: seen.__setitem__(("heads", l), a[0].clone())))
    with torch.no_grad():
        hf(torch.tensor([clean_ids]))
    for h in handles:
        h.remove()
    t = len(corrupted_ids)
    rows = t if kind == "resid_pre" else n_heads
    batch = torch.tensor([corrupted_ids] * rows)                                     # (rows, T)
    out = np.zeros((len(blocks), rows), dtype=np.float32)
    for layer, block in enumerate(blocks):
        if kind == "resid_pre":
            def hook(m, a, kw, l=layer):
                x = (a[0] if a else kw["hidden_states"]).clone()
                r = torch.arange(rows)
                x[r, r] = seen["resid", l][0, r]                                      # row p: position p
                return ((x,) + tuple(a[1:]), kw) if a else (a, dict(kw, hidden_states=x))
            handle = block.register_forward_pre_hook(hook, with_kwargs=True)
        else:
            def hook(m, a, l=layer):
                x = a[0].clone()                                                      # (H, T, H*d_head)
                for h in range(n_heads):
                    x[h, :, h * d_head:(h + 1) * d_head] = seen["heads", l][0, :, h * d_head:(h + 1) * d_head]
                return (x,) + tuple(a[1:])
            handle = block.attn.c_proj.register_forward_pre_hook(hook)
        with torch.no_grad():
            final = hf.transformer(batch).last_hidden_state[:, -1]                  # (rows, d_model), after ln_f
            out[layer] = (final @ direction).numpy()
        handle.remove()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for option, default in (("--tokens", 20), ("--repeats", 3), ("--threads", 2)):
        parser.add_argument(option, type=int, default=default)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    import transformers as tf

    from models import load_model

    torch.manual_seed(0)
    hf = tf.GPT2LMHeadModel(tf.GPT2Config(attn_implementation="eager")).eval()
    with tempfile.TemporaryDirectory() as folder:
        hf.save_pretrained(folder)
        sys.path.insert(0, str(ROOT / "tests"))
        from hf_tiny import tokenizer_for
        tokenizer_for("gpt2").save(str(Path(folder) / "tokenizer.json"))
        ours = load_model(folder)
    rng = np.random.default_rng(0)
    clean = [int(i) for i in rng.integers(0, 50257, args.tokens)]
    corrupted = list(clean)
    corrupted[args.tokens // 2] = (clean[args.tokens // 2] + 1) % 50257
    answer, other = 318, 257
    direction = (hf.lm_head.weight[answer] - hf.lm_head.weight[other]).detach()
    clean_trace = ours.net.trace(clean)
    metric = make_metric(ours, clean, corrupted, answer, other)
    print(f"GPT-2-small shape (random weights), {args.tokens} tokens, {args.threads} threads, "
          f"median of {args.repeats}, ours / transformers with hooks:", flush=True)
    for kind in ("resid_pre", "head"):
        ours_grid = patch_grid(ours, clean_trace, corrupted, kind, metric)            # warm-up, and the check
        ref_grid = reference_grid(hf, clean, corrupted, kind, direction)
        error = float(np.abs(ours_grid.values - ref_grid).max())
        mine, theirs = [], []
        for _ in range(args.repeats):                                                # interleaved
            start = time.perf_counter()
            patch_grid(ours, clean_trace, corrupted, kind, metric)
            mine.append(time.perf_counter() - start)
            start = time.perf_counter()
            reference_grid(hf, clean, corrupted, kind, direction)
            theirs.append(time.perf_counter() - start)
        a, b = statistics.median(mine), statistics.median(theirs)
        n = ours_grid.values.size
        print(f"  {kind:9s} grid ({n} patched runs): ours {a:6.2f} s, transformers {b:6.2f} s, "
              f"ratio {a / b:.2f} (target ≤ 1.5); largest difference {error:.1e}", flush=True)


if __name__ == "__main__":
    main()
