"""Context at work: the trajectory, movement, lens and comparison math, and its figures.

The lens is the model's input table as a WordVectors (models.vectors.vectors_from_model),
asked for the rows nearest to a token's vector at every layer at once."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from sklearn.decomposition import PCA as SkPCA

from analysis.context import (cosine_per_layer, find_word, layer_movement, project_trajectories, word_around,
                          word_vectors)
from analysis.vectors import placeholder_rows
from models.vectors import vectors_from_model
from viz.context import cosine_figure, lens_figure, movement_figure, trajectory_figure


@pytest.fixture(scope="module")
def lens(minilm):
    return vectors_from_model(minilm)


@pytest.fixture(scope="module")
def fruit(minilm):
    return minilm.trace("Fruit flies like a banana.")


def direct_cosine(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return a @ b / (np.linalg.norm(a) * np.linalg.norm(b))


# -- one projection for every layer ------------------------------------------------------------------------
def test_one_basis_for_all_layers_equals_pca_of_the_stacked_states(fruit):
    hs = fruit.hidden_states                                       # (L+1, T, d)
    paths = project_trajectories([hs], 2)
    stacked = hs.reshape(-1, hs.shape[-1])                         # ((L+1)·T, d)
    reference = SkPCA(n_components=2, svd_solver="full").fit(stacked)
    expected = reference.transform(stacked).reshape(hs.shape[0], hs.shape[1], 2)
    np.testing.assert_allclose(paths.coords[0], expected, atol=2e-3)
    np.testing.assert_allclose(paths.explained, reference.explained_variance_ratio_, rtol=1e-4)
    # the same basis projects every layer: layer 3 alone lands where the joint fit puts it
    np.testing.assert_allclose(paths.pca.project(hs[3]), paths.coords[0][3], atol=1e-4)


def test_two_sentences_share_one_basis(minilm, fruit):
    other = minilm.trace("Time flies like an arrow, they say.")
    paths = project_trajectories([fruit.hidden_states, other.hidden_states], 3)
    assert paths.coords[0].shape == (7, len(fruit.tokens), 3)
    assert paths.coords[1].shape == (7, len(other.tokens), 3)
    stacked = np.concatenate([fruit.hidden_states.reshape(-1, 384), other.hidden_states.reshape(-1, 384)])
    expected = SkPCA(n_components=3, svd_solver="full").fit(stacked).transform(other.hidden_states.reshape(-1, 384))
    np.testing.assert_allclose(paths.coords[1].reshape(-1, 3), expected, atol=2e-3)
    # a word's path placed afterwards lands where the joint fit put its token, shaped like coords
    placed = paths.project_paths([fruit.hidden_states[:, 2], other.hidden_states[:, 2]])
    assert placed.shape == (7, 2, 3)
    np.testing.assert_allclose(placed[:, 0], paths.coords[0][:, 2], atol=1e-4)
    np.testing.assert_allclose(placed[:, 1], paths.coords[1][:, 2], atol=1e-4)


# -- movement per layer ----------------------------------------------------------------------------------------
def test_movement_equals_direct_computation(fruit):
    position = 2                                                   # "flies"
    movement = layer_movement(fruit, position)
    hs = fruit.hidden_states
    for l in range(1, fruit.n_layers + 1):
        row = l - 1
        assert movement["layer"][row] == row          # layers count from 0, as on every page
        assert movement["cosine_to_previous"][row] == pytest.approx(direct_cosine(hs[l, 2], hs[l - 1, 2]), abs=1e-5)
        assert movement["change_norm"][row] == pytest.approx(np.linalg.norm(hs[l, 2] - hs[l - 1, 2]), rel=1e-5)
        assert movement["attn_out_norm"][row] == pytest.approx(np.linalg.norm(fruit.layers[row].attn_out[2]), rel=1e-5)
        assert movement["mlp_out_norm"][row] == pytest.approx(np.linalg.norm(fruit.layers[row].mlp_out[2]), rel=1e-5)
    with pytest.raises(IndexError):
        layer_movement(fruit, len(fruit.tokens))


# -- the vocabulary lens ------------------------------------------------------------------------------------
def test_lens_equals_brute_force_cosine_search(minilm, lens, fruit):
    table = np.asarray(minilm.embedding_table(), np.float64)
    vocabulary = minilm.vocabulary()
    skip = set(placeholder_rows(vocabulary))
    vectors = fruit.hidden_states[:, 2]                            # "flies" at every layer
    ids, sims = lens.nearest_rows(vectors, k=6)
    assert ids.shape == sims.shape == (fruit.n_layers + 1, 6)
    for layer, vector in enumerate(vectors):
        brute = table @ vector / (np.linalg.norm(table, axis=1) * np.linalg.norm(vector))
        brute[list(skip)] = -np.inf
        best = np.argsort(-brute, kind="stable")[:6]
        assert list(ids[layer]) == list(best)
        np.testing.assert_allclose(sims[layer], brute[best], atol=1e-5)
    assert not skip & set(ids.ravel().tolist())                    # no [PAD] or [unused…] answers
    # layer 0 is the embedding itself (plus position): the token is its own nearest entry
    assert lens.nearest_words(vectors[:1], 1)[0][0][0] == "flies"


def test_the_flies_note_on_the_page_matches_the_model(minilm, lens):
    """The page says: in 'fruit flies', insects joins the six nearest from layer 2 on; in 'time flies' never."""
    def nearest_words(text):
        trace = minilm.trace(text)
        vectors = word_vectors(trace.hidden_states, find_word(trace, "flies")[0].positions)
        return [{w for w, _ in row} for row in lens.nearest_words(vectors, 6)]

    fruit_rows, time_rows = nearest_words("Fruit flies like a banana."), nearest_words("Time flies like an arrow.")
    assert [("insects" in row) for row in fruit_rows] == [False, False, True, True, True, True, True]
    assert [("insect" in row) for row in fruit_rows] == [False, False, False, True, True, True, False]
    assert all("insects" not in row and "insect" not in row for row in time_rows)
    assert all("flies" in row for row in fruit_rows + time_rows)
    assert {"flew", "flying", "flown", "airplanes", "soared"} <= set().union(*time_rows)


# -- words, pieces and the comparison ------------------------------------------------------------------------
def test_find_word_returns_every_piece_of_a_split_word(minilm):
    trace = minilm.trace("Unbelievably, the hyperparameters were UNBELIEVABLY good.")
    found = find_word(trace, "unbelievably")
    assert len(found) == 2 and all(m.split for m in found)
    assert found[0].pieces == ("un", "##bel", "##ie", "##va", "##bly")
    assert [trace.tokens[i] for i in found[1].positions] == list(found[1].pieces)
    assert find_word(trace, "hyperparameters")[0].pieces == ("hyper", "##para", "##meter", "##s")
    assert find_word(trace, "believe") == []                       # whole words only
    assert find_word(trace, "   ") == []
    assert find_word(trace, "the")[0].positions == (find_word(trace, "the")[0].positions[0],)


def test_word_vectors_average_or_pick_a_piece(minilm):
    trace = minilm.trace("Snowboarding is fun.")
    match = find_word(trace, "snowboarding")[0]
    assert match.pieces == ("snow", "##boarding")
    hs = trace.hidden_states
    np.testing.assert_allclose(word_vectors(hs, match.positions), hs[:, list(match.positions)].mean(axis=1), rtol=1e-6)
    np.testing.assert_array_equal(word_vectors(hs, match.positions, piece=1), hs[:, match.positions[1]])
    with pytest.raises(ValueError):
        word_vectors(hs, [])


def test_cosine_per_layer_equals_direct_computation(minilm):
    river, money = minilm.trace("I sat on the bank of the river."), minilm.trace("I deposited money at the bank.")
    a = word_vectors(river.hidden_states, find_word(river, "bank")[0].positions)
    b = word_vectors(money.hidden_states, find_word(money, "bank")[0].positions)
    cosines = cosine_per_layer(a, b)
    assert cosines.shape == (river.n_layers + 1,)
    for layer in range(river.n_layers + 1):
        assert cosines[layer] == pytest.approx(direct_cosine(a[layer], b[layer]), abs=1e-5)
    assert cosines[0] > 0.95 and cosines[-1] < cosines[0]          # context pulls the two banks apart
    with pytest.raises(ValueError):
        cosine_per_layer(a, b[:3])


# -- figures ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dims", [2, 3])
def test_trajectory_figure_is_valid_with_one_frame_per_layer(fruit, dims):
    coords = project_trajectories([fruit.hidden_states], dims).coords[0][:, 1:4]   # (L+1, 3, dims)
    labels = ["the", "<b>bold</b>", "the"]                       # a repeated token and markup
    fig = trajectory_figure(coords, labels, explained=[0.2, 0.1, 0.05])
    go.Figure(fig.to_dict())                                       # passes Plotly's full validation
    n_states = fruit.n_layers + 1
    assert [f.name for f in fig.frames] == [str(l) for l in range(n_states)]
    paths = [t for t in fig.data if t.type in ("scatter", "scatter3d") and t.showlegend is not False]
    assert len(paths) == 3                                         # the two "the" stay two paths
    assert len(paths[0].x) == n_states
    np.testing.assert_allclose(paths[1].x, coords[:, 1, 0])
    names = [t.name for t in paths]
    assert "&lt;b&gt;bold&lt;/b&gt;" in names and not any("<b>" in n for n in names)
    numbers = list(paths[0].text[:-1])          # where each point stands, wherever it fits without covering a label
    expected = ["emb"] + [str(l) for l in range(n_states - 2)]    # layers count from 0: point k is after layer k
    assert all(t in ("", expected[i]) for i, t in enumerate(numbers)) and (dims == 3 or any(numbers))
    for t in paths:
        assert "bold" not in t.hovertemplate and "the" not in t.hovertemplate
    # frame 2 shows layers 0..2 only; the axes are fixed so nothing rescales between frames
    frame_paths = [t for t in fig.frames[2].data if t.type in ("scatter", "scatter3d")]
    assert len(frame_paths[0].x) == 3
    assert fig.layout.sliders[0].steps[-1].label == f"after layer {n_states - 2}"   # layers count from 0
    if dims == 3:
        cones = [t for t in fig.data if t.type == "cone"]
        assert len(cones) == 1 and len(cones[0].x) == 3 * (n_states - 1)   # a cone per step
        np.testing.assert_allclose(cones[0].x[:3], coords[1, :, 0])           # tips at layer 1
        assert fig.layout.scene.xaxis.range is not None
    else:
        starts = [t for t in fig.data if t.showlegend is False]      # layer 0 dots, one trace
        assert len(starts) == 1 and len(starts[0].x) == 3
        assert fig.layout.xaxis.range is not None and fig.layout.yaxis.range is not None
    with pytest.raises(ValueError):
        trajectory_figure(coords, labels[:2])


def test_lens_movement_and_cosine_figures(fruit, lens):
    rows = lens.nearest_words(fruit.hidden_states[:, 2], 5)
    fig = lens_figure(rows, title="<i>x</i>")
    go.Figure(fig.to_dict())
    assert fig.layout.title.text == "&lt;i&gt;x&lt;/i&gt;"
    assert np.asarray(fig.data[0].z).shape == (fruit.n_layers + 1, 5)
    assert fig.data[0].text[0][0] == "flies"
    movement_fig = movement_figure(layer_movement(fruit, 2))
    go.Figure(movement_fig.to_dict())
    assert [t.type for t in movement_fig.data] == ["bar", "bar", "bar", "scatter"]
    cosine_fig = cosine_figure(np.array([1.0, 0.9, 0.8]))
    assert list(cosine_fig.data[0].y) == [1.0, 0.9, 0.8]


def test_word_around_finds_the_pieces_of_the_word_a_token_belongs_to(minilm):
    trace = minilm.trace("Unbelievably good hyperparameters.")
    assert trace.tokens[1:6] == ["un", "##bel", "##ie", "##va", "##bly"]
    for position in range(1, 6):
        assert word_around(trace, position).positions == (1, 2, 3, 4, 5)
    assert word_around(trace, 6).pieces == ("good",) and not word_around(trace, 6).split
    assert word_around(trace, 0).pieces == ("[CLS]",)
    assert word_around(trace, 7).pieces == ("hyper", "##para", "##meter", "##s")
