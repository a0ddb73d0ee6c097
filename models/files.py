"""Reading a model folder safely: config.json bounded in size and a JSON object; weights finite.

Every loader reads config.json through here once; the registry dispatches on its
`model_type`, then hands the parsed dict to the family's loader. A crafted folder gets a
message that names the file and the field, never a crash on some later page.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

MAX_CONFIG_BYTES = 1_000_000    # real configs are a few KB; a huge file is refused before it is read


def read_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"config.json is missing from {path.parent}")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"{path}: config.json is {size:,} bytes; a model config is at most "
                         f"{MAX_CONFIG_BYTES:,} bytes")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: config.json is not valid JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: config.json must hold a JSON object (a {{...}} of settings), "
                         f"not a {type(raw).__name__}")
    return raw


def require_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse weights with NaN or infinite values: every probability they produced would be NaN."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{path}: the weight {name} holds NaN or infinite values; the model cannot be used")


def sentence_pooling(folder: Path) -> dict | None:
    """A sentence-transformers folder's pooling: {"pooling": "mean", "max_tokens": 256, "normalize": True},
    or None when the folder is not a mean-pooling sentence encoder (its own files say which)."""
    folder = Path(folder)
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
        pooling_path = next(folder / m.get("path", "") / "config.json" for m in modules
                            if isinstance(m, dict) and m.get("type", "").endswith("Pooling"))
        pooling = json.loads(pooling_path.read_text(encoding="utf-8"))
        settings = json.loads((folder / "sentence_bert_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, StopIteration, AttributeError, TypeError):
        return None
    if not isinstance(pooling, dict) or not pooling.get("pooling_mode_mean_tokens") or not isinstance(settings, dict):
        return None
    max_tokens = settings.get("max_seq_length")
    return {"pooling": "mean", "normalize": "Normalize" in kinds,
            "max_tokens": max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None}
