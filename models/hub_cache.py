"""Models already in the local Hugging Face cache, opened in place. Nothing is ever downloaded.

The cache is the folder `huggingface_hub` writes to: HF_HUB_CACHE, else HF_HOME/hub, else
~/.cache/huggingface/hub. A repository "org/name" lives there as

    models--org--name/
        refs/main                 the commit hash the "main" branch pointed to when fetched
        snapshots/<hash>/         config.json, model.safetensors, tokenizer.json (links into blobs/);
                                  a Marian repo may have source.spm, target.spm, vocab.json instead

We read this layout directly rather than through `scan_cache_dir`: the environment is read
at each call (so a test or a server can point it elsewhere), a half-downloaded or odd repo
is skipped instead of failing the whole scan, and there is no code path that could fetch.

The cache is a folder anyone with a shell may have filled, and its listing feeds every
page's sidebar, so listing never raises: one entry's problem (a config field of the wrong
type, a shard named "/etc/passwd", a link out of the repo, a file that is not safetensors)
is that entry's `problem`, named by its model id, never by a server path. Every read is
bounded (models/files.py), and each entry is checked again only when its files change.
"""
from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from core import TransformerConfig
from core.budget import count_parameters

from .checkpoint import convert
from .families import FAMILIES, SUPPORTED, check_size, config_for, fitting_tokens, max_tokens, weight_bytes
from .files import (MAX_TOKENIZER_BYTES, allowed_root, check_hf_fields, inside, read_config,
                    safetensors_header, weight_files)

PREFIX = "models--"
MAX_REPOS = 500          # repos looked at per listing: a flooded cache cannot stall every page
MAX_SNAPSHOT_FILES = 2_000
REVISION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")   # a commit hash or a branch's folder
log = logging.getLogger("attention_explorer")


def cache_dir() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def repo_folder_name(repo_id: str) -> str:
    return PREFIX + repo_id.replace("/", "--")


def _snapshot_inside(repo: Path, name: str) -> Optional[Path]:
    """snapshots/<name> when it is a folder with a config.json inside the repo folder, else None."""
    if not REVISION_NAME.fullmatch(name) or ".." in name:
        return None
    folder = repo / "snapshots" / name
    try:
        inside(repo, f"snapshots/{name}")
        inside(repo, f"snapshots/{name}/config.json")
    except ValueError:
        return None
    return folder if (folder / "config.json").is_file() else None


def snapshot_folder(repo_id: str, revision: str = "main") -> Optional[Path]:
    """The cached snapshot of `repo_id` ("org/name"), or None if the cache does not hold it.

    refs/<revision> names the snapshot; without it, a single snapshot (or the newest one
    that has a config.json) is used. A ref that names anything but a folder of the repo's own
    snapshots/ ("../../elsewhere") is ignored, and so is a snapshot linked out of the repo.
    """
    if not isinstance(repo_id, str) or repo_id.count("/") != 1 \
            or any(part in ("", ".", "..") for part in repo_id.split("/")):
        return None
    repo = cache_dir() / repo_folder_name(repo_id)
    snapshots = repo / "snapshots"
    if not snapshots.is_dir() or not REVISION_NAME.fullmatch(revision):
        return None
    ref = repo / "refs" / revision
    if ref.is_file() and ref.stat().st_size <= 200:
        folder = _snapshot_inside(repo, ref.read_text(errors="replace").strip())
        if folder is not None:
            return folder
    candidates = [folder for folder in (_snapshot_inside(repo, p.name) for p in list(snapshots.iterdir())[:100])
                  if folder is not None]
    if not candidates:
        return None
    return max(candidates, key=lambda p: p.stat().st_mtime)


@dataclass(frozen=True)
class CachedModel:
    repo_id: str                 # "org/name", what load_model() takes
    family: str                  # config.json's model_type
    n_parameters: int            # as our core counts them
    folder: Path                 # the snapshot folder
    problem: Optional[str] = None  # why it cannot be opened (too large, no tokenizer.json, ...), or None


def without_paths(message: str, folder: Path, repo_id: str) -> str:
    """A message for a visitor: the snapshot's and the repo's server paths become the model's name."""
    for path, name in ((folder, repo_id), (allowed_root(folder), repo_id), (cache_dir(), "the cache")):
        for form in {str(path), str(path.resolve())}:
            message = message.replace(form + os.sep, f"{name}: ").replace(form, name)
    return re.sub(r"(?<![\w.-])([\w.-]+): \1(?![\w.-])", r"\1", message)   # "x.json: x.json is" -> "x.json is"


def _check_files(folder: Path, family: str) -> dict[str, tuple[int, ...]]:
    """Every file of the snapshot resolves inside the repo; the tokenizer's files (tokenizer.json, or a
    Marian repo's SentencePiece files) are there and not too large; the weights' headers are
    safetensors. Returns every tensor's shape, read from the headers."""
    entries = list(os.scandir(folder))
    if len(entries) > MAX_SNAPSHOT_FILES:
        raise ValueError(f"{folder} holds {len(entries):,} files; a model has a few")
    for entry in entries:
        inside(folder, entry.name)        # a link out of the repo (to /etc, to another disk) refuses it
    names = {entry.name for entry in entries if (folder / entry.name).is_file()}
    tokenizer_files = FAMILIES[family].tokenizer_files(names)
    if not tokenizer_files:
        raise ValueError(FAMILIES[family].missing_tokenizer(str(folder)))
    for name in tokenizer_files:
        size = (folder / name).stat().st_size
        if size > MAX_TOKENIZER_BYTES:
            raise ValueError(f"{name} is {size / 1e6:,.0f} MB; at most {MAX_TOKENIZER_BYTES / 1e6:,.0f} MB "
                             "are read")
    shapes: dict[str, tuple[int, ...]] = {}
    for path in weight_files(folder):
        shard = safetensors_header(path)
        if shapes.keys() & shard.keys():
            raise ValueError(f"{path}: tensor {sorted(shapes.keys() & shard.keys())[0]} appears in two shards")
        shapes.update(shard)
    return shapes


def _check_shapes(family: str, config: TransformerConfig, shapes: dict[str, tuple[int, ...]], where: str) -> None:
    """The family's strict name map applied to the header's shapes alone (meta tensors: no data is
    read): a missing, unexpected or misshapen tensor is found at listing, not when a visitor picks it."""
    theirs = {name: torch.empty(shape, device="meta") for name, shape in shapes.items()}
    try:
        mapping, ignored = FAMILIES[family].weight_map(config, theirs, where)
        convert(theirs, mapping, ignored, config, where)
    except ValueError:
        raise
    except Exception:   # noqa: BLE001 - a check that needs the values (a tied head's equality): loading does it
        log.debug("shapes of %s not judged from the header alone", where, exc_info=True)


def _problem(folder: Path, hf: dict) -> tuple[int, Optional[str]]:
    """(parameters, why the snapshot cannot be opened or None). Raises nothing for a bad entry's
    sake: the caller turns any exception into that entry's problem too."""
    try:
        check_hf_fields(hf)
        config = config_for(hf)
    except (ValueError, KeyError, TypeError) as exc:
        return 0, str(exc)
    n = count_parameters(config)
    try:
        held = weight_bytes(hf)            # 2 for a bf16/fp16 checkpoint (kept so in memory), else 4
        check_size(config, fitting_tokens(config, max_tokens(config, hf), held), hf.get("model_type", "model"), held)
        _check_shapes(hf["model_type"], config, _check_files(folder, hf["model_type"]), str(folder))
    except (ValueError, OSError) as exc:
        return n, str(exc)
    return n, None


def _signature(repo: Path, folder: Path) -> tuple:
    """What the entry's check depends on: its files (mtime, size) and the server's limits. A change
    to any of them checks the entry again; otherwise the listing reuses the last result."""
    stats = []
    for path in (repo, repo / "refs" / "main", repo / "snapshots", folder):
        try:
            st = path.stat()
            stats.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            stats.append((str(path), None))
    for entry in sorted(os.scandir(folder), key=lambda e: e.name)[:MAX_SNAPSHOT_FILES]:
        try:
            st = entry.stat()           # through the link: a blob replaced in place counts
            stats.append((entry.name, st.st_mtime_ns, st.st_size))
        except OSError:
            stats.append((entry.name, None))
    limits = tuple(os.environ.get(name) for name in ("ATTENTION_EXPLORER_MAX_TOKENS",
                                                     "ATTENTION_EXPLORER_MAX_MODEL_BYTES"))
    return tuple(stats), limits


_checked_lock = threading.Lock()
_checked: dict[str, tuple[tuple, Optional[CachedModel]]] = {}   # repo folder -> (signature, entry)


def _entry(repo: Path) -> Optional[CachedModel]:
    """The repo's entry (with its problem, if any), or None when it is not a model of a supported
    family; cached until its files change."""
    repo_id = repo.name[len(PREFIX):].replace("--", "/", 1)
    folder = snapshot_folder(repo_id)
    if folder is None:
        return None
    signature = _signature(repo, folder)
    with _checked_lock:
        hit = _checked.get(str(repo))
    if hit is not None and hit[0] == signature:
        return hit[1]
    entry = _check_entry(repo_id, folder)
    with _checked_lock:
        _checked[str(repo)] = (signature, entry)
    return entry


def _check_entry(repo_id: str, folder: Path) -> Optional[CachedModel]:
    try:
        hf = read_config(folder)
    except (OSError, ValueError):
        return None
    family = hf.get("model_type")
    if not isinstance(family, str) or family not in SUPPORTED:
        return None
    try:
        n, problem = _problem(folder, hf)
    except Exception as exc:     # noqa: BLE001 - a crafted entry's problem, never every page's
        log.warning("the cached model %s cannot be listed", repo_id, exc_info=True)
        n, problem = 0, f"{repo_id} cannot be opened ({type(exc).__name__})"
    if problem is not None:
        problem = without_paths(problem, folder, repo_id)
    return CachedModel(repo_id, family, n, folder, problem)


def cached_models(include_problems: bool = False) -> list[CachedModel]:
    """Repos of a supported family in the local cache, sorted by id. Never raises.

    With include_problems, also those that cannot be opened (each with the reason).
    """
    root = cache_dir()
    try:
        repos = sorted(p for p in root.glob(PREFIX + "*"))[:MAX_REPOS] if root.is_dir() else []
    except OSError:
        return []
    found = []
    for repo in repos:
        try:
            entry = _entry(repo)
        except Exception:      # noqa: BLE001 - an unreadable repo folder is skipped, the rest listed
            log.warning("skipped %s in the Hugging Face cache", repo.name, exc_info=True)
            continue
        if entry is not None and (entry.problem is None or include_problems):
            found.append(entry)
    with _checked_lock:                # forget repos that left the cache: the memo stays its size
        for gone in set(_checked) - {str(repo) for repo in repos}:
            del _checked[gone]
    return found


def cache_problem(repo_id: str) -> Optional[str]:
    """Why the cached `repo_id` cannot be opened (the listing's check), or None when it can."""
    for entry in cached_models(include_problems=True):
        if entry.repo_id == repo_id:
            return entry.problem
    return f"{repo_id} is not a model of a supported family in the local Hugging Face cache"


def available_hf_models() -> list[str]:
    """Ids of the cached models that open here, for the sidebar's model list."""
    return [m.repo_id for m in cached_models()]
