"""Models in the local Hugging Face cache are listed and opened in place, with no network at all."""
from __future__ import annotations

import hashlib
import json
import os
import socket

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from hf_tiny import SENTENCES, hf_model, save_checkpoint, tokenizer_for  # noqa: E402

from models import load_model  # noqa: E402
from models.hub_cache import available_hf_models, cached_models, snapshot_folder  # noqa: E402

REVISION = "0123456789abcdef0123456789abcdef01234567"


def add_to_cache(cache, repo_id: str, files: dict[str, bytes], ref: bool = True):
    """The layout huggingface_hub writes: blobs by content hash, snapshot files as links to them."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / REVISION
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)
    if ref:
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(REVISION)
    return snapshot


@pytest.fixture(scope="module")
def models_built(tmp_path_factory):
    built = {}
    for family in ("gpt2", "llama"):
        model = hf_model(family, tied=True)
        folder = save_checkpoint(model, tokenizer_for(family), tmp_path_factory.mktemp(family))
        built[family] = (model, {p.name: p.read_bytes() for p in folder.iterdir()})
    return built


@pytest.fixture
def cache(tmp_path, monkeypatch, models_built):
    root = tmp_path / "hub"
    add_to_cache(root, "tiny-org/tiny-gpt2", models_built["gpt2"][1])
    add_to_cache(root, "tiny-org/tiny-llama", models_built["llama"][1], ref=False)  # no refs/main
    t5 = {"config.json": json.dumps({"model_type": "t5"}).encode()}
    add_to_cache(root, "other/t5-small", t5)                                          # not a supported family
    pickled = dict(models_built["gpt2"][1])
    pickled["pytorch_model.bin"] = pickled.pop("model.safetensors")
    add_to_cache(root, "old/pickled-gpt2", pickled)                                   # only a pickle file
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    return root


def test_cached_models_lists_supported_families(cache, models_built):
    found = {m.repo_id: m for m in cached_models()}
    assert sorted(found) == ["tiny-org/tiny-gpt2", "tiny-org/tiny-llama"]
    assert found["tiny-org/tiny-gpt2"].family == "gpt2"
    assert found["tiny-org/tiny-llama"].family == "llama"
    assert found["tiny-org/tiny-gpt2"].n_parameters == models_built["gpt2"][0].num_parameters()
    assert found["tiny-org/tiny-gpt2"].folder == cache / "models--tiny-org--tiny-gpt2" / "snapshots" / REVISION
    assert available_hf_models() == ["tiny-org/tiny-gpt2", "tiny-org/tiny-llama"]


def test_problems_are_listed_on_request(cache):
    problems = {m.repo_id: m.problem for m in cached_models(include_problems=True) if m.problem}
    assert list(problems) == ["old/pickled-gpt2"]
    assert "pytorch_model.bin" in problems["old/pickled-gpt2"] and "never opened" in problems["old/pickled-gpt2"]


def test_load_model_opens_the_cached_snapshot(cache, models_built):
    loaded = load_model("tiny-org/tiny-gpt2")
    assert loaded.info["family"] == "gpt2" and loaded.name == "tiny-org/tiny-gpt2"
    trace = loaded.trace(SENTENCES["plain"])
    with torch.no_grad():
        logits = models_built["gpt2"][0](torch.tensor([trace.ids])).logits[0].numpy()
    np.testing.assert_allclose(trace.logits, logits, atol=1e-4, rtol=0)
    assert load_model("tiny-org/tiny-llama").config.kv_heads == 2   # newest snapshot without refs/main


def test_missing_repo_is_not_fetched(cache):
    assert snapshot_folder("nobody/nothing") is None
    with pytest.raises(ValueError, match="local Hugging Face cache"):
        load_model("nobody/nothing")
    assert snapshot_folder("../escape") is None and snapshot_folder("a/b/c") is None


def test_cache_location_follows_hf_home(tmp_path, monkeypatch, models_built):
    add_to_cache(tmp_path / "home" / "hub", "tiny-org/tiny-gpt2", models_built["gpt2"][1])
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    assert [m.repo_id for m in cached_models()] == ["tiny-org/tiny-gpt2"]
