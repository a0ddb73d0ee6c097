"""Corpus head statistics: in this process versus Ray, on this machine and on a two-node cluster.

    python bench/corpus.py                  # 1,000 sentences of ~30 tokens with MiniLM
    python bench/corpus.py --sentences 300  # shorter

Prints, for the same sentences:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--skip-cluster", action="store_true")
    parser.add_argument("--both-cores-sample", type=int, default=100,
                        help="in-process with torch's default threads runs on this many of the passages: on a "
                             "busy 2-core machine its threads wait on each other and it can be 20x slower")
    args = parser.parse_args()
    texts = sentences(args.sentences)
    model = load_model("minilm")
    tokens = np.mean([len(model.tokenizer.encode(t).ids) for t in texts])
    print(f"{len(texts)} passages, {tokens:.1f} tokens on average, MiniLM (6 layers x 12 heads); "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")

    default_threads = torch.get_num_threads()
    sample = texts[:args.both_cores_sample]
    rate_both, reference = in_process(model, sample, None)
    print(f"in-process, torch {default_threads} threads: {rate_both:7.1f} sentences/s   (first {len(sample)} passages)")
    rate_one, values = in_process(model, texts, 1)
    print(f"in-process, torch 1 thread:  {rate_one:7.1f} sentences/s   "
          f"(max |diff| to {default_threads} threads {np.abs(values[:len(sample)] - reference).max():.1e})")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory of this process (model + runs): {rss:.0f} MB")
    del model

    runs = {}
    for workers in (1, 2):
        run = on_ray(texts, workers)
        runs[workers] = run
        print(f"Ray local, {workers} worker(s): ray.init {run['init_s']:.1f} s, workers up (model loaded) "
              f"{run['worker_start_s']:.1f} s, then {run['rate']:7.1f} sentences/s "
              f"(end to end {run['end_to_end']:.1f}/s); peak memory per worker "
              f"{', '.join(f'{m:.0f}' for m in run['peak_mb'])} MB; "
              f"max |diff| {np.abs(run['values'] - values).max():.1e}")
    print(f"throughput 2 workers / 1 worker: {runs[2]['rate'] / runs[1]['rate']:.2f}x")
    print(f"ratio Ray (2 workers) / in-process ({default_threads} threads): {runs[2]['rate'] / rate_both:.2f} "
          f"(target >= 0.85); / in-process (1 thread): {runs[2]['rate'] / rate_one:.2f}")

    if not args.skip_cluster:
        run = two_node_cluster(texts)
        print(f"cluster (ray start --head + ray start --address, 1 CPU each): up in {run['cluster_up_s']:.1f} s, "
              f"{run['nodes']} nodes used, workers up {run['worker_start_s']:.1f} s, then {run['rate']:7.1f} "
              f"sentences/s; peak memory per worker {', '.join(f'{m:.0f}' for m in run['peak_mb'])} MB; "
              f"max |diff| {np.abs(run['values'] - values).max():.1e}")


if __name__ == "__main__":
    main()
