"""The embedding page under AppTest (presets, both spaces, projections, bad input) and its figures' geometry."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[1] / "pages" / "embeddings.py")


@pytest.fixture(scope="module")
def glove():
    from models import load_vectors

    return load_vectors("glove-6b-50d")


def run(sentence: str | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if sentence is not None:
        at.session_state["sentence"] = sentence
    return at.run()


def messages(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in (at.error, at.warning, at.info, at.success) for e in kind)


def ask(at: AppTest, a: str, b: str, c: str, expected: str = "") -> AppTest:
    for key, value in zip(("a", "b", "c", "expected"), (a, b, c, expected)):
        at.text_input(key=f"embeddings_{key}").input(value)
    return at.run()


def test_default_analogy_finds_queen_with_figure_and_csv():
    at = run()
    assert not at.exception
    assert "top answer (cosine 0.852)" in messages(at)
    assert at.dataframe[0].value["word"].iloc[0] == "queen"
    assert len(at.get("plotly_chart")) == 2          # analogy picture and projector
    assert len(at.get("download_button")) == 2       # both CSVs


@pytest.mark.parametrize("preset", ["france : paris :: italy : ?", "walk : walked :: swim : ?",
                                    "good : better :: bad : ?"])
def test_presets_run_and_report_the_expected_rank(preset):
    at = run()
    at.selectbox(key="embeddings_preset").set_value(preset).run()
    assert not at.exception
    assert "expected answer" in messages(at)


def test_an_expected_answer_that_is_not_first_gets_its_rank():
    at = ask(run(), "man", "king", "woman", "princess")
    assert not at.exception and "ranks **#6**" in messages(at)


@pytest.mark.parametrize("words,needle", [
    (("man", "king", "wommann", ""), "wommann"),                    # unknown, with suggestions
    (("", "king", "woman", ""), "Fill in a, b and c"),             # empty field
    (("king", "king", "king", ""), "same word"),                   # the same word three times
    (("<b>bold</b>", "**markdown**", "<script>alert(1)</script>", ""), "not in the vocabulary"),
    (("man", "king", "woman", "man"), "input words"),               # expected is an input
    (("😀", "king", "\x00\x07", ""), "not in the vocabulary"),
])
def test_bad_analogy_input_gets_a_message(words, needle):
    at = ask(run(), *words)
    assert not at.exception
    assert needle in messages(at)


def test_minilm_space_and_3d_and_tsne():
    at = run()
    at.radio(key="embeddings_dims").set_value("3-D").run()
    at.radio(key="embeddings_method").set_value("t-SNE").run()
    assert not at.exception and at.slider(key="embeddings_perplexity").value < 12
    at.radio(key="embeddings_space").set_value("minilm-input").run()
    assert not at.exception
    assert "queen" in set(at.dataframe[0].value["word"])


@pytest.mark.parametrize("typed,groups,needle", [
    ("king", [], "at least two"),                                  # one word: PCA needs two
    ("", [], "at least two"),                                      # nothing at all
    ("qqzzyx, king, <b>bold</b>", [], "Not in the vocabulary"),     # unknown words left out
    (" ".join(f"w{i}" for i in range(300)) + " " + " ".join(str(i) for i in range(500)), [], "only the first"),
])
def test_projector_bad_input(typed, groups, needle):
    at = run()
    at.multiselect(key="embeddings_groups").set_value(groups)
    at.text_area(key="embeddings_words").input(typed).run()
    assert not at.exception
    assert needle in messages(at)


def test_projector_with_sentence_tokens_and_tsne_on_few_words():
    at = run("Fruit flies like a banana.")
    at.checkbox(key="embeddings_sentence").check()
    at.multiselect(key="embeddings_groups").set_value([])
    at.text_area(key="embeddings_words").input("apple").run()
    assert not at.exception and "banana" in at.selectbox(key="embeddings_focus").options
    at = run("")
    at.checkbox(key="embeddings_sentence").check().run()
    assert not at.exception and "sentence in the sidebar is empty" in messages(at)
    at.multiselect(key="embeddings_groups").set_value([])
    at.text_area(key="embeddings_words").input("king queen man").run()
    at.radio(key="embeddings_method").set_value("t-SNE").run()
    assert not at.exception and "t-SNE needs at least" in messages(at)


# -- the geometry behind the figures ---------------------------------------------------------------
def test_projector_pca_equals_scikit_learn(glove):
    from sklearn.decomposition import PCA

    from analysis.projection import project

    words = ["king", "queen", "man", "woman", "prince", "princess", "boy", "girl"]
    unit = glove.unit_vectors(words)
    for dims in (2, 3):
        ours = project(unit, dims)
        theirs = PCA(n_components=dims).fit(unit.astype(np.float64))
        np.testing.assert_allclose(ours.coords, theirs.transform(unit.astype(np.float64)), atol=1e-6)
        np.testing.assert_allclose(ours.explained, theirs.explained_variance_ratio_, atol=1e-6)


def test_tsne_perplexity_must_stay_below_the_point_count(glove):
    from analysis.projection import project

    unit = glove.unit_vectors(["king", "queen", "man", "woman", "boy", "girl"])
    assert project(unit, 2, "t-SNE", perplexity=3).coords.shape == (6, 2)
    with pytest.raises(ValueError, match="below the number of points"):
        project(unit, 2, "t-SNE", perplexity=6)
    with pytest.raises(ValueError, match="at least two"):
        project(unit[:1], 2)


@pytest.mark.parametrize("dims", [2, 3])
def test_arrows_start_and_end_at_the_projected_points(glove, dims):
    from analysis.projection import analogy_picture
    from viz.embedding_space import analogy_figure

    pic = analogy_picture(glove, "man", "king", "woman", ["queen", "throne"], "queen", ["boy"], dims)
    a, b, c = pic.point("a"), pic.point("b"), pic.point("c")
    np.testing.assert_allclose(pic.target, c + b - a, atol=1e-9)          # PCA is linear: a parallelogram
    fig = analogy_figure(pic)
    offsets = [t for t in fig.data if t.name == "offset b − a"]
    got = [np.column_stack([t.x, t.y] + ([t.z] if dims == 3 else [])) for t in offsets]
    np.testing.assert_allclose(got[0], np.stack([a, b]))
    np.testing.assert_allclose(got[1], np.stack([c, pic.target]))
    if dims == 2:
        heads = [(ann.ax, ann.ay, ann.x, ann.y) for ann in fig.layout.annotations]
        np.testing.assert_allclose(heads, [[*a, *b], [*c, *pic.target]])
    # the labels are the words, escaped: user text never becomes markup
    labels = {t for tr in fig.data if tr.customdata is not None for t in tr.customdata}
    assert {"man", "king", "woman", "queen"} <= labels


def test_labels_are_escaped():
    from analysis.projection import project
    from viz.embedding_space import projection_figure

    proj = project(np.eye(3, dtype=np.float32), 2)
    fig = projection_figure(proj, ["<b>x</b>", "y", "z"], ["<i>g</i>", "g", "g"])
    assert fig.data[0].text[0] == "&lt;b&gt;x&lt;/b&gt;" and fig.data[0].name == "&lt;i&gt;g&lt;/i&gt;"


def test_every_word_of_the_analogy_is_labelled(glove):
    """Issue 26: the analogy plot left "king" (b) unlabelled: the a → b arrowhead's box sat on b."""
    from analysis.projection import analogy_picture
    from viz.embedding_space import analogy_figure

    fig = analogy_figure(analogy_picture(glove, "man", "king", "woman"))
    written = " ".join(t for trace in fig.data if trace.text for t in trace.text)
    for word in ("man", "king", "woman"):
        assert word in written
