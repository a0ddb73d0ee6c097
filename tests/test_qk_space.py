"""Query–key space: AttentionViz's normalisation changes no attention weight, shares the centre and the
average length of queries and keys; the joint projection, the lines, the figure and the page."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.qk_space import head_qk, normalise, qk_space, strongest_links, weights_from
from page_helpers import charts, run_page, texts
from viz.qk_space import qk_figure

SENTENCE = "The unbelievably tired cat sat on the warm mat."


def check_normalised(trace, layer: int, head: int) -> None:
    q, k = head_qk(trace, layer, head)
    space = qk_space(q, k)
    allowed = np.isfinite(trace.layers[layer].scores[head])
    # every softmax weight recomputed from the moved q and k equals the model's own
    np.testing.assert_allclose(weights_from(space.queries, space.keys, allowed),
                               trace.layers[layer].weights[head], atol=1e-5)
    # the two clouds share a centre and an average length
    np.testing.assert_allclose(space.queries.mean(axis=0), space.keys.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(space.queries, axis=1).mean(),
                               np.linalg.norm(space.keys, axis=1).mean(), rtol=1e-9)
    assert space.query_xy.shape == space.key_xy.shape == (len(trace.tokens), 2)


@pytest.mark.parametrize("layer, head", [(0, 0), (2, 5), (5, 11)])
def test_minilm_normalisation_keeps_every_weight(minilm, layer, head):
    check_normalised(minilm.trace(SENTENCE), layer, head)


def test_the_page_and_the_scores_use_the_same_q_and_k(minilm):
    trace = minilm.trace(SENTENCE)
    q, k = head_qk(trace, 1, 3)
    np.testing.assert_allclose(weights_from(q, k), trace.layers[1].weights[3], atol=1e-5)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_causal_rotary_and_grouped_heads_keep_every_weight(tiny_folders, family):
    """GPT-2 (causal mask) and Llama (rotary q, k; grouped-query heads read their kv head)."""
    from models import load_model

    trace = load_model(tiny_folders[family]).trace("Time flies like an arrow; fruit flies like a banana.")
    for head in range(trace.n_heads):
        check_normalised(trace, trace.n_layers - 1, head)
    if family == "llama":
        assert trace.n_kv_heads < trace.n_heads


def test_normalisation_on_random_clouds_far_apart():
    rng = np.random.default_rng(1)
    q = rng.normal(3.0, 1.0, (20, 8))
    k = rng.normal(-5.0, 4.0, (20, 8))
    queries, keys, shift, scale = normalise(q, k)
    np.testing.assert_allclose(queries.mean(0), keys.mean(0), atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(queries, axis=1).mean(), np.linalg.norm(keys, axis=1).mean(),
                               rtol=1e-9)
    np.testing.assert_allclose(weights_from(queries, keys), weights_from(q, k), atol=1e-12)
    causal = np.tri(20, dtype=bool)
    np.testing.assert_allclose(weights_from(queries, keys, causal), weights_from(q, k, causal), atol=1e-12)
    assert scale > 0 and shift.shape == (8,)


def test_one_token_and_equal_keys_do_not_break():
    queries, keys, _, scale = normalise(np.ones((1, 4)), np.full((1, 4), 2.0))
    assert scale == 1.0 and np.allclose(queries.mean(0), keys.mean(0))
    space = qk_space(np.ones((1, 4)), np.zeros((1, 4)))
    assert np.isfinite(space.query_xy).all() and np.isfinite(space.key_xy).all()


def test_strongest_links():
    w = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.6, 0.1]])
    q, k, v = strongest_links(w)                       # each query's strongest key, strongest first
    assert list(zip(q, k)) == [(1, 2), (0, 0), (2, 1)] and np.all(np.diff(v) <= 0)
    q, k, v = strongest_links(w, 4)                    # the 4 largest anywhere
    assert sorted(v) == sorted(np.sort(w, axis=None)[-4:]) and len(q) == 4


def test_figure_escapes_tokens_and_labels_only_what_is_asked():
    xy = np.arange(6, dtype=float).reshape(3, 2)
    tokens = ["<b>bold</b>", "a", "b"]
    fig = qk_figure(xy, xy[::-1], tokens, strongest_links(np.eye(3)), labelled=[0])
    spec = fig.to_json()
    assert "<b>bold" not in spec and "&lt;b&gt;bold" in spec
    queries = next(t for t in fig.data if t.name == "queries")
    assert queries.text[1] == "" and queries.text[0] != ""
    assert fig.layout.yaxis.scaleanchor == "x"


# -- the page ----------------------------------------------------------------------------------
@pytest.mark.parametrize("sentence", ["", "a", "<script>alert(1)</script> <b>x</b>", "word " * 600])
def test_page_bad_input_gives_a_message_not_an_exception(sentence):
    at = run_page("query_key", sentence=sentence)
    assert not at.exception, at.exception
    if not sentence:
        assert "empty" in texts(at.info)
    else:
        assert charts(at) == 1
        assert "<script>" not in " ".join(c.proto.spec for c in at.get("plotly_chart"))


def test_page_reports_the_weights_unchanged_and_windows_a_long_text():
    paragraph = " ".join(["The committee reviewed the unbelievably long proposal before lunch."] * 13)
    at = run_page("query_key", sentence=paragraph, query_key_lines="the strongest weights overall")
    assert not at.exception, at.exception
    body = " ".join(m.value for m in at.markdown)
    change = float(body.split("at most **")[-1].split("**")[0])
    assert change < 1e-5
    assert charts(at) == 1


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_page_runs_for_tiny_gpt2_and_llama(tiny_folders, family):
    at = run_page("query_key", sentence="Time flies like an arrow.", model=tiny_folders[family])
    assert not at.exception, at.exception
    assert charts(at) == 1
    if family == "llama":
        assert "Grouped-query" in texts(at.caption)
    one = run_page("query_key", sentence="a", model=tiny_folders[family])
    assert not one.exception, one.exception


def test_a_long_text_writes_only_labels_that_cover_nothing():
    """Issue 26: at 141 tokens the picture was a hairball with "studied" and "who" on top of each other.
    Only the chosen labels are written, each where it covers no other label."""
    from viz.common import LINE, PLOT_WIDTH, text_width, to_pixels
    from viz.qk_space import LABEL_FONT, _ranges

    rng = np.random.default_rng(3)
    n = 141
    q, k = rng.normal(size=(n, 2)) * 0.3, rng.normal(size=(n, 2)) * 0.3      # crowded
    tokens = [f"word{i}" for i in range(n)]
    links = strongest_links(rng.random((n, n)), 20)
    chosen = sorted(set(links[0][:12].tolist()) | set(links[1][:12].tolist()))
    fig = qk_figure(q, k, tokens, links, labelled=chosen, height=680)
    ranges = _ranges(np.concatenate([q, k]))
    boxes = []
    for trace, xy in zip(fig.data[-2:], (q, k)):
        px = to_pixels(xy, ranges, PLOT_WIDTH, 680 - 160, equal=True)
        for i, text in enumerate(trace.text):
            if not text:
                continue
            assert i in chosen
            w, h = text_width(text, LABEL_FONT), LABEL_FONT * LINE
            x, y = px[i]
            where = trace.textposition[i]
            if where.startswith("top"):
                boxes.append((x - w / 2, y, x + w / 2, y + h + 8))
            elif where.startswith("bottom"):
                boxes.append((x - w / 2, y - h - 8, x + w / 2, y))
            elif where.endswith("right"):
                boxes.append((x, y - h / 2, x + w + 8, y + h / 2))
            else:
                boxes.append((x - w - 8, y - h / 2, x, y + h / 2))
    assert boxes
    for a in range(len(boxes)):
        for b in range(a + 1, len(boxes)):
            x0, y0, x1, y1 = boxes[a]
            u0, v0, u1, v1 = boxes[b]
            overlap_x, overlap_y = min(x1, u1) - max(x0, u0), min(y1, v1) - max(y0, v0)
            assert overlap_x <= 9 or overlap_y <= 9, (a, b)      # label boxes (with their offset) stay apart


def test_a_long_text_opens_on_one_query_followed_with_the_rest_faded(minilm):
    """Issue 26: at 141 tokens the picture was a ring of 141 lines. It opens on one word query followed: lines
    only to its strongest keys, labels only on it and them, every other point faded, and a caption that names
    the weights from the head itself."""
    import json

    from bench.screenshots import PARAGRAPH
    from ui.query_key import FOCUS_KEYS

    at = run_page("query_key", sentence=PARAGRAPH)
    assert not at.exception, at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    lines = [t for t in figure["data"] if t.get("mode") == "lines"]
    segments = sum(sum(1 for x in t["x"] if x is None) for t in lines)
    assert 1 <= segments <= FOCUS_KEYS
    queries, keys = figure["data"][-2], figure["data"][-1]
    assert sum(bool(t) for t in queries["text"]) == 1 and 1 <= sum(bool(t) for t in keys["text"]) <= FOCUS_KEYS
    opacity = queries["marker"]["opacity"]
    assert sorted(set(opacity)) == [0.18, 1.0] and opacity.count(1.0) == 1
    query = at.selectbox(key=next(s.key for s in at.selectbox if "_query_" in s.key))
    token = minilm.trace(PARAGRAPH).tokens[query.value]
    assert f"Query “{token}” (#{query.value}) gives its weight to" in texts(at.caption)
    assert "of the spread of the" in texts(at.caption)

    at.toggle(key="query_key_words").set_value(True).run()
    assert not at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    hovers = " ".join(figure["data"][-1]["customdata"])
    assert "[CLS]" not in hovers and "[SEP]" not in hovers and " ." not in hovers


def test_one_querys_lines_keep_its_strongest_keys_above_the_floor():
    from analysis.qk_space import query_links

    weights = np.array([[0.7, 0.25, 0.04, 0.01, 0.0], [0.0, 0.0, 0.0, 0.0, 1.0]])
    q, k, w = query_links(weights, 0, count=3, least=0.03)
    assert q.tolist() == [0, 0, 0] and k.tolist() == [0, 1, 2] and w.tolist() == [0.7, 0.25, 0.04]
    assert query_links(weights, 1, count=5, least=0.01)[1].tolist() == [4]     # only the key with any weight
    with pytest.raises(ValueError):
        query_links(weights, 2)


def test_the_projection_caption_follows_the_share_it_holds():
    from ui.query_key import projection_caption

    low = projection_caption(np.array([0.19, 0.19]), 286, 32)
    assert "38% of the spread of the 286 points" in low and "62% of it lies in the other 30 directions" in low
    assert "fair guide" in projection_caption(np.array([0.6, 0.3]), 16, 32)
