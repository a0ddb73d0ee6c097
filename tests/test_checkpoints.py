"""Across training checkpoints: a repo's revisions in the local Hugging Face cache, in training order, and
the page that scrubs through them (one head's attention, every head's score, a head's score as a line)."""
from __future__ import annotations

import hashlib
import json
import os
import socket

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")

from hf_tiny import hf_model, save_checkpoint, tokenizer_for  # noqa: E402
from page_helpers import run_page, spec_array  # noqa: E402

from models import load_model  # noqa: E402
from models.hub_revisions import cached_revisions, openable, repos_with_checkpoints  # noqa: E402
from ui.checkpoints import thinned  # noqa: E402

REPO = "tiny-org/tiny-pythia"
STEPS = ("step1000", "step2000", "step3000")
TEXT = "the cat sat on the mat and the cat sat"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Three Pythia-shaped (GPT-NeoX) checkpoints with different weights, as three training steps."""
    built = {}
    for seed, step in enumerate(STEPS, start=1):
        model = hf_model("gpt_neox", tied=False, seed=seed, parallel=True, rotary_pct=0.25)
        folder = save_checkpoint(model, tokenizer_for("gpt_neox"), tmp_path_factory.mktemp(step))
        built[step] = {p.name: p.read_bytes() for p in folder.iterdir()}
    return built


def commit_of(files: dict[str, bytes]) -> str:
    """A commit hash made from the files, as the Hub's is: the same name always holds the same files."""
    digest = hashlib.sha1()
    for name in sorted(files):
        digest.update(name.encode() + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def add_revision(root, repo_id: str, files: dict[str, bytes], refs: tuple[str, ...]) -> str:
    """huggingface_hub's layout: blobs by content hash, the snapshot's files linking to them, refs/<branch>."""
    repo = root / ("models--" + repo_id.replace("/", "--"))
    commit = commit_of(files)
    snapshot = repo / "snapshots" / commit
    (repo / "blobs").mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True)
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.write_bytes(data)
        os.symlink(os.path.relpath(blob, snapshot), snapshot / name)
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    return commit


@pytest.fixture
def cache(tmp_path, monkeypatch, checkpoints):
    root = tmp_path / "hub"
    for step in STEPS:   # main is the last step, as on Pythia's repos
        add_revision(root, REPO, checkpoints[step], (step, "main") if step == STEPS[-1] else (step,))
    unfinished = {k: v for k, v in checkpoints[STEPS[0]].items() if k != "config.json"}
    unfinished["tokenizer.json"] += b" "                        # another snapshot, cut before config.json
    add_revision(root, REPO, unfinished, ("step4000",))
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args, **kwargs):
        raise AssertionError("the network was used")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    return root


def test_revisions_are_listed_in_training_order_with_main_as_the_last_step(cache):
    revisions = cached_revisions(REPO)
    assert [r.name for r in revisions] == [*STEPS, "step4000"]
    assert [r.step for r in revisions] == [1000, 2000, 3000, 4000]
    assert revisions[2].label == "step3000 (main)"               # one checkpoint, both names
    assert "did not finish" in revisions[3].problem              # never offered, and says why
    assert [r.name for r in openable(revisions)] == list(STEPS)
    assert repos_with_checkpoints() == {REPO: 3}


def test_each_revision_opens_its_own_weights(cache):
    logits = [load_model(r.key).trace(TEXT).logits for r in openable(cached_revisions(REPO))]
    assert not np.allclose(logits[0], logits[1]) and not np.allclose(logits[1], logits[2])
    np.testing.assert_array_equal(load_model(f"{REPO}@step3000").trace(TEXT).logits, logits[2])


def test_a_missing_repo_or_a_crafted_name_lists_nothing(cache):
    assert cached_revisions("tiny-org/absent") == []
    assert cached_revisions("../../etc") == [] and cached_revisions("a/../b") == []


def test_many_checkpoints_are_thinned_evenly_keeping_the_first_and_last():
    revisions = list(range(154))                                  # Pythia's count
    kept = thinned(revisions, 32)
    assert len(kept) == 32 and kept[0] == 0 and kept[-1] == 153
    assert max(np.diff(kept)) - min(np.diff(kept)) <= 1
    assert thinned(revisions[:5], 32) == revisions[:5]


def figure(at, title_part: str) -> dict:
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        if title_part in (spec["layout"].get("title") or {}).get("text", ""):
            return spec
    raise AssertionError(f"no figure titled …{title_part}…")


def test_the_page_lists_the_cached_checkpoints_and_not_the_unfinished_one(cache):
    at = run_page("checkpoints", sentence=TEXT)
    assert not at.exception
    slider = at.select_slider(key="checkpoints_revision")
    assert list(slider.options) == list(STEPS) and slider.value == STEPS[-1]
    assert any("step4000" in w.value and "did not finish" in w.value for w in at.warning)
    curve = figure(at, "across training")
    lines = [trace for trace in curve["data"] if trace["name"].startswith("head ")]
    assert len(lines) == 4 and all(len(spec_array(line["y"])) == 3 for line in lines)   # 4 heads, 3 checkpoints


def test_the_slider_changes_the_drawn_attention_to_that_checkpoints(cache):
    at = run_page("checkpoints", sentence=TEXT)
    layer, head = at.session_state["checkpoints_layer"], at.session_state["checkpoints_head"]
    last = spec_array(figure(at, "at step3000")["data"][0]["z"])
    at.select_slider(key="checkpoints_revision").set_value("step1000").run()
    assert not at.exception
    first = spec_array(figure(at, "at step1000")["data"][0]["z"])
    expected = load_model(f"{REPO}@step1000").trace(TEXT).layers[layer].weights[head]
    np.testing.assert_allclose(first, expected, atol=1e-6)
    assert not np.allclose(first, last)
    grid = figure(at, "of every head at step1000")               # the scores grid follows the slider too
    assert spec_array(grid["data"][0]["z"]).shape == (3, 4)


def test_a_revision_that_is_not_cached_gets_a_message(cache):
    at = run_page("checkpoints", sentence=TEXT, checkpoints_revision="step9999")
    assert not at.exception
    assert any("step9999" in w.value and "not among" in w.value for w in at.warning)
    assert at.select_slider(key="checkpoints_revision").value == STEPS[-1]


def test_a_checkpoint_with_broken_weights_is_named_and_the_others_still_shown(cache, checkpoints):
    broken = dict(checkpoints[STEPS[0]])
    broken["model.safetensors"] = broken["model.safetensors"][:-100]   # cut short
    add_revision(cache, REPO, broken, ("step500",))
    at = run_page("checkpoints", sentence=TEXT)
    assert not at.exception
    assert any("step500" in e.value for e in at.error)
    assert not any(str(cache) in e.value for e in at.error)             # no server path
    assert list(at.select_slider(key="checkpoints_revision").options) == list(STEPS)


def test_an_empty_cache_opens_on_the_grammar_lms_own_training(tmp_path, monkeypatch):
    """With no Hub checkpoint (offline, a fresh install) the page still shows heads forming: the Grammar LM's
    states saved during its build ship with the app. The curve has one point per state, the scores at the
    last one are the shipped model's, and the page says how to get a real model's checkpoints."""
    from analysis.detectors import previous_token_scores
    from models.shipped import grammar_lm_checkpoints

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    at = run_page("checkpoints", sentence=TEXT)
    assert not at.exception
    assert any("step1000" in i.value for i in at.info)                  # how to get Pythia's
    states = [name for _, name in grammar_lm_checkpoints()]
    assert states[0] == "step0" and states[-1] == "step2000" and len(states) == 6
    assert at.select_slider(key="checkpoints_revision").options == states
    text = at.text_input(key="checkpoints_text").value                    # a sentence of its grammar
    assert "queen" in text and "Time flies" not in text
    grid = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
                if "of every head at step2000" in json.loads(c.proto.spec)["layout"]["title"]["text"])
    expected = previous_token_scores(load_model("grammar-lm").trace(text))
    np.testing.assert_allclose(np.asarray(spec_array(grid["data"][0]["z"]), dtype=float), expected, atol=1e-6)


def test_the_grammar_lms_training_states_open_by_name():
    first, middle, last = (load_model(f"grammar-lm@step{n}") for n in (0, 400, 2000))
    assert middle.name == "grammar-lm@step400" and "400" in middle.description
    assert first.description.startswith("The Grammar LM before training")
    for a, b in ((first, middle), (middle, last)):                        # three different sets of weights
        assert not torch.equal(a.net.embeddings.token.weight, b.net.embeddings.token.weight)
    with pytest.raises(ValueError, match="no checkpoint 'step300'"):
        load_model("grammar-lm@step300")


@pytest.fixture
def hub(tmp_path, monkeypatch, checkpoints):
    """A fake Hub (tests/fake_hub.py) holding step3000; the cache holds step1000 and step2000."""
    from fake_hub import FakeHub, use_fake_hub

    root = tmp_path / "hub"
    for step in STEPS[:2]:
        add_revision(root, REPO, checkpoints[step], (step,))
    with FakeHub() as fake:
        fake.add(REPO, checkpoints[STEPS[0]])
        fake.add_revision(REPO, "step3000", checkpoints["step3000"])
        use_fake_hub(fake, monkeypatch, tmp_path, cache=root)
        monkeypatch.setenv("ATTENTION_EXPLORER_ALLOW_DOWNLOADS", "1")
        yield fake


def test_another_checkpoint_is_downloaded_on_request_after_its_size_is_shown(hub, checkpoints):
    at = run_page("checkpoints", sentence=TEXT)
    assert list(at.select_slider(key="checkpoints_revision").options) == list(STEPS[:2])
    at.text_input(key="checkpoints_get_revision").input("step3000")
    at.button(key="checkpoints_get_check").click().run()
    size = sum(len(checkpoints["step3000"][name]) for name in ("config.json", "model.safetensors", "tokenizer.json"))
    summary = " ".join(str(c.value) for c in at.caption)
    assert f"{size / 1e6:,.1f} MB" in summary and hub.gets("model.safetensors") == 0   # metadata only so far
    at.button(key="checkpoints_get_go").click().run()
    assert not at.exception and not at.error
    assert list(at.select_slider(key="checkpoints_revision").options) == list(STEPS)

    at.text_input(key="checkpoints_get_revision").input("step9")
    at.button(key="checkpoints_get_check").click().run()
    assert any("no revision 'step9'" in e.value for e in at.error)


def test_every_control_of_the_page_reopens_from_a_link(cache):
    """tests/test_page_links.py runs where no repo is cached (the page then draws no control): here, with one."""
    from tests.test_page_links import test_every_page_reopens_from_a_link_with_its_controls as reopens

    reopens("checkpoints")
