"""Our trace vs transformers' eager forward (attentions + hidden states): GPT-2, Llama, Pythia and Gemma 2 shapes.

    python bench/families_vs_reference.py [--runs 15] [--tokens 128] [--only pythia]

Two randomly initialised models of real shapes, saved with save_pretrained and opened with
our loader (nothing downloaded):
  gpt2   12 layers, 12 heads, d_model 768, vocab 50257 (GPT-2 small)
  llama  12 layers, 12 heads, 4 key/value heads, d_model 768, d_ff 2048, vocab 32000
  pythia 12 layers, 12 heads, d_model 768, d_ff 3072, vocab 50304 (Pythia-160m: GPT-NeoX,
         parallel attention and feed-forward, a quarter of each head turned by RoPE, untied)
  gemma2 12 layers, 8 heads of 128, 4 key/value heads, d_model 768, d_ff 3072, vocab 32000, tied
         (Gemma 2's arrangement: norms before and after each sublayer, scores soft-capped at 50 and
         logits at 30, query_pre_attn_scalar 128, a sliding window of 64 keys in every other layer)
On 2 threads, the two forwards are interleaved and the medians compared (target ours/ref
<= 1.10); on a shared machine the absolute times swing with its load, the ratio much less. The
CPU-time ratio (process time, both threads) is printed beside it: under heavy load a forward waits
for a core for much of its wall time, and the CPU it used is the steadier measure of the work done.
The largest logit difference between the two is printed beside each ratio (same outputs).
Then, in a fresh process per model that loads only ours, the peak memory one trace of 512
tokens adds (resident set sampled every millisecond), beside the Trace's arrays and our estimate.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

torch.set_num_threads(2)

SHAPES = {
    "gpt2": dict(n_embd=768, n_layer=12, n_head=12, n_positions=1024, vocab_size=50257),
    "llama": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=4,
                  intermediate_size=2048, vocab_size=32000, max_position_embeddings=2048,
                  tie_word_embeddings=False),
    "pythia": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
                   vocab_size=50304, max_position_embeddings=2048, rotary_pct=0.25, rotary_emb_base=10000,
                   use_parallel_residual=True, tie_word_embeddings=False),
    "gemma2": dict(hidden_size=768, num_hidden_layers=12, num_attention_heads=8, num_key_value_heads=4, head_dim=128,
                   intermediate_size=3072, vocab_size=32000, max_position_embeddings=2048, sliding_window=64,
                   query_pre_attn_scalar=128, attn_logit_softcapping=50.0, final_logit_softcapping=30.0),
}


def reference_model(family: str):
    import transformers as tf

    classes = {"gpt2": (tf.GPT2LMHeadModel, tf.GPT2Config), "llama": (tf.LlamaForCausalLM, tf.LlamaConfig),
               "pythia": (tf.GPTNeoXForCausalLM, tf.GPTNeoXConfig),
               "gemma2": (tf.Gemma2ForCausalLM, tf.Gemma2Config)}
    model_class, config_class = classes[family]
    torch.manual_seed(0)
    return model_class(config_class(**SHAPES[family], attn_implementation="eager")).eval()


def word_level_tokenizer(path: Path) -> None:
    """A tokenizer.json the loader accepts (the benchmark feeds ids directly)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel({"[UNK]": 0, "word": 1}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))


def build(family: str, folder: Path):
    """(reference model, our LoadedModel) with the same weights, through save_pretrained and our loader."""
    from models import load_model

    ref = reference_model(family)
    ref.save_pretrained(folder)
    word_level_tokenizer(folder / "tokenizer.json")
    return ref, load_model(str(folder))


def trace_nbytes(trace) -> int:
    arrays = [trace.token_embed, trace.pos_embed, trace.embed, trace.final, trace.logits, trace.type_embed]
    for layer in trace.layers:
        arrays += [getattr(layer, f) for f in layer.__dataclass_fields__ if f != "cross"]
    return sum(a.nbytes for a in arrays if a is not None)


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_of_one_trace(folder: str, n_tokens: int) -> None:
    """Run in a fresh process holding only our model: resident-set growth during one trace."""
    from core import estimate_trace_bytes
    from models import load_model

    model = load_model(folder)
    ids = torch.randint(0, model.config.vocab_size, (n_tokens,)).tolist()
    model.net.trace(ids[:8])  # warm up
    before = peak = resident_bytes()
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, resident_bytes())
            time.sleep(0.001)

    sampler = threading.Thread(target=sample)
    sampler.start()
    trace = model.net.trace(ids)
    done.set()
    sampler.join()
    peak = max(peak, resident_bytes())
    print(json.dumps({"peak_bytes": peak - before, "trace_bytes": trace_nbytes(trace),
                      "estimate_bytes": estimate_trace_bytes(model.config, n_tokens)}))


def time_family(family: str, folder: Path, n_tokens: int, runs: int) -> float:
    ref, model = build(family, folder)
    ids = torch.randint(0, model.config.vocab_size, (n_tokens,)).tolist()
    batch = torch.tensor([ids])

    def ours():
        model.net.trace(ids)

    def reference():
        with torch.inference_mode():
            ref(batch, output_attentions=True, output_hidden_states=True)

    with torch.inference_mode():
        gap = (torch.tensor(model.net.trace(ids).logits) - ref(batch).logits[0]).abs().max().item()
    for _ in range(3):
        ours(), reference()
    times = {"ours": [], "ref": []}
    cpu = {"ours": [], "ref": []}
    for _ in range(runs):
        for name, fn in (("ours", ours), ("ref", reference)):
            t, c = time.perf_counter(), time.process_time()
            fn()
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    a, b = statistics.median(times["ours"]), statistics.median(times["ref"])
    cpu_ratio = statistics.median(cpu["ours"]) / statistics.median(cpu["ref"])
    print(f"{family:>6} {n_tokens:>6} {a * 1e3:>9.1f} {b * 1e3:>9.1f} {a / b:>6.2f} {cpu_ratio:>9.2f} {gap:>10.1e}")
    return a / b


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--only", choices=list(SHAPES), action="append", help="these models only (repeatable)")
    parser.add_argument("--no-peak", action="store_true", help="skip the memory of one 512-token trace")
    parser.add_argument("--peak", help=argparse.SUPPRESS)  # the child process: a saved folder
    args = parser.parse_args()
    if args.peak:
        peak_of_one_trace(args.peak, 512)
        return

    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, runs={args.runs}")
    print(f"load average {open('/proc/loadavg').read().split()[0]}")
    print(f"{'model':>6} {'tokens':>6} {'ours ms':>9} {'ref ms':>9} {'ratio':>6} {'cpu ratio':>9} {'max |Δlogit|':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        folders = {family: Path(tmp) / family for family in (args.only or SHAPES)}
        worst = max(time_family(family, folders[family], args.tokens, args.runs) for family in folders)
        print(f"worst ratio ours/reference: {worst:.2f} (target <= 1.10); load average now "
              f"{open('/proc/loadavg').read().split()[0]}")
        if args.no_peak:
            return
        for family, folder in folders.items():
            out = subprocess.run([sys.executable, __file__, "--peak", str(folder)], capture_output=True,
                                 text=True, check=True)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{family}: one trace of 512 tokens: peak memory +{figures['peak_bytes'] / 1e6:,.0f} MB, "
                  f"the Trace's arrays {figures['trace_bytes'] / 1e6:,.0f} MB, "
                  f"estimate_trace_bytes {figures['estimate_bytes'] / 1e6:,.0f} MB")


if __name__ == "__main__":
    main()
