"""Training leaves no junk in the models folder (which every visitor's picker lists): a run that
never trained saves nothing, a stopped run saves one folder, a finished run its weights and its start."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.jobs import job_queue

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def models(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTENTION_EXPLORER_MODELS_DIR", str(tmp_path / "models"))
    return tmp_path / "models"


def train_page(steps: int) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "train.py"), default_timeout=120)
    at.session_state["sentence"] = "the king rules his kingdom ."
    at.run()
    assert not at.exception, at.exception
    at.number_input(key="train_steps").set_value(steps)
    at.number_input(key="train_context").set_value(16)
    at.selectbox(key="train_d_model").set_value(32)
    at.number_input(key="train_layers").set_value(1)
    return at


def saved(models: Path) -> list[str]:
    return sorted(p.name for p in models.iterdir()) if models.is_dir() else []


def test_a_tab_closed_while_its_run_waits_in_the_queue_saves_nothing(models):
    queue = job_queue()
    others = [queue.enter() for _ in range(queue.slots)]     # other people's runs hold every slot
    assert all(queue.try_start(ticket) for ticket in others)
    try:
        at = train_page(steps=20)
        with pytest.raises(RuntimeError, match="timed out"):   # AppTest stops the script: a closed tab
            at.button(key="train_start").click().run(timeout=4)
        assert saved(models) == []
        assert queue.waiting == 0                               # its place in line is freed too
    finally:
        for ticket in others:
            queue.leave(ticket)


@pytest.mark.slow
def test_a_stopped_run_saves_one_folder_with_its_last_good_weights(models):
    at = train_page(steps=20_000)
    with pytest.raises(RuntimeError, match="timed out"):       # Stop (or a closed tab) mid-run
        at.button(key="train_start").click().run(timeout=12)
    folders = saved(models)
    assert len(folders) == 1 and not folders[0].endswith("-untrained") and not folders[0].startswith(".")
    info = json.loads((models / folders[0] / "config.json").read_text())["info"]
    assert info["status"] == "stopped" and 0 < info["steps"] < 20_000
