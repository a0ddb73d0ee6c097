"""The training pages under AppTest: a seconds-long run, stop-proof results, bad input, opening saved models."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def page(name: str, sentence: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120)
    if sentence is not None:
        at.session_state["sentence"] = sentence
    return at


def messages(at) -> list[str]:
    return [str(m.value) for m in list(at.info) + list(at.warning) + list(at.error) + list(at.success)]


def tiny_settings(at) -> None:
    at.number_input(key="train_steps").set_value(20)
    at.number_input(key="train_context").set_value(16)
    at.selectbox(key="train_d_model").set_value(32)
    at.number_input(key="train_layers").set_value(1)


@pytest.fixture(scope="module")
def trained_session(tmp_path_factory):
    """One short training run through the page; the session state is reused by the other pages."""
    # The models folder is this module's own, and set back afterwards: a trained model left in the
    # picker would change what later tests in the same process see (other pages list every model).
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATTENTION_EXPLORER_MODELS_DIR", str(tmp_path_factory.mktemp("models")))
        at = page("train.py", "the king rules his kingdom .").run()
        assert not at.exception
        tiny_settings(at)
        at.button(key="train_start").click().run()
        assert not at.exception, at.exception
        yield at


def test_training_run_saves_and_registers_both_models(trained_session):
    at = trained_session
    assert any("Finished 20 steps" in m for m in messages(at))
    extra = at.session_state["extra_models"]
    trained = [k for k in extra if not k.endswith("-untrained")]
    assert len(trained) == 1 and trained[0] + "-untrained" in extra
    folder = Path(trained[0])
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "tokenizer.json"]
    run = at.session_state["train_run"]
    assert run.status == "done" and [p.step for p in run.history][-1] == 20


def test_try_page_predicts_generates_and_compares(trained_session):
    at = page("train_results.py")
    at.session_state["extra_models"] = trained_session.session_state["extra_models"]
    at.run()
    assert not at.exception, at.exception
    headers = [h.value for h in at.header]
    assert "Next token" in headers and "Before and after: attention" in headers
    assert "man : king :: woman : ?" in headers
    assert at.code and "the queen rules" in at.code[0].value
    at.text_input(key="train_results_prefix").set_value("").run()
    assert not at.exception and any("empty" in m for m in messages(at))
    at.text_input(key="train_results_prefix").set_value("<b>bold</b> 🍌 " * 30).run()
    assert not at.exception and any("<unk>" in m for m in messages(at))


def test_try_page_scrubs_the_probe_through_training(trained_session):
    """Heads forming: the probe sentence's attention and the word map at any kept training step."""
    run = trained_session.session_state["train_run"]
    at = page("train_results.py")
    at.session_state["extra_models"] = trained_session.session_state["extra_models"]
    at.session_state["train_run"] = run
    at.run()
    assert not at.exception, at.exception
    assert "Heads forming during training" in [h.value for h in at.header]
    slider = at.select_slider(key="train_results_probe_step")
    assert run.probe.steps[0] == 0 and slider.value == run.probe.steps[-1] == 20
    charts = len(at.get("plotly_chart"))
    slider.set_value(0).run()
    assert not at.exception and len(at.get("plotly_chart")) == charts
    assert run.probe.probe.text in [t.value for t in at.text]            # shown literally, never as markdown
    assert any("snapshots kept" in str(c.value) and "MB" in str(c.value) for c in at.caption)


def test_try_page_with_a_stopped_run_and_with_another_model(trained_session):
    import copy

    run = copy.copy(trained_session.session_state["train_run"])
    run.probe = copy.copy(run.probe)
    run.probe.snapshots = run.probe.snapshots[:1]              # stopped before its first snapshot
    run.status, run.message = "stopped", "Stopped at step 0."
    at = page("train_results.py")
    at.session_state["extra_models"] = trained_session.session_state["extra_models"]
    at.session_state["train_run"] = run
    at.run()
    assert not at.exception and any("Only the random start was recorded" in m for m in messages(at))
    run.folder = "/somewhere/else"                             # the model shown is not the latest run
    at.run()
    assert not at.exception and any("latest run only" in m for m in messages(at))


def test_the_time_promised_is_the_estimate_shown(trained_session):
    """No fixed promise ('about a minute'): the page says what the estimate for these settings says,
    and a finished run reports its measured time next to it."""
    at = page("train.py").run()
    estimate = next(m.value for m in at.metric if m.label == "Estimated time")
    assert any(f"about **{estimate}**" in m for m in at.info.values)
    assert not any("about a minute" in str(m.value) for m in at.markdown)
    finished = next(m for m in messages(trained_session) if "Finished 20 steps" in m)
    assert "estimated before the start" in finished


def test_try_page_opens_a_saved_model_picked_in_another_session(trained_session):
    """Issue 26: a trained model picked in the sidebar of a fresh session (no extra_models) was
    "No trained model in this session yet". A saved model is a model: the page opens on it."""
    folder = next(k for k in trained_session.session_state["extra_models"] if not k.endswith("-untrained"))
    at = page("train_results.py")
    at.session_state["model"] = folder
    at.run()
    assert not at.exception, at.exception
    assert at.selectbox(key="train_results_model").value == folder
    assert "Next token" in [h.value for h in at.header]


def test_visitors_open_models_from_a_list_never_a_typed_path(trained_session):
    """No text box reaches the file system on a served app: saved models are in the picker's list."""
    at = page("train_results.py").run()
    assert not at.exception
    assert not [t for t in at.text_input if t.key == "open_model_path"]       # no free path for visitors
    folder = next(k for k in trained_session.session_state["extra_models"] if not k.endswith("-untrained"))
    frame = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()  # a fresh session
    picker = frame.sidebar.selectbox(key="model")
    assert folder in picker.options or any(Path(folder).name in o for o in picker.options)
    linked = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    linked.query_params["model"] = "/etc"                                        # a typed path in a link
    linked.run()
    assert not linked.exception and linked.session_state["model"] == "minilm"
    assert any("not open in this session" in w.value for w in linked.sidebar.warning)


def test_a_personal_run_may_open_a_typed_folder_with_clear_messages(trained_session, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_EXPLORER_ALLOW_PATHS", "1")
    at = page("train_results.py").run()
    at.text_input(key="open_model_path").set_value(str(tmp_path / "nothing"))
    at.button(key="open_model_path_go").click().run()
    assert not at.exception and any("Could not load" in m for m in at.error.values)


@pytest.mark.parametrize("field,value,expected", [
    ("train_heads", 5, "not divisible"),
    ("train_context", 0, "at least 1 token"),
    ("train_context", 64, "too small"),
])
def test_impossible_settings_are_refused_before_training(field, value, expected):
    at = page("train.py").run()
    if expected == "too small":
        at.radio(key="train_source").set_value("Paste text").run()
        at.text_area(key="train_paste").set_value("the king rules his kingdom .\n" * 20).run()
        at.slider(key="train_vocab").set_value(48)
    at.number_input(key=field).set_value(value).run()
    assert not at.exception
    assert any(expected in e for e in at.error.values)
    assert at.button(key="train_start").disabled


@pytest.mark.parametrize("settings,expected", [
    ({"train_batch": 256, "train_context": 256, "train_layers": 8}, "GB of memory"),
    ({"train_steps": 20_000, "train_layers": 8, "train_batch": 128}, "minutes; this server allows"),
])
def test_runaway_settings_are_refused_with_their_cost(settings, expected):
    """The attack: maximum settings once meant ~200 s a step and 18 GB; the page estimates the
    run before it starts and refuses what will not fit, with the figures."""
    at = page("train.py").run()
    at.selectbox(key="train_d_model").set_value(256)
    for key, value in settings.items():
        at.number_input(key=key).set_value(value)
    at.run()
    assert not at.exception
    assert any(expected in e for e in at.error.values), at.error.values
    assert at.button(key="train_start").disabled
    assert any(m.label == "Estimated time" for m in at.metric)


def test_vocabulary_smaller_than_alphabet_and_bad_text():
    at = page("train.py").run()
    at.radio(key="train_source").set_value("Paste text").run()
    assert any("empty" in m for m in messages(at))
    at.text_area(key="train_paste").set_value("ÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞßàáâãäåæçèéêëìíîïðñòóôõöøùú\n" * 3).run()
    at.slider(key="train_vocab").set_value(48).run()
    assert not at.exception and any("smaller than the alphabet" in e for e in at.error.values)


def test_upload_checks():
    from ui.training import MAX_UPLOAD_BYTES, read_upload
    assert read_upload(b"")[1].startswith("The file is empty")
    assert "binary" in read_upload(b"\x89PNG\x00\x00\x01")[1]
    assert "not UTF-8" in read_upload("caf\xe9".encode("latin-1"))[1]
    assert "limit" in read_upload(b"a" * (MAX_UPLOAD_BYTES + 1))[1]
    assert read_upload("the king\n".encode()) == ("the king\n", None)


@pytest.mark.parametrize("sentence", ["", "the", "<script>alert(1)</script> **markdown**", "the king " * 300])
def test_one_step_page_survives_any_sentence(sentence):
    at = page("train_step.py", sentence).run()
    assert not at.exception, at.exception
    if len(sentence.split()) < 2:
        assert at.info
    if len(sentence) > 1000:
        assert any("tokens" in w for w in at.warning.values)


def test_one_step_page_shows_loss_and_gradients(trained_session):
    at = page("train_step.py", "the queen rules her kingdom .")
    at.session_state["train_run"] = trained_session.session_state["train_run"]
    at.run()
    assert not at.exception
    assert any("loss = −ln p(target)" in c.value for c in at.code)
    assert len(at.metric) == 3


def test_seq2seq_page_trains_briefly_and_shows_attention():
    at = page("seq2seq.py").run()
    assert not at.exception and at.info
    at.slider(key="seq2seq_max_len").set_value(4)
    at.selectbox(key="seq2seq_d_model").set_value(16)
    at.number_input(key="seq2seq_layers").set_value(1)
    at.number_input(key="seq2seq_steps").set_value(20)
    at.button(key="seq2seq_start").click().run()
    assert not at.exception, at.exception
    assert any(s.startswith("Done") for s in at.success.values)
    assert "Cross-attention: which input letter each output step reads" in [h.value for h in at.subheader]
    # heads forming: a training-step slider over the run's probe, from the random start to the end
    slider = at.select_slider(key="seq2seq_probe_step")
    run = at.session_state["seq2seq_run"]
    assert run["probe"].steps[0] == 0 and run["probe"].steps[-1] == 20 and slider.value == 20
    slider.set_value(0).run()
    assert not at.exception and at.select_slider(key="seq2seq_probe_step").value == 0
    assert any("anti-diagonal share" in str(c.value) or "probe" in str(c.value) for c in at.caption)
    at.text_input[0].set_value("xyz!").run()
    assert not at.exception and any("only the letters" in m for m in at.info.values)


def test_seq2seq_page_after_a_run_stopped_before_its_first_step():
    from training.reversal import ReversalTask, new_seq2seq, seq2seq_config
    from training.weights import snapshot

    task = ReversalTask(max_len=4)
    config = seq2seq_config(task, 16, 2, 1)
    net = new_seq2seq(config)
    at = page("seq2seq.py")
    at.session_state["seq2seq_run"] = dict(config=config, task=task, initial=snapshot(net), weights=snapshot(net),
                                           history=[], status="Stopped at step 0; the model keeps the weights of "
                                           "that step.", seed=0, estimate_s=1.0, promised_s=1.0, probe=None)
    at.run()
    assert not at.exception, at.exception
    assert any("Stopped at step 0" in m for m in messages(at))
    assert any("No snapshots were kept" in m for m in messages(at))


def test_a_session_deletes_its_own_saved_models_only(trained_session):
    from models.saved import models_dir

    own = dict(trained_session.session_state["own_models"])
    assert len(own) == 2 and all(Path(f).is_dir() for f in own)
    assert [b for b in trained_session.button if b.key and b.key.startswith("delete_")]
    at = page("train.py").run()                            # another session: owns nothing
    at.session_state["own_models"] = {}
    at.run()
    assert not [b for b in at.button if b.key and b.key.startswith("delete_")]
    folder = next(iter(own))
    trained_session.button(key=f"delete_{folder}").click().run()
    assert not trained_session.exception and not Path(folder).exists()
    assert folder not in trained_session.session_state["own_models"]
    assert models_dir().is_dir()


def test_a_full_models_folder_is_said_before_anything_is_written(monkeypatch, tmp_path):
    monkeypatch.setenv("ATTENTION_EXPLORER_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("ATTENTION_EXPLORER_MODELS_MAX_MB", "0")
    at = page("train.py", "the king rules his kingdom .").run()
    tiny_settings(at)
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any("Not saved: the models folder holds" in m for m in messages(at))
    assert list(tmp_path.iterdir()) == []
