"""Saving a trained model as a folder and loading it back: identical logits, clear errors."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from core.corpus import CorpusConfig, generate_corpus
from core.training import lm_config, new_model
from models import load_model
from models.bpe import train_bpe
from models.saved import load_saved, save_model, unique_name


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
    # gpt2 is a supported Hugging Face family now (issue 13): an unknown type is refused by name.
    (lambda f: (f / "config.json").write_text('{"model_type": "t5"}'), "model_type 't5' is not supported"),
])
def test_broken_folder_names_the_problem_file(trained, tmp_path, damage, message):
    folder = copy_folder(trained[2], tmp_path)
    damage(folder)
    with pytest.raises((ValueError, OSError), match=message):
        load_model(str(folder))


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
