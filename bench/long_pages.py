"""Server-side time of the attention pages at 4,096 tokens, and the largest figure JSON they send.

A tiny random Llama whose positions reach 4,096 (built with transformers, as tests/test_long_pages.py
does) reads a 4,096-token text once; then, under AppTest (the whole Streamlit script, caches warm):
  * One head, then a change of head (a head not seen before: recomputed alone, trace.head);
  * All heads, after the trace exists;
  * Long context with that head (its layer's distance curves recomputed the first time the layer is seen);
and the largest figure each page sends (Plotly's JSON, or an attention view's data). Targets (issue 23):
head change <= 300 ms, All heads <= 2 s, figure JSON <= 5 MB.

    python bench/long_pages.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from hf_tiny import save_checkpoint, tokenizer_for  # noqa: E402
from page_helpers import compile_pages_once, run_page, scan_components_once  # noqa: E402
from test_long_pages import TEXT  # noqa: E402


def build(folder: Path) -> str:
    import torch
    import transformers as tf

    config = tf.LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                            num_key_value_heads=2, max_position_embeddings=4096, vocab_size=320,
                            attn_implementation="eager", rope_parameters={"rope_type": "default", "rope_theta": 1e4},
                            bos_token_id=1, eos_token_id=2)
    torch.manual_seed(0)
    return str(save_checkpoint(tf.LlamaForCausalLM(config).eval(), tokenizer_for("llama"), folder))


def largest_json(at) -> int:
    """The largest figure the page sends: a Plotly figure's JSON, or an attention view's data (All heads' canvas)."""
    return max([len(chart.proto.spec) for chart in at.get("plotly_chart")]
               + [len(view.proto.json) for view in at.get("bidi_component")], default=0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scan_components_once()       # as a server does at start-up, not on every run (tests/page_helpers.py)
    compile_pages_once()         # and it compiles a page once, not on every rerun
    model = build(Path(tempfile.mkdtemp()) / "llama4k")
    start = time.perf_counter()
    first = run_page("pages/attention_head.py", TEXT, model, layer=0, head=0)
    print(f"first One head (trace of 4,096 tokens included): {time.perf_counter() - start:.1f} s; "
          f"load {os.getloadavg()[0]:.1f}")
    sizes = [largest_json(first)]
    changes, change_cpu, grids, longs = [], [], [], []
    heads = [(layer, head) for layer in range(2) for head in range(4)][1:]
    for i in range(args.repeat):
        layer, head = heads[i % len(heads)]
        start, cpu = time.perf_counter(), time.process_time()   # the person moves the head slider: a rerun
        first.session_state["layer"], first.session_state["head"] = layer, head
        first.run()
        changes.append(time.perf_counter() - start)
        change_cpu.append(time.process_time() - cpu)     # on a loaded machine wall time is mostly waiting for a core
        assert not first.exception, first.exception
        sizes.append(largest_json(first))
        start = time.perf_counter()
        at = run_page("pages/attention_grid.py", TEXT, model)
        grids.append(time.perf_counter() - start)
        sizes.append(largest_json(at))
        start = time.perf_counter()
        at = run_page("pages/long_context.py", TEXT, model, layer=layer, head=head)
        longs.append(time.perf_counter() - start)
        sizes.append(largest_json(at))
    print(f"One head, head change (a rerun of the same session, new head): "
          f"median {statistics.median(changes) * 1000:.0f} ms wall, "
          f"{statistics.median(change_cpu) * 1000:.0f} ms CPU (target <= 300 ms)")
    print(f"All heads after the trace exists: median {statistics.median(grids) * 1000:.0f} ms (target <= 2 s)")
    print(f"Long context, head change (a layer's curves recomputed when new): median "
          f"{statistics.median(longs) * 1000:.0f} ms")
    print(f"largest figure JSON: {max(sizes) / 2**20:.2f} MB (target <= 5 MB); load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
