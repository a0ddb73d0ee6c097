"""Server-side latency of the attention pages, and the size of what they send to the browser.

For sentences of 16, 128 and 512 tokens, times what each page computes for
  * a new sentence: the model's forward pass, the page's numbers (statistics,
    rollout) and every figure of the page with its defaults, serialised to JSON
    as st.plotly_chart does;
  * a change of layer/head on the one-head page: the heatmap again, serialised;
and the figure JSON each page sends (the grid page is the heaviest).
Then runs each page once under AppTest (the whole Streamlit script, caches warm)
as a check on the figure-only numbers.

Targets (issue 3): head change < 150 ms; new sentence of <= 64 tokens < 700 ms;
512 tokens < 3 s; figure JSON of the 512-token page < 5 MB.

    python bench/app_latency.py [--repeat 5]

Median of the repeats; the machine may be shared, so expect noise.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import plotly.io as pio

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.head_stats import head_statistics, special_masks  # noqa: E402
from analysis.rollout import hide_tokens, mean_over_heads, rollout, summed_rows  # noqa: E402
from models import load_model  # noqa: E402
from ui.frame import configure_threads  # noqa: E402
from viz.attention import attention_heatmap, compare_heatmaps, difference_heatmap, key_bar  # noqa: E402
from viz.heads import heads_grid, statistic_heatmap  # noqa: E402
from viz.lines import lines_figure  # noqa: E402

SIZES = (16, 128, 512)
WINDOW = 64          # the pages' default token window for long sentences (pages/_attention.py)
SHOW_ALL = 80
WORDS = "the quick brown fox jumps over a lazy dog near the river bank while birds sing".split()


def sentence_of(model, n_tokens: int) -> str:
    """A sentence that makes exactly n_tokens tokens ([CLS] and [SEP] included)."""
    words = [WORDS[i % len(WORDS)] for i in range(n_tokens - 2)]   # each of these words is one token
    text = " ".join(words)
    encoded = model.tokenizer.encode(text)
    assert len(encoded.ids) == n_tokens and not encoded.truncated, (n_tokens, len(encoded.ids))
    return text


def window(trace) -> slice:
    return slice(0, len(trace.tokens) if len(trace.tokens) <= SHOW_ALL else WINDOW)


def one_head(trace, layer=2, head=5):
    w = window(trace)
    weights = trace.layers[layer].weights[head]
    return [attention_heatmap(weights[w, w], trace.tokens[w], f"Layer {layer}, head {head}",
                              positions=list(range(len(trace.tokens)))[w])]


def one_head_hidden(trace, layer=2, head=5):
    matrix, kept = hide_tokens(trace.layers[layer].weights[head], trace.special_mask)
    w = slice(0, min(len(kept), WINDOW))
    return [attention_heatmap(matrix[w, w], [trace.tokens[i] for i in kept[w]], "hidden", positions=kept[w])]


def grid(trace):
    return [heads_grid(trace.attentions)]


def compare(trace):
    w = window(trace)
    a, b = trace.layers[0].weights[0][w, w], trace.layers[2].weights[5][w, w]
    return [compare_heatmaps([a, b], ["A", "B"], trace.tokens[w]), difference_heatmap(a, b, trace.tokens[w])]


def lines(trace, layer=2):
    w = window(trace)
    return [lines_figure(trace.layers[layer].weights[:, w, w], trace.tokens[w], [0])]


def aggregate(trace, layer=2):
    w = window(trace)
    rolled = rollout(trace.attentions)[layer]
    mean = mean_over_heads(trace.layers[layer].weights)
    return [attention_heatmap(mean[w, w], trace.tokens[w]), attention_heatmap(rolled[w, w], trace.tokens[w]),
            key_bar(summed_rows(trace.layers[layer].weights[0], [1, 2]), trace.tokens)]


def stats(trace):
    values = head_statistics(trace.attentions, *special_masks(trace.tokens, trace.special_mask))
    return [statistic_heatmap(values.previous, "on previous", "on previous")]


PAGES = {"one head": one_head, "all heads": grid, "compare": compare, "lines": lines,
         "aggregates": aggregate, "head statistics": stats}


def serialise(figures) -> int:
    """Bytes of figure JSON, built the way st.plotly_chart builds it."""
    return sum(len(pio.to_json(fig, validate=False)) for fig in figures)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def apptest_runs(texts: dict[int, str]) -> dict[tuple[str, int], float]:
    """Each page file under AppTest with a seeded sentence (second run: model and trace cached)."""
    from streamlit.testing.v1 import AppTest

    files = {"one head": "attention_head", "all heads": "attention_grid", "compare": "attention_compare",
             "lines": "attention_lines", "aggregates": "attention_aggregate", "head statistics": "head_stats"}
    out = {}
    for n, text in texts.items():
        for page, name in files.items():
            at = AppTest.from_file(str(ROOT / "pages" / f"{name}.py"), default_timeout=120)
            at.session_state["sentence"] = text
            at.run()                                   # fills the caches
            at.session_state["sentence"] = text + " ."  # a new sentence: forward pass again
            start = time.perf_counter()
            at.run()
            out[(page, n)] = time.perf_counter() - start
            assert not at.exception, (page, n, at.exception)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-apptest", action="store_true", help="skip the whole-page AppTest runs")
    args = parser.parse_args()
    configure_threads()
    model = load_model("minilm")
    model.trace("warm up the kernels")
    texts = {n: sentence_of(model, n) for n in SIZES}
    print(f"Attention pages, server side (median of {args.repeat}); shared machine, expect noise.\n")
    print(f"{'tokens':>6} {'page':<16} {'new sentence':>13} {'  of which forward':>18} {'figure JSON':>12}")
    worst = {n: 0.0 for n in SIZES}
    json_max = {n: 0 for n in SIZES}
    for n, text in texts.items():
        forward, trace = timed(lambda: model.trace(text), args.repeat)
        for page, build in PAGES.items():
            # A new sentence: a fresh trace (stacked attentions are built on first use) + the page.
            def new_sentence():
                fresh = model.trace(text)
                return serialise(build(fresh))
            seconds, size = timed(new_sentence, args.repeat)
            worst[n] = max(worst[n], seconds)
            json_max[n] = max(json_max[n], size)
            print(f"{n:>6} {page:<16} {1000 * seconds:>10.0f} ms {1000 * forward:>15.0f} ms {size / 1e6:>9.2f} MB")
    print()
    for n, text in texts.items():
        trace = model.trace(text)
        heads = [(layer, head) for layer in range(trace.n_layers) for head in range(trace.n_heads)]
        picks = iter(heads * 100)
        change, _ = timed(lambda: serialise(one_head(trace, *next(picks))), max(args.repeat, 10))
        hidden, _ = timed(lambda: serialise(one_head_hidden(trace, *next(picks))), max(args.repeat, 10))
        print(f"{n:>6} tokens: head change {1000 * change:.0f} ms ({1000 * hidden:.0f} ms with [CLS]/[SEP] "
              f"hidden); slowest page for a new sentence {1000 * worst[n]:.0f} ms; largest page JSON "
              f"{json_max[n] / 1e6:.2f} MB")
    print("\nTargets: head change < 150 ms; new sentence <= 64 tokens < 700 ms (here: 16 tokens); "
          "512 tokens < 3 s; JSON at 512 tokens < 5 MB.")
    ok = worst[16] < 0.7 and worst[512] < 3.0 and json_max[512] < 5e6
    print("Figure-level targets met." if ok else "A figure-level target is MISSED (see above).")
    if not args.no_apptest:
        print("\nWhole page under AppTest (Streamlit script + widgets + figures; new sentence, model cached):")
        for (page, n), seconds in apptest_runs({16: texts[16], 512: texts[512]}).items():
            print(f"{n:>6} tokens {page:<16} {1000 * seconds:>7.0f} ms")


if __name__ == "__main__":
    main()
