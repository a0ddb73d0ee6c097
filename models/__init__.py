"""Loaders: files on disk -> core objects. Never imports Streamlit.

registry.py     load_model(name): "minilm" or a folder, dispatched on config.json's model_type
loaded.py       LoadedModel: a core Transformer and its tokenizer, read-only after loading
bert.py         the strict Hugging Face BERT name map (MiniLM is a BERT)
saved.py        models trained in the app: save_model / load_saved
files.py        config.json read once (bounded, an object) and weights checked finite
text.py         text -> tokens with the `tokenizers` library; stages.py: each tokenizer stage shown
vectors.py      word-vector tables: GloVe, and any loaded model's input embeddings (vectors_from_model)
"""
from .loaded import LoadedModel
from .registry import available_models, load_model
from .text import EmptyTextError
from .vectors import VECTOR_SPACES, load_vectors

__all__ = ["EmptyTextError", "LoadedModel", "VECTOR_SPACES", "available_models", "load_model", "load_vectors"]
