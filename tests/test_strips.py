"""Vector strips a student can read: a few labelled dimensions with their numbers, or all as colours."""
import numpy as np

from viz.steps import STRIP_DIMS, strip_dims, strip_note, vector_strip


def vectors(d: int = 384) -> np.ndarray:
    rng = np.random.default_rng(0)
    rows = rng.normal(0, 0.1, (3, d))                                   # (rows, d)
    if d > 300:
        rows[1, [5, 300]] = [4.0, -6.0]                                 # two dimensions stand out
    return rows


def test_the_largest_dimensions_are_shown_in_index_order():
    dims = strip_dims(vectors(), "largest")
    assert len(dims) == STRIP_DIMS and {5, 300} <= set(dims) and list(dims) == sorted(dims)
    assert list(strip_dims(vectors(), "first")) == list(range(STRIP_DIMS))
    assert len(strip_dims(vectors(), "all")) == 384
    assert len(strip_dims(vectors(16), "largest")) == 16                # fewer than asked: all of them


def test_a_few_dimensions_get_labelled_columns_with_their_numbers():
    rows = vectors()
    dims = strip_dims(rows, "largest")
    fig = vector_strip(rows, ["a", "b", "sum"], "strip", dims=dims)
    heatmap = fig.data[0]
    assert list(heatmap.x) == [str(i) for i in dims]                    # each column named by its dimension
    assert heatmap.text[1][list(dims).index(300)] == "-6.00"            # the number is written in its cell
    assert "24 of 384 shown" in fig.layout.xaxis.title.text
    assert "24 with the largest values" in strip_note(dims, 384)


def test_all_dimensions_are_a_colour_strip_without_numbers():
    fig = vector_strip(vectors(), ["a", "b", "sum"], "strip")
    assert fig.data[0].text is None and fig.layout.xaxis.title.text == "dimension"
    assert "all of them" in strip_note(range(384), 384)
