"""What the training pages share: the corpus picker, the cached tokenizer, this session's run.

A run lives in st.session_state["train_run"] (never in a cache): training in one
browser session can never touch another session's model. The last good weights are
copied into the run after every report, so a Stop (which reruns the script and
interrupts the loop) keeps them.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional

import numpy as np
import streamlit as st

from core import Transformer, TransformerConfig, from_state_dict
from training.corpus import CorpusConfig, generate_corpus, split_lines
from training.lm import Progress, TrainConfig
from training.queue import TrainingQueue
from training.weights import snapshot
from training.bpe import BPETokenizer, train_bpe
from models.saved import folder_bytes, models_dir, save_model, unique_name

MAX_UPLOAD_BYTES = 1_000_000     # 1 MB of text: trains in minutes at most, and a BPE pass is instant
MAX_PASTE_CHARS = 200_000


@dataclass
class Run:
    """One training run of this session."""
    label: str
    config: TransformerConfig
    train: TrainConfig
    tokenizer_json: str
    builtin: bool                              # trained on the built-in corpus (the analogy applies)
    stream_ids: np.ndarray                     # the corpus as token ids (for the one-step page's batches)
    initial: dict                              # the random weights it started from
    weights: dict                              # the last good weights
    history: list[Progress] = field(default_factory=list)
    status: str = "running"                    # running | done | stopped | failed
    message: str = ""
    folder: Optional[str] = None
    untrained_folder: Optional[str] = None

    def keep(self, weights: dict) -> None:
        self.weights = weights

    def model(self, trained: bool = True) -> Transformer:
        return from_state_dict(self.config, self.weights if trained else self.initial)

    @property
    def tokenizer(self) -> BPETokenizer:
        return tokenizer_from_json(self.tokenizer_json)


@st.cache_resource
def training_queue() -> TrainingQueue:
    """One queue for the whole server: $ATTENTION_EXPLORER_TRAINING_SLOTS runs at once (default:
    one per two cores), every other run waits its turn."""
    slots = os.environ.get("ATTENTION_EXPLORER_TRAINING_SLOTS", "")
    return TrainingQueue(int(slots) if slots.isdigit() and int(slots) > 0 else max(1, (os.cpu_count() or 2) // 2))


@contextlib.contextmanager
def training_slot(where) -> Iterator[None]:
    """Wait in line (showing the place in `where`) until this session may train; always leave.
    Each wait step is a Streamlit call, so Stop or a closed tab also ends the wait."""
    queue = training_queue()
    ticket = queue.enter()
    try:
        while not queue.try_start(ticket):
            ahead = queue.ahead_of(ticket)
            where.info(f"⏳ Other people are training on this server: {ahead + queue.running} run(s) before "
                       f"yours ({queue.slots} at a time). Yours starts by itself; Stop leaves the line.")
            time.sleep(0.5)
        where.empty()
        yield
    finally:
        queue.leave(ticket)


def current_run() -> Optional[Run]:
    return st.session_state.get("train_run")


@st.cache_data(show_spinner=False, max_entries=8)
def builtin_corpus(seed: int, n_sentences: int) -> list[str]:
    return generate_corpus(CorpusConfig(seed=seed, n_sentences=n_sentences))


@st.cache_data(show_spinner="Training the BPE tokenizer…", max_entries=16)
def bpe_json(lines: tuple[str, ...], vocab_size: int) -> str:
    return train_bpe(list(lines), vocab_size).to_json()


@st.cache_resource(max_entries=16)
def tokenizer_from_json(text: str) -> BPETokenizer:
    # Read-only after creation (only encode/decode are called), so sharing it is safe.
    return BPETokenizer.from_json(text)


def read_upload(data: bytes) -> tuple[Optional[str], Optional[str]]:
    """(text, None) or (None, message) for an uploaded file."""
    if len(data) > MAX_UPLOAD_BYTES:
        return None, f"The file is {len(data):,} bytes; the limit is {MAX_UPLOAD_BYTES:,} bytes (1 MB) of text."
    if not data.strip():
        return None, "The file is empty: it has no text to train on."
    if b"\x00" in data[:4096]:
        return None, "This looks like a binary file, not text: upload a plain .txt file."
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, (f"The file is not UTF-8 text (byte {exc.start} cannot be read): save it as "
                      "UTF-8 plain text and upload it again.")


def corpus_picker() -> tuple[list[str], bool]:
    """Widgets for the corpus; returns (lines, built-in?) or stops the page with a message."""
    source = st.radio("Text to learn from", ["Built-in grammar corpus", "Paste text", "Upload a .txt file"],
                      horizontal=True, key="train_source")
    if source == "Built-in grammar corpus":
        c1, c2 = st.columns(2)
        seed = c1.number_input("Corpus seed", 0, 10_000, 0, key="train_corpus_seed",
                               help="The same seed always generates the same sentences.")
        n = c2.slider("Sentences", 500, 12_000, 6000, step=500, key="train_corpus_n")
        return builtin_corpus(int(seed), int(n)), True
    if source == "Paste text":
        text = st.text_area(f"Your text (up to {MAX_PASTE_CHARS:,} characters; one sentence or paragraph per line)",
                            key="train_paste", height=180, max_chars=MAX_PASTE_CHARS)
    else:
        upload = st.file_uploader("A plain-text file (.txt, UTF-8, at most 1 MB)", type=["txt"], key="train_upload")
        if upload is None:
            st.info("Choose a .txt file to train on (at most 1 MB), or use the built-in corpus.")
            st.stop()
        text, problem = read_upload(upload.getvalue())
        if problem:
            st.error(problem)
            st.stop()
    lines = split_lines(text or "")
    if not lines:
        st.info("The text is empty: paste some text (many sentences) to train on, or use the built-in corpus.")
        st.stop()
    return lines, False


def models_limit_bytes() -> int:
    """$ATTENTION_EXPLORER_MODELS_MAX_MB: what the models folder may hold (default 500 MB)."""
    raw = os.environ.get("ATTENTION_EXPLORER_MODELS_MAX_MB", "")
    return (int(raw) if raw.isdigit() else 500) * 1_000_000


def finish(run: Run, status: str, message: str = "") -> None:
    """Save the run's last good weights (and its random start) and offer both in the model picker."""
    run.status, run.message = status, message or run.message
    root = models_dir()
    need = 2 * 4 * sum(t.numel() for t in run.weights.values()) + 2 * len(run.tokenizer_json)
    used, limit = folder_bytes(root), models_limit_bytes()
    if used + need > limit:
        run.message += (f" Not saved: the models folder holds {used / 1e6:,.0f} MB of its {limit / 1e6:,.0f} MB "
                        "limit. Delete saved models below and train again.")
        return
    name = unique_name(run.label)
    trained = run.model(True)
    info = {"label": run.label, "steps": run.history[-1].step if run.history else 0,
            "val_loss": run.history[-1].val_loss if run.history else None, "status": status}
    run.folder = str(save_model(trained, run.tokenizer_json, root, name, info=info))
    untrained = run.model(False)
    run.untrained_folder = str(save_model(untrained, run.tokenizer_json, root, name + "-untrained",
                                          info={"label": run.label + " (untrained, random weights)", "steps": 0}))
    extra = st.session_state.setdefault("extra_models", {})
    extra[run.folder] = f"🏋️ {run.label} (trained, {info['steps']} steps)"
    extra[run.untrained_folder] = f"🎲 {run.label} (untrained)"
    own = st.session_state.setdefault("own_models", {})
    own[run.folder], own[run.untrained_folder] = extra[run.folder], extra[run.untrained_folder]


def start_weights(net: Transformer) -> dict:
    return snapshot(net)
