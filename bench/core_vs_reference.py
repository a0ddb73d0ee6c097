"""Our MiniLM trace vs transformers' eager BertModel (attentions + hidden states), same process.

    python bench/core_vs_reference.py [--runs 25]

Interleaves the two forwards at 8, 32, 128 and 512 tokens on 2 threads and prints the
median times and the ratio ours/reference (target <= 1.10), then the time of
load_model("minilm") (target < 2 s warm) and peak resident memory.
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

torch.set_num_threads(2)

from models import load_model  # noqa: E402
from models.registry import minilm_folder  # noqa: E402


def text_of(n_tokens: int, model) -> str:
    words = ("the quick brown fox jumps over the lazy dog while time flies like an arrow "
             "and fruit flies like a banana ").split()
    k = 1
    while True:  # the shortest run of words that makes n_tokens tokens with [CLS] and [SEP]
        candidate = " ".join(words[i % len(words)] for i in range(k))
        if len(model.tokenizer.encode(candidate).ids) >= n_tokens:
            return candidate
        k += 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=25)
    args = parser.parse_args()

    load_model("minilm")  # warm the disk cache
    t0 = time.perf_counter()
    model = load_model("minilm")
    load_s = time.perf_counter() - t0

    from transformers import AutoTokenizer, BertModel
    folder = str(minilm_folder())
    ref = BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    ref_tok = AutoTokenizer.from_pretrained(folder)

    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, runs={args.runs}")
    print(f"{'tokens':>6} {'ours ms':>9} {'ref ms':>9} {'ratio':>6}")
    worst = 0.0
    for n in (8, 32, 128, 512):
        text = text_of(n, model) if n < 512 else "word " * 600
        tokens = len(model.trace(text).tokens)

        def ours():
            model.trace(text)

        def reference():
            with torch.inference_mode():
                batch = ref_tok(text, return_tensors="pt", truncation=True, max_length=512)
                ref(**batch, output_attentions=True, output_hidden_states=True)

        for _ in range(3):
            ours(), reference()
        times = {"ours": [], "ref": []}
        for _ in range(args.runs):
            for name, fn in (("ours", ours), ("ref", reference)):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
        a, b = statistics.median(times["ours"]), statistics.median(times["ref"])
        worst = max(worst, a / b)
        print(f"{tokens:>6} {a * 1e3:>9.2f} {b * 1e3:>9.2f} {a / b:>6.2f}")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"worst ratio ours/reference: {worst:.2f} (target <= 1.10)")
    print(f"load_model('minilm'): {load_s:.2f} s warm (target < 2 s)")
    print(f"peak resident memory of this process (both models loaded): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
