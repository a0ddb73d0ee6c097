"""Our word vectors vs gensim, same process, same GloVe matrix.

(a) one analogy over all 400,000 words vs KeyedVectors.most_similar      target <= 0.5x gensim's time
(b) the whole Google analogy set vs evaluate_word_analogies (restrict_vocab) target same accuracy, >= 5x faster
(c) loading GloVe (fresh process): time and extra resident memory          target < 1 s, < 200 MB

Run: python bench/analogy_vs_gensim.py [--restrict 30000] [--repeats 30]
Timings interleave ours and gensim's so a busy machine slows both alike; medians are reported.
"""
from __future__ import annotations

import argparse
import logging
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


def median_ms(samples):
    return 1000 * statistics.median(samples)


def one_query(ours, kv, repeats: int) -> None:
    ours_t, theirs_t = [], []
    for i in range(repeats):
        a, b, c = QUERIES[i % len(QUERIES)]
        t = time.perf_counter(); mine = ours.analogy(a, b, c, k=10); ours_t.append(time.perf_counter() - t)
        t = time.perf_counter(); ref = kv.most_similar(positive=[b, c], negative=[a], topn=10)
        theirs_t.append(time.perf_counter() - t)
        assert [w for w, _ in mine][:3] == [w for w, _ in ref][:3], (mine, ref)
    o, g = median_ms(ours_t), median_ms(theirs_t)
    print(f"(a) one analogy, 400,000 words: ours {o:.2f} ms, gensim {g:.2f} ms -> {o / g:.2f}x "
          f"(target <= 0.5x) {'OK' if o / g <= 0.5 else 'MISSED'}")


def whole_set(ours, kv, restrict: int, questions_path: str) -> None:
    from core.vectors import read_analogy_questions

    questions = read_analogy_questions(questions_path)
    runs = []
    for _ in range(3):
        t = time.perf_counter(); result = ours.evaluate_analogies(questions, restrict_vocab=restrict)
        runs.append(time.perf_counter() - t)
    t = time.perf_counter()
    score, _ = kv.evaluate_word_analogies(questions_path, restrict_vocab=restrict)
    theirs = time.perf_counter() - t
    o = statistics.median(runs)
    same = abs(score - result.accuracy) < 1e-12
    print(f"(b) Google set, restrict_vocab={restrict:,}: {result.total:,} questions "
          f"({result.skipped:,} skipped as out of vocabulary)")
    print(f"    accuracy ours {result.accuracy:.4f}, gensim {score:.4f} ({'same' if same else 'DIFFERENT'}); "
          f"time ours {o:.2f} s (median of 3), gensim {theirs:.2f} s -> {theirs / o:.1f}x faster "
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
    print(f"    first analogy afterwards (normalises the 400,000 rows once): {first_s:.2f} s, "
          f"+{first_mb:.0f} MB resident in all")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--restrict", type=int, default=30_000)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    logging.getLogger("gensim").setLevel(logging.WARNING)
    from gensim.models import KeyedVectors
    from gensim.test.utils import datapath

    from models import load_vectors
    from ui.frame import configure_threads

    configure_threads()
    ours = load_vectors("glove-6b-50d")
    kv = KeyedVectors(ours.dim)
    kv.add_vectors(ours.words, np.asarray(ours.matrix))
    kv.fill_norms()
    ours.analogy("man", "king", "woman")                       # both warmed: unit table, norms
    kv.most_similar(positive=["king", "woman"], negative=["man"])
    load_cost()
    one_query(ours, kv, args.repeats)
    whole_set(ours, kv, args.restrict, datapath("questions-words.txt"))


if __name__ == "__main__":
    main()
