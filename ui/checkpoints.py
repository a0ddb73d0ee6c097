"""Across training checkpoints: a repo's revisions in the local cache, a score per head at each, one head.

A revision is one snapshot of the repo (models/hub_revisions.py), opened as "org/name@<commit>"; the
Grammar LM's states during its build ship with the app and are offered the same way ("grammar-lm@step400").
For the curve every checkpoint shown is loaded once, traced on the sentence, scored by the head
detectors (analysis/detectors.py) and let go: only its (layers, heads) scores stay, in the shared
byte-budgeted cache, keyed by the snapshot's files and the sentence. The revision on the slider is
traced through the app's model cache, like any model picked in the sidebar, so its heads open at
once on the other pages too.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import streamlit as st

from analysis.detectors import duplicate_token_scores, previous_token_scores, sentence_induction_scores, sink_scores
from analysis.recognisable import HeadChoice
from core import Trace
from models import EmptyTextError, load_model
from models.files import folder_signature
from models.hub_cache import cache_dir, repo_folder_name
from models.hub_download import DownloadError, downloads_allowed, plan_download
from models.hub_revisions import Revision
from models.registry import split_revision
from models.shipped import GRAMMAR_LM, grammar_lm_checkpoints
from ui.get_model import download_with_bar
from ui.plain import plain
from ui.state import cached, current_model_name, shared_cache
from ui.widgets import linked

MAX_CURVE = 32     # checkpoints loaded for the curve at most (evenly chosen, first and last kept)

# name -> (label, what it measures, the detector: trace -> (layers, heads) shares in 0..1)
SCORES: dict[str, tuple[str, str, Callable[[Trace], np.ndarray]]] = {
    "previous": ("previous-token score", "the share of the head's attention on the token just before each query",
                 previous_token_scores),
    "induction": ("induction score", "the share on the token after an earlier copy of the query's token (your "
                  "sentence needs a repeated word for it, e.g. “Mr Dursley … Mr Dursley”)", sentence_induction_scores),
    "duplicate": ("duplicate-token score", "the share on earlier copies of the query's own token",
                  duplicate_token_scores),
    "first": ("first-token share", "the mean attention of each query but the first on the first token (a sink)",
              lambda trace: sink_scores(trace, "first")),
}

SCORE_LABELS = {name: f"{label}: {meaning}" for name, (label, meaning, _) in SCORES.items()}


@dataclass(frozen=True)
class CheckpointScores:
    """One checkpoint read on one sentence: every score per head, or why it could not be read."""
    scores: dict[str, np.ndarray]      # score name -> (layers, heads)
    n_tokens: int
    problem: Optional[str] = None

    @property
    def shape(self) -> tuple[int, ...]:
        return next(iter(self.scores.values())).shape if self.scores else ()


def shipped_revisions() -> list[Revision]:
    """The Grammar LM's states during its build, which ship with the app (models/shipped.py), as revisions
    opened by "grammar-lm@step400": the page works with no Hub and an empty cache."""
    return [Revision(GRAMMAR_LM, (name,), name, step) for step, name in grammar_lm_checkpoints()]


def snapshot_signature(revision: Revision) -> tuple:
    """The snapshot's files (name, size, mtime through links): a finished or repaired download
    changes it, so a checkpoint that failed is read again. A shipped state never changes."""
    if revision.repo_id == GRAMMAR_LM:
        return ("shipped", revision.commit)
    return folder_signature(cache_dir() / repo_folder_name(revision.repo_id) / "snapshots" / revision.commit, 200)


def read_checkpoint(revision: Revision, text: str) -> CheckpointScores:
    """Load the checkpoint (not kept), trace `text`, score every head. A load or read error is the result."""
    try:
        model = load_model(revision.key)
        trace = model.trace(text)
    except EmptyTextError:
        raise
    except (OSError, ValueError) as exc:
        return CheckpointScores({}, 0, f"{revision.name}: {exc}")
    if model.config.encoder_decoder:
        return CheckpointScores({}, 0, f"{revision.name} is an encoder–decoder, which this page does not read")
    return CheckpointScores({name: detector(trace) for name, (_, _, detector) in SCORES.items()}, len(trace))


def checkpoint_scores(revision: Revision, text: str) -> CheckpointScores:
    return cached(("checkpoint scores", revision.key, snapshot_signature(revision), text),
                  lambda: read_checkpoint(revision, text), f"Reading {revision.name}…")


def thinned(revisions: list[Revision], most: int = MAX_CURVE) -> list[Revision]:
    """At most `most` revisions, evenly spread over training, the first and the last always kept."""
    if len(revisions) <= most:
        return list(revisions)
    picks = sorted({round(i * (len(revisions) - 1) / (most - 1)) for i in range(most)})
    return [revisions[i] for i in picks]


def scores_across(revisions: list[Revision], text: str) -> list[tuple[Revision, CheckpointScores]]:
    """Every revision's scores, a progress bar while checkpoints are loaded for the first time."""
    bar = None
    found = []
    for i, revision in enumerate(revisions):
        key = ("checkpoint scores", revision.key, snapshot_signature(revision), text)
        if bar is None and key not in shared_cache():
            bar = st.progress(0.0, text="Loading the checkpoints…")
        if bar is not None:
            bar.progress(i / len(revisions), text=f"Loading checkpoint {i + 1} of {len(revisions)}: "
                                                  f"{plain(revision.name)}")
        found.append((revision, checkpoint_scores(revision, text)))
    if bar is not None:
        bar.empty()
    return found


def sidebar_repo() -> Optional[str]:
    """The repo of the sidebar's model when it is a Hub id ("org/name" or "org/name@step1000")."""
    repo_id, _ = split_revision(current_model_name())
    return repo_id if repo_id.count("/") == 1 and not os.path.isabs(repo_id) else None


def best_head(values: np.ndarray) -> HeadChoice:
    """The head with the highest score at the last checkpoint: where a head formed by the end."""
    layer, head = divmod(int(np.nanargmax(values)), values.shape[1])
    return HeadChoice(layer, head, None, float(values[layer, head]), "")


def rise(values: np.ndarray, names: list[str]) -> str:
    """One line on a head's curve (values: (N,)): from where to where, and the largest jump between neighbours."""
    if len(values) < 2:
        return f"{values[0]:.0%} at {names[0]}."
    jumps = np.diff(values)
    i = int(np.argmax(np.abs(jumps)))
    word = "rise" if jumps[i] > 0 else "drop"
    return (f"{values[0]:.0%} at {names[0]}, {values[-1]:.0%} at {names[-1]}; the largest {word} "
            f"({100 * jumps[i]:+.0f} percentage points) comes between {names[i]} and {names[i + 1]}.")


def download_box(repo_id: str, page: str) -> None:
    """Another checkpoint of this repo from the Hub: its size first (metadata only), then the download."""
    with st.expander(f"Get another checkpoint of {plain(repo_id)} from the Hub", icon=":material/download:"):
        allowed, why = downloads_allowed(st.get_option("server.address"))
        if not allowed:
            st.caption(plain(why))
            return
        plan_key = f"{page}_plan"
        revision = st.text_input("Revision", placeholder="step1000", max_chars=200, **linked("get_revision"),
                                 help="A branch, a tag or a commit hash of this repo. Pythia's checkpoints are "
                                      "the branches step0, step1, step2, step4 … step512, step1000, step2000 … "
                                      "step143000.")
        if st.button("Check its size", key=f"{page}_get_check", icon=":material/search:"):
            st.session_state.pop(plan_key, None)
            if not revision.strip():
                st.warning("Type a revision first, for example step1000.")
            else:
                try:
                    with st.spinner("Reading the Hub's metadata…"):
                        st.session_state[plan_key] = plan_download(repo_id, revision.strip())
                except DownloadError as exc:
                    st.error(plain(str(exc)))
        plan = st.session_state.get(plan_key)
        if plan is None or plan.repo_id != repo_id:
            return
        st.caption("  \n".join(plain(line) for line in plan.summary()))
        if plan.problem:
            st.error(plain(plan.problem))
            return
        if not st.button(f"Download {plan.revision}: {plan.new_bytes / 1e6:,.1f} MB", key=f"{page}_get_go",
                         type="primary", icon=":material/download:"):
            return
        if not download_with_bar(plan):
            return
        st.session_state.pop(plan_key, None)
        st.rerun()      # the new checkpoint joins the slider
