"""What the "What heads do" pages share: sentence lists, cached sentence vectors and ablation results."""
from __future__ import annotations

import numpy as np
import streamlit as st

from analysis.ablation import head_importance
from analysis.projection import Projection, project
from analysis.recompute import cosine_matrix
from models import EmptyTextError
from ui.jobs import is_ready, run_job
from ui.state import cached, current_model
from ui.widgets import linked

EXAMPLE_SENTENCES = ["I deposited money at the bank.", "The river bank was muddy.", "She sat by the river.",
                     "The bank approved my loan.", "Time flies like an arrow."]
MAX_SENTENCES = 20
MAX_SENTENCE_CHARS = 1_000


def sentence_list(first: str) -> list[str]:
    """The sidebar's sentence followed by the person's list (one per line, examples to start)."""
    text = st.text_area("Sentences to compare (one per line)", "\n".join(EXAMPLE_SENTENCES), height=150,
                        **linked("list"), max_chars=MAX_SENTENCES * MAX_SENTENCE_CHARS,
                        help=f"Up to {MAX_SENTENCES} sentences; the sidebar's sentence comes first.")
    lines = [line.strip()[:MAX_SENTENCE_CHARS] for line in text.splitlines() if line.strip()]
    sentences = list(dict.fromkeys([first.strip()[:MAX_SENTENCE_CHARS]] + lines)) if first.strip() else lines
    if len(sentences) > MAX_SENTENCES:
        st.caption(f"Only the first {MAX_SENTENCES} of {len(sentences)} sentences are compared.")
    return sentences[:MAX_SENTENCES]


def sentence_vectors(model_name: str, sentences: list[str]) -> tuple[list[str], np.ndarray]:
    """The sentences the model can read and their (n, d) embeddings, each cached for the whole
    server; a sentence with nothing to read (only control characters) is left out, with a note."""
    model = current_model(model_name)
    kept, vectors = [], []
    for sentence in sentences:
        try:
            vectors.append(cached(("sentence", model_name, sentence), lambda s=sentence: model.sentence_embedding(s),
                                  "Reading the sentences…"))
            kept.append(sentence)
        except EmptyTextError:
            st.caption("A line with nothing the model can read (only control or invisible characters) is left out.")
    return kept, np.stack(vectors) if vectors else np.zeros((0, model.config.d_model))


def similarity_and_map(vectors: np.ndarray) -> tuple[np.ndarray, Projection]:
    """The cosine matrix and a 2-D PCA of two or more sentence vectors."""
    return cosine_matrix(vectors), project(vectors, 2)


def importance_key(model_name: str, text: str, mode: str) -> tuple:
    return ("head importance", model_name, text, mode)


def importance_for(model_name: str, text: str, mode: str) -> np.ndarray:
    """(L, H) effect of knocking out each head alone: computed once for the whole server, as a job
    of the server's queue with a progress bar, its batches within the per-job memory budget."""
    model = current_model(model_name)
    ids = model.tokenizer.encode(text).ids
    return run_job(importance_key(model_name, text, mode),
                   lambda progress: head_importance(model.net, ids, mode, progress=progress),
                   "Knocking out every head, one at a time")


MAP_ON_LOAD = 128   # tokens: up to here the knock-out map is computed when the page opens (about a second)


def map_on_load(model_name: str, trace, mode: str) -> bool:
    """Whether the knock-out map is shown without a click: a short text, or a map the server already has."""
    return len(trace.tokens) <= MAP_ON_LOAD or is_ready(importance_key(model_name, trace.text, mode))
