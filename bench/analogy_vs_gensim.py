"""Our word vectors vs gensim, same process, same GloVe matrix.

(a) one analogy over all 400,000 words vs KeyedVectors.most_similar      target <= 0.5x gensim's time
(b) the whole Google analogy set vs evaluate_word_analogies (restrict_vocab) target same accuracy, >= 5x faster
(c) loading GloVe (fresh process): time and extra resident memory          target < 1 s, < 200 MB

Run: python bench/analogy_vs_gensim.py [--restrict 30000] [--repeats 200]
Timings interleave ours and gensim's so a busy machine slows both alike; medians are reported.
The CPU model and the BLAS numpy runs (threadpoolctl) are printed first: per-query cost is
memory-bound and differs a lot between CPUs. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, where set,
change which kernel numpy's OpenBLAS (gensim's dot product) uses: compare both ways, e.g.
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python bench/analogy_vs_gensim.py
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUERIES = [("man", "king", "woman"), ("france", "paris", "italy"), ("walk", "walked", "swim"),
           ("good", "better", "bad"), ("japan", "tokyo", "germany")]
LOAD_CODE = """
import time, models, pyarrow.parquet
def rss():
    return int(open('/proc/self/statm').read().split()[1]) * 4096 / 2**20
before, t = rss(), time.perf_counter()
v = models.load_vectors('glove-6b-50d')
print(time.perf_counter() - t, rss() - before)
t = time.perf_counter(); v.analogy('man', 'king', 'woman')
print(time.perf_counter() - t, rss() - before)
"""


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform
    return platform.processor() or "unknown CPU"


def describe_machine() -> None:
    import torch

    print(f"CPU: {cpu_model()}, {os.cpu_count()} cores visible; torch threads {torch.get_num_threads()}")
    blas = "unknown"
    try:
        from threadpoolctl import threadpool_info
        blas = "; ".join(f"{i.get('internal_api')} {i.get('version')} {i.get('architecture', '')} "
                         f"threads={i.get('num_threads')}" for i in threadpool_info() if i.get("user_api") == "blas")
    except ImportError:
        pass
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if k in os.environ}
    print(f"BLAS (numpy, gensim): {blas}; env {env or 'no OPENBLAS_* overrides'}")


def median_ms(samples):
    return 1000 * statistics.median(samples)


def one_query(ours, kv, repeats: int, questions) -> None:
    known = [(q.a, q.b, q.c) for q in questions if all(w in ours.index for w in (q.a, q.b, q.c))]
    queries = QUERIES + random.Random(0).sample(known, max(0, repeats - len(QUERIES)))
    for a, b, c in queries[:10]:                                   # warm-up, both
        ours.analogy(a, b, c, k=10); kv.most_similar(positive=[b, c], negative=[a], topn=10)
    ours_t, theirs_t = [], []
    for i in range(repeats):
        a, b, c = queries[i % len(queries)]
        t = time.perf_counter(); mine = ours.analogy(a, b, c, k=10); ours_t.append(time.perf_counter() - t)
        t = time.perf_counter(); ref = kv.most_similar(positive=[b, c], negative=[a], topn=10)
        theirs_t.append(time.perf_counter() - t)
        assert all(w1 == w2 or abs(c1 - c2) < 1e-6 for (w1, c1), (w2, c2) in zip(mine, ref)), (mine, ref)
    o, g = median_ms(ours_t), median_ms(theirs_t)
    print(f"(a) one analogy, 400,000 words, median of {repeats} different queries: "
          f"ours {o:.2f} ms, gensim {g:.2f} ms -> {o / g:.2f}x "
          f"(target <= 0.5x) {'OK' if o / g <= 0.5 else 'MISSED'}")


def whole_set(ours, kv, restrict: int, questions_path: str) -> None:
    from analysis.vectors import read_analogy_questions

    questions = read_analogy_questions(questions_path)
    ours.evaluate_analogies(questions[:100], restrict_vocab=restrict)          # warm-up
    runs, theirs_runs = [], []
    for _ in range(3):                                                        # interleaved
        t = time.perf_counter(); result = ours.evaluate_analogies(questions, restrict_vocab=restrict)
        runs.append(time.perf_counter() - t)
        t = time.perf_counter()
        score, _ = kv.evaluate_word_analogies(questions_path, restrict_vocab=restrict)
        theirs_runs.append(time.perf_counter() - t)
    o, theirs = statistics.median(runs), statistics.median(theirs_runs)
    same = abs(score - result.accuracy) < 1e-12
    print(f"(b) Google set, restrict_vocab={restrict:,}: {result.total:,} questions "
          f"({result.skipped:,} skipped as out of vocabulary)")
    print(f"    accuracy ours {result.accuracy:.4f}, gensim {score:.4f} ({'same' if same else 'DIFFERENT'}); "
          f"time ours {o:.3f} s, gensim {theirs:.2f} s (medians of 3) -> {theirs / o:.1f}x faster "
          f"(target >= 5x) {'OK' if same and theirs / o >= 5 else 'MISSED'}")


def load_cost(repeats: int = 3) -> None:
    rows = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", LOAD_CODE], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
        rows.append([float(x) for x in out])
    load_s, load_mb, first_s, first_mb = np.median(np.array(rows), axis=0)
    print(f"(c) load GloVe (fresh process, median of {repeats}): {load_s:.2f} s, +{load_mb:.0f} MB resident "
          f"(target < 1 s, < 200 MB) {'OK' if load_s < 1 and load_mb < 200 else 'MISSED'}")
    print(f"    first analogy afterwards (builds the int8 copy of the 400,000 rows once): {first_s:.2f} s, "
          f"+{first_mb:.0f} MB resident in all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restrict", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    logging.getLogger("gensim").setLevel(logging.WARNING)
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    from models import load_vectors
    from ui.frame import configure_threads

    configure_threads(2)
    describe_machine()
    ours = load_vectors("glove-6b-50d")
    kv = KeyedVectors(ours.dim)
    kv.add_vectors(ours.words, np.asarray(ours.matrix))
    kv.fill_norms()
    ours.analogy("man", "king", "woman")                       # both warmed: int8 table, norms
    kv.most_similar(positive=["king", "woman"], negative=["man"])
    load_cost()
    from analysis.vectors import read_analogy_questions
    questions = [q for q in read_analogy_questions(datapath("questions-words.txt"))]
    one_query(ours, kv, args.repeats, [type(q)(q.section, q.a.lower(), q.b.lower(), q.c.lower(), q.expected.lower())
                                       for q in questions])
    whole_set(ours, kv, args.restrict, datapath("questions-words.txt"))


if __name__ == "__main__":
    main()
