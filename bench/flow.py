"""How long attention flow takes for MiniLM: the whole (T, T) matrix and the flow into one output.

    python bench/flow.py                 # 8, 32, 48, 64 and 143 tokens
    python bench/flow.py --tokens 8,256 --full-up-to 32

CPU seconds are reported beside wall seconds: scipy's max-flow solver runs on one core, so CPU
time is what the work costs on an idle machine even when the machine is shared. The text is the
screenshots' paragraph, cut or repeated to the length wanted.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.screenshots import PARAGRAPH  # noqa: E402
from analysis.flow import attention_flow, flow_into  # noqa: E402
from models import load_model  # noqa: E402

WORDS = PARAGRAPH.split()


def text_of(model, n_tokens: int) -> str:
    """Words of the paragraph (repeated) until the model makes n_tokens tokens, specials included."""
    words = (WORDS * (1 + 4 * n_tokens // len(WORDS)))
    low, high = 1, len(words)
    while low < high:                              # the fewest words that reach n_tokens
        mid = (low + high) // 2
        if len(model.tokenizer.encode(" ".join(words[:mid])).ids) >= n_tokens:
            high = mid
        else:
            low = mid + 1
    return " ".join(words[:low])


def timed(work) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    work()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", default="8,32,48,64,143")
    parser.add_argument("--full-up-to", type=int, default=64, help="time the whole matrix up to this many tokens")
    args = parser.parse_args()
    model = load_model("minilm")
    print(f"{'tokens':>6}  {'one output: wall s':>18} {'cpu s':>7}  {'whole matrix: wall s':>20} {'cpu s':>7}")
    for n in (int(t) for t in args.tokens.split(",")):
        trace = model.trace(text_of(model, n))
        attentions, t = trace.attentions, len(trace)
        one = timed(lambda: flow_into(attentions, np.full(t, 1 / t), limit=10_000))
        whole = timed(lambda: attention_flow(attentions, limit=10_000)) if t <= args.full_up_to else None
        whole_text = f"{whole[0]:>20.2f} {whole[1]:>7.2f}" if whole else f"{'—':>20} {'—':>7}"
        print(f"{t:>6}  {one[0]:>18.2f} {one[1]:>7.2f}  {whole_text}", flush=True)


if __name__ == "__main__":
    main()
