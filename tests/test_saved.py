"""Saving a trained model as a folder and loading it back: identical logits, clear errors."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from models import load_model
from models.saved import load_saved, save_model, unique_name
from training.bpe import train_bpe
from training.corpus import CorpusConfig, generate_corpus
from training.lm import lm_config, new_model


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    lines = generate_corpus(CorpusConfig(n_sentences=300))
    bpe = train_bpe(lines, 120)
    net = new_model(lm_config(bpe.vocab_size, context=16, d_model=32, n_heads=2, n_layers=2), seed=5)
    root = tmp_path_factory.mktemp("models")
    folder = save_model(net, bpe.to_json(), root, "tiny", info={"label": "tiny test model"})
    return net, bpe, folder


def copy_folder(folder, tmp_path):
    out = tmp_path / "copy"
    out.mkdir()
    for f in folder.iterdir():
        (out / f.name).write_bytes(f.read_bytes())
    return out


def test_folder_has_the_three_files_and_no_temporary_left(trained):
    _, _, folder = trained
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]   # temp dir renamed, not left


@pytest.mark.parametrize("positional,tied", [("learned", True), ("sinusoidal", False)])
def test_round_trip_gives_identical_logits(tmp_path, positional, tied):
    bpe = train_bpe(generate_corpus(CorpusConfig(n_sentences=400)), 140)
    net = new_model(lm_config(bpe.vocab_size, context=24, d_model=16, n_heads=2, n_layers=1,
                              positional=positional, tie_embeddings=tied), seed=1).eval()
    folder = save_model(net, bpe.to_json(), tmp_path, unique_name("round trip"))
    loaded = load_model(str(folder))                      # via the registry, as the app does
    ids = torch.tensor([bpe.encode("the queen rules her kingdom .")])
    with torch.no_grad():
        assert torch.equal(net(ids), loaded.net(ids))
    trace = loaded.trace("the queen rules her kingdom .")
    assert trace.causal and trace.logits.shape == (len(trace.tokens), bpe.vocab_size)
    assert trace.tokens == bpe.split("the queen rules her kingdom .")
    assert (loaded.net.unembed is None) == tied


def test_loaded_model_works_with_the_pages_api(trained):
    net, bpe, folder = trained
    model = load_saved(folder)
    assert model.name == str(folder) and "tiny test model" in model.description
    assert model.vocabulary() == bpe.vocabulary()
    assert np.array_equal(model.embedding_table(), net.token_table.detach().numpy())
    long = model.trace("the king rules his kingdom . " * 20)
    assert long.truncated and len(long.tokens) == 16


def test_truncated_safetensors_is_refused(trained, tmp_path):
    folder = copy_folder(trained[2], tmp_path)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(ValueError, match="model.safetensors is damaged or truncated"):
        load_model(str(folder))


def test_mismatched_weights_are_refused(trained, tmp_path):
    folder = copy_folder(trained[2], tmp_path)
    meta = json.loads((folder / "config.json").read_text())
    meta["config"]["d_model"] = 64
    meta["config"]["d_ff"] = 256
    (folder / "config.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="model.safetensors does not match config.json"):
        load_saved(folder)


@pytest.mark.parametrize("damage,message", [
    (lambda f: (f / "config.json").write_text("{not json"), "config.json.*not valid JSON"),
    (lambda f: (f / "config.json").unlink(), "config.json"),
    (lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
    (lambda f: (f / "tokenizer.json").write_text("garbage"), "tokenizer.json"),
    (lambda f: (f / "config.json").write_text('{"model_type": "mbart"}'), "model_type 'mbart' is not supported"),
    (lambda f: (f / "config.json").write_text('[1, 2]'), "must hold a JSON object"),
    (lambda f: (f / "config.json").write_text("[" * 200_000), "config.json is not valid JSON"),
])
def test_broken_folder_names_the_problem_file(trained, tmp_path, damage, message):
    folder = copy_folder(trained[2], tmp_path)
    damage(folder)
    with pytest.raises((ValueError, OSError), match=message) as info:
        load_model(str(folder))
    assert str(tmp_path) not in str(info.value)      # shown to a visitor: the model's name, no server path


def test_tokenizer_from_another_run_is_refused(trained, tmp_path):
    folder = copy_folder(trained[2], tmp_path)
    other = train_bpe(generate_corpus(CorpusConfig(n_sentences=300)), 90)
    (folder / "tokenizer.json").write_text(other.to_json())
    with pytest.raises(ValueError, match="tokenizer.json has 90 tokens"):
        load_saved(folder)


def test_existing_folder_is_not_overwritten(trained):
    net, bpe, folder = trained
    with pytest.raises(FileExistsError):
        save_model(net, bpe.to_json(), folder.parent, folder.name)


def test_models_dir_follows_the_environment(monkeypatch, tmp_path):
    from models.saved import models_dir
    monkeypatch.setenv("ATTENTION_EXPLORER_MODELS_DIR", str(tmp_path))
    assert models_dir() == tmp_path
    monkeypatch.delenv("ATTENTION_EXPLORER_MODELS_DIR")
    assert models_dir().name == "trained_models"
    assert unique_name("My run!") != unique_name("My run!") and os.sep not in unique_name("a/b")


def edit_config(folder, change) -> None:
    meta = json.loads((folder / "config.json").read_text())
    change(meta)
    (folder / "config.json").write_text(json.dumps(meta))


@pytest.mark.parametrize("change,message", [
    (lambda m: m.__setitem__("info", "a string"), "info must be an object"),
    (lambda m: m["config"].__setitem__("eps", "x"), "eps"),
    (lambda m: m["config"].__setitem__("d_model", True), "d_model must be a whole number"),
    (lambda m: m["config"].__setitem__("n_layers", 10**9), "n_layers must be a whole number from 1 to"),
    (lambda m: m["config"].__setitem__("causal", "yes"), "causal must be true or false"),
])
def test_crafted_config_fields_are_named(trained, tmp_path, change, message):
    """A hostile config.json is refused at load with the field named, not left to fail on a page."""
    folder = copy_folder(trained[2], tmp_path)
    edit_config(folder, change)
    with pytest.raises(ValueError, match=message):
        load_model(str(folder))


def test_a_huge_config_is_refused_before_it_is_read(trained, tmp_path):
    folder = copy_folder(trained[2], tmp_path)
    (folder / "config.json").write_text('{"model_type": "' + "x" * 2_000_000 + '"}')
    with pytest.raises(ValueError, match="config.json is 2,000,.* bytes"):
        load_model(str(folder))


def test_weights_with_nan_are_refused(trained, tmp_path):
    from safetensors.torch import load_file, save_file

    folder = copy_folder(trained[2], tmp_path)
    state = load_file(str(folder / "model.safetensors"))
    name = sorted(state)[0]
    state[name] = torch.full_like(state[name], float("nan"))
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ValueError, match=f"{name} holds NaN"):
        load_model(str(folder))


@pytest.mark.parametrize("name", ["/../../x", "../x", "a/b", ".hidden", "", "x" * 101, "..", "a\x00b"])
def test_a_name_cannot_climb_out_of_the_models_folder(trained, tmp_path, name):
    net, bpe, _ = trained
    with pytest.raises(ValueError, match="not a usable model name"):
        save_model(net, bpe.to_json(), tmp_path / "models", name)
    assert not any(p.exists() for p in (tmp_path / "x", tmp_path.parent / "x"))


def test_the_weights_are_written_before_the_small_files(trained, tmp_path, monkeypatch):
    """A kill during a save costs nothing already on disk: the slow weights go first, and the
    folder gets its name only when all three files are there."""
    import models.saved as saved

    net, bpe, _ = trained
    order = []
    real_save_file = saved.save_file
    monkeypatch.setattr(saved, "save_file", lambda state, path: (order.append("weights"), real_save_file(state, path)))

    class Boom(Exception):
        pass

    def fail_on_config(self, *args, **kwargs):
        order.append(self.name)
        raise Boom()

    monkeypatch.setattr(saved.Path, "write_text", fail_on_config)
    with pytest.raises(Boom):
        save_model(net, bpe.to_json(), tmp_path, "tiny")
    assert order == ["weights", "config.json"]
    assert not (tmp_path / "tiny").exists() and list(tmp_path.iterdir()) == []   # the temporary was removed


def test_stale_temporaries_of_a_killed_save_are_removed(tmp_path):
    from models.saved import remove_stale_temporaries

    stale = tmp_path / ".run-1.abc.tmp"
    fresh = tmp_path / ".run-2.def.tmp"
    kept = tmp_path / "a-model"
    for folder in (stale, fresh, kept):
        folder.mkdir()
    os.utime(stale, (0, 0))
    assert remove_stale_temporaries(tmp_path) == [stale.name]
    assert not stale.exists() and fresh.exists() and kept.exists()   # a save still running keeps its folder
