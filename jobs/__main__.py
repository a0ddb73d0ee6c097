"""The commands: corpus head statistics and one head's query–key space, on a laptop or a Ray cluster.

    python -m jobs corpus-stats --model minilm --corpus file.txt --out stats.parquet
    python -m jobs corpus-stats --model minilm --corpus builtin:1000 --engine local
    ATTENTION_EXPLORER_RAY_ADDRESS=head:6379 python -m jobs corpus-stats --model minilm --corpus big.csv
    python -m jobs corpus-qk --model minilm --corpus file.txt --layer 3 --head 5 --out qk.parquet

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

from analysis.corpus_qk import DEFAULT_POINTS, MAX_POINTS

from .corpora import CorpusError, corpus_hash, load_corpus
from .corpus_qk import corpus_qk
from .corpus_stats import ENGINES, corpus_head_stats
from .engine import stop_ray
from .store import HEAD_STATS, ResultStore, load_qk, qk_settings, result_key


def run_command(args, label: str, settings: dict, compute, read, write) -> int:
    """What both commands share: the corpus read, the stored result found again or computed with a
    progress bar (or 'progress DONE TOTAL' lines for the app), then stored and copied to --out.
    settings: what the result's key holds beside the model and the corpus. compute(texts, progress) ->
    (result, a line saying how it ran); read(store, key) and write(store, key, result, texts)."""
    try:
        texts = load_corpus(args.corpus, args.column, args.limit)
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    store = ResultStore(args.store)
    key = result_key(args.model, corpus_hash(texts), settings)
    result = None if args.fresh else read(store, key)
    if result is not None:
        print(f"{len(texts)} passages: already computed ({store.path(key)})")
    else:
        started = time.perf_counter()
        with tqdm(total=len(texts), unit="sentence", desc=label, file=sys.stderr,
                  disable=args.progress_lines) as bar:
            def progress(done: int, total: int) -> None:
                bar.update(done - bar.n)
                if args.progress_lines:       # for the app, which runs this command as a child process
                    print(f"progress {done} {total}", flush=True)
            try:
                result, summary = compute(texts, progress)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            finally:
                stop_ray()
        seconds = time.perf_counter() - started
        print(f"{len(texts)} sentences in {seconds:.1f} s ({len(texts) / seconds:.1f}/s); {summary}")
        write(store, key, result, texts)
    if args.out:
        shutil.copyfile(store.path(key), args.out)
        print(f"saved {args.out}")
    return 0


def corpus_stats(args) -> int:
    def compute(texts, progress):
        result = corpus_head_stats(args.model, texts, engine=args.engine, address=args.address,
                                   workers=args.workers, progress=progress)
        return result, result.note

    return run_command(args, "corpus-stats", HEAD_STATS, compute,
                       lambda store, key: store.get(key),
                       lambda store, key, result, texts: store.put(key, result, {"corpus_hash": corpus_hash(texts)}))


def corpus_qk_command(args) -> int:
    settings = qk_settings(args.layer, args.head, args.points, args.seed)
    if args.layer < 0 or args.head < 0:
        print("error: --layer and --head count from 0", file=sys.stderr)
        return 2

    def compute(texts, progress):
        space, note = corpus_qk(args.model, texts, args.layer, args.head, engine=args.engine,
                                max_points=args.points, seed=args.seed, address=args.address,
                                workers=args.workers, progress=progress)
        return space, f"{len(space):,} tokens drawn at layer {args.layer}, head {args.head}; {note}"

    def write(store, key, space, texts):
        store.put_qk(key, space, {"model": args.model, "corpus_hash": corpus_hash(texts), **settings}, texts)

    return run_command(args, "corpus-qk", settings, compute,
                       lambda store, key: store.get(key, load_qk), write)


def corpus_arguments(command) -> None:
    """The options every corpus command takes: the model, the corpus, where it runs and where it goes."""
    command.add_argument("--model", default="minilm", help="minilm, a model folder, or org/name in the local HF "
                                                           "cache")
    command.add_argument("--corpus", required=True, help="a .txt (one passage per line), .csv, .parquet, or "
                                                         "builtin:N")
    command.add_argument("--column", default=None, help="the text column of a CSV/Parquet file (default: text)")
    command.add_argument("--limit", type=int, default=100_000, help="at most this many passages")
    command.add_argument("--out", default=None, help="also copy the result here (.parquet)")
    command.add_argument("--engine", choices=ENGINES, default="ray")
    command.add_argument("--address", default=None, help="a Ray cluster (default: $ATTENTION_EXPLORER_RAY_ADDRESS, "
                                                         "else a local Ray)")
    command.add_argument("--workers", type=int, default=None, help="Ray workers (default 2 locally, every CPU "
                                                                   "of a cluster)")
    command.add_argument("--store", default=None, help="the result store folder (default: "
                                                       "$ATTENTION_EXPLORER_CORPUS_DIR or "
                                                       "~/.cache/attention_explorer/corpus)")
    command.add_argument("--fresh", action="store_true", help="compute again even if the result is stored")
    command.add_argument("--progress-lines", action="store_true", help="print 'progress DONE TOTAL' lines "
                                                                       "instead of a bar (the app reads them)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jobs", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stats = commands.add_parser("corpus-stats", help="every head's statistics over a corpus (mean ± spread)")
    corpus_arguments(stats)
    qk = commands.add_parser("corpus-qk", help="one head's queries and keys over a corpus, in one projection "
                                               "(a row per drawn token)")
    corpus_arguments(qk)
    qk.add_argument("--layer", type=int, required=True, help="the head's layer (from 0)")
    qk.add_argument("--head", type=int, required=True, help="the head (from 0)")
    qk.add_argument("--points", type=int, default=DEFAULT_POINTS,
                    help=f"tokens drawn, each a query and a key (default {DEFAULT_POINTS:,}, at most {MAX_POINTS:,})")
    qk.add_argument("--seed", type=int, default=0, help="the sample's seed (the same seed, the same picture)")
    args = parser.parse_args(argv)
    # Stopped by the app's Cancel (SIGTERM): unwind, so `finally` shuts this job's Ray down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return corpus_stats(args) if args.command == "corpus-stats" else corpus_qk_command(args)


if __name__ == "__main__":
    sys.exit(main())
