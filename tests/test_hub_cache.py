"""Models in the local Hugging Face cache are listed and opened in place, with no network at all."""
from __future__ import annotations

import hashlib
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from hf_tiny import SENTENCES, hf_model, save_checkpoint, tokenizer_for  # noqa: E402

from models import available_models, load_model  # noqa: E402
from models.hub_cache import available_hf_models, cached_models, snapshot_folder  # noqa: E402

REVISION = "0123456789abcdef0123456789abcdef01234567"
ROOT = Path(__file__).resolve().parents[1]


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
    mbart = {"config.json": json.dumps({"model_type": "mbart"}).encode()}
    add_to_cache(root, "other/mbart-small", mbart)                                       # not a supported family
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


# -- a cache that anyone may have filled: listing never raises, nothing outside the repo is read --------
def llama_with(models_built, **changes) -> dict[str, bytes]:
    files = dict(models_built["llama"][1])
    config = json.loads(files["config.json"])
    config.update(changes)
    files["config.json"] = json.dumps(config).encode()
    return files


@pytest.mark.parametrize("field,value", [
    ("num_attention_heads", 0),          # a ZeroDivisionError in the family's arithmetic
    ("rope_scaling", "yarn"),            # AttributeError: a string has no .get
    ("rope_parameters", [1]),
    ("sliding_window", "x"),             # TypeError in max_tokens, outside the old handler
    ("sliding_window", [1]),
    ("hidden_size", True),
    ("rms_norm_eps", "tiny"),
])
def test_a_config_field_of_the_wrong_type_is_that_entrys_problem(cache, models_built, field, value):
    add_to_cache(cache, "bad/field", llama_with(models_built, model_type="mistral", **{field: value}))
    listed = {m.repo_id: m for m in cached_models(include_problems=True)}
    assert field in listed["bad/field"].problem and str(cache) not in listed["bad/field"].problem
    assert available_hf_models() == ["tiny-org/tiny-gpt2", "tiny-org/tiny-llama"]
    assert "bad/field" not in available_models()
    with pytest.raises(ValueError, match=field):
        load_model("bad/field")


def test_the_sidebar_survives_every_crafted_entry_at_once(cache, models_built):
    """AppTest of the whole app: one bad entry of each kind, and every page's sidebar still works."""
    from streamlit.testing.v1 import AppTest
    for i, (field, value) in enumerate([("num_attention_heads", 0), ("rope_scaling", "yarn"),
                                        ("rope_parameters", [1]), ("sliding_window", "x")]):
        add_to_cache(cache, f"bad/entry-{i}", llama_with(models_built, model_type="mistral", **{field: value}))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception, at.exception
    options = at.sidebar.selectbox(key="model").options
    assert any("tiny-org/tiny-gpt2" in o for o in options) and not any("bad/" in o for o in options)


def shard_index(names: list[str]) -> bytes:
    return json.dumps({"metadata": {}, "weight_map": {f"t{i}": name for i, name in enumerate(names)}}).encode()


@pytest.mark.parametrize("shard", ["/etc/passwd", "../../../../../../etc/hostname", "../../blobs/../../x"])
def test_shard_names_outside_the_repo_are_never_opened(cache, models_built, shard):
    files = dict(models_built["gpt2"][1])
    del files["model.safetensors"]
    files["model.safetensors.index.json"] = shard_index([shard])
    add_to_cache(cache, "evil/shards", files)
    problem = {m.repo_id: m.problem for m in cached_models(include_problems=True)}["evil/shards"]
    assert "outside" in problem and "evil/shards" in problem and str(cache) not in problem
    with pytest.raises(ValueError, match="outside"):
        load_model("evil/shards")


def test_weights_linked_outside_the_cache_are_refused(cache, models_built, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "model.safetensors").write_bytes(models_built["gpt2"][1]["model.safetensors"])
    files = dict(models_built["gpt2"][1])
    del files["model.safetensors"]
    snapshot = add_to_cache(cache, "evil/linked", files)
    os.symlink(outside / "model.safetensors", snapshot / "model.safetensors")
    problem = {m.repo_id: m.problem for m in cached_models(include_problems=True)}["evil/linked"]
    assert "outside" in problem and str(tmp_path) not in problem
    with pytest.raises(ValueError, match="outside"):
        load_model("evil/linked")


def test_a_ref_that_leads_out_of_the_repo_opens_nothing(cache, models_built, tmp_path):
    elsewhere = add_to_cache(tmp_path / "elsewhere", "a/b", models_built["gpt2"][1])   # a whole model
    repo = cache / "models--evil--ref"
    (repo / "snapshots").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(os.path.relpath(elsewhere, repo / "snapshots"))
    assert snapshot_folder("evil/ref") is None
    assert "evil/ref" not in [m.repo_id for m in cached_models(include_problems=True)]
    with pytest.raises(ValueError, match="local Hugging Face cache"):
        load_model("evil/ref")


def sparse_file(path, size: int) -> None:
    with open(path, "wb") as f:
        f.truncate(size)           # no disk used: only the size tells a bounded reader to stop


def test_huge_index_and_tokenizer_are_refused_before_they_are_read(cache, models_built):
    files = dict(models_built["gpt2"][1])
    del files["model.safetensors"]
    snapshot = add_to_cache(cache, "huge/index", files)
    sparse_file(snapshot / "model.safetensors.index.json", 120_000_000)
    snapshot = add_to_cache(cache, "huge/tokenizer", dict(models_built["gpt2"][1]))
    (snapshot / "tokenizer.json").unlink()
    sparse_file(snapshot / "tokenizer.json", 40_000_000)
    problems = {m.repo_id: m.problem for m in cached_models(include_problems=True)}
    assert "120,000,000 bytes" in problems["huge/index"] and "at most" in problems["huge/index"]
    assert "40 MB" in problems["huge/tokenizer"] and "at most" in problems["huge/tokenizer"]
    assert available_hf_models() == ["tiny-org/tiny-gpt2", "tiny-org/tiny-llama"]


@pytest.mark.parametrize("weights", [
    b"PK\x03\x04 a zip file, or a pickle renamed" * 100,        # not safetensors at all
    (10**9).to_bytes(8, "little") + b"{}",                      # a header size beyond the file
    (30).to_bytes(8, "little") + b'{"w": {"dtype": "F32", "shape": [1000], "data_offsets": [0, 4000]}}',
])
def test_broken_weights_are_caught_at_listing_and_named_by_model(cache, models_built, weights):
    files = dict(models_built["gpt2"][1])
    files["model.safetensors"] = weights
    add_to_cache(cache, "broken/weights", files)
    problem = {m.repo_id: m.problem for m in cached_models(include_problems=True)}["broken/weights"]
    assert "safetensors" in problem or "damaged" in problem
    assert "broken/weights" in problem and str(cache) not in problem and "/" + REVISION not in problem
    assert "broken/weights" not in available_hf_models()


def test_listing_is_checked_again_only_when_an_entry_changes(cache, monkeypatch):
    import models.hub_cache as hub_cache
    checks = []
    real = hub_cache._check_entry
    monkeypatch.setattr(hub_cache, "_check_entry", lambda *a: checks.append(a[0]) or real(*a))
    cached_models()
    assert sorted(checks) == sorted(m.name[len("models--"):].replace("--", "/", 1) for m in cache.iterdir())
    checks.clear()
    cached_models()
    assert checks == []                                   # nothing changed: nothing read again
    config = cache / "models--tiny-org--tiny-gpt2" / "snapshots" / REVISION / "config.json"
    data = config.read_bytes()
    config.unlink()
    config.write_bytes(data + b" ")
    assert [m.repo_id for m in cached_models()] == ["tiny-org/tiny-gpt2", "tiny-org/tiny-llama"]
    assert checks == ["tiny-org/tiny-gpt2"]


def test_a_load_error_names_the_model_not_the_cache_path(cache, models_built):
    from safetensors.torch import load, save
    files = dict(models_built["gpt2"][1])
    tensors = load(files["model.safetensors"])
    name = sorted(n for n in tensors if tensors[n].is_floating_point())[-1]
    tensors[name] = torch.full_like(tensors[name], float("nan"))   # only the values are wrong: loading finds it
    files["model.safetensors"] = save(tensors)
    add_to_cache(cache, "nan/weights", files)
    assert "nan/weights" in available_hf_models()
    with pytest.raises(ValueError, match="NaN") as info:
        load_model("nan/weights")
    assert "nan/weights" in str(info.value) and str(cache) not in str(info.value)


@pytest.mark.parametrize("damage,message", [
    (lambda t: t.pop(sorted(t)[-1]), "missing tensor"),
    (lambda t: t.update({"transformer.h.0.attn.c_attn.weight": torch.zeros(3, 5)}), "has shape"),
    (lambda t: t.update({"transformer.h.0.surprise": torch.zeros(2)}), "unexpected tensor"),
])
def test_tensors_that_do_not_fit_the_config_are_found_at_listing(cache, models_built, damage, message):
    """The header's names and shapes against the family's name map, without reading any weights."""
    from safetensors.torch import load, save
    files = dict(models_built["gpt2"][1])
    tensors = load(files["model.safetensors"])
    damage(tensors)
    files["model.safetensors"] = save(tensors)
    add_to_cache(cache, "misfit/weights", files)
    problem = {m.repo_id: m.problem for m in cached_models(include_problems=True)}["misfit/weights"]
    assert message in problem and "misfit/weights" in problem and str(cache) not in problem
    assert "misfit/weights" not in available_hf_models()


def test_a_sentence_encoders_module_path_cannot_lead_outside_its_folder(tmp_path):
    from models.files import sentence_pooling
    folder, outside = tmp_path / "model", tmp_path / "outside"
    folder.mkdir()
    outside.mkdir()
    (outside / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    (folder / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 128}))
    pooling = {"idx": 1, "name": "1", "type": "sentence_transformers.models.Pooling"}
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode_mean_tokens": True}))
    (folder / "modules.json").write_text(json.dumps([{**pooling, "path": "1_Pooling"}]))
    assert sentence_pooling(folder) == {"pooling": "mean", "normalize": False, "max_tokens": 128}
    for path in ("../outside", str(outside)):
        (folder / "modules.json").write_text(json.dumps([{**pooling, "path": path}]))
        assert sentence_pooling(folder) is None


def test_the_picker_says_what_each_model_is(tmp_path, models_built):
    """Issue 26: "📂 gpt2" and "grammar-2l4h-…" said nothing. Each entry names its family, encoder or
    decoder, layers × heads and size."""
    from models.registry import available_models

    root = tmp_path / "models"
    (root / "mine").mkdir(parents=True)
    for name, data in models_built["gpt2"][1].items():
        (root / "mine" / name).write_bytes(data)
    labels = available_models([root])
    assert labels[str(root / "mine")].startswith("📂 mine — GPT-2 decoder · ")
    assert " × " in labels[str(root / "mine")] and labels[str(root / "mine")].endswith(" M")
    assert "encoder" in labels["minilm"]
