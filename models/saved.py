"""Models trained in the app, saved as a folder and loaded back by path.

    <folder>/config.json         {"model_type": "attention-explorer-lm", "config": {...}, "info": {...}}
    <folder>/model.safetensors   the weights (safetensors: no pickle, nothing runs on load)
    <folder>/tokenizer.json      the BPE tokenizer it was trained with

A folder is written under a temporary name and renamed when complete, so a crash
mid-save never leaves a half-written model that looks whole. Loading is strict and
every error names the file that is wrong.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from core import Transformer, TransformerConfig, from_state_dict

from .files import read_config, require_finite
from .loaded import LoadedModel
from .text import TextTokenizer

MODEL_TYPE = "attention-explorer-lm"


def models_dir() -> Path:
    """Where the app saves trained models: $ATTENTION_EXPLORER_MODELS_DIR or trained_models/."""
    default = Path(__file__).resolve().parents[1] / "trained_models"
    return Path(os.environ.get("ATTENTION_EXPLORER_MODELS_DIR") or default)


def unique_name(label: str) -> str:
    """A folder name that no other run (or session) will pick: label, time, random suffix."""
    slug = re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-")[:40] or "model"
    return f"{slug}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}"


NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
TEMP_SUFFIX = ".tmp"
STALE_AFTER_S = 3600      # a temporary folder this old belongs to no save still running


def folder_bytes(root: Path | str) -> int:
    """Bytes of every file under `root` (0 when it does not exist)."""
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(dirpath, name))
            except OSError:
                pass
    return total


def check_name(name: str) -> str:
    """A folder name that stays inside the models folder: letters, digits, . _ - and no leading dot."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise ValueError(f"{name!r} is not a usable model name: use letters, digits, '.', '_' and '-' "
                         "(at most 100, not starting with a dot), no slashes")
    return name


def remove_stale_temporaries(root: Path | str, older_than_s: float = STALE_AFTER_S) -> list[str]:
    """Delete half-written folders left by a save that was killed (older than `older_than_s`)."""
    root = Path(root)
    removed = []
    if not root.is_dir():
        return removed
    for entry in root.iterdir():
        if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX) and entry.is_dir():
            if time.time() - entry.stat().st_mtime > older_than_s:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry.name)
    return removed


def save_model(net: Transformer, tokenizer_json: str, root: Path | str, name: str,
               info: dict | None = None) -> Path:
    """Write model.safetensors, then config.json and tokenizer.json, to root/name, atomically:
    the folder appears under its name only when all three are complete."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = root / check_name(name)
    if final.exists():
        raise FileExistsError(f"{final} already exists; choose another name.")
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", suffix=TEMP_SUFFIX, dir=root))
    try:
        # The weights first: they are the slow, valuable part; the small files take no time.
        # Contiguous copies: safetensors refuses views; a tied model has one token table only.
        state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        meta = {"model_type": MODEL_TYPE, "config": net.config.to_dict(), "info": info or {}}
        (tmp / "config.json").write_text(json.dumps(meta, indent=2))
        (tmp / "tokenizer.json").write_text(tokenizer_json, encoding="utf-8")
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def saved_config(raw: dict, path: Path) -> tuple[TransformerConfig, dict]:
    """The core config and the run's info from a parsed config.json written by save_model."""
    if raw.get("model_type") != MODEL_TYPE:
        raise ValueError(f"{path}: config.json describes model_type={raw.get('model_type')!r}, not a model "
                         f"trained in this app ({MODEL_TYPE!r})")
    try:
        config = TransformerConfig.from_dict(raw["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: config.json has an unusable model config ({exc})") from exc
    info = raw.get("info") or {}
    if not isinstance(info, dict):
        raise ValueError(f"{path}: config.json's info must be an object, not a {type(info).__name__}")
    return config, info


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """model.safetensors as float32 tensors, every value finite; errors name the file."""
    if not path.is_file():
        raise FileNotFoundError(f"model.safetensors is missing from {path.parent}")
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: model.safetensors is damaged or truncated ({exc})") from exc
    state = {k: v.to(torch.float32) for k, v in state.items()}
    require_finite(state, path)
    return state


def read_weights(path: Path, config: TransformerConfig) -> Transformer:
    state = read_state(path)
    try:
        return from_state_dict(config, state)
    except ValueError as exc:
        raise ValueError(f"{path}: model.safetensors does not match config.json ({exc})") from exc


def load_saved(folder: Path | str, raw: dict | None = None) -> LoadedModel:
    """A folder written by save_model -> LoadedModel; errors name the problem file.
    `raw` is its config.json when the caller has parsed it already."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"no model folder at {folder}")
    config, info = saved_config(read_config(folder) if raw is None else raw, folder / "config.json")
    net = read_weights(folder / "model.safetensors", config)
    tokenizer = TextTokenizer(folder / "tokenizer.json", max_tokens=config.max_positions)
    if tokenizer.vocab_size != config.vocab_size:
        raise ValueError(f"{folder / 'tokenizer.json'}: tokenizer.json has {tokenizer.vocab_size} tokens "
                         f"but config.json says the model has {config.vocab_size}: they are from different runs")
    label = info.get("label") or folder.name
    shape = (f"{config.n_layers} layers × {config.n_heads} heads, d_model {config.d_model}, "
             f"context {config.max_positions}")
    description = f"{label}: a decoder-only model trained in this app ({shape}, BPE vocabulary of {config.vocab_size})."
    return LoadedModel(name=str(folder), config=config, net=net, tokenizer=tokenizer,
                       description=description, folder=folder, info=info)
