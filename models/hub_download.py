"""Getting a model from the Hugging Face Hub: look first, then fetch only what the app reads.

    plan = plan_download("EleutherAI/pythia-70m", revision="step1000")   # metadata only: nothing written
    plan.summary()            # family, parameters, bytes to download, fits this server or why not
    download(plan, progress)  # config.json, tokenizer files, safetensors -> the local Hugging Face cache

1. `model_info` lists the files at the revision with their sizes and the commit they belong to;
   config.json (and a shard index) are read into memory, bounded. Nothing touches the disk.
2. The plan refuses, before anything is written: pickle-only weights (never opened here), no
   tokenizer.json (a Marian repo may have source.spm, target.spm and vocab.json instead), a family
   the core does not implement, a model beyond the server's size limit (models/families.py), a
   download beyond the disk budget for downloads.
3. Every file is fetched pinned to that commit into the cache huggingface_hub uses, where
   models/hub_cache.py lists it. config.json comes last: a snapshot without config.json is
   never offered, so a cut download leaves nothing half-usable. Finished files stay in the
   cache's blobs/ and are not fetched again when the download is retried.
4. refs/<revision> is written once everything is there, so "org/name@revision" resolves
   (models/registry.py).

Who may download (`downloads_allowed`): ATTENTION_EXPLORER_ALLOW_DOWNLOADS=1 turns downloads on,
=0 off; unset, they are on only for a personal run, i.e. a server listening on this machine
alone (server.address localhost, as .streamlit/config.toml sets), and off when it listens
for others (--server.address 0.0.0.0), the same line the app draws for typed paths.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Iterator, Optional

import httpx2  # huggingface_hub's HTTP client: its network errors are not OSErrors
from huggingface_hub import HfApi, constants, get_token, hf_hub_download, hf_hub_url
from huggingface_hub.errors import (GatedRepoError, HfHubHTTPError, LocalEntryNotFoundError,
                                    OfflineModeIsEnabled, RemoteEntryNotFoundError, RepositoryNotFoundError,
                                    RevisionNotFoundError)
from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

from core.budget import count_parameters, estimate_model_bytes, estimate_trace_bytes

from .files import INDEX, SINGLE
from .families import FAMILIES, check_size, config_for, max_model_bytes, max_tokens, weight_bytes
from .files import MAX_CONFIG_BYTES, SPM_FILES
from .hub_cache import cache_dir, repo_folder_name

ALLOW_ENV = "ATTENTION_EXPLORER_ALLOW_DOWNLOADS"
BUDGET_ENV = "ATTENTION_EXPLORER_DOWNLOAD_MAX_MB"
DEFAULT_BUDGET_MB = 10_000           # the whole Hugging Face cache may hold this many MB (1 MB = 10^6 bytes)
DEFAULT_ENDPOINT = "https://huggingface.co"
TIMEOUT = 20                         # seconds for one metadata request
MAX_INDEX_BYTES = 10_000_000         # a shard index is a few tens of KB
BESIDE_TOKENIZER_JSON = ("tokenizer_config.json", "special_tokens_map.json")   # fetched when there
BESIDE_SPM_FILES = ("tokenizer_config.json",)   # a Marian repo's special tokens, beside source.spm etc.
GENERATION = "generation_config.json"   # fetched for an encoder–decoder: how it writes (models/seq2seq.py)
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9._-]{1,96}")
REVISION = re.compile(r"[A-Za-z0-9._-][A-Za-z0-9._/-]{0,199}")
COMMIT = re.compile(r"[0-9a-f]{40}")

Progress = Callable[[int, int, str], None]   # (bytes done, bytes in all, file being fetched)


class DownloadError(ValueError):
    """Why a model cannot be fetched, in words that say what to do."""


# -- who may download, and how much --------------------------------------------------------
def downloads_allowed(server_address: Optional[str]) -> tuple[bool, str]:
    """(allowed, why): on for a personal run, off when serving others, unless the operator says."""
    setting = os.environ.get(ALLOW_ENV, "").strip()
    if constants.is_offline_mode():
        return False, "Downloads are off: HF_HUB_OFFLINE is set for this server."
    if setting == "1":
        return True, f"Downloads are on ({ALLOW_ENV}=1)."
    if setting == "0":
        return False, f"Downloads are off on this server ({ALLOW_ENV}=0)."
    if is_loopback(server_address):
        return True, "Downloads are on: this is a personal run (the server listens on this machine only)."
    return False, ("Downloads are off: this server is open to other people. The person running it can "
                   f"turn them on with {ALLOW_ENV}=1, or fetch models into its Hugging Face cache.")


def is_loopback(address: Optional[str]) -> bool:
    """True for "localhost" or a loopback IP; an empty address means every interface."""
    address = (address or "").strip().strip("[]")
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def budget_bytes() -> int:
    raw = os.environ.get(BUDGET_ENV, "").strip()
    return (int(raw) if raw.isdigit() else DEFAULT_BUDGET_MB) * 1_000_000


def cache_bytes(root: Optional[Path] = None) -> int:
    """Bytes the Hugging Face cache holds on disk (links not followed, so each blob counts once)."""
    total = 0
    for folder, _, names in os.walk(root or cache_dir()):
        for name in names:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                try:
                    total += os.lstat(path).st_size
                except OSError:
                    continue
    return total


def endpoint() -> str:
    """The Hub's address, read at each call ($HF_ENDPOINT; huggingface_hub reads it once at import)."""
    return os.environ.get("HF_ENDPOINT", "").strip().rstrip("/") or DEFAULT_ENDPOINT


# -- the plan: what would be fetched, and whether it may be ------------------------------
@dataclass(frozen=True)
class HubFile:
    name: str
    size: int
    blob: str            # its name in the cache's blobs/: the sha256 of a Git LFS file, else its git id


@dataclass(frozen=True)
class DownloadPlan:
    repo_id: str
    revision: Optional[str]          # as asked; None: the default branch
    commit: str                      # every file is fetched at this commit
    family: Optional[str]            # config.json's model_type
    n_parameters: Optional[int]      # as our core counts them, else the Hub's count
    files: tuple[HubFile, ...]       # in download order, config.json last
    new_bytes: int                   # what is not in the cache yet
    memory_bytes: Optional[int]      # weights (bf16/fp16 as stored, else float32) plus one traced sentence
    memory_limit: int                # ATTENTION_EXPLORER_MAX_MODEL_BYTES
    cache_used: int                  # bytes in the Hugging Face cache now
    budget: int                      # ATTENTION_EXPLORER_DOWNLOAD_MAX_MB, in bytes
    gated: bool
    problem: Optional[str] = None    # why it will not be downloaded, or None

    @property
    def key(self) -> str:
        """The name load_model and the model picker take: "org/name" or "org/name@revision"."""
        return self.repo_id if self.revision in (None, "main") else f"{self.repo_id}@{self.revision}"

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def summary(self) -> list[str]:
        """Short lines for a narrow sidebar: what it is, what it costs, whether it fits."""
        at = f" @ {self.revision}" if self.revision else ""
        lines = [f"{self.repo_id}{at} · commit {self.commit[:10]}"]
        params = f"{self.n_parameters / 1e6:,.1f}M parameters" if self.n_parameters else "parameters unknown"
        lines.append(f"Family: {self.family or 'unknown (no model_type)'} · {params}")
        cached = self.total_bytes - self.new_bytes
        already = f", {human(cached)} already here" if cached else ""
        if self.files:
            lines.append(f"Download: {human(self.new_bytes)}, {len(self.files)} files{already} "
                         f"({', '.join(f.name for f in self.files)})")
        else:
            lines.append("Download: none of its files is one this app reads")
        if self.memory_bytes is not None:
            fits = "fits" if self.memory_bytes <= self.memory_limit else "does NOT fit"
            lines.append(f"Memory: {human(self.memory_bytes)} (weights + one traced sentence) {fits} "
                         f"this server's {human(self.memory_limit)}")
        lines.append(f"Disk: the Hugging Face cache holds {human(self.cache_used)} of the "
                     f"{human(self.budget)} allowed for downloads")
        if self.gated:
            lines.append("Gated: its files need HF_TOKEN of an account that accepted its conditions")
        return lines


def human(n: int) -> str:
    """Bytes as MB or GB (10^6, 10^9), one decimal below 10 GB."""
    return f"{n / 1e9:,.1f} GB" if n >= 1e9 else f"{n / 1e6:,.1f} MB"


def split_name(text: str) -> tuple[str, Optional[str]]:
    """ "org/name@step1000" -> ("org/name", "step1000"); "org/name" -> ("org/name", None)."""
    repo_id, _, revision = text.strip().partition("@")
    return repo_id.strip(), (revision.strip() or None)


def check_names(repo_id: str, revision: Optional[str]) -> None:
    if not REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise DownloadError(f"{repo_id!r} is not a Hub model id: write it as on the model's page, "
                            "org/name (for example EleutherAI/pythia-70m).")
    if revision is not None and (not REVISION.fullmatch(revision) or ".." in revision.split("/")):
        raise DownloadError(f"{revision!r} is not a revision: a branch (main), a tag, or a commit hash.")


def plan_download(repo_id: str, revision: Optional[str] = None) -> DownloadPlan:
    """Read the Hub's metadata for repo_id at revision and say what downloading it would mean.

    Raises DownloadError when the Hub cannot tell (no such repo or revision, gated without
    access, no network); returns a plan with `problem` set when the answer is no.
    """
    if revision is None:
        repo_id, revision = split_name(repo_id)
    check_names(repo_id, revision)
    with explained(repo_id, revision):
        info = HfApi(endpoint=endpoint()).model_info(repo_id, revision=revision, files_metadata=True,
                                                     timeout=TIMEOUT)
    commit = info.sha or ""
    if not COMMIT.fullmatch(commit):
        raise DownloadError(f"The Hub at {endpoint()} did not say which commit {repo_id} is at; try again later.")
    sizes = {s.rfilename: s for s in info.siblings or []}
    hub_parameters = info.safetensors.total if info.safetensors else None
    base = dict(repo_id=repo_id, revision=revision, commit=commit, gated=bool(info.gated),
                memory_limit=max_model_bytes(), cache_used=cache_bytes(), budget=budget_bytes())

    def refused(problem: str, family=None, n=hub_parameters, memory=None, files=()) -> DownloadPlan:
        new = sum(f.size for f in files)
        return DownloadPlan(family=family, n_parameters=n, files=tuple(files), new_bytes=new,
                            memory_bytes=memory, problem=problem, **base)

    weights = [name for name in sizes if "/" not in name and name.endswith(".safetensors")]
    if SINGLE not in sizes and INDEX not in sizes:
        pickled = sorted(name for name in sizes if name.lower().endswith(PICKLE_SUFFIXES))
        if pickled:
            return refused(f"{repo_id} has its weights only as pickle files ({', '.join(pickled[:4])}), which "
                           "this app never opens: they can run code when loaded. Look for a safetensors "
                           "copy of the model (often a repo with the same name and '-safetensors', or a "
                           "'refs/pr/N' revision the Hub's converter opened).")
        found = f" (it has {', '.join(weights[:3])})" if weights else ""
        return refused(f"{repo_id} has no {SINGLE} or {INDEX}{found}: there are no weights this app can read.")
    if "config.json" not in sizes:
        return refused(f"{repo_id} has no config.json: it is not a transformers model this app can open.")
    if "tokenizer.json" not in sizes and not all(name in sizes for name in SPM_FILES):
        return refused(f"{repo_id} has no tokenizer.json (nor a Marian model's {', '.join(SPM_FILES)}): the app "
                       "reads tokenizers from those files only.")
    if (sizes["config.json"].size or 0) > MAX_CONFIG_BYTES:
        return refused(f"{repo_id}'s config.json is {sizes['config.json'].size:,} bytes; a model config is "
                       f"at most {MAX_CONFIG_BYTES:,} bytes.")

    hf = read_json(repo_id, "config.json", commit, MAX_CONFIG_BYTES)
    family = hf.get("model_type") if isinstance(hf.get("model_type"), str) else None
    known = FAMILIES.get(family)        # an unknown family is refused by config_for below, by name
    tokenizer = known.tokenizer_files(sizes) if known else tuple(n for n in ("tokenizer.json",) if n in sizes)
    if known and not tokenizer:        # SentencePiece files alone, in a family that reads tokenizer.json only
        return refused(known.missing_tokenizer(repo_id) + ".", family=family)
    extra = BESIDE_SPM_FILES if tokenizer == SPM_FILES else BESIDE_TOKENIZER_JSON
    shards = [SINGLE] if SINGLE in sizes else [INDEX] + shard_names(repo_id, commit, sizes)
    # How an encoder–decoder writes (its start token, the tokens it never writes: opus-mt bans <pad>)
    # may be only in generation_config.json; a decoder's pages never read it.
    if known and known.encoder_decoder and GENERATION in sizes:
        extra = (*extra, GENERATION)
    names = list(tokenizer) + [n for n in extra if n in sizes] + shards + ["config.json"]
    files = [hub_file(sizes[name]) for name in names]
    try:
        config = config_for(hf)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return refused(f"This app cannot open it: {exc}", family=family, files=files)
    n_tokens = max_tokens(config, hf)
    held = weight_bytes(hf)                # 2 for a bf16/fp16 checkpoint (kept so in memory), else 4
    memory = estimate_model_bytes(config, held) + estimate_trace_bytes(config, n_tokens)
    n = count_parameters(config)
    try:
        check_size(config, n_tokens, repo_id, held)
    except ValueError as exc:
        return refused(str(exc), family=family, n=n, memory=memory, files=files)
    new = sum(f.size for f in files if not blob_path(repo_id, f).is_file())
    plan = DownloadPlan(family=family, n_parameters=n, files=tuple(files), new_bytes=new, memory_bytes=memory,
                        **base)
    problem = disk_problem(plan)
    return plan if problem is None else replace(plan, problem=problem)


def hub_file(sibling) -> HubFile:
    blob = sibling.lfs.sha256 if sibling.lfs else sibling.blob_id
    if sibling.size is None or not blob:
        raise DownloadError(f"The Hub did not give the size of {sibling.rfilename}; try again later.")
    return HubFile(sibling.rfilename, int(sibling.size), blob)


def shard_names(repo_id: str, commit: str, sizes: dict) -> list[str]:
    """The safetensors shards the index lists, each of which must be in the repo."""
    index = read_json(repo_id, INDEX, commit, MAX_INDEX_BYTES)
    weight_map = index.get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise DownloadError(f"{repo_id}'s {INDEX} has no weight_map: the shards cannot be found.")
    shards = sorted(set(map(str, weight_map.values())))
    for name in shards:
        if name not in sizes or "/" in name or not name.endswith(".safetensors"):
            raise DownloadError(f"{repo_id}'s {INDEX} lists {name!r}, which is not a safetensors file of the repo.")
    return shards


def read_json(repo_id: str, filename: str, commit: str, limit: int) -> dict:
    """A small JSON file of the repo, read into memory (nothing is written), at most `limit` bytes."""
    url = hf_hub_url(repo_id, filename, revision=commit, endpoint=endpoint())
    with explained(repo_id, commit):
        response = get_session().get(url, headers=build_hf_headers(), timeout=TIMEOUT)
        hf_raise_for_status(response)
    if len(response.content) > limit:
        raise DownloadError(f"{repo_id}'s {filename} is {len(response.content):,} bytes; at most {limit:,} are read.")
    try:
        data = json.loads(response.content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DownloadError(f"{repo_id}'s {filename} is not valid JSON ({exc}).") from exc
    if not isinstance(data, dict):
        raise DownloadError(f"{repo_id}'s {filename} must hold a JSON object, not a {type(data).__name__}.")
    return data


def disk_problem(plan: DownloadPlan) -> Optional[str]:
    """Refuse a download the budget or the disk has no room for, before anything is written."""
    if plan.cache_used + plan.new_bytes > plan.budget:
        return (f"Not enough room: this download needs {plan.new_bytes / 1e6:,.1f} MB and the Hugging Face "
                f"cache already holds {plan.cache_used / 1e6:,.0f} MB of the {plan.budget / 1e6:,.0f} MB "
                f"allowed for downloads ({BUDGET_ENV}). Delete models you no longer need from the cache "
                "(`hf cache delete`) or raise the budget.")
    root = cache_dir()
    existing = next((p for p in [root, *root.parents] if p.exists()), None)
    if existing is not None and shutil.disk_usage(existing).free < plan.new_bytes:
        return (f"Not enough disk space: this download needs {plan.new_bytes / 1e6:,.1f} MB and "
                f"{existing} has {shutil.disk_usage(existing).free / 1e6:,.1f} MB free.")
    return None


def blob_path(repo_id: str, f: HubFile) -> Path:
    return cache_dir() / repo_folder_name(repo_id) / "blobs" / f.blob


# -- the download ------------------------------------------------------------------------
def download(plan: DownloadPlan, on_progress: Optional[Progress] = None) -> Path:
    """Fetch the plan's files into the local Hugging Face cache; returns the snapshot folder.

    on_progress(done, total, filename) is called as bytes arrive (done only grows, ends at total).
    """
    if plan.problem:
        raise DownloadError(plan.problem)
    problem = disk_problem(replace(plan, cache_used=cache_bytes(), budget=budget_bytes()))
    if problem:   # the cache may have grown since the plan was made
        raise DownloadError(problem)
    report = on_progress or (lambda done, total, name: None)
    total, done = plan.total_bytes, 0
    report(0, total, plan.files[0].name)
    for f in plan.files:
        bar = progress_bar(lambda n, before=done, name=f.name: report(min(before + max(n, 0), total), total, name))
        with explained(plan.repo_id, plan.revision, cut=True):
            hf_hub_download(plan.repo_id, f.name, revision=plan.commit, cache_dir=str(cache_dir()),
                            endpoint=endpoint(), tqdm_class=bar, etag_timeout=TIMEOUT)
        done += f.size
        report(done, total, f.name)
    repo = cache_dir() / repo_folder_name(plan.repo_id)
    snapshot = repo / "snapshots" / plan.commit
    if not (snapshot / "config.json").is_file():
        raise DownloadError(f"The download of {plan.repo_id} did not finish; press Download again to resume.")
    ref = repo / "refs" / (plan.revision or "main")
    if not COMMIT.fullmatch(plan.revision or ""):   # a commit hash needs no ref: its snapshot is its name
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(plan.commit)
    return snapshot


def download_model(repo_id: str, revision: Optional[str] = None, on_progress: Optional[Progress] = None) -> str:
    """Plan and download in one call (notebooks); returns the name load_model takes."""
    plan = plan_download(repo_id, revision)
    download(plan, on_progress)
    return plan.key


def progress_bar(report: Callable[[int], None]) -> type:
    """A tqdm-like class for huggingface_hub's `tqdm_class`: it reports the bytes written so far."""
    return type("ReportingBar", (_ReportingBar,), {"report": staticmethod(report)})


class _ReportingBar:
    """What huggingface_hub calls on a progress bar (plain HTTP and Xet downloads alike)."""
    report: Callable[[int], None]

    def __init__(self, *args, total=None, initial=0, **kwargs):
        self.n, self.total = initial, total
        self.report(self.n)

    def update(self, n=1) -> None:
        self.n += n               # negative when a resumed request was answered from the start again
        self.report(self.n)

    def update_transfer(self, n) -> None:
        """Xet's network bytes: present so one bar counts bytes written, and counts them once."""

    def set_postfix_str(self, *args, **kwargs) -> None:
        pass

    set_transfer_postfix_str = set_postfix_str

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- errors a person can act on -----------------------------------------------------------
@contextmanager
def explained(repo_id: str, revision: Optional[str], cut: bool = False) -> Iterator[None]:
    """Turn what huggingface_hub raises into a DownloadError saying what to do."""
    try:
        yield
    except DownloadError:
        raise
    except Exception as exc:
        message = hub_error_message(exc, repo_id, revision, cut)
        if message is None:
            raise
        raise DownloadError(message) from exc


def hub_error_message(exc: Exception, repo: str, revision: Optional[str], cut: bool) -> Optional[str]:
    page = f"{endpoint()}/{repo}"
    again = (" Nothing half-downloaded is offered as a model; press Download again to resume "
             "(finished files are kept).") if cut else ""
    if isinstance(exc, GatedRepoError):
        if get_token():
            return (f"{repo} is a gated model and the token in HF_TOKEN has no access to it: log in to "
                    f"{page} with that token's account and accept the model's conditions, then try again.")
        return (f"{repo} is a gated model: accept its conditions at {page} with your Hugging Face "
                "account, create a read token at https://huggingface.co/settings/tokens, and start the "
                "app with HF_TOKEN=<your token> in its environment.")
    if isinstance(exc, RevisionNotFoundError):
        return (f"{repo} has no revision {revision!r}: see the branches and tags under 'Files and "
                f"versions' at {page} (leave the revision empty for the main branch).")
    if isinstance(exc, RepositoryNotFoundError):
        return (f"There is no model {repo!r} on the Hub at {endpoint()}: check the spelling (org/name, "
                "as in the model page's address). A private repo looks the same: set HF_TOKEN to a token "
                "that can read it.")
    if isinstance(exc, RemoteEntryNotFoundError):
        return f"A file of {repo} disappeared from the Hub while it was read; check the model page and try again."
    if isinstance(exc, OfflineModeIsEnabled):
        return "Downloads are off: HF_HUB_OFFLINE is set for this server."
    if isinstance(exc, (httpx2.HTTPError, LocalEntryNotFoundError)):
        return (f"Could not reach the Hub at {endpoint()} ({type(exc).__name__}): check the network "
                "connection (and HTTPS_PROXY if a proxy is needed)." + again)
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code if exc.response is not None else "an error"
        return f"The Hub answered {status} for {repo}; try again in a moment." + again
    if isinstance(exc, OSError):
        return f"The download of {repo} stopped: {exc}." + again
    return None
