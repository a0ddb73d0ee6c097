"""Loaders: files on disk -> core objects. Never imports Streamlit.

registry.py     load_model(name): "minilm" or a folder, dispatched on config.json's model_type
loaded.py       LoadedModel: a core Transformer and its tokenizer, read-only after loading
seq2seq.py      LoadedSeq2Seq: an encoder–decoder (T5, BART, Marian), traced as a source and a target
families.py     Hugging Face checkpoints: the one family list (FAMILY_LIST), load_family, size checks
family.py       the Family protocol each family file fills in (names, config mapping, weight map, ...)
<family>.py     one file per Hugging Face family, listed in families.py (bert.py: MiniLM is a BERT)
checkpoint.py   safetensors read strictly, a family's name map applied, the shared map builders
saved.py        models trained in the app: save_model / load_saved
shipped.py      the models that ship with the app ("grammar-lm", the reversal toy), files in shipped_models/
files.py        config.json read once (bounded, an object) and weights checked finite
text.py         text -> tokens with the `tokenizers` library; stages.py: each tokenizer stage shown
vectors.py      word-vector tables: GloVe, and any loaded model's input embeddings (vectors_from_model)
"""
from .loaded import LoadedModel
from .seq2seq import LoadedSeq2Seq
from .registry import available_models, load_model
from .text import EmptyTextError
from .vectors import VECTOR_SPACES, load_vectors

__all__ = ["EmptyTextError", "LoadedModel", "LoadedSeq2Seq", "VECTOR_SPACES", "available_models", "load_model",
           "load_vectors"]
