"""Getting a model from the Hub, proven against a fake Hub on 127.0.0.1 (tests/fake_hub.py).

huggingface_hub 2.4.0 talks to it as to the real one (HF_ENDPOINT); the cache is a temporary
folder; any connection that is not to the fake Hub fails the test. What a person sees:
the family, size and memory before anything is written; a progress that ends at the total;
pickle-only, missing and gated repos refused with what to do; a cut download that offers
nothing half-usable and finishes on retry without fetching finished files again; and the
downloaded model (or one revision of it) in the picker, loading and tracing.
"""
from __future__ import annotations

import socket

import numpy as np
import pytest

pytest.importorskip("transformers")

from fake_hub import FakeHub, use_fake_hub  # noqa: E402
from hf_tiny import SENTENCES, hf_model, save_checkpoint, tokenizer_for  # noqa: E402
from huggingface_hub import constants  # noqa: E402

from models import load_model  # noqa: E402
from models.hub_cache import available_hf_models, cache_dir  # noqa: E402
from models.hub_download import (BUDGET_ENV, DownloadError, download, download_model, downloads_allowed,  # noqa: E402
                                 plan_download)

REPO = "tiny-org/tiny-gpt2"
WANTED = ("config.json", "model.safetensors", "tokenizer.json")
CHUNK = 64 * 1024   # the Hub client reads 10 MB at a time; the tiny weights (0.7 MB) get several chunks too


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """Two tiny GPT-2 checkpoints (main and a training step), as files, plus the folder of main."""
    built = {}
    for name, seed in (("main", 0), ("step", 1)):
        folder = save_checkpoint(hf_model("gpt2", seed=seed), tokenizer_for("gpt2"), tmp_path_factory.mktemp(name))
        built[name] = {p.name: p.read_bytes() for p in folder.iterdir()}
        built[name + "_folder"] = folder
    folder = save_checkpoint(hf_model("gpt2", seed=0), tokenizer_for("gpt2"), tmp_path_factory.mktemp("shards"),
                             max_shard_size="300KB")     # main's weights in shards with an index
    built["sharded"] = {p.name: p.read_bytes() for p in folder.iterdir()}
    return built


@pytest.fixture
def hub(tmp_path, monkeypatch, checkpoints):
    main, step = dict(checkpoints["main"]), dict(checkpoints["step"])
    with FakeHub() as hub:
        hub.add(REPO, main)
        hub.add_revision(REPO, "step1000", step)
        pickled = {k: v for k, v in main.items() if k != "model.safetensors"}
        pickled["pytorch_model.bin"] = b"\x80\x04not really a pickle"
        hub.add("old-org/pickled-gpt2", pickled)
        hub.add("gated-org/gated-gpt2", main, gated=True, tokens=("hf_good",))
        hub.add("big-org/sharded-gpt2", checkpoints["sharded"])
        mbart = dict(main, **{"config.json": b'{"model_type": "mbart", "d_model": 64}'})
        hub.add("other-org/tiny-mbart", mbart, parameters={"F32": 123_456})
        use_fake_hub(hub, monkeypatch, tmp_path, chunk=CHUNK)
        yield hub


def written(hub_cache) -> list[str]:
    return sorted(str(p.relative_to(hub_cache)) for p in hub_cache.rglob("*")) if hub_cache.exists() else []


def test_the_plan_tells_family_parameters_size_and_memory_before_writing(hub, checkpoints):
    plan = plan_download(REPO)
    files = checkpoints["main"]
    assert plan.problem is None
    assert plan.family == "gpt2" and plan.commit == hub.repos[REPO].refs["main"]
    assert plan.n_parameters == hf_model("gpt2").num_parameters()       # what the core will hold
    assert [f.name for f in plan.files] == ["tokenizer.json", "model.safetensors", "config.json"]  # config last
    assert plan.new_bytes == sum(len(files[name]) for name in WANTED)
    assert plan.memory_bytes < plan.memory_limit
    text = "\n".join(plan.summary())
    assert f"Download: {plan.new_bytes / 1e6:,.1f} MB, 3 files" in text and "gpt2" in text and " fits " in text
    assert written(cache_dir()) == []                                       # nothing written yet
    assert hub.gets("model.safetensors") == 0 and hub.gets("tokenizer.json") == 0


def test_download_reports_progress_and_joins_the_picker(hub, checkpoints):
    seen = []
    plan = plan_download(REPO)
    folder = download(plan, lambda done, total, name: seen.append((done, total, name)))
    dones = [done for done, _, _ in seen]
    assert dones == sorted(dones) and dones[0] == 0 and dones[-1] == plan.total_bytes
    assert {total for _, total, _ in seen} == {plan.total_bytes}
    assert {name for _, _, name in seen} == set(WANTED)
    weights = [done for done, _, name in seen if name == "model.safetensors"]
    assert len(set(weights)) > 3                                 # the bar moves while the weights arrive
    assert sorted(p.name for p in folder.iterdir()) == list(WANTED)        # no generation_config, no pickle
    assert hub.gets("pytorch_model.bin") == 0 and hub.gets("generation_config.json") == 0
    assert available_hf_models() == [REPO]

    ours, reference = load_model(REPO), load_model(str(checkpoints["main_folder"]))
    text = SENTENCES["emoji_cjk"]
    np.testing.assert_allclose(ours.trace(text).logits, reference.trace(text).logits, atol=1e-6)


def test_a_revision_downloads_and_loads_by_both_spellings(hub, checkpoints):
    assert download_model(REPO, revision="step1000") == f"{REPO}@step1000"
    assert download_model(f"{REPO}@main") == REPO
    text = SENTENCES["plain"]
    step = load_model(REPO, revision="step1000")
    assert step.name == f"{REPO}@step1000"
    np.testing.assert_array_equal(load_model(f"{REPO}@step1000").trace(text).logits, step.trace(text).logits)
    main = load_model(REPO).trace(text).logits
    assert not np.allclose(step.trace(text).logits, main)                      # another training step
    commit = hub.repos[REPO].refs["main"]
    np.testing.assert_array_equal(load_model(REPO, revision=commit).trace(text).logits, main)   # a commit hash
    with pytest.raises(ValueError, match="not in the local Hugging Face cache.*Get a model"):
        load_model(f"{REPO}@step2000")


def test_a_pickle_only_repo_is_refused_before_anything_is_fetched(hub):
    plan = plan_download("old-org/pickled-gpt2")
    assert "pickle" in plan.problem and "pytorch_model.bin" in plan.problem
    with pytest.raises(DownloadError, match="pickle"):
        download(plan)
    assert hub.gets("pytorch_model.bin") == 0 and written(cache_dir()) == []


def test_a_sharded_checkpoint_comes_with_its_index_and_every_shard(hub, checkpoints):
    plan = plan_download("big-org/sharded-gpt2")
    shards = sorted(name for name in checkpoints["sharded"] if name.startswith("model-"))
    assert len(shards) > 1
    assert [f.name for f in plan.files] == ["tokenizer.json", "model.safetensors.index.json", *shards, "config.json"]
    download(plan)
    text = SENTENCES["plain"]
    np.testing.assert_allclose(load_model("big-org/sharded-gpt2").trace(text).logits,
                               load_model(str(checkpoints["main_folder"])).trace(text).logits, atol=1e-6)


def test_a_family_the_core_does_not_implement_is_refused_with_the_hubs_count(hub):
    plan = plan_download("other-org/tiny-mbart")
    assert plan.family == "mbart" and "not supported" in plan.problem
    assert plan.n_parameters == 123_456                           # the Hub's safetensors metadata
    assert any("0.1M parameters" in line for line in plan.summary())
    assert written(cache_dir()) == []


def test_a_missing_repo_or_revision_says_what_to_check(hub):
    with pytest.raises(DownloadError, match="no model 'nobody/nothing'.*check the spelling"):
        plan_download("nobody/nothing")
    with pytest.raises(DownloadError, match="no revision 'step9'.*branches and tags"):
        plan_download(REPO, revision="step9")
    with pytest.raises(DownloadError, match="not a Hub model id"):
        plan_download("../../etc/passwd")


def test_a_gated_repo_needs_a_token_with_access(hub, monkeypatch):
    with pytest.raises(DownloadError, match="gated model: accept its conditions.*HF_TOKEN"):
        plan_download("gated-org/gated-gpt2")
    monkeypatch.setenv("HF_TOKEN", "hf_other")
    with pytest.raises(DownloadError, match="token in HF_TOKEN has no access"):
        plan_download("gated-org/gated-gpt2")
    monkeypatch.setenv("HF_TOKEN", "hf_good")                                 # HF_TOKEN is honoured
    plan = plan_download("gated-org/gated-gpt2")
    assert plan.gated and any("Gated" in line for line in plan.summary())
    download(plan)
    assert available_hf_models() == ["gated-org/gated-gpt2"]


def test_no_network_says_so(hub, monkeypatch):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(DownloadError, match="Could not reach the Hub.*network"):
        plan_download(REPO)


def test_a_cut_download_offers_nothing_and_resumes_on_retry(hub):
    plan = plan_download(REPO)
    hub.cut, hub.after_cut = "model.safetensors", "down"      # half the weights, then the network is gone
    with pytest.raises(DownloadError, match="press Download again to resume"):
        download(plan)
    assert available_hf_models() == []
    with pytest.raises(ValueError):
        load_model(REPO)
    snapshots = cache_dir() / "models--tiny-org--tiny-gpt2" / "snapshots"
    assert not any(snapshots.glob("*/config.json")) and not any(snapshots.glob("*/model.safetensors"))

    hub.restore()
    folder = download(plan_download(REPO))
    assert sorted(p.name for p in folder.iterdir()) == list(WANTED)
    assert hub.gets("tokenizer.json") == 1                      # finished before the cut: not fetched again
    assert available_hf_models() == [REPO]
    assert load_model(REPO).trace(SENTENCES["plain"]).logits.shape[1] == 320


def test_a_dropped_connection_resumes_where_it_stopped(hub, checkpoints):
    hub.cut, hub.after_cut = "model.safetensors", "serve"
    download(plan_download(REPO))
    received = len(checkpoints["main"]["model.safetensors"]) // 2 // CHUNK * CHUNK   # whole chunks kept
    assert hub.ranges == [("model.safetensors", received)]      # the rest was asked for, not the whole file
    assert available_hf_models() == [REPO]


def test_the_disk_budget_and_the_size_limit_refuse_before_writing(hub, monkeypatch):
    monkeypatch.setenv(BUDGET_ENV, "0")
    plan = plan_download(REPO)
    assert BUDGET_ENV in plan.problem and "Not enough room" in plan.problem
    with pytest.raises(DownloadError, match="Not enough room"):
        download(plan)
    monkeypatch.delenv(BUDGET_ENV)
    monkeypatch.setenv("ATTENTION_EXPLORER_MAX_MODEL_BYTES", "1000")
    plan = plan_download(REPO)
    assert "too large for this server" in plan.problem
    assert any("does NOT fit" in line for line in plan.summary())
    assert written(cache_dir()) == [] and hub.gets("model.safetensors") == 0


def test_downloads_are_on_for_a_personal_run_only_unless_the_operator_says(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("ATTENTION_EXPLORER_ALLOW_DOWNLOADS", raising=False)
    assert downloads_allowed("localhost")[0] and downloads_allowed("127.0.0.1")[0] and downloads_allowed("::1")[0]
    assert not downloads_allowed("0.0.0.0")[0] and not downloads_allowed("")[0] and not downloads_allowed(None)[0]
    assert "ATTENTION_EXPLORER_ALLOW_DOWNLOADS=1" in downloads_allowed("0.0.0.0")[1]
    monkeypatch.setenv("ATTENTION_EXPLORER_ALLOW_DOWNLOADS", "1")
    assert downloads_allowed("0.0.0.0")[0]
    monkeypatch.setenv("ATTENTION_EXPLORER_ALLOW_DOWNLOADS", "0")
    assert not downloads_allowed("localhost")[0]
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("ATTENTION_EXPLORER_ALLOW_DOWNLOADS", "1")
    assert "HF_HUB_OFFLINE" in downloads_allowed("localhost")[1]


def get_model_script():
    from ui.get_model import get_model_box

    get_model_box()


def test_the_get_a_model_box_checks_downloads_and_puts_the_model_in_the_picker(hub, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ATTENTION_EXPLORER_ALLOW_DOWNLOADS", "1")
    at = AppTest.from_function(get_model_script, default_timeout=60).run()
    at.text_input(key="get_model_repo").input(f"{REPO}@step1000")
    at.button[0].click().run()                                       # Check: metadata only
    summary = " ".join(str(m.value) for m in at.caption)
    assert "gpt2" in summary and "MB, 3 files" in summary and " fits " in summary
    assert written(cache_dir()) == []
    at.button(key="get_model_go").click().run()                      # Download
    assert not at.exception and not at.error
    key = f"{REPO}@step1000"
    assert at.session_state["extra_models"][key] == f"🤗 {REPO} @ step1000"
    assert "is in the model picker" in at.success[0].value
    at.button(key="get_model_open").click().run()
    assert at.session_state["model"] == key
    assert load_model(key).name == key

    at.text_input(key="get_model_repo").input("old-org/pickled-gpt2")
    at.button[0].click().run()
    assert "pickle" in at.error[0].value
    assert "get_model_go" not in [b.key for b in at.button]          # refused: no Download button


def test_the_box_says_why_downloads_are_off_on_a_shared_server(hub, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("ATTENTION_EXPLORER_ALLOW_DOWNLOADS", "0")
    at = AppTest.from_function(get_model_script, default_timeout=60).run()
    assert not at.text_input and "ATTENTION_EXPLORER_ALLOW_DOWNLOADS=0" in at.caption[0].value.replace("\\", "")
