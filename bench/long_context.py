"""Long inputs: our lean trace beside transformers eager, on a SmolLM2-135M-shaped model (issue 23).

A randomly initialised Llama of SmolLM2-135M's shape (30 layers, 9 query heads, 3 key/value heads,
d_model 576, d_ff 1536, vocabulary 49,152), built with transformers and read through our Llama
family's config and name map. For each length, each measurement runs in a fresh process:

  ours          Transformer.trace(ids): resident memory the kept trace adds, peak memory added
                while tracing, seconds
  hf            transformers eager, output_attentions=True (what a tool that shows attention
                needs from it): resident memory of the kept output, peak added, seconds
                (skipped where its L·H·T² attentions would not fit in memory)
  hf_plain      transformers eager without attentions: seconds (the time target's reference)

Memory is the process's resident set (/proc/self/status: VmRSS, and VmHWM reset through
/proc/self/clear_refs just before the run). Targets (issue 23): at 1,024 tokens our peak ≤ 0.25×
the transformers peak; at 4,096 tokens the resident trace ≤ 1 GB and the peak ≤ 3 GB; time ≤
1.10× transformers eager without attentions.

    python bench/long_context.py                 # 512 1024 2048 4096
    python bench/long_context.py 512 1024        # chosen lengths
    python bench/long_context.py --rounds 5 512  # time only: ours and transformers without attentions
                                                 # alternating in one process, median of 5 rounds each

On a shared machine the alternating rounds are the fairer time ratio: both sides see the same
neighbours, round by round (memory is measured only in the fresh processes of the default mode).
"""
from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

SHAPE = dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
             num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
             rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2)
LENGTHS = (512, 1024, 2048, 4096)


def status(field: str) -> int:
    """Bytes of a /proc/self/status field (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")      # VmHWM := VmRSS (Linux ≥ 4.0)


def hf_model():
    import transformers as tf
    config = tf.LlamaConfig(**SHAPE, rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
                            attn_implementation="eager")
    torch.manual_seed(0)
    return tf.LlamaForCausalLM(config).eval()


def our_model(reference):
    from core import from_state_dict
    from models.checkpoint import convert
    from models.llama import config_from_hf, hf_name_map
    config = config_from_hf(reference.config.to_dict())
    theirs = {k: v.detach().clone() for k, v in reference.state_dict().items()}
    mapping, ignored = hf_name_map(config, theirs, "SmolLM2-135M-shaped")
    return from_state_dict(config, convert(theirs, mapping, ignored, config, "SmolLM2-135M-shaped"))


def measure(kind: str, t: int) -> dict:
    """One measurement in this (fresh) process."""
    reference = hf_model()
    ids = torch.randint(3, SHAPE["vocab_size"], (t,), generator=torch.Generator().manual_seed(t)).tolist()
    if kind == "ours":
        net = our_model(reference)
        del reference
        net.trace(ids[:8])                                     # warm up (first-call allocations)

        def run():
            return net.trace(ids)
    else:
        net = reference
        with torch.no_grad():
            net(torch.tensor([ids[:8]]))

        def run():
            with torch.no_grad():
                return net(torch.tensor([ids]), output_attentions=(kind == "hf"))
    gc.collect()
    before = status("VmRSS")
    reset_peak()
    start, cpu = time.perf_counter(), time.process_time()
    kept = run()
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    gc.collect()
    return {"kind": kind, "t": t, "seconds": seconds, "cpu_seconds": cpu, "resident_added": status("VmRSS") - before,
            "peak_added": status("VmHWM") - before, "kept": type(kept).__name__}


def interleaved(t: int, rounds: int) -> dict:
    """Seconds of ours and of transformers eager without attentions, alternating in this process."""
    reference = hf_model()
    net = our_model(reference)
    ids = torch.randint(3, SHAPE["vocab_size"], (t,), generator=torch.Generator().manual_seed(t)).tolist()

    def plain():
        with torch.no_grad():
            return reference(torch.tensor([ids]))
    runs = {"ours": lambda: net.trace(ids), "hf_plain": plain}
    for run in runs.values():
        run()                                                  # warm up at full length
    times = {name: {"wall": [], "cpu": []} for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            gc.collect()
            start, cpu = time.perf_counter(), time.process_time()
            run()
            times[name]["wall"].append(time.perf_counter() - start)
            times[name]["cpu"].append(time.process_time() - cpu)
    return times


def main_interleaved(lengths, rounds: int) -> None:
    import statistics
    print(f"SmolLM2-135M-shaped Llama, random weights; torch threads {torch.get_num_threads()}; "
          f"{rounds} alternating rounds, medians")
    for t in lengths:
        times = interleaved(t, rounds)
        med = {name: {kind: statistics.median(v) for kind, v in d.items()} for name, d in times.items()}
        per_round = [o / p for o, p in zip(times["ours"]["wall"], times["hf_plain"]["wall"])]
        print(f"T={t:5d} | ours {med['ours']['wall']:.2f} s wall, {med['ours']['cpu']:.2f} s CPU | transformers "
              f"eager, no attentions {med['hf_plain']['wall']:.2f} s wall, {med['hf_plain']['cpu']:.2f} s CPU")
        print(f"        time ratio ours / transformers: {med['ours']['wall'] / med['hf_plain']['wall']:.2f} wall "
              f"(rounds: {', '.join(f'{r:.2f}' for r in per_round)}), "
              f"{med['ours']['cpu'] / med['hf_plain']['cpu']:.2f} CPU (target ≤ 1.10); "
              f"load {Path('/proc/loadavg').read_text().split()[0]}")
        sys.stdout.flush()


def available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def child(kind: str, t: int) -> dict | None:
    out = subprocess.run([sys.executable, __file__, "--one", kind, str(t)], capture_output=True, text=True)
    if out.returncode != 0:
        print(f"  {kind} at {t} tokens failed: {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(lengths) -> None:
    gb = 1e9
    print(f"SmolLM2-135M-shaped Llama, random weights; torch threads {torch.get_num_threads()}")
    for t in lengths:
        ours = child("ours", t)
        plain = child("hf_plain", t)
        # transformers keeps L·H·T² float32 attentions and its own intermediates besides: skip where
        # that would take more than a third of the memory available now (the machine is shared).
        need = 2.5 * SHAPE["num_hidden_layers"] * SHAPE["num_attention_heads"] * t * t * 4
        hf = child("hf", t) if need < available_bytes() / 3 else None
        line = f"T={t:5d}"
        if ours:
            line += (f" | ours: resident {ours['resident_added'] / gb:.2f} GB, peak {ours['peak_added'] / gb:.2f} GB, "
                     f"{ours['seconds']:.1f} s")
        if hf:
            line += (f" | transformers eager + attentions: resident {hf['resident_added'] / gb:.2f} GB, "
                     f"peak {hf['peak_added'] / gb:.2f} GB, {hf['seconds']:.1f} s")
        else:
            line += f" | transformers eager + attentions: skipped (needs about {need / gb:.1f} GB)"
        if plain:
            line += f" | transformers eager, no attentions: {plain['seconds']:.1f} s"
        print(line)
        if ours and hf:
            target = " (target ≤ 0.25 at 1,024)" if t == 1024 else ""
            print(f"        peak ratio ours / transformers {ours['peak_added'] / hf['peak_added']:.2f}{target}; "
                  f"resident ratio {ours['resident_added'] / max(hf['resident_added'], 1):.2f}")
        if ours and plain:
            # CPU seconds too: on a shared machine the wall clock also measures the neighbours.
            print(f"        time ratio ours / transformers without attentions "
                  f"{ours['seconds'] / plain['seconds']:.2f} wall, "
                  f"{ours['cpu_seconds'] / plain['cpu_seconds']:.2f} CPU (target ≤ 1.10)")
        if ours and t == 4096:
            print(f"        at 4,096: resident {ours['resident_added'] / gb:.2f} GB (target ≤ 1), "
                  f"peak {ours['peak_added'] / gb:.2f} GB (target ≤ 3)")
        sys.stdout.flush()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--one"]:
        print(json.dumps(measure(sys.argv[2], int(sys.argv[3]))))
    elif sys.argv[1:2] == ["--rounds"]:
        main_interleaved([int(a) for a in sys.argv[3:]] or LENGTHS[:3], int(sys.argv[2]))
    else:
        main([int(a) for a in sys.argv[1:]] or LENGTHS)
