"""The command: corpus head statistics for batch use, on a laptop or a Ray cluster.

    python -m jobs corpus-stats --model minilm --corpus file.txt --out stats.parquet
    python -m jobs corpus-stats --model minilm --corpus builtin:1000 --engine local
    ATTENTION_EXPLORER_RAY_ADDRESS=head:6379 python -m jobs corpus-stats --model minilm --corpus big.csv

The result is also kept in the result store (keyed by model, corpus hash and settings), where the
app's Corpus head statistics page finds it: a second run, or a visit, is a file read. The app runs
its Ray jobs through this command, as a child process: a Ray driver exits when Ray's control
process (GCS) is lost, and that must not take the web server with it.
"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time

from tqdm import tqdm

from .corpora import CorpusError, corpus_hash, load_corpus
from .corpus_stats import ENGINES, corpus_head_stats
from .engine import stop_ray
from .store import HEAD_STATS, ResultStore, result_key


def corpus_stats(args) -> int:
    try:
        texts = load_corpus(args.corpus, args.column, args.limit)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = ResultStore(args.store)
    key = result_key(args.model, corpus_hash(texts), HEAD_STATS)
    result = None if args.fresh else store.get(key)
    if result is not None:
        print(f"{len(texts)} passages: already computed ({store.path(key)})")
    else:
        started = time.perf_counter()
        with tqdm(total=len(texts), unit="sentence", desc="corpus-stats", file=sys.stderr,
                  disable=args.progress_lines) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)
                if args.progress_lines:       # for the app, which runs this command as a child process
                    print(f"progress {done} {total}", flush=True)
            try:
                result = corpus_head_stats(args.model, texts, engine=args.engine, address=args.address,
                                           workers=args.workers, progress=progress)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            finally:
                stop_ray()
        seconds = time.perf_counter() - started
        print(f"{result.n_sentences} sentences in {seconds:.1f} s ({result.n_sentences / seconds:.1f}/s); "
              f"{result.note}")
        store.put(key, result, {"corpus_hash": corpus_hash(texts)})
    if args.out:
        shutil.copyfile(store.path(key), args.out)
        print(f"saved {args.out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stats = commands.add_parser("corpus-stats", help="every head's statistics over a corpus (mean ± spread)")
    stats.add_argument("--model", default="minilm", help="minilm, a model folder, or org/name in the local HF cache")
    stats.add_argument("--corpus", required=True, help="a .txt (one passage per line), .csv, .parquet, or builtin:N")
    stats.add_argument("--column", default=None, help="the text column of a CSV/Parquet file (default: text)")
    stats.add_argument("--limit", type=int, default=100_000, help="at most this many passages")
    stats.add_argument("--out", default=None, help="also copy the result here (.parquet)")
    stats.add_argument("--engine", choices=ENGINES, default="ray")
    stats.add_argument("--address", default=None, help="a Ray cluster (default: $ATTENTION_EXPLORER_RAY_ADDRESS, "
                                                       "else a local Ray)")
    stats.add_argument("--workers", type=int, default=None, help="Ray workers (default 2 locally, every CPU "
                                                                 "of a cluster)")
    stats.add_argument("--store", default=None, help="the result store folder (default: $ATTENTION_EXPLORER_CORPUS_DIR "
                                                     "or ~/.cache/attention_explorer/corpus)")
    stats.add_argument("--fresh", action="store_true", help="compute again even if the result is stored")
    stats.add_argument("--progress-lines", action="store_true", help="print 'progress DONE TOTAL' lines "
                                                                     "instead of a bar (the app reads them)")
    args = parser.parse_args(argv)
    # Stopped by the app's Cancel (SIGTERM): unwind, so `finally` shuts this job's Ray down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return corpus_stats(args)


if __name__ == "__main__":
    sys.exit(main())
