"""Every page of the app runs under AppTest, on plain and hostile sentences, without exception."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.sections import SECTIONS  # plain data, no Streamlit calls

ROOT = Path(__file__).resolve().parents[1]

PAGES = [path for entries in SECTIONS.values() for path, *_ in entries]
# Pages whose input is not the sidebar's sentence (word fields, a training corpus, letter
# strings): they must survive every case, but owe no message about the sentence.
OWN_INPUT = {"pages/embeddings.py", "pages/train.py", "pages/train_results.py", "pages/seq2seq.py"}
HOSTILE = {
    "empty": "",
    "html": "<script>alert(1)</script> and <b>bold</b> **markdown**",
    "emoji_control": "Fruit 🍌 flies\x07 like\u200b a banana 🪰",
    "long": "The river bank was steep. " * 400,
}


def test_every_listed_page_exists():
    missing = [p for p in PAGES if not (ROOT / p).is_file()]
    assert not missing, f"ui/sections.py lists pages that do not exist: {missing}"


def test_app_frame_runs():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert at.sidebar.text_area(key="sentence_box").value


def test_home_links_every_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    linked = {link.proto.page for link in at.main.get("page_link")}   # each page's URL path
    assert linked == {Path(p).stem for p in PAGES if p != "pages/home.py"}


@pytest.mark.parametrize("page", PAGES)
@pytest.mark.parametrize("case", list(HOSTILE))
def test_page_survives_bad_input(page, case):
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.session_state["sentence"] = HOSTILE[case]
    at.run()
    assert not at.exception, f"{page} raised on {case!r}: {at.exception}"
    if page in OWN_INPUT:
        return
    if case == "empty":
        shown = [m.value for m in list(at.info) + list(at.warning) + list(at.error)]
        assert shown, f"{page} shows no message for an empty sentence"
    if case == "long":
        assert any("512" in str(w.value) or "token" in str(w.value) for w in at.warning), \
            f"{page} gives no truncation notice"


@pytest.fixture(scope="module")
def causal_model(tmp_path_factory):
    """A small decoder saved as the train page saves it (sinusoidal positions, d_model 48, 3 heads)."""
    from training.corpus import CorpusConfig, generate_corpus
    from training.lm import lm_config, new_model
    from training.bpe import train_bpe
    from models.saved import save_model

    bpe = train_bpe(generate_corpus(CorpusConfig(n_sentences=300)), 120)
    net = new_model(lm_config(bpe.vocab_size, context=24, d_model=48, n_heads=3, n_layers=2,
                              positional="sinusoidal"), seed=1)
    return str(save_model(net, bpe.to_json(), tmp_path_factory.mktemp("models"), "tiny", info={"label": "tiny"}))


@pytest.mark.parametrize("page", [p for p in PAGES if p not in OWN_INPUT])
def test_page_runs_with_a_model_trained_in_the_app(page, causal_model):
    """Picking a trained decoder in the sidebar: every page adapts to its sizes (no MiniLM numbers assumed)."""
    at = AppTest.from_file(str(ROOT / page), default_timeout=120)
    at.session_state["extra_models"] = {causal_model: "tiny"}
    at.session_state["model"] = causal_model
    at.session_state["sentence"] = "The queen rules her kingdom, and the king rules his. " * 3
    at.run()
    assert not at.exception, f"{page} raised with a trained model: {at.exception}"
