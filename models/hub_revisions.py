"""The training checkpoints of one Hub repository that the local Hugging Face cache holds: its revisions.

Pythia (EleutherAI/pythia-*) publishes 154 training checkpoints as branches step0, step1, step2,
step4 … step512, step1000, step2000 … step143000 ("main" is step143000). Each revision fetched
(the sidebar's "Get a model" box, models/hub_download.py) lands in the same repo folder:

    models--org--name/
        refs/step1000                the commit hash the branch pointed to when fetched
        refs/main
        snapshots/<hash>/            config.json, model.safetensors, tokenizer.json

`cached_revisions` lists them in training order, one entry per snapshot (main and step143000
name the same commit: one checkpoint with both names). Only what the cache holds is listed;
nothing is fetched. A revision whose download did not finish (a snapshot without config.json,
which is fetched last) is listed with its `problem` and is never opened. Each opens with
load_model(revision.key) ("org/name@<commit>"), so a moved branch never opens another checkpoint
under an old name, and caches keyed by that name stay true.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Optional

from .hub_cache import REVISION_NAME, _snapshot_inside, cache_dir, cached_models, repo_folder_name
from .families import family_of

STEP = re.compile(r"step[-_]?(\d{1,9})(?!\d)", re.IGNORECASE)   # step1000, step-1000, step1000-tokens4B
MAX_REFS = 1_000          # refs read per repo: Pythia has 154 branches


@dataclass(frozen=True)
class Revision:
    repo_id: str                   # "org/name"
    names: tuple[str, ...]         # the branches and tags naming this snapshot ("step143000", "main"), or ()
    commit: str                    # the snapshot's folder name (the commit hash)
    step: Optional[int]            # the training step its name gives ("step1000" -> 1000), or None
    problem: Optional[str] = None  # why it cannot be opened, else None

    @property
    def name(self) -> str:
        """The name a person reads: the step's branch first ("step143000"), else the first name, else
        the commit's first 10 characters."""
        stepped = [n for n in self.names if STEP.match(n)]
        return (stepped or list(self.names) or [self.commit[:10]])[0]

    @property
    def label(self) -> str:
        """"step143000 (main)": the name and its other names."""
        others = [n for n in self.names if n != self.name]
        return f"{self.name} ({', '.join(others)})" if others else self.name

    @property
    def key(self) -> str:
        """What load_model takes for exactly this snapshot: "org/name@<commit>"."""
        return f"{self.repo_id}@{self.commit}"


def step_of(name: str) -> Optional[int]:
    match = STEP.match(name)
    return int(match.group(1)) if match else None


def _order(revision: Revision) -> tuple:
    """Training order: steps by number, then named revisions without a step ("main" of a repo whose
    main is no step branch), then bare commits."""
    if revision.step is not None:
        return 0, revision.step, revision.name
    return (1 if revision.names else 2), 0, revision.name


def _valid_repo_id(repo_id: str) -> bool:
    return isinstance(repo_id, str) and repo_id.count("/") == 1 \
        and all(part not in ("", ".", "..") and REVISION_NAME.fullmatch(part) for part in repo_id.split("/"))


def cached_revisions(repo_id: str) -> list[Revision]:
    """Every revision of `repo_id` in the local cache, in training order (see `_order`). Never raises:
    a repo that is not there, or a folder that cannot be read, lists nothing."""
    if not _valid_repo_id(repo_id):
        return []
    repo = cache_dir() / repo_folder_name(repo_id)
    try:
        return _revisions_in(repo, repo_id)
    except OSError:
        return []


def _revisions_in(repo, repo_id: str) -> list[Revision]:
    names: dict[str, list[str]] = {}                     # commit -> the refs naming it
    missing: dict[str, str] = {}                         # ref -> commit not in snapshots/
    refs = repo / "refs"
    entries = sorted(os.scandir(refs), key=lambda e: e.name)[:MAX_REFS] if refs.is_dir() else []
    for entry in entries:       # refs/<branch>; refs/pr/N (the Hub's pull requests) are folders: skipped
        if not entry.is_file() or not REVISION_NAME.fullmatch(entry.name) or entry.stat().st_size > 200:
            continue
        with open(entry.path, errors="replace") as f:
            commit = f.read(200).strip()
        if not REVISION_NAME.fullmatch(commit) or ".." in commit:
            continue
        if (repo / "snapshots" / commit).is_dir():
            names.setdefault(commit, []).append(entry.name)
        else:
            missing[entry.name] = commit
    snapshots = repo / "snapshots"
    folders = sorted(e.name for e in os.scandir(snapshots) if e.is_dir()) if snapshots.is_dir() else []
    found = []
    for commit in folders[:MAX_REFS]:
        if not REVISION_NAME.fullmatch(commit):
            continue
        refs_here = tuple(sorted(names.get(commit, []), key=lambda n: (step_of(n) is None, n)))
        steps = [step_of(n) for n in refs_here if step_of(n) is not None]
        problem = None
        if _snapshot_inside(repo, commit) is None:
            shown = refs_here[0] if refs_here else commit[:10]
            problem = (f"the download of {repo_id}@{shown} did not finish (no config.json yet): download it "
                       "again to complete it")
        found.append(Revision(repo_id, refs_here, commit, steps[0] if steps else None, problem))
    for ref, commit in missing.items():   # a branch whose snapshot was deleted from the cache
        found.append(Revision(repo_id, (ref,), commit, step_of(ref),
                              f"{repo_id}@{ref} names a snapshot that is no longer in the cache"))
    return sorted(found, key=_order)


def openable(revisions: list[Revision]) -> list[Revision]:
    return [r for r in revisions if r.problem is None]


def repos_with_checkpoints() -> dict[str, int]:
    """Repos in the local cache of a family read as one stack of attention (not an encoder–decoder),
    id -> how many of its revisions open, sorted by id. Never raises."""
    found = {}
    for entry in cached_models(include_problems=True):
        family = family_of(entry.family)
        if family is not None and not family.page_applies("checkpoints"):
            continue
        count = len(openable(cached_revisions(entry.repo_id)))
        if count:
            found[entry.repo_id] = count
    return found
