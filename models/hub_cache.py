"""Models already in the local Hugging Face cache, opened in place. Nothing is ever downloaded.

The cache is the folder `huggingface_hub` writes to: HF_HUB_CACHE, else HF_HOME/hub, else
~/.cache/huggingface/hub. A repository "org/name" lives there as

    models--org--name/
        refs/main                 the commit hash the "main" branch pointed to when fetched
        snapshots/<hash>/         config.json, model.safetensors, tokenizer.json (links into blobs/)

We read this layout directly rather than through `scan_cache_dir`: the environment is read
at each call (so a test or a server can point it elsewhere), a half-downloaded or odd repo
is skipped instead of failing the whole scan, and there is no code path that could fetch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from core.budget import count_parameters

from .checkpoint import weight_files
from .families import SUPPORTED, check_size, config_for, fitting_tokens, max_tokens
from .files import read_config

PREFIX = "models--"


def cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def repo_folder_name(repo_id: str) -> str:
    return PREFIX + repo_id.replace("/", "--")


def snapshot_folder(repo_id: str, revision: str = "main") -> Optional[Path]:
    """The cached snapshot of `repo_id` ("org/name"), or None if the cache does not hold it.

    refs/<revision> names the snapshot; without it, a single snapshot (or the newest one
    that has a config.json) is used.
    """
    if repo_id.count("/") != 1 or any(part in ("", ".", "..") for part in repo_id.split("/")):
        return None
    repo = cache_dir() / repo_folder_name(repo_id)
    snapshots = repo / "snapshots"
    if not snapshots.is_dir():
        return None
    ref = repo / "refs" / revision
    if ref.is_file():
        folder = snapshots / ref.read_text().strip()
        if (folder / "config.json").is_file():
            return folder
    candidates = [p for p in snapshots.iterdir() if (p / "config.json").is_file()]
    if not candidates:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime)


@dataclass(frozen=True)
class CachedModel:
    repo_id: str                 # "org/name", what load_model() takes
    family: str                  # config.json's model_type
    n_parameters: int            # as our core would hold them (float32: 4 bytes each)
    folder: Path                 # the snapshot folder
    problem: Optional[str] = None  # why it cannot be opened (too large, no tokenizer.json, ...), or None


def _problem(folder: Path, hf: dict) -> tuple[int, Optional[str]]:
    try:
        config = config_for(hf)
    except (ValueError, KeyError, TypeError) as exc:
        return 0, str(exc)
    n = count_parameters(config)
    try:
        check_size(config, fitting_tokens(config, max_tokens(config, hf)), hf.get("model_type", "model"))
        weight_files(folder)
    except (ValueError, FileNotFoundError) as exc:
        return n, str(exc)
    if not (folder / "tokenizer.json").is_file():
        return n, f"no tokenizer.json in {folder}"
    return n, None


def cached_models(include_problems: bool = False) -> list[CachedModel]:
    """Repos of a supported family in the local cache, sorted by id.

    With include_problems, also those that cannot be opened (each with the reason).
    """
    root = cache_dir()
    if not root.is_dir():
        return []
    found = []
    for repo in sorted(root.glob(PREFIX + "*")):
        repo_id = repo.name[len(PREFIX):].replace("--", "/", 1)
        folder = snapshot_folder(repo_id)
        if folder is None:
            continue
        try:
            hf = read_config(folder)
        except (OSError, ValueError):
            continue
        if hf.get("model_type") not in SUPPORTED:
            continue
        n, problem = _problem(folder, hf)
        if problem is None or include_problems:
            found.append(CachedModel(repo_id, hf["model_type"], n, folder, problem))
    return found


def available_hf_models() -> list[str]:
    """Ids of the cached models that open here, for the sidebar's model list."""
    return [m.repo_id for m in cached_models()]
