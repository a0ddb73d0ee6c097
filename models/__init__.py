"""Loaders: files on disk -> core objects. Never imports Streamlit."""
import os

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from .registry import LoadedModel, load_model  # noqa: E402
from .text import EmptyTextError  # noqa: E402

__all__ = ["EmptyTextError", "LoadedModel", "load_model"]
