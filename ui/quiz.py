"""Predict, then reveal: ui/quiz_questions.py's questions on a page.

`predict_then_reveal(question, key)` asks one question (a radio with nothing chosen, a Reveal
button), then says right or wrong and explains with the model's numbers. The main pages call one
hook each, inside an optional "Predict first" expander: `attention_quiz` (One head),
`analogy_quiz` (Embedding space), `movement_quiz` (Context at work). The Quiz page asks
`quiz_for(model, text)`, the whole set for a sentence, cached once per sentence and model.
Tokens and words are the person's text: they reach Streamlit's markdown escaped (`literal`).
"""
from __future__ import annotations

import hashlib
import re
from functools import partial
from urllib.parse import quote, urlencode

import streamlit as st

from core import Trace
from ui.quiz_questions import Question, analogy_from, attention_question, movement_question, question_set
from analysis.vectors import WordVectors
from models import LoadedModel
from ui.attention import SHOW_ALL
from ui.context import FOLLOW_FIRST
from ui.embedding import ANALOGIES, SPACE_LABELS, get_vectors
from ui.library import listed_models
from ui.predictions import token_text
from ui.state import URL_SENTENCE_LIMIT, cached, current_sentence, get_model, trace_for
from ui.widgets import WINDOW, sentence_key, window_at
from viz.lens import visible_token

QUIZ_SPACE = "glove-6b-50d"   # the Quiz page's analogy: GloVe, the Embedding page's default space
# Analogies to ask: every preset but man : king :: woman : ?, which everyone knows and the
# Embedding page's builder answers by default, just below the question.
QUIZ_ANALOGIES = list(ANALOGIES.values())[1:]
# Every character markdown (or Streamlit's :colour[...] and :emoji: syntax) could read as markup.
MARKDOWN_CHARACTERS = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:=&])")


def literal(text) -> str:
    """Text shown by st.markdown exactly as typed: `<b>` stays `<b>`, `**x**` stays `**x**`."""
    return MARKDOWN_CHARACTERS.sub(r"\\\1", str(text))


def question_key(question: Question) -> str:
    """Widgets keyed by the question itself: a new sentence or head asks afresh."""
    text = "\n".join([question.prompt, *question.choices])
    return hashlib.md5(text.encode("utf-8", "replace")).hexdigest()[:10]


def _reveal(flag: str) -> None:
    st.session_state[flag] = True


def predict_then_reveal(question: Question, key: str, number: int | None = None,
                        framed: bool = False, teacher: bool = False) -> bool | None:
    """Ask `question`; after Reveal, say right or wrong and explain. True/False once revealed, else None.

    framed: a bordered box (the Quiz page) instead of a closed "Predict first" expander (the other
    pages, where the answer is on the page below). teacher: the answer shown at once, no radio."""
    key = f"{key}_{question_key(question)}"
    flag = f"{key}_revealed"
    revealed = bool(st.session_state.get(flag))
    box = st.container(border=True) if framed else st.expander("🤔 Predict first: a question on this view")
    with box:
        st.markdown((f"**Question {number}.** " if number else "**Predict:** ") + literal(question.prompt))
        if teacher:
            st.markdown(f"Answer: **{literal(question.correct)}**")
            st.caption(literal(question.explanation))
            return None
        labels = [literal(choice) for choice in question.choices]
        pick = st.radio("Your prediction", range(len(labels)), index=None, format_func=labels.__getitem__,
                        key=f"{key}_pick", horizontal=True, disabled=revealed)
        if not revealed:
            st.button("Reveal", key=f"{key}_button", on_click=_reveal, args=(flag,), disabled=pick is None,
                      icon=":material/visibility:", help="Pick your prediction first, then reveal the model's.")
            return None
        right = pick == question.answer
        if right:
            st.success(f"Right: the model's answer is **{literal(question.correct)}**.", icon="✅")
        else:
            st.error(f"Not this time: you picked {literal(question.choices[pick]) if pick is not None else 'nothing'}; "
                     f"the model's answer is **{literal(question.correct)}**.", icon="❌")
        st.markdown(literal(question.explanation))
        return right


# -- one-line hooks for the main pages ---------------------------------------------------------------
def attention_quiz(trace: Trace, layer: int, head: int, page: str) -> None:
    """One head: which token does a query attend to most in the head on show? In a long sentence,
    about tokens in the heatmap's window (its slider's last value, else the first window)."""
    shown = None
    if len(trace.tokens) > SHOW_ALL:
        start, stop = st.session_state.get(f"{page}_window_{sentence_key(trace.text)}", (0, WINDOW))
        shown = window_at(len(trace.tokens), max(1, stop - start), start)
    question = attention_question(trace, layer, head, shown=shown)
    if question is not None:
        predict_then_reveal(question, f"{page}_quiz")


def analogy_quiz(vectors: WordVectors, page: str) -> None:
    """Embedding space: a preset analogy (chosen by the sidebar's sentence) on the vectors on show."""
    text = current_sentence()
    space = SPACE_LABELS.get(vectors.name, vectors.name)
    question = cached(("quiz analogy", vectors.name, text),
                      lambda: analogy_from(vectors, QUIZ_ANALOGIES, text, space),
                      "Working the analogy out…")
    if question is not None:
        predict_then_reveal(question, f"{page}_quiz")


def movement_quiz(trace: Trace, position: int, page: str) -> None:
    """Context at work: which layer moves the token being followed the most?"""
    question = movement_question(trace, position)
    if question is not None:
        predict_then_reveal(question, f"{page}_quiz")


# -- the Quiz page's question set --------------------------------------------------------------------
def shown_token(model: LoadedModel, token_id: int) -> str:
    """A vocabulary entry as a choice: its text, spaces shown as ␣."""
    return visible_token(token_text(model, token_id))


def quiz_for(model_name: str, text: str) -> list[Question]:
    """The questions for this sentence and model (the same for everyone who opens the same link)."""
    def make() -> list[Question]:
        trace = trace_for(model_name, text)
        decode = partial(shown_token, get_model(model_name)) if trace.top_ids is not None else None
        try:
            vectors = get_vectors(QUIZ_SPACE)
        except (OSError, ValueError):   # GloVe not installed here: no analogy question
            vectors = None
        # The Context page's favourite (flies, bank, bat…) when the sentence has one, else a word by chance.
        follow = next((i for i, token in enumerate(trace.tokens) if token in FOLLOW_FIRST), None)
        return question_set(trace, vectors, QUIZ_ANALOGIES, SPACE_LABELS[QUIZ_SPACE], decode, follow)
    return cached(("quiz", model_name, text), make, "Making questions from the model's numbers…")


def start_over(prefix: str) -> None:
    """Forget every answer and reveal on the page (keys starting with `prefix`)."""
    for name in [k for k in st.session_state if str(k).startswith(prefix)]:
        del st.session_state[name]


def quiz_link(model_name: str, text: str) -> str | None:
    """A link that opens this page on this sentence and model (None when the sentence is too long for one).
    The questions follow from the sentence and model, so nothing else needs to travel."""
    if len(text) > URL_SENTENCE_LIMIT:
        return None
    query = urlencode({"model": model_name, "sentence": text}, quote_via=quote)
    return f"{st.context.url or ''}?{query}"


def shareable(model_name: str) -> bool:
    """False for a model this session trained or opened: a link cannot carry it to another browser."""
    return model_name in listed_models()
