"""Head importance: every head of MiniLM knocked out alone at 64 tokens, batched, against 72
separate ablated traces in the same run. Target: under 3 s on 2 cores.

    python bench/ablation.py [--tokens 64] [--repeats 5] [--threads 2]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from analysis.ablation import head_importance  # noqa: E402
from models import load_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = load_model("minilm")
    enc = model.tokenizer.encode("The quick brown fox jumps over the lazy dog by the river bank. " * 20)
    ids = enc.ids[: args.tokens - 1] + [enc.ids[-1]]
    heads = [(layer, head) for layer in range(model.config.n_layers) for head in range(model.config.n_heads)]
    head_importance(model.net, ids)                                   # warm-up
    batched, separate = [], []
    for _ in range(args.repeats):                                     # interleaved: the same machine state
        start = time.perf_counter()
        head_importance(model.net, ids)
        batched.append(time.perf_counter() - start)
        start = time.perf_counter()
        for layer_head in heads:
            model.net.trace(ids, ablate=[layer_head])
        separate.append(time.perf_counter() - start)
    b, s = statistics.median(batched), statistics.median(separate)
    print(f"MiniLM, {len(ids)} tokens, {len(heads)} heads, {args.threads} threads, median of {args.repeats}:")
    print(f"  batched head importance   {b:6.2f} s   (target < 3 s)")
    print(f"  72 separate traces        {s:6.2f} s   ratio batched/separate {b / s:.2f}")


if __name__ == "__main__":
    main()
