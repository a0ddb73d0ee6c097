"""Every page of the app runs under AppTest, on plain and hostile sentences, without exception."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ui.frame import UNEXPECTED

from ui.sections import SECTIONS  # plain data, no Streamlit calls

ROOT = Path(__file__).resolve().parents[1]


def frame_errors(at) -> list[str]:
    """Errors that app.py's frame caught from a page (shown as a short message, not a traceback)."""
    return [e.value for e in at.error if e.value.startswith(UNEXPECTED)]

PAGES = [path for entries in SECTIONS.values() for path, *_ in entries]
# Pages whose input is not the sidebar's sentence (word fields, a training corpus, letter
# strings): they must survive every case, but owe no message about the sentence.
OWN_INPUT = {"pages/embeddings.py", "pages/train.py", "pages/train_results.py", "pages/seq2seq.py",
             "pages/context_pair.py", "pages/sentence_meaning.py", "pages/patching.py", "pages/corpus_stats.py",
             "pages/induction.py", "pages/checkpoints.py"}
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
    assert not at.exception and not frame_errors(at)
    assert at.sidebar.text_area(key="sentence_box").value


def test_home_links_every_page():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception and not frame_errors(at)
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
    from models.saved import save_model
    from training.bpe import train_bpe
    from training.corpus import CorpusConfig, generate_corpus
    from training.lm import lm_config, new_model

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


def _broken_page_script():
    from ui.frame import run_page

    class BrokenPage:
        title = "broken"

        def run(self):
            raise RuntimeError("boom in /srv/secret/path.py")

    run_page(BrokenPage())


@pytest.mark.parametrize("picked", ["minilm", "/models/crafted"])
def test_a_failing_page_shows_a_short_message_and_drops_the_model(picked):
    """No traceback with server paths reaches a visitor; a picked model that breaks a page
    leaves the picker (MiniLM's own failures are reported, MiniLM stays)."""
    at = AppTest.from_function(_broken_page_script)
    at.session_state["extra_models"] = {"/models/crafted": "crafted"}
    at.session_state["model"] = picked
    at.run()
    assert not at.exception
    shown = " ".join(e.value for e in list(at.error) + list(at.warning))
    assert "/srv/secret" not in shown and "boom" not in shown
    if picked == "minilm":
        assert frame_errors(at) and "RuntimeError" in frame_errors(at)[0]
    else:
        assert "removed from the model picker" in shown
        assert "/models/crafted" not in at.session_state["extra_models"]


def test_the_sentence_box_never_shows_a_text_the_pages_have_not_run():
    """Issue 26: typing a new sentence without Run and switching pages left the box showing the new text
    while the page analysed the old. Leaving the box (a click on a menu or a page) runs what it holds."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.sidebar.text_area(key="sentence_box").input("The cat sat on the mat.").run()   # the box lost focus
    assert not at.exception
    assert at.session_state["sentence"] == "The cat sat on the mat."
    assert "mat" in " ".join(str(c.value) for c in at.caption)      # Home shows the new tokens
