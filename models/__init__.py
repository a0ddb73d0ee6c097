"""Loaders: files on disk -> core objects. Never imports Streamlit."""
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .registry import LoadedModel, load_model  # noqa: E402
from .text import EmptyTextError  # noqa: E402
from .vectors import VECTOR_SPACES, load_vectors  # noqa: E402

__all__ = ["EmptyTextError", "LoadedModel", "VECTOR_SPACES", "load_model", "load_vectors"]
