"""What the Corpus head statistics page shares with the rest of the app: choosing a corpus, running
a job with progress, time left and cancel, the saved results, and opening a sentence on One head.

Jobs run in the page's own script run: a click on Cancel (or anywhere) makes Streamlit stop the run
at its next call, which is the progress update below; the engine's `finally` then stops the Ray
workers. Results are kept as Parquet in the server's result store (jobs/store.py), bounded in bytes;
a session keeps only the key of its result.
"""
from __future__ import annotations

import time

import streamlit as st

from analysis.corpus import CorpusStats
from jobs import (CorpusError, JobCancelled, ResultStore, builtin_corpus, corpus_hash, corpus_head_stats, read_corpus,
                  result_key)
from ui.attention import open_head
from ui.state import get_model

MAX_UPLOAD_BYTES = 1_000_000   # as every upload in the app (.streamlit/config.toml caps it too)
MAX_SENTENCES = 2_000          # a job from the page: minutes at most on two workers
SOURCES = ("Built-in corpus", "Upload a file", "Paste text")
SETTINGS = {"statistics": "head_stats"}   # what changes the numbers besides model and corpus


def result_store() -> ResultStore:
    """The server's store ($ATTENTION_EXPLORER_CORPUS_DIR, read each time); the command writes to the same one."""
    return ResultStore()


def choose_corpus(page: str) -> tuple[list[str], str] | None:
    """(passages, a short description), or None with a message saying what is missing."""
    source = st.segmented_control("Corpus", SOURCES, default=SOURCES[0], key=f"{page}_source")
    try:
        if source == "Upload a file":
            upload = st.file_uploader("One passage per line (.txt), or a table with a text column (.csv, .parquet), "
                                      "at most 1 MB", type=["txt", "csv", "parquet"], key=f"{page}_upload")
            column = st.text_input("Text column (tables)", value="", max_chars=60, key=f"{page}_column")
            if upload is None:
                st.info("Choose a file to read.")
                return None
            if upload.size > MAX_UPLOAD_BYTES:
                st.error("The file is over 1 MB: use the command (`python -m jobs corpus-stats`) for large corpora.")
                return None
            texts = read_corpus(upload.getvalue(), upload.name, column.strip() or None, MAX_SENTENCES)
            return texts, f"{upload.name} ({len(texts)} passages)"
        if source == "Paste text":
            pasted = st.text_area("One passage per line", height=160, max_chars=200_000, key=f"{page}_paste")
            texts = read_corpus(pasted.encode("utf-8"), "pasted.txt", None, MAX_SENTENCES) if pasted.strip() else []
            if not texts:
                st.info("Paste some passages, one per line.")
                return None
            return texts, f"pasted text ({len(texts)} passages)"
        count = st.slider("Sentences of the built-in corpus", 50, MAX_SENTENCES, 200, step=50, key=f"{page}_count")
        return builtin_corpus(count), f"the built-in corpus ({count} sentences)"
    except CorpusError as exc:
        st.error(str(exc))
        return None


def job_key(model_name: str, texts: list[str]) -> str:
    return result_key(model_name, corpus_hash(texts), SETTINGS)


def stored(key: str) -> CorpusStats | None:
    return result_store().get(key)


def run_job(model_name: str, texts: list[str], key: str, engine: str) -> CorpusStats | None:
    """Run the job with a progress bar and time left, store the result; None if it was cancelled."""
    st.button("Cancel", key="corpus_cancel", icon=":material/stop:")   # a click stops this run (see top)
    bar = st.progress(0.0, text="Starting the workers (Ray's start-up takes a few seconds)…")
    started = time.perf_counter()
    first = {}

    def progress(done: int, total: int) -> None:
        first.setdefault("at", (time.perf_counter(), done))
        t0, d0 = first["at"]
        rate = (done - d0) / max(time.perf_counter() - t0, 1e-9)
        left = f" · about {(total - done) / rate:.0f} s left" if done > d0 and rate > 0 else ""
        bar.progress(done / total, text=f"{done} / {total} sentences{left}")

    def still_running() -> bool:
        # A Streamlit call every half second: where a Cancel click stops the run.
        if not first:
            bar.progress(0.0, text=f"Starting the workers… {time.perf_counter() - started:.0f} s")
        return False

    try:
        result = corpus_head_stats(model_name if model_name == "minilm" else get_model(model_name), texts,
                                   engine=engine, progress=progress, cancelled=still_running)
    except JobCancelled:
        return None
    except ValueError as exc:
        st.error(str(exc))
        return None
    result_store().put(key, result, {"corpus_hash": corpus_hash(texts)})
    bar.progress(1.0, text=f"{result.n_sentences} sentences in {time.perf_counter() - started:.1f} s · {result.note}")
    return result


def _use_sentence(text: str) -> None:
    """A sentence from the corpus becomes the app's sentence (before the sidebar's box is drawn)."""
    st.session_state["sentence"] = text
    st.session_state["sentence_box"] = text


def sentence_rows(stats: CorpusStats, indices: list[int], name: str, layer: int, head: int, page: str,
                  tag: str) -> None:
    """Each sentence with its value for the head and a button that opens it on One head."""
    values = stats.per_sentence(name)[:, layer, head]
    for rank, i in enumerate(indices):
        cols = st.columns([1, 6, 2], vertical_alignment="center")
        cols[0].metric("value", f"{values[i]:.3f}", label_visibility="collapsed")
        cols[1].text(stats.texts[i])                # user text: plain text, never markdown or HTML
        if cols[2].button("Open in One head", key=f"{page}_{tag}_{rank}", on_click=_use_sentence,
                          args=(stats.texts[i],), icon=":material/open_in_new:"):
            open_head(layer, head)
