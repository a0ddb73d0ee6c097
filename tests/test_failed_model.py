"""A listed model that fails on a page with something other than a ValueError (a MemoryError while
reading its weights, a torch RuntimeError) falls back to MiniLM once, instead of rerunning the page
forever, and leaves the picker of every session until its files change."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import models.registry as registry

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def crafted(tmp_path, monkeypatch):
    """A models folder listing one model whose loading runs out of memory."""
    root = tmp_path / "listed"
    folder = root / "crafted"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "attention-explorer-lm"}))
    monkeypatch.setenv("ATTENTION_EXPLORER_MODEL_DIRS", str(root))
    monkeypatch.setenv("ATTENTION_EXPLORER_MODELS_DIR", str(tmp_path / "own"))
    loads = []

    def out_of_memory(path, raw=None):
        loads.append(str(path))
        raise MemoryError("cannot allocate 40 GB")
    monkeypatch.setattr(registry, "load_saved", out_of_memory)
    return folder, loads


def picker_options(at: AppTest) -> list[str]:
    return list(at.sidebar.selectbox(key="model").options)


def test_a_model_that_fails_falls_back_once_and_leaves_every_picker(crafted, tmp_path):
    folder, loads = crafted
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["model"] = str(folder)
    at.run(timeout=60)                      # before: the page reran forever and this timed out
    assert not at.exception, at.exception
    assert len(loads) == 1                  # one failure, one fallback: no loop of reruns
    assert at.session_state["model"] == "minilm"
    shown = " ".join(str(m.value) for m in list(at.warning) + list(at.error) + list(at.sidebar.warning))
    assert "removed from the model picker" in shown and "crafted" in shown and str(tmp_path) not in shown
    assert "not open in this session" not in shown
    assert not any("crafted" in o for o in picker_options(at))

    other = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()   # another visitor
    assert not other.exception and not any("crafted" in o for o in picker_options(other))

    config = folder / "config.json"               # the files change (fixed, or replaced): offered again
    config.write_text(config.read_text() + "\n")
    fresh = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert any("crafted" in o for o in picker_options(fresh))
