"""What the training pages share: the corpus picker, the cached tokenizer, this session's run.

A run lives in st.session_state["train_run"] (never in a cache): training in one
browser session can never touch another session's model. The last good weights are
copied into the run after every report, so a Stop (which reruns the script and
interrupts the loop) keeps them. The run also keeps its probe's snapshots (at most
40, at most 8 MB; training/probe.py), for the latest run of each page only.

Progress is drawn right under the Train button, where the person just clicked: a bar
with the step, the time so far and the time left at the measured pace.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional

import numpy as np
import streamlit as st

from core import Transformer, TransformerConfig, from_state_dict
from training.corpus import CorpusConfig, generate_corpus, split_lines
from training.cost import Calibration, StepPace, duration
from training.lm import LossNotFinite, Progress, TrainConfig, make_stream, train_lm
from training.probe import ProbeRecorder, lm_recorder, reversal_recorder
from training.reversal import ReversalTask, train_seq2seq
from training.weights import snapshot
from training.bpe import BPETokenizer, train_bpe
from models.saved import folder_bytes, models_dir, save_model, unique_name
from viz.training import accuracy_curve, loss_curve
from ui import url
from ui.jobs import queue_place

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
    estimate_s: float = 0.0                    # the settings' estimate before calibration (training/cost.py)
    promised_s: float = 0.0                    # what the page said it would take (calibrated)
    probe: Optional[ProbeRecorder] = None      # the probe sentence every few steps (training/probe.py)

    def keep(self, weights: dict) -> None:
        self.weights = weights

    def model(self, trained: bool = True) -> Transformer:
        return from_state_dict(self.config, self.weights if trained else self.initial)

    @property
    def tokenizer(self) -> BPETokenizer:
        return tokenizer_from_json(self.tokenizer_json)


@contextlib.contextmanager
def training_slot(where, label: str = "Training a model") -> Iterator[Callable[[float], None]]:
    """Wait in the server's one job queue (ui/jobs.py, the same line as every expensive page),
    showing the place in `where`, until this session may train; yields progress(fraction) for the
    people waiting behind. Stop or a closed tab ends the wait or the run and frees the place."""
    with queue_place(label, where, leave="Stop") as report:
        yield report


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
                      horizontal=True, key="train_source", bind=url.bound("train_source"))
    if source == "Built-in grammar corpus":
        c1, c2 = st.columns(2)
        seed = c1.number_input("Corpus seed", 0, 10_000, 0, key="train_corpus_seed",
                               bind=url.bound("train_corpus_seed"),
                               help="The same seed always generates the same sentences.")
        n = c2.slider("Sentences", 500, 12_000, 6000, step=500, key="train_corpus_n", bind=url.bound("train_corpus_n"))
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
    """Save what the run learned and offer it in the model picker.

    A finished run saves its weights and its random start (the before/after pages compare the
    two); a stopped run saves only its last good weights; a run that never reported a trained
    step (stopped in the queue, or a tab closed before the first report) saves nothing: its
    weights are the random start, and every visitor's picker would list it."""
    run.status, run.message = status, message or run.message
    if not run.history:
        run.message += " Nothing was saved: the run stopped before its first trained step."
        return
    root = models_dir()
    keep_start = status == "done"
    need = (2 if keep_start else 1) * (4 * sum(t.numel() for t in run.weights.values()) + len(run.tokenizer_json))
    used, limit = folder_bytes(root), models_limit_bytes()
    if used + need > limit:
        run.message += (f" Not saved: the models folder holds {used / 1e6:,.0f} MB of its {limit / 1e6:,.0f} MB "
                        "limit. Delete saved models below and train again.")
        return
    name = unique_name(run.label)
    info = {"label": run.label, "steps": run.history[-1].step, "val_loss": run.history[-1].val_loss,
            "status": status}
    run.folder = str(save_model(run.model(True), run.tokenizer_json, root, name, info=info))
    extra = st.session_state.setdefault("extra_models", {})
    own = st.session_state.setdefault("own_models", {})
    extra[run.folder] = own[run.folder] = f"🏋️ {run.label} (trained, {info['steps']} steps)"
    if keep_start:
        run.untrained_folder = str(save_model(run.model(False), run.tokenizer_json, root, name + "-untrained",
                                              info={"label": run.label + " (untrained, random weights)",
                                                    "steps": 0}))
        extra[run.untrained_folder] = own[run.untrained_folder] = f"🎲 {run.label} (untrained)"


def start_weights(net: Transformer) -> dict:
    return snapshot(net)


@contextlib.contextmanager
def recorded_run(run: dict, kind: str):
    """Around a training run that reports into `run`: a Stop, a closed tab or another click keeps the
    weights of the last report and says so; the probe closes; the measured pace calibrates the next estimate."""
    try:
        yield
    except BaseException:
        run["status"] = (f"Stopped at step {run['history'][-1].step if run['history'] else 0}; the model keeps "
                         "the weights of that step.")
        raise
    finally:
        if run["probe"] is not None:
            run["probe"].close()        # the session keeps the snapshots, not the training model
        h = run["history"]
        if h:
            calibration(kind).record(run["estimate_s"], h[-1].elapsed, h[-1].step, h[-1].total)


# -- time: estimates that learn this server's pace, and progress where the person is looking ---------------
@st.cache_resource
def calibration(kind: str) -> Calibration:
    """Measured / estimated time of this server's recent runs of one kind ("lm" or "seq2seq")."""
    return Calibration()


def estimate_note(kind: str) -> str:
    return calibration(kind).basis()


def step_progress(where, total: int, kind: str | None = None, estimate_s: float = 0.0) -> Callable[[int], None]:
    """An on_step function that draws a bar in `where`: step, time so far, and time left at the pace
    of the last few seconds (it corrects itself when the server slows down or speeds up). Each
    step's time also tells the server's calibration of `kind` its present pace."""
    bar, start, pace = where.progress(0.0, text=f"step 0 / {total:,}"), time.perf_counter(), StepPace(total)
    step_estimate = estimate_s / total if total else 0.0

    def show(step: int) -> None:   # every step: Stop, or a closed tab, is noticed within one step
        pace.step(step)
        if kind is not None and step > 1:          # the first step includes setting up
            calibration(kind).observe_step(step_estimate, pace.last_step_s)
        elapsed = time.perf_counter() - start
        left = pace.seconds_left()
        bar.progress(min(step / total, 1.0), text=f"step {step:,} / {total:,} · {duration(elapsed)} so far"
                     + (f" · about {duration(left)} left" if left is not None and step < total else ""))
    return show


def every_step(*calls: Optional[Callable[[int], None]]) -> Callable[[int], None]:
    def call(step: int) -> None:
        for c in calls:
            if c is not None:
                c(step)
    return call


def measured(run: Run, kind: str) -> None:
    """Tell the server's calibration how long this run (or the part of it done) really took."""
    if run.history:
        last = run.history[-1]
        calibration(kind).record(run.estimate_s, last.elapsed, last.step, last.total)


def train_language_model(run: Run, net: Transformer, lines: list[str], context: int) -> None:
    """Train `run` (this session's) with progress under the Train button; finish saves it either way."""
    cfg = run.train
    box = st.container()
    bar, status, chart = box.empty(), box.empty(), box.empty()
    try:
        with training_slot(status, "Training a language model") as report:
            run.probe = lm_recorder(net, run.tokenizer, lines, run.stream_ids, cfg.steps)
            show = step_progress(bar, cfg.steps, "lm", run.estimate_s)
            for p in train_lm(net, make_stream(run.stream_ids, context), cfg, on_good_weights=run.keep,
                              on_step=every_step(run.probe and run.probe.on_step, show,
                                                 lambda step: report(step / cfg.steps))):
                run.history.append(p)
                status.markdown(f"loss **{p.loss:.3f}** · validation **{p.val_loss:.3f}** · "
                                f"**{p.tokens_per_s:,.0f}** tokens/s · {p.elapsed:.0f} s")
                h = run.history
                chart.plotly_chart(loss_curve([x.step for x in h], [x.loss for x in h], [x.val_loss for x in h],
                                              uniform=math.log(run.config.vocab_size)), width="stretch")
        measured(run, "lm")
        finish(run, "done", f"Finished {cfg.steps:,} steps in {run.history[-1].elapsed:.0f} s "
                            f"(estimated before the start: {duration(run.promised_s)}).")
    except LossNotFinite as exc:
        finish(run, "failed", str(exc))
    except BaseException:   # Stop, a closed tab or a new click: keep and save the best weights so far
        measured(run, "lm")
        finish(run, "stopped", f"Stopped at step {run.history[-1].step if run.history else 0}: the model keeps "
                               "the last good weights from that step.")
        raise
    finally:
        if run.probe is not None:
            run.probe.close()           # the session keeps the snapshots, not the training model


def train_reversal(run: dict, net, task: ReversalTask, steps: int, lr: float, seed: int) -> None:
    """Train the encoder–decoder of `run` (this session's), with progress under the Train button."""
    box = st.container()
    bar, status, chart = box.empty(), box.empty(), box.empty()
    with recorded_run(run, "seq2seq"):
        with training_slot(status, "Training the reversal model") as report:
            run["probe"] = reversal_recorder(net, task, steps)
            show = step_progress(bar, steps, "seq2seq", run["estimate_s"])
            for p in train_seq2seq(net, task, steps=steps, lr=lr, seed=seed, report_every=max(10, steps // 20),
                                   on_step=every_step(run["probe"].on_step, show, lambda step: report(step / steps))):
                run["history"].append(p)
                run["weights"] = snapshot(net)
                status.markdown(f"held-out exact match **{p.accuracy:.0%}** · {p.elapsed:.0f} s")
                h = run["history"]
                chart.plotly_chart(accuracy_curve([x.step for x in h], [x.loss for x in h], [x.accuracy for x in h]),
                                   width="stretch")
    last = run["history"][-1]
    run["status"] = (f"Done: {last.accuracy:.1%} of 200 held-out strings reversed exactly, in {last.elapsed:.0f} s "
                     f"(estimated before the start: {duration(run['promised_s'])}).")
