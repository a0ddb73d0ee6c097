"""Shared fixtures: one MiniLM per test process (loading takes about a second)."""
from __future__ import annotations

import os
import tempfile

import pytest

from page_helpers import compile_pages_once, scan_components_once


scan_components_once()   # page_helpers: once per process, as a running server does
compile_pages_once()     # and one bytecode cache for every run, as a server keeps


def _one_torch_thread_per_worker() -> None:
    """Under `pytest -n N` the N workers already fill the cores; torch's own thread pool (one thread per core by
    default) would put N × cores threads on them, and small tensor ops then spend their time waiting for each other.
    Results do not depend on it. The app's frame (ui/frame.py) sets the count on its first page run from
    ATTENTION_EXPLORER_THREADS, which app servers started by browser tests inherit too."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        import torch

        os.environ.setdefault("ATTENTION_EXPLORER_THREADS", "1")
        torch.set_num_threads(1)


_one_torch_thread_per_worker()
# The corpus pages save what they compute on a first visit (ui/corpus.py): tests keep it out of ~/.cache.
os.environ.setdefault("ATTENTION_EXPLORER_CORPUS_DIR", tempfile.mkdtemp(prefix="corpus_results_"))


@pytest.fixture(scope="session")
def minilm():
    from models import load_model

    return load_model("minilm")


@pytest.fixture(scope="session")
def reference_bert():
    """transformers' BertModel and tokenizer from the same folder (test-only dependency)."""
    transformers = pytest.importorskip("transformers")
    from models.registry import minilm_folder

    folder = str(minilm_folder())
    model = transformers.BertModel.from_pretrained(folder, attn_implementation="eager").eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    return model, tokenizer


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory):
    """Folders of a tiny random GPT-2 and a tiny Llama (grouped-query, rotary) checkpoint, saved once."""
    pytest.importorskip("transformers")
    from hf_tiny import hf_model, save_checkpoint, tokenizer_for

    root = tmp_path_factory.mktemp("tiny")
    return {family: str(save_checkpoint(hf_model(family), tokenizer_for(family), root / family))
            for family in ("gpt2", "llama")}



def pytest_collection_modifyitems(config, items):
    """Long tests first on every worker: browser walks, then other slow tests, then the rest.

    With `-n N` and work stealing (pytest.ini) xdist hands each worker a contiguous share of the list, in order, and
    an idle worker steals from the end of the other's queue. So the long tests are dealt round-robin to the heads of
    the N shares, and the short ones fill the shares to equal counts: both workers start on long work at once and the
    short tests balance the end, instead of the multi-minute browser walks arriving last on one worker."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))

    def weight(item) -> int:
        if item.get_closest_marker("browser"):
            return 0
        return 1 if item.get_closest_marker("slow") else 2
    ordered = sorted(items, key=weight)            # stable: pytest's order within each group
    heavy = [item for item in ordered if weight(item) < 2]
    light = [item for item in ordered if weight(item) == 2]
    shares = [heavy[k::workers] for k in range(workers)]
    left = len(items)
    for k, share in enumerate(shares):             # the scheduler's own split: len(pending) // workers remaining
        size = left // (workers - k)
        take = max(0, size - len(share))
        share.extend(light[:take])
        light = light[take:]
        left -= len(share)
    shares[-1].extend(light)
    items[:] = [item for share in shares for item in share]
