"""The Encoder–decoder page's reversal toy: the pre-trained one that ships with the app, or this session's run.

A run is a dict (config, task, initial and trained weights, history, status, seed, probe). Until the person
presses Train, the page shows the shipped toy (models/shipped.py) as such a run, marked "shipped": trained
beforehand, so the cross-attention's anti-diagonal is there at once; Train still trains the person's own.
"""
from __future__ import annotations

from typing import Optional

import streamlit as st

from core.seq2seq import EncoderDecoder
from models.shipped import load_reversal
from training.reversal import ReversalTask, Seq2SeqProgress, new_seq2seq
from training.weights import snapshot


@st.cache_resource(show_spinner=False)
def _shipped() -> Optional[dict]:
    """The shipped toy as a run (shared read-only by every session: a run's weights are only ever read)."""
    try:
        toy = load_reversal()
    except (OSError, ValueError):
        return None
    seed = int(toy.info.get("recipe", {}).get("seed", 0))
    steps = int(toy.info.get("recipe", {}).get("steps", 0))
    history = [Seq2SeqProgress(int(step), steps, float(loss), float(acc), 0.0)
               for step, loss, acc in toy.info.get("history", [])]
    return dict(config=toy.config, task=ReversalTask(**toy.task), weights=snapshot(toy.net), history=history,
                # the run's random start: the same seeded initialiser the build started from
                initial=snapshot(new_seq2seq(toy.config, seed)), seed=seed, probe=None, shipped=True,
                accuracy=float(toy.info.get("accuracy", 0.0)), steps=steps)


def current_reversal_run() -> Optional[dict]:
    """This session's run when it trained one, else the shipped toy (None only if its files are missing)."""
    return st.session_state.get("seq2seq_run") or _shipped()


def run_banner(run: dict, minutes: str) -> None:
    """Say what is shown: the shipped, pre-trained toy (and how to train one's own), or this session's run."""
    if not run.get("shipped"):
        (st.success if run["status"].startswith("Done") else st.warning)(run["status"])
        return
    task, config = run["task"], run["config"]
    st.info(f"This is the **pre-trained** reversal model that ships with the app: {task.n_letters} letters, "
            f"strings of {task.min_len}–{task.max_len}, {config.n_layers} layers × {config.n_heads} heads on each "
            f"side, trained for {run['steps']:,} steps (the defaults of the settings above); it reverses "
            f"{run['accuracy']:.0%} of 200 held-out strings exactly. Press **Train** to train your own with the "
            f"settings above (about {minutes} here) and watch its cross-attention form.")


def model_of(run: dict, trained: bool = True) -> EncoderDecoder:
    net = EncoderDecoder(run["config"])
    net.load_state_dict(run["weights"] if trained else run["initial"])
    return net.eval()


def decoder_rows(source: str, rows: list[str]) -> str:
    """Why the decoder has more rows than the input has letters: its start token, the letters it
    wrote, and letters past the end when it has not learnt to stop."""
    n, written = len(source), len(rows) - 1
    note = (f"The decoder has {len(rows)} rows for {n} input letters: row 0 is {rows[0]}, the start signal "
            f"(it writes the first letter), and rows 1–{written} are the {written} letters the model wrote, each fed "
            "back in to write the next. The last row writes the end marker, so it has no letter of its own.")
    if written > n:
        note += (f" This model wrote {written - n} letter(s) more than the input has: it has not learnt to stop "
                 "(an untrained model never has), so the writing was cut off at input length + 1.")
    return note
