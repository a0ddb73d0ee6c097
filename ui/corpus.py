"""What the Corpus head statistics page shares with the rest of the app: choosing a corpus, running
a job with progress, time left and cancel, the saved results, and opening a sentence on One head.

A Ray job runs as a child process, the command `python -m jobs corpus-stats`: a Ray driver exits
when Ray's control process (GCS) is lost, and that must not take the web server down. One job at a
time per server (a lock), so the app never has more than one local Ray. The page reads the child's
progress lines; a click on Cancel (or anywhere) makes Streamlit stop the page's run at its next
call, and `finally` stops the child, whose own `finally` shuts its Ray down. An in-process job
(or a model this session trained, which a child cannot load) runs in the page's run itself.
Results are kept as Parquet in the server's result store (jobs/store.py), bounded in bytes.
"""
from __future__ import annotations

import functools
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import streamlit as st

from analysis.corpus import CORPUS_STATISTICS, WHERE, CorpusStats, strongest
from jobs import (CorpusError, JobCancelled, ResultStore, builtin_corpus, corpus_hash, corpus_head_stats, read_corpus,
                  result_key)
from jobs.store import HEAD_STATS
from models.shipped import GRAMMAR_LM
from ui import url
from ui.attention import open_head
from ui.head_choice import HEAD, LAYER, choose, explicit
from ui.jobs import is_ready, queue_place
from ui.jobs import run_job as run_queued
from ui.library import listed_models
from ui.plain import plain
from ui.state import DEFAULT_MODEL, get_model, shared_cache, use_sentence
from ui.widgets import linked

MAX_UPLOAD_BYTES = 1_000_000   # as every upload in the app (.streamlit/config.toml caps it too)
MAX_SENTENCES = 2_000          # a job from the page: minutes at most on two workers
SOURCES = ("Built-in corpus", "Upload a file", "Paste text")
# What a corpus page opens on without a click: the built-in corpus's first OPEN_SENTENCES sentences with
# one of OPEN_MODELS, computed once per server on the first visit (seconds, one job of the server's queue)
# and shared by every session after. Anything larger, or the person's own corpus, waits for their Run.
OPEN_SENTENCES = 200
MAX_SEARCH_SENTENCES = 500    # one head's index is read in this process, a few seconds per hundred
OPEN_MODELS = (DEFAULT_MODEL, GRAMMAR_LM)
ROOT = Path(__file__).resolve().parents[1]


def result_store() -> ResultStore:
    """The server's store ($ATTENTION_EXPLORER_CORPUS_DIR, read each time); the command writes to the same one."""
    return ResultStore()


def choose_corpus() -> tuple[list[str], str] | None:
    """(passages, a short description), or None with a message saying what is missing.

    The source, the built-in corpus's size and a table's text column are kept in the link
    (ui/widgets.linked); a pasted corpus (up to 200,000 characters, far over a link's
    url.MAX_VALUE_CHARS) and an uploaded file are not: a link that names them opens the same source
    with an empty box, as the training page's pasted text does."""
    source = st.segmented_control("Corpus", SOURCES, default=SOURCES[0], **linked("source"))
    try:
        if source == "Upload a file":
            upload = st.file_uploader("One passage per line (.txt), or a table with a text column (.csv, .parquet), "
                                      "at most 1 MB", type=["txt", "csv", "parquet"], key=url.page_key("upload"))
            column = st.text_input("Text column (tables)", value="", max_chars=60, **linked("column"))
            if upload is None:
                st.info("Choose a file to read.")
                return None
            if upload.size > MAX_UPLOAD_BYTES:
                st.error("The file is over 1 MB: use the command (`python -m jobs corpus-stats`) for large corpora.")
                return None
            texts = read_corpus(upload.getvalue(), upload.name, column.strip() or None, MAX_SENTENCES)
            return texts, f"{upload.name} ({len(texts)} passages)"
        if source == "Paste text":
            pasted = st.text_area("One passage per line", height=160, max_chars=200_000,
                                  key=url.page_key("paste"))          # too big for a link: not bound
            texts = read_corpus(pasted.encode("utf-8"), "pasted.txt", None, MAX_SENTENCES) if pasted.strip() else []
            if not texts:
                st.info("Paste some passages, one per line.")
                return None
            return texts, f"pasted text ({len(texts)} passages)"
        count = st.slider("Sentences of the built-in corpus", 50, MAX_SENTENCES, OPEN_SENTENCES, step=50,
                          **linked("count"), help=f"Up to {OPEN_SENTENCES} with MiniLM or the Grammar LM: computed "
                                               "by itself, once for this server. More: press Run.")
        return builtin_corpus(count), f"the built-in corpus ({count} sentences)"
    except CorpusError as exc:
        st.error(str(exc))
        return None


@functools.lru_cache(maxsize=8)
def _builtin(count: int) -> frozenset[str]:
    return frozenset(builtin_corpus(count))


def opens_by_itself(model_name: str, texts: list[str]) -> bool:
    """Up to OPEN_SENTENCES passages, each from the built-in corpus's first OPEN_SENTENCES, with one of
    OPEN_MODELS: small enough to compute on a first visit (seconds, once per server), so the page opens on a
    result instead of a button. (The built-in corpus's first n sentences are the same for every n.)"""
    return (model_name in OPEN_MODELS and 0 < len(texts) <= OPEN_SENTENCES
            and _builtin(OPEN_SENTENCES).issuperset(texts))


def distinct_passages(texts: list[str], described: str) -> tuple[list[str], str]:
    """A passage that repeats (the built-in corpus has some) gives the very same queries and keys again: a
    search would list it twice and a cloud would stack its points. Each passage once, at most
    MAX_SEARCH_SENTENCES of them, and the description says so."""
    kept = list(dict.fromkeys(texts))[:MAX_SEARCH_SENTENCES]
    return kept, (described if len(kept) == len(texts) else f"{described}; {len(kept)} of them distinct")


def read_now(model_name: str, texts: list[str], described: str, verb: str) -> bool:
    """Whether the page reads the corpus now: by itself for a corpus that opens by itself (said so), else
    when the person turns the switch on (`verb`: "Search", "Draw"), kept in the link."""
    if opens_by_itself(model_name, texts):
        st.caption(f"Corpus: {described}. Read by itself: small enough to compute once for this server, then "
                   "shared. Upload or paste your own corpus, or take more sentences, to read it at your request.")
        return True
    if st.toggle(f"{verb} {len(texts)} passages", **linked("go"), help=f"Reads every passage at this head "
                 f"(at most {MAX_SEARCH_SENTENCES}); kept for the next visit, for everyone on this server."):
        return True
    st.caption(f"Corpus: {described}.")
    return False


def _head_chosen(layer_key: str, head_key: str) -> None:
    """A layer or head picker moved: both are now the person's choice (every page, the link)."""
    choose(st.session_state[layer_key], st.session_state[head_key])


def pick_corpus_head(shape: tuple[int, int], best: tuple[int, int]) -> tuple[int, int]:
    """Layer and head pickers for one head across the corpus: the person's own choice (ui/head_choice.py,
    shared with every page and the link) if they made one, else the corpus's `best` head."""
    keys = url.page_key(LAYER), url.page_key(HEAD)
    cols = st.columns(2)
    picked = []
    for col, name, count, fallback, key in zip(cols, (LAYER, HEAD), shape, best, keys):
        value = explicit(name, count)
        st.session_state[key] = fallback if value is None else value     # the choice, clamped to this model
        picked.append(col.selectbox(name.capitalize(), range(count), key=key, on_change=_head_chosen, args=keys))
    return picked[0], picked[1]


def job_key(model_name: str, texts: list[str]) -> str:
    return result_key(model_name, corpus_hash(texts), HEAD_STATS)


def stored(key: str) -> CorpusStats | None:
    return result_store().get(key)


def opening_result(model_name: str, texts: list[str]) -> CorpusStats | None:
    """The result to show without a click: for a corpus that opens by itself, computed once per server
    (the shared cache, one job of the server's queue with progress and Cancel; sessions asking at the same
    moment wait for that one job) and saved in the result store, so a restarted server reads it from disk.
    Any other corpus: its saved result, or None (the person presses Run)."""
    key = job_key(model_name, texts)
    if not opens_by_itself(model_name, texts):
        return stored(key)
    shared = ("corpus_stats", key)
    if not is_ready(shared):                   # a restarted server: a file read, not a place in the queue
        found = stored(key)
        if found is not None:
            return shared_cache().get_or_compute(shared, lambda: found)

    def compute(progress) -> CorpusStats:
        found = stored(key)
        if found is not None:
            return found
        result = corpus_head_stats(get_model(model_name), texts, engine="local",
                                   progress=lambda done, total: progress(done / max(total, 1)))
        result_store().put(key, result, {"corpus_hash": corpus_hash(texts)})
        return result
    return run_queued(shared, compute, f"Measuring every head on {len(texts)} sentences "
                                                      "(once for this server)")


def result_caption(result: CorpusStats, described: str, model_name: str, texts: list[str]) -> str:
    """Where the shown numbers come from: which corpus, model and size, and how they were computed."""
    if opens_by_itself(model_name, texts):
        return (f"{described[:1].upper()}{described[1:]} with **{model_name}**: measured once for this server "
                f"on the first visit ({result.note}) and shared by everyone. For your own corpus, upload or paste "
                "it, or take more sentences, and press Run.")
    return f"{described} with **{model_name}**: saved result ({result.note})."


def finding(result: CorpusStats, name: str) -> str:
    """The map's headline, computed from its numbers: the strongest head, how much, and how many others."""
    top = strongest(result, name)
    head = f"**Layer {top.layer}, head {top.head}**"
    across = f"across {top.sentences} sentences"
    if name in WHERE:
        others = {0: "no head puts more than half there", 1: "it is the only head that puts more than half there"}
        return (f"{head} puts **{top.mean:.0%}** of its attention {WHERE[name]} on average {across} "
                f"(± {top.spread:.0%}), the most of the {top.heads} heads; "
                f"{others.get(top.over_half, f'{top.over_half} heads put more than half there')}. "
                "A small ± says the head does this on every sentence, not on a few.")
    mean = result.mean(name)
    low = divmod(int(mean.argmin()), mean.shape[1])
    unit, most, least = ((" bits", "spreads its attention the widest", "the most focused")
                         if name == "entropy" else (" positions", "looks the farthest", "the nearest-looking"))
    return (f"{head} {most}: **{top.mean:.2f}{unit}** on average {across} (± {top.spread:.2f}); "
            f"{least} head is layer {low[0]}, head {low[1]} at {mean[low]:.2f}{unit}.")


def one_head_finding(result: CorpusStats, name: str, layer: int, head: int) -> str:
    """What one head's histogram says, in numbers: how often it does it, or its range."""
    values = result.per_sentence(name)[:, layer, head]                       # (sentences,)
    if name in WHERE:
        return (f"On {int((values > 0.5).sum())} of {len(values)} sentences, layer {layer}, head {head} puts more "
                f"than half of its attention {WHERE[name]}; the median sentence, {np.median(values):.0%}.")
    label = CORPUS_STATISTICS[name][0]
    return (f"Layer {layer}, head {head}'s {label}: from {values.min():.2f} to {values.max():.2f}, "
            f"median {np.median(values):.2f} over {len(values)} sentences.")


@st.cache_resource
def job_lock() -> threading.Lock:
    """One corpus job at a time on this server: one local Ray at most, and two cores are enough for one."""
    return threading.Lock()


class Bar:
    """The progress bar with sentences done and time left."""

    def __init__(self, report=None):
        self.report = report                 # the job queue's progress, seen by the people in line
        self.widget = st.progress(0.0, text="Starting the workers (Ray's start-up takes a few seconds)…")
        self.started = time.perf_counter()
        self.first: tuple[float, int] | None = None

    def update(self, done: int, total: int) -> None:
        self.first = self.first or (time.perf_counter(), done)
        t0, d0 = self.first
        rate = (done - d0) / max(time.perf_counter() - t0, 1e-9)
        left = f" · about {(total - done) / rate:.0f} s left" if done > d0 and rate > 0 else ""
        self.widget.progress(done / max(total, 1), text=f"{done} / {total} sentences{left}")
        if self.report is not None:
            self.report(done / max(total, 1))

    def waiting(self) -> bool:
        """A Streamlit call every half second: where a Cancel click stops the run. Never cancels itself."""
        if self.first is None:
            self.widget.progress(0.0, text=f"Starting the workers… {time.perf_counter() - self.started:.0f} s")
        return False


def _pipe_lines(stream, lines: "queue.Queue[str]") -> None:
    for line in stream:
        lines.put(line)


def _run_child(model_name: str, texts: list[str], bar: Bar, engine: str = "ray") -> str:
    """The command in a child process (it stores the result); '' when it worked, else what it said."""
    with tempfile.TemporaryDirectory(prefix="corpus_job_") as folder:
        corpus = Path(folder) / "corpus.txt"
        corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
        command = [sys.executable, "-m", "jobs", "corpus-stats", "--model", model_name, "--corpus", str(corpus),
                   "--store", str(result_store().folder), "--progress-lines", "--limit", str(MAX_SENTENCES),
                   "--engine", engine]
        log = Path(folder) / "stderr.txt"       # a file, not a pipe: Ray's warnings cannot fill it and block
        with open(log, "w") as errors:
            child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True,
                                     env={**os.environ, "PYTHONPATH": str(ROOT)})
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_pipe_lines, args=(child.stdout, lines), daemon=True).start()
        try:
            while child.poll() is None or not lines.empty():
                try:
                    parts = lines.get(timeout=0.5).split()    # "progress DONE TOTAL", then a summary
                except queue.Empty:
                    bar.waiting()                             # Ray starting: still a Streamlit call
                    continue
                if len(parts) == 3 and parts[0] == "progress":
                    bar.update(int(parts[1]), int(parts[2]))
            error = log.read_text(errors="replace")
            return "" if child.wait() == 0 else (error.strip().splitlines() or ["the job failed"])[-1][:300]
        finally:
            if child.poll() is None:                      # cancelled: stop the job and its Ray
                child.terminate()
                try:
                    child.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    child.kill()


def memory_estimate(model_name: str, texts: list[str], kind: str = "stats", per_passage: int = 0,
                    where: str = "the server's memory") -> str:
    """What a corpus job will take in memory, said before it starts (jobs/budget.py): one passage at a
    time within the per-job budget, plus the small results. '' for a model the estimate cannot read."""
    from jobs.budget import estimate_for

    model = get_model(model_name)
    if not hasattr(model, "config") or not hasattr(model, "tokenizer"):
        return ""
    return estimate_for(model, texts, kind, per_passage=per_passage).describe(where)


def run_job(model_name: str, texts: list[str], key: str, engine: str) -> CorpusStats | None:
    """Run the job with a progress bar, time left and Cancel; store the result. None: cancelled or failed."""
    st.caption(memory_estimate(model_name, texts, where="each Ray worker's memory" if engine == "ray"
                               else "the server's memory"))
    st.button("Cancel", key="corpus_cancel", icon=":material/stop:")   # a click stops this run (see top)
    with queue_place("Corpus head statistics", st.empty()) as report:    # the server's one line (ui/jobs.py)
        return _run_in_slot(model_name, texts, key, engine, report)


def _run_in_slot(model_name: str, texts: list[str], key: str, engine: str, report) -> CorpusStats | None:
    if not job_lock().acquire(blocking=False):
        st.warning("Another corpus job is running on this server: try again in a minute.")
        return None
    try:
        bar = Bar(report)
        if engine == "ray" and model_name in listed_models():
            error = _run_child(model_name, texts, bar)
            if error:
                st.error(f"The job failed: {error}")
                return None
            return stored(key)
        result = corpus_head_stats(get_model(model_name), texts, engine="local", progress=bar.update,
                                   cancelled=bar.waiting)
        result_store().put(key, result, {"corpus_hash": corpus_hash(texts)})
        return result
    except JobCancelled:
        return None
    except ValueError as exc:
        st.error(str(exc))
        return None
    finally:
        job_lock().release()


def sentence_rows(stats: CorpusStats, indices: list[int], name: str, layer: int, head: int, page: str,
                  tag: str) -> None:
    """Each sentence with its value for the head and a button that opens it on One head."""
    values = stats.per_sentence(name)[:, layer, head]
    for rank, i in enumerate(indices):
        cols = st.columns([1, 6, 2], vertical_alignment="center")
        cols[0].markdown(f"`{values[i]:.4f}`")
        cols[1].text(stats.texts[i])                # user text: plain text, never markdown or HTML
        if cols[2].button("Open in One head", key=f"{page}_{tag}_{rank}", on_click=use_sentence,
                          args=(stats.texts[i],), icon=":material/open_in_new:"):
            open_head(layer, head)


def query_index(model_name: str, texts: list[str], layer: int, head: int, kind: str = "query"):
    """(QueryIndex or PatternIndex, covered) for one head of the corpus, once per server (bounded in bytes).
    The job that reads the corpus keeps every head of the layer, each under its own key: another head
    of the same layer then opens at once."""
    from jobs.corpus_search import corpus_layer_indexes

    def key_of(h: int) -> tuple:
        return ("corpus_" + kind, model_name, corpus_hash(texts), layer, h)

    def compute(progress):
        indexes = corpus_layer_indexes(get_model(model_name), texts, layer, kind=kind,
                                       progress=lambda done, total: progress(done / max(total, 1)))
        for other, found in indexes.items():
            if other != head:
                shared_cache().get_or_compute(key_of(other), lambda found=found: found)
        return indexes[head]

    if not is_ready(key_of(head)):
        st.caption(memory_estimate(model_name, texts, "layer"))
    return run_queued(key_of(head), compute, f"Reading {len(texts)} passages at layer {layer} (every head)")


def qk_space(model_name: str, texts: list[str], layer: int, head: int, points: int):
    """(CorpusQK, note): one head's query–key space over the corpus, in this process, once per server, as a
    job of the server's one queue (place in line, progress, Cancel), its memory said before it starts."""
    from analysis.corpus_qk import per_sentence_budget
    from jobs.corpus_qk import corpus_qk

    key = ("corpus_qk", model_name, corpus_hash(texts), layer, head, points)
    if not is_ready(key):
        st.caption(memory_estimate(model_name, texts, "head", per_sentence_budget(len(texts), points)))
    return run_queued(key, lambda progress: corpus_qk(get_model(model_name), texts, layer, head, engine="local",
                                                      max_points=points,
                                                      progress=lambda done, total: progress(done / max(total, 1))),
                      f"Reading {len(texts)} passages at layer {layer}, head {head}")


def qk_finding(space, layer: int) -> str:
    """What the picture shows, from its numbers: the frequent token whose queries cluster the most."""
    found = space.tightest()
    if found is None:
        return "No token is drawn often enough (5 times) to say whether its queries cluster."
    token, count, ratio = found
    token = plain(token)
    verdict = (f": this head asks nearly the same question at every “{token}”" if ratio < 0.35
               else ": no frequent token's queries form a tight group here")
    why = (" (in layer 0 a query is made from the token and its position alone: no context has been mixed in yet)"
           if layer == 0 and ratio < 0.35 else "")
    return (f"Of the 10 most frequent tokens, “{token}” has the tightest queries: its {count} queries spread "
            f"{f'{ratio:.0%}' if ratio >= 0.01 else 'under 1 %'} as far as all the queries do{verdict}{why}.")


def search_finding(model_name: str, found: list[str], hits: list, token: str, measure: str) -> str:
    """The list in one sentence, from the numbers: which tokens were found, how close, and how many are
    the person's own word (found: each hit's passage)."""
    from ui.state import trace_for

    words = [trace_for(model_name, text).tokens[hit.position] for text, hit in zip(found, hits)]
    listed = ", ".join(f"“{plain(word)}” {hit.similarity:.2f}" for word, hit in zip(words, hits))
    same = sum(word == token for word in words)
    token = plain(token)
    return (f"Closest to your “{token}” ({measure}): {listed}. "
            + (f"{same} of the {len(hits)} are “{token}” itself." if same else f"None is “{token}” itself."))


def search_hit(model_name: str, text: str, position: int, layer: int, head: int, similarity: str, page: str,
               rank: int) -> None:
    """One context: the sentence, what the head's query at that token looks at, and a way to open it.
    similarity: how it matched, e.g. "cosine 0.981" or "overlap 0.950"."""
    from ui.state import trace_for
    from ui.widgets import plot
    from viz.corpus import attention_strip

    trace = trace_for(model_name, text)
    row = trace.layers[layer].weights[head][position]                  # (T,) where that token looks
    cols = st.columns([6, 2], vertical_alignment="center")
    cols[0].text(f"{rank + 1}. {similarity} · token {position} “{trace.tokens[position]}” in: {text}")
    if cols[1].button("Open in One head", key=f"{page}_hit_{rank}", on_click=use_sentence, args=(text,),
                      icon=":material/open_in_new:"):
        open_head(layer, head)
    plot(attention_strip(trace.tokens, row, position), f"corpus_search_{rank}")
