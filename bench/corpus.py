"""Corpus head statistics: in this process versus Ray, on this machine and on a two-node cluster.

    python bench/corpus.py                  # 1,000 sentences of ~30 tokens with MiniLM
    python bench/corpus.py --sentences 300  # shorter

Prints, for the same sentences, in interleaved rounds (--repeats):
  * in-process sentences/s: torch with its default threads (both cores), and with one thread;
  * Ray with 1 and 2 single-threaded workers on a local instance: ray.init's seconds, the workers'
    start-up (each loads the model), sentences/s once they are up, and each worker's peak memory;
  * the cluster path: `ray start --head` and `ray start --address` (one CPU each, both on this
    machine) joined through an address, 2 workers, one per node;
  * the ratio Ray (2 workers) / in-process (both cores), against the 0.85 target.
Every run's statistics are checked against the first run's (max |difference|).
"""
from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from jobs import builtin_corpus, corpus_head_stats, stop_ray  # noqa: E402
from jobs.engine import cluster_cpus, ray_session  # noqa: E402
from models import load_model  # noqa: E402

RAY = str(Path(sys.executable).with_name("ray"))


def sentences(n: int) -> list[str]:
    """n passages of about 30 MiniLM tokens: four consecutive sentences of the built-in corpus."""
    base = builtin_corpus(4 * n)
    return [" ".join(base[4 * i:4 * i + 4]) for i in range(n)]


def in_process(model, texts, threads: int | None) -> tuple[float, np.ndarray]:
    started = time.perf_counter()
    result = corpus_head_stats(model, texts, engine="local", threads=threads)
    return len(texts) / (time.perf_counter() - started), result.values


def on_ray(texts, workers: int, address: str | None = None) -> dict:
    started = time.perf_counter()
    ray_session(address, workers)
    init_s = time.perf_counter() - started
    timings: dict = {}
    try:
        begun = time.perf_counter()
        result = corpus_head_stats("minilm", texts, engine="ray", address=address, workers=workers, timings=timings)
        total = time.perf_counter() - begun
    finally:
        stop_ray()
    if result.engine != "ray":
        raise RuntimeError(result.note)
    compute = total - timings["worker_start_s"]
    return {"init_s": init_s, "worker_start_s": timings["worker_start_s"], "rate": len(texts) / compute,
            "end_to_end": len(texts) / (init_s + total), "peak_mb": [b / 2**20 for b in timings["peak_memory_bytes"]],
            "nodes": timings["nodes"], "values": result.values}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def two_node_cluster(texts) -> dict:
    """`ray start --head` and `ray start --address`, one CPU each, in the foreground (--block) so this
    script stops exactly the processes it started."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}          # the nodes' workers import the project
    common = ["--block", "--num-cpus", "1", "--object-store-memory", str(100 * 2**20), "--disable-usage-stats"]
    head = subprocess.Popen([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false", *common],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    nodes = [head]
    address = f"127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        time.sleep(5)
        nodes.append(subprocess.Popen([RAY, "start", "--address", address, *common], env=env,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ray_session(address)
        while cluster_cpus() < 2:                            # the second node has joined
            if time.perf_counter() - started > 300:
                raise RuntimeError("the second node did not join in 300 s")
            time.sleep(1)
        cluster_up = time.perf_counter() - started
        stop_ray()
        out = on_ray(texts, 2, address)
        out["cluster_up_s"] = cluster_up
        return out
    finally:
        stop_ray()
        for node in reversed(nodes):
            node.terminate()
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()
        # `ray start` leaves its address behind; a later plain ray.init() on this machine would try to join it.
        current = Path(tempfile.gettempdir()) / "ray" / "ray_current_cluster"
        if current.is_file() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()


def summary(values: list[float]) -> str:
    """median (min–max) of the repeats."""
    return f"{np.median(values):7.1f} ({min(values):.1f}–{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds; each round runs every configuration once, interleaved, so a change of "
                             "the machine's load falls on all of them alike")
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--both-cores-sample", type=int, default=None,
                        help="in-process with torch's default threads runs on this many of the passages (default "
                             "all): on a busy 2-core machine its threads wait on each other and it can be 20x slower")
    args = parser.parse_args()
    texts = sentences(args.sentences)
    model = load_model("minilm")
    tokens = np.mean([len(model.tokenizer.encode(t).ids) for t in texts])
    print(f"{len(texts)} passages, {tokens:.1f} tokens on average, MiniLM (6 layers x 12 heads); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)

    default_threads = torch.get_num_threads()
    sample = texts[:args.both_cores_sample] if args.both_cores_sample else texts
    rates: dict[str, list[float]] = {"both": [], "one": [], 1: [], 2: []}
    reference = None
    runs: dict = {}
    for round_ in range(args.repeats):
        load = os.getloadavg()[0]
        rate_both, values_both = in_process(model, sample, None)
        rate_one, values = in_process(model, texts, 1)
        reference = values if reference is None else reference
        rates["both"].append(rate_both)
        rates["one"].append(rate_one)
        line = (f"round {round_ + 1} (load {load:.1f}): in-process {default_threads} threads {rate_both:.1f}/s, "
                f"1 thread {rate_one:.1f}/s (max |diff| {np.abs(values[:len(sample)] - values_both).max():.1e})")
        for workers in (1, 2):
            run = on_ray(texts, workers)
            runs.setdefault(workers, []).append(run)
            rates[workers].append(run["rate"])
            line += (f"; Ray {workers} worker(s) {run['rate']:.1f}/s (init {run['init_s']:.1f} s, workers up "
                     f"{run['worker_start_s']:.1f} s, max |diff| {np.abs(run['values'] - reference).max():.1e})")
        print(line + f"; load after {os.getloadavg()[0]:.1f}", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process (model + in-process runs): {rss:.0f} MB")
    print(f"sentences/s, median (min-max) of {args.repeats} interleaved rounds:")
    print(f"  in-process, torch {default_threads} threads: {summary(rates['both'])}"
          + (f"   (first {len(sample)} passages)" if len(sample) < len(texts) else ""))
    print(f"  in-process, torch 1 thread:  {summary(rates['one'])}")
    for workers in (1, 2):
        last = runs[workers][-1]
        print(f"  Ray local, {workers} worker(s):   {summary(rates[workers])}   ray.init "
              f"{np.median([r['init_s'] for r in runs[workers]]):.1f} s, workers up (model loaded) "
              f"{np.median([r['worker_start_s'] for r in runs[workers]]):.1f} s; peak memory per worker "
              f"{', '.join(f'{m:.0f}' for m in last['peak_mb'])} MB")
    growth = [two / one for one, two in zip(rates[1], rates[2])]
    ratio = [two / both for both, two in zip(rates["both"], rates[2])]
    print(f"throughput 2 workers / 1 worker, per round: {', '.join(f'{g:.2f}' for g in growth)}x")
    print(f"Ray (2 workers) / in-process ({default_threads} threads), per round: "
          f"{', '.join(f'{r:.2f}' for r in ratio)} (target >= 0.85)")

    if not args.skip_cluster:
        load = os.getloadavg()[0]
        run = two_node_cluster(texts)
        print(f"cluster (ray start --head + ray start --address, 1 CPU each; load {load:.1f}): up in "
              f"{run['cluster_up_s']:.1f} s, {run['nodes']} nodes used, workers up {run['worker_start_s']:.1f} s, "
              f"then {run['rate']:7.1f} sentences/s; peak memory per worker "
              f"{', '.join(f'{m:.0f}' for m in run['peak_mb'])} MB; "
              f"max |diff| {np.abs(run['values'] - reference).max():.1e}")
        growth = run["rate"] / np.median(rates[1])
        print(f"cluster 2 workers / local 1 worker (median): {growth:.2f}x")


if __name__ == "__main__":
    main()
