"""Time every figure of the "Context at work" page for a 128-token sentence.

    python bench/context_page.py [--runs 7]

Does what the two context pages (pages/context.py, pages/context_pair.py) do after the
model and the sentence's trace are cached: one PCA over all layers, the trajectory figure
(the page's default 12 paths, and the worst case of 40 paths in 3-D), the vocabulary lens
(`WordVectors.nearest_words` on the model's input table: cosine against all 30,522 rows at
every layer, one matrix product) and its figure, the movement figure, and the two-sentence
comparison (shared PCA, paths, cosine, both sentences' lens rows). Also times the JSON
encoding Streamlit does before sending the figures. Target: < 1 s for both pages' runs
together, server-side. The one-off wrapping and normalisation of the embedding table
(cached per model, ui.embedding.input_vectors) is printed apart.

    python bench/context_page.py --blas-threads 1

caps numpy's BLAS threads (threadpoolctl, installed with scikit-learn). On a machine
whose cores are busy with other work, a multi-threaded OpenBLAS SVD can wait on its
own threads for seconds; one thread avoids that. Both runs print the BLAS in use.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.context import (cosine_per_layer, find_word, layer_movement, project_trajectories,  # noqa: E402
                          word_vectors)
from analysis.vectors import WordVectors  # noqa: E402
from models import load_model  # noqa: E402
from models.vectors import vectors_from_model  # noqa: E402
from viz.context import cosine_figure, lens_figure, movement_figure, trajectory_figure  # noqa: E402

TARGET_S = 1.0


def sentence_of(n_tokens: int, model) -> str:
    words = ("the river bank was steep and the children played near the water while "
             "their parents talked about money at the bank").split()
    k = 1
    while len(model.tokenizer.encode(" ".join(words[i % len(words)] for i in range(k))).ids) < n_tokens:
        k += 1
    return " ".join(words[i % len(words)] for i in range(k))


def build_page(trace, pair, lens: WordVectors, n_drawn: int, dims: int) -> list:
    """Every figure the two pages build, in the pages' order."""
    words = [i for i, s in enumerate(trace.special_mask) if not s]
    token = words[0]
    paths = project_trajectories([trace.hidden_states], dims)
    chosen = words[:n_drawn]
    figures = [trajectory_figure(paths.coords[0][:, chosen], [trace.tokens[i] for i in chosen], paths.explained)]
    figures.append(lens_figure(lens.nearest_words(trace.hidden_states[:, token], 8)))
    figures.append(movement_figure(layer_movement(trace, token)))
    matches = [find_word(t, "bank")[0] for t in pair]
    vectors = [word_vectors(t.hidden_states, m.positions) for t, m in zip(pair, matches)]
    both = project_trajectories([t.hidden_states for t in pair], dims)
    figures.append(trajectory_figure(both.project_paths(vectors), ["A · bank", "B · bank"], both.explained))
    figures.append(cosine_figure(cosine_per_layer(*vectors)))
    for vector in vectors:
        lens.nearest_words(vector, 6)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--blas-threads", type=int, default=0, help="cap BLAS threads (0: leave as is)")
    args = parser.parse_args()
    if args.blas_threads:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.blas_threads, user_api="blas")
    try:
        from threadpoolctl import threadpool_info
        blas = ", ".join(f"{i['internal_api']} × {i['num_threads']} threads" for i in threadpool_info()
                         if i.get("user_api") == "blas")
    except ImportError:
        blas = "unknown"
    print(f"BLAS: {blas}")
    model = load_model("minilm")
    start = time.perf_counter()
    lens = vectors_from_model(model)
    lens.nearest_words(model.embedding_table()[:1], 1)      # the first query normalises the table: timed here
    lens_build = time.perf_counter() - start
    trace = model.trace(sentence_of(128, model))
    pair = [model.trace("I sat on the bank of the river."), model.trace("I deposited money at the bank.")]
    print(f"sentence: {len(trace.tokens)} tokens, {trace.n_layers + 1} layers; "
          f"lens table built once per model in {lens_build * 1000:.0f} ms (cached)")
    for label, n_drawn, dims in [("default view: 12 paths, 2-D", 12, 2), ("worst case: 40 paths, 3-D", 40, 3)]:
        build_page(trace, pair, lens, n_drawn, dims)                       # warm-up
        build, encode = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            figures = build_page(trace, pair, lens, n_drawn, dims)
            t1 = time.perf_counter()
            for fig in figures:
                fig.to_json()
            encode.append(time.perf_counter() - t1)
            build.append(t1 - t0)
        b, e = statistics.median(build), statistics.median(encode)
        verdict = "OK" if b + e < TARGET_S else "OVER TARGET"
        print(f"{label:30s} build {b * 1000:6.0f} ms + JSON {e * 1000:5.0f} ms = {(b + e) * 1000:6.0f} ms "
              f"(median of {args.runs}; target < {TARGET_S * 1000:.0f} ms) {verdict}")


if __name__ == "__main__":
    main()
