"""Faithfulness by erasure (ERASER): a ranking that knows what matters scores best, special tokens
are never deleted, and the page answers every input with a chart or a clear message."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.faithfulness import (BINS, RANDOM, erase_counts, erasure_curves, next_token_scorer, only,
                               similarity_scorer, without)
from page_helpers import charts, run_page, texts

ROOT = Path(__file__).resolve().parents[1]
IDS = [101, 11, 12, 13, 14, 15, 16, 17, 102]                 # [CLS] seven words [SEP]
SPECIAL = [True] + [False] * 7 + [True]
WORTH = {101: 0.5, 102: 0.5, 11: 0.1, 12: 3.0, 13: 0.0, 14: 1.0, 15: 0.4, 16: 2.0, 17: 0.2}


def additive_score(batch: list[list[int]]) -> np.ndarray:
    """A toy model whose output is the sum of what each token present is worth."""
    return np.array([sum(WORTH[t] for t in ids) for ids in batch])


def test_a_perfect_ranking_is_the_most_comprehensive_and_sufficient():
    worth = np.array([WORTH[t] for t in IDS])
    rng = np.random.default_rng(0)
    scores = {"perfect": worth, "backwards": -worth, "noise": rng.normal(size=len(IDS))}
    ks = erase_counts(7, None)
    curves = erasure_curves(IDS, SPECIAL, scores, additive_score, ks)
    words = np.sort(worth[1:-1])[::-1]
    for i, k in enumerate(ks):
        # Deleting the k most valuable words drops the output by exactly their worth: the most any k can.
        assert curves["perfect"].comprehensiveness[i] == pytest.approx(words[:k].sum())
        # Keeping only them loses the rest: the least any k can.
        assert curves["perfect"].sufficiency[i] == pytest.approx(words[k:].sum())
        for other in ("backwards", "noise", RANDOM):
            assert curves["perfect"].comprehensiveness[i] >= curves[other].comprehensiveness[i] - 1e-12
            assert curves["perfect"].sufficiency[i] <= curves[other].sufficiency[i] + 1e-12
        assert curves["backwards"].comprehensiveness[i] <= curves[RANDOM].comprehensiveness[i] + 1e-12
    assert curves["perfect"].comprehensiveness_aopc > curves[RANDOM].comprehensiveness_aopc
    assert curves["perfect"].sufficiency_aopc < curves[RANDOM].sufficiency_aopc
    band = curves[RANDOM].comp_range
    assert (band[0] <= curves[RANDOM].comprehensiveness + 1e-12).all()
    assert (curves[RANDOM].comprehensiveness <= band[1] + 1e-12).all()
    assert curves["perfect"].top[:2] == (2, 6)                 # worth 3.0, then 2.0


def test_special_tokens_are_never_deleted_and_each_input_is_run_once():
    seen: list[list[int]] = []

    def recording(batch):
        assert len({len(ids) for ids in batch}) == 1, "a batch mixes lengths (it would need padding)"
        seen.extend(batch)
        return additive_score(batch)

    erasure_curves(IDS, SPECIAL, {"a": np.arange(9.0), "b": -np.arange(9.0)}, recording, [1, 3, 6])
    assert all(ids[0] == 101 and ids[-1] == 102 for ids in seen)
    assert len({tuple(ids) for ids in seen}) == len(seen)
    assert IDS in seen and [101, 102] not in seen              # never every word deleted


def test_erasure_counts_follow_eraser_bins_and_never_take_every_token():
    assert erase_counts(141) == [2, 8, 15, 29, 71]             # ⌈1, 5, 10, 20, 50 % of 141⌉
    assert erase_counts(6) == [1, 2, 3]                        # 1 % of 6 is still one token
    assert erase_counts(6, None) == [1, 2, 3, 4, 5] and erase_counts(40, None) == list(range(1, 11))
    for n in range(2, 60):
        ks = erase_counts(n, BINS)
        assert ks == sorted(set(ks)) and 1 <= ks[0] and ks[-1] <= n - 1
    with pytest.raises(ValueError, match="at least 2"):
        erase_counts(1)


def test_deleting_and_keeping_keep_the_order():
    assert without(IDS, [2, 5]) == [101, 11, 13, 14, 16, 17, 102]
    assert only(IDS, [5, 2], SPECIAL) == [101, 12, 15, 102]


def test_the_best_single_deletion_beats_chance_on_minilm(minilm):
    """Ranked by how much deleting each token alone moves the embedding (an oracle for k = 1),
    the first deletion moves it at least as much as a random one on average."""
    ids = minilm.tokenizer.encode("The early bird eats the worm.").ids
    special = [i in (ids[0], ids[-1]) for i in ids]
    score = similarity_scorer(minilm.net, ids)
    assert score([ids])[0] == pytest.approx(1.0, abs=1e-5)       # the full text is itself
    drop = np.zeros(len(ids))
    for p in range(1, len(ids) - 1):
        drop[p] = 1 - score([without(ids, [p])])[0]
    curves = erasure_curves(ids, special, {"oracle": drop}, score, [1, 2])
    assert curves["oracle"].comprehensiveness[0] == pytest.approx(drop.max(), abs=1e-5)
    assert curves["oracle"].comprehensiveness[0] >= curves[RANDOM].comprehensiveness[0]


def test_next_token_scorer_reads_the_predicted_tokens_probability():
    import torch

    from training.lm import lm_config, new_model

    net = new_model(lm_config(48, context=16, d_model=32, n_heads=4, n_layers=2), seed=3).eval()
    ids = [5, 17, 3, 28, 11, 9]
    score, predicted = next_token_scorer(net, ids)
    with torch.no_grad():
        p = torch.softmax(net.run(torch.tensor([ids]))[3][0, -1].double(), dim=-1)
    assert predicted == int(p.argmax()) and score([ids])[0] == pytest.approx(float(p.max()))
    assert 0 <= score([ids[:3], ids[2:5]]).min() and score([ids[:3], ids[2:5]]).max() <= 1


# -- the page ------------------------------------------------------------------------------------------
def test_page_shows_the_chart_and_the_scores():
    at = run_page("faithfulness", sentence="Time flies like an arrow.")
    assert not at.exception
    assert charts(at) == 2                                      # the erasure curves, the methods' scores
    table = at.dataframe[0].value
    assert set(table["method"]) == {"attention (last layer)", "attention rollout", "attention flow",
                                    "gradient × input", "integrated gradients", RANDOM}
    assert "chance" in texts(at.markdown)


@pytest.mark.parametrize("sentence,message", [("", "empty"), ("a", "at least two tokens")])
def test_page_explains_what_it_cannot_test(sentence, message):
    at = run_page("faithfulness", sentence=sentence)
    assert not at.exception and charts(at) == 0 and message in texts(at.info)


def test_page_shows_html_as_text():
    at = run_page("faithfulness", sentence="<b>bold</b> & <script>alert(1)</script> text")
    assert not at.exception and charts(at) == 2
    scores = json.loads(at.get("plotly_chart")[1].proto.spec)   # the methods' scores, tokens as ticks
    ticks = scores["layout"]["xaxis"]["ticktext"]
    assert "&lt;" in ticks and not any("<" in tick for tick in ticks)


def test_page_on_a_paragraph_leaves_nothing_out():
    sys.path.insert(0, str(ROOT / "bench"))
    from screenshots import PARAGRAPH

    at = run_page("faithfulness", sentence=PARAGRAPH)
    assert not at.exception and charts(at) == 2
    assert "attention flow" in set(at.dataframe[0].value["method"])   # 143 tokens: within the flow's limit


@pytest.fixture(scope="module")
def tiny_gpt2(tmp_path_factory) -> str:
    pytest.importorskip("transformers")
    from hf_tiny import hf_model, save_checkpoint, tokenizer_for

    return str(save_checkpoint(hf_model("gpt2"), tokenizer_for("gpt2"), tmp_path_factory.mktemp("gpt2")))


def test_page_on_a_language_model_scores_the_predicted_token(tiny_gpt2):
    at = run_page("faithfulness", sentence="Time flies like an arrow; fruit flies like a banana.", model=tiny_gpt2)
    assert not at.exception and charts(at) == 2
    assert "of the token the model predicts after the full text" in texts(at.caption)
