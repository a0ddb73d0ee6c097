"""Word-level attention: pieces grouped into words by their character spans, attention merged so
rows still sum to 1, and the "Whole words" switch on every attention page."""
from __future__ import annotations

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from analysis.words import find_words, merge_words, words_of
from page_helpers import run_page, texts

SPLIT = "unbelievably tokenization"


def words_from(tok: Tokenizer, text: str):
    enc = tok.encode(text)
    return find_words(text, enc.offsets, [bool(s) for s in enc.special_tokens_mask], enc.tokens)


def random_rows(shape, seed=0) -> np.ndarray:
    w = np.random.default_rng(seed).random(shape)
    return w / w.sum(axis=-1, keepdims=True)


# -- grouping ---------------------------------------------------------------------------------
def test_minilm_multi_piece_words_merge_into_the_words_typed(minilm):
    trace = minilm.trace(SPLIT)
    assert len(trace.tokens) > 4 + 1, "MiniLM should cut these words into several pieces"
    found = words_of(trace)
    assert found.labels == ("[CLS]", "unbelievably", "tokenization", "[SEP]")
    assert found.special == (True, False, False, True)
    assert found.split_words == 2
    # every piece of "unbelievably" is in word 1, in order
    assert [trace.tokens[i] for i in found.pieces(1)][0] == "un"
    assert "".join(trace.tokens[i].removeprefix("##") for i in found.pieces(1)) == "unbelievably"


@pytest.mark.parametrize("text", ["Naïve café, crème brûlée — isn't it?", "Time flies like an arrow.",
                                  "e-mail costs $5, or 3.14 <b>hi</b>!", "  two  spaces\tand\nnewline "])
def test_minilm_words_match_bert_pre_tokenizer(minilm, text):
    """For WordPiece our rule (spans touch, letters on both sides) gives the tokenizer's own word ids."""
    enc = minilm.tokenizer.backend.encode(text)
    found = words_from(minilm.tokenizer.backend, text)
    ours = [w for w, s in zip(found.word_of, enc.special_tokens_mask) if not s]
    theirs = [w for w in enc.word_ids if w is not None]
    # the same partition: two pieces share a word for us exactly when they do for the tokenizer
    assert (np.equal.outer(ours, ours) == np.equal.outer(theirs, theirs)).all()


@pytest.mark.parametrize("family", ["gpt2", "llama", "roberta", "bert"])
def test_tiny_tokenizers_group_pieces_into_words(family):
    """Byte-level BPE (Ġ pieces, emoji split into bytes), Llama's <s>, RoBERTa's trimmed offsets, tiny
    WordPiece: the words are the ones typed, punctuation apart, specials alone."""
    pytest.importorskip("transformers")
    from hf_tiny import tokenizer_for

    tok = tokenizer_for(family)
    found = words_from(tok, SPLIT)
    assert [w for w, s in zip(found.labels, found.special) if not s] == ["unbelievably", "tokenization"]
    text = "I love 🍕 and crème brûlée, isn't it?"
    found = words_from(tok, text)
    assert [w for w, s in zip(found.labels, found.special) if not s] == \
        ["I", "love", "🍕", "and", "crème", "brûlée", ",", "isn", "'", "t", "it", "?"]
    enc = tok.encode(text)
    for i, (token, special) in enumerate(zip(enc.tokens, enc.special_tokens_mask)):
        if special:
            assert found.labels[found.word_of[i]] == token and found.pieces(found.word_of[i]) == [i]
    assert list(found.word_of) == sorted(found.word_of), "words are numbered in reading order"


def test_sentencepiece_metaspace_pieces_group_into_words():
    """▁-prefixed pieces (sentencepiece-style, Metaspace pre-tokenizer, byte fallback)."""
    from hf_tiny import CORPUS

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(
        vocab_size=120, special_tokens=["<unk>"] + [f"<0x{i:02X}>" for i in range(256)], show_progress=False))
    found = words_from(tok, " two  spaces, unbelievably 🍕")
    assert found.labels == ("two", "spaces", ",", "unbelievably", "🍕")
    assert len(found.word_of) > len(found.labels)


def test_no_offsets_keeps_every_piece_its_own_word():
    found = find_words("", [(0, 0)] * 3, [False] * 3, ["a", "b", "c"])
    assert found.word_of == (0, 1, 2) and found.labels == ("a", "b", "c")


# -- merging ----------------------------------------------------------------------------------
def test_merge_equals_a_hand_computation():
    w = random_rows((4, 4))
    merged = merge_words(w, [0, 1, 1, 2])                         # pieces 1 and 2 are one word
    hand = np.array([
        [w[0, 0], w[0, 1] + w[0, 2], w[0, 3]],
        [(w[1, 0] + w[2, 0]) / 2, (w[1, 1] + w[1, 2] + w[2, 1] + w[2, 2]) / 2, (w[1, 3] + w[2, 3]) / 2],
        [w[3, 0], w[3, 1] + w[3, 2], w[3, 3]],
    ])
    np.testing.assert_allclose(merged, hand, rtol=1e-12)


def test_merged_rows_still_sum_to_one_for_every_head(minilm):
    trace = minilm.trace(SPLIT + ", said the overwhelmingly unconvinced lexicographer.")
    found = words_of(trace)
    merged = merge_words(trace.attentions, found.word_of)         # (L, H, W, W)
    assert merged.shape == (trace.n_layers, trace.n_heads, len(found), len(found))
    np.testing.assert_allclose(merged.sum(axis=-1), 1.0, atol=1e-5)
    # a word of one piece keeps its row's shares to the other one-piece words
    one = [w for w in range(len(found)) if len(found.pieces(w)) == 1]
    pieces = [found.pieces(w)[0] for w in one]
    np.testing.assert_allclose(merged[..., one, :][..., one], trace.attentions[..., pieces, :][..., pieces],
                               atol=1e-6)


def test_merge_keeps_causal_rows_summing_to_one():
    w = np.tril(random_rows((6, 6), seed=3))
    w /= w.sum(axis=-1, keepdims=True)
    merged = merge_words(w, [0, 0, 1, 2, 2, 2])
    np.testing.assert_allclose(merged.sum(axis=-1), 1.0)


def test_merge_refuses_words_without_pieces():
    with pytest.raises(ValueError):
        merge_words(np.eye(3), [0, 2, 2])
    with pytest.raises(ValueError):
        merge_words(np.eye(3), [0, 1])


def test_hidden_specials_then_words_rows_sum_to_one(minilm):
    from ui.words import attention_view

    trace = minilm.trace(SPLIT)
    matrix, kept = attention_view(trace.layers[2].weights[5], trace, hide_specials=True, whole_words=True)
    assert kept == [1, 2]                                        # the two words, not [CLS]/[SEP]
    np.testing.assert_allclose(matrix.sum(axis=-1), 1.0, atol=1e-5)
    matrix, kept = attention_view(trace.layers[2].weights[5], trace, hide_specials=False, whole_words=True)
    assert kept == [0, 1, 2, 3] and matrix.shape == (4, 4)


# -- the switch on every attention page --------------------------------------------------------
WORD_PAGES = ["attention_head", "attention_grid", "attention_compare", "attention_lines", "attention_aggregate"]


@pytest.mark.parametrize("page", WORD_PAGES)
def test_every_attention_page_shows_words_when_asked(page):
    at = run_page(page, sentence=SPLIT + ".", **{f"{page}_words": True})
    assert not at.exception, at.exception
    assert "10 pieces → 5 words" in texts(at.caption)
    specs = " ".join(chart.proto.spec for chart in at.get("plotly_chart"))
    if page != "attention_grid":                                 # the grid has no labels, only positions
        assert "unbelievably" in specs and "##bel" not in specs


@pytest.mark.parametrize("sentence", ["", "a", "<b>x</b> 🍕" * 3, "word " * 600])
def test_word_view_bad_input_gives_a_message_not_an_exception(sentence):
    at = run_page("attention_head", sentence=sentence, attention_head_words=True)
    assert not at.exception, at.exception
    if not sentence:
        assert "empty" in texts(at.info)


def test_hidden_specials_and_words_compose_on_the_page():
    at = run_page("attention_head", sentence=SPLIT + ".", attention_head_words=True, attention_head_hide=True)
    assert not at.exception, at.exception
    assert "8 pieces → 3 words" in texts(at.caption)           # [CLS] and [SEP] gone, then merged


@pytest.mark.parametrize("family", ["gpt2", "llama"])
@pytest.mark.parametrize("page", ["attention_head", "attention_lines", "attention_aggregate"])
def test_word_view_on_byte_level_models(tiny_folders, family, page):
    """Tiny GPT-2 (no specials, Ġ pieces) and Llama (<s>, hidden when asked): whole words, rows summing to 1."""
    state = {f"{page}_words": True, f"{page}_hide": family == "llama"}
    at = run_page(page, sentence=SPLIT, model=tiny_folders[family], **state)
    assert not at.exception, at.exception
    words = 3 if family == "llama" and page == "attention_lines" else 2   # the lines view keeps <s>
    assert f"→ {words} words" in texts(at.caption)
    assert "unbelievably" in " ".join(chart.proto.spec for chart in at.get("plotly_chart")) or page == "attention_lines"


def test_words_in_any_order_merge_the_same_way():
    """Pieces of a word need not be neighbours for merge_words: runs (the fast path) and interleaved
    pieces (the general one) give the same word matrix."""
    w = random_rows((2, 5, 5), seed=7)
    order = [0, 1, 1, 2, 2]
    perm = [1, 3, 2, 4, 0]                                        # the pieces reordered: words interleave
    interleaved = [order[p] for p in perm]                        # [1, 2, 1, 2, 0]
    np.testing.assert_allclose(merge_words(w, order), merge_words(w[:, perm][:, :, perm], interleaved), rtol=1e-6)
