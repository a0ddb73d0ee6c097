"""Predict, then reveal: ui/quiz_questions.py's questions on a page.

`predict_then_reveal(question, key)` asks one question (a radio with nothing chosen, a Reveal
button), then says right or wrong and explains with the model's numbers. The main pages call one
hook each, behind an optional "Predict first" switch: `attention_quiz` (One head),
`analogy_quiz` (Embedding space), `movement_quiz` (Context at work). A hook returns True while its
question waits for an answer; the page then draws the figure that answers it inside
`answer_fold(waiting, what)`, folded until the person reveals. The Quiz page asks
`quiz_for(model, text)`, the whole set for a sentence, cached once per sentence and model, each
question with a button to the page and head it is about (`question_link`).
Tokens and words are the person's text: they reach Streamlit's markdown escaped (`literal`).
"""
from __future__ import annotations

import hashlib
import re
from functools import partial
from urllib.parse import quote, urlencode

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import Trace
from ui import url
from ui.quiz_questions import Question, analogy_from, attention_question, movement_question, question_set
from analysis.vectors import WordVectors
from models import LoadedModel
from ui.attention import SHOW_ALL, open_head
from ui.context import FOLLOW_FIRST
from ui.embedding import ANALOGIES, SPACE_LABELS, get_vectors
from ui.library import listed_models
from ui.predictions import token_text
from ui.state import URL_SENTENCE_LIMIT, cached, current_sentence, get_model, trace_for
from ui.widgets import WINDOW, sentence_key, window_at
from viz.lens import visible_token

FOLLOW = "context_follow"      # (sentence key, position): the token Context at work opens on, once
FOLDED = "🙈 Answer folded"   # the tab a waiting question's answer hides behind
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
                        framed: bool = False, teacher: bool = False, text: str | None = None) -> bool | None:
    """Ask `question`; after Reveal, say right or wrong and explain. True/False once revealed, else None.

    framed: a bordered box (the Quiz page), each question with a button to its page, instead of
    the other pages' "Predict first" question (its answer is on the page below, folded meanwhile:
    see asking_first). teacher: the answer shown at once, no radio. text: the sentence asked about,
    for the button to the question's page."""
    key = f"{key}_{question_key(question)}"
    flag = f"{key}_revealed"
    revealed = bool(st.session_state.get(flag))
    box = st.container(border=True)
    with box:
        st.markdown((f"**Question {number}.** " if number else "**Predict:** ") + literal(question.prompt))
        if framed and text is not None:
            question_link(question, text, key)
        if teacher:
            st.markdown(f"Answer: **{literal(question.correct)}**")
            st.caption(literal(question.explanation))
            return None
        labels = [literal(choice) for choice in question.choices]
        pick = st.radio("Your prediction", range(len(labels)), index=None, format_func=labels.__getitem__,
                        key=f"{key}_pick", bind=url.bound(f"{key}_pick"), horizontal=True, disabled=revealed)
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


def answered(question: Question, key: str) -> bool:
    """Whether the person has revealed this question's answer (predict_then_reveal's flag)."""
    return bool(st.session_state.get(f"{key}_{question_key(question)}_revealed"))


def asking_first(question: Question | None, key: str) -> bool:
    """A page's optional question: a switch to predict first, then the question. True while the
    question waits for its answer, so the page keeps the figure that answers it folded."""
    if question is None:
        return False
    if not st.toggle("🤔 Predict first: a question on this view, its answer hidden until you reveal it",
                     key=f"{key}_asking", bind=url.bound(f"{key}_asking")):
        return False
    predict_then_reveal(question, key)
    return not answered(question, key)


def answer_fold(waiting: bool, what: str):
    """Where a page draws the figure that answers its question: in place, or folded away while the
    question waits, behind a second tab (tabs, unlike expanders, may hold the figure's own expanders)."""
    if not waiting:
        return st.container()
    folded, answer = st.tabs([FOLDED, f"👀 {what}: look now"])
    folded.caption("The figure that answers the question above is folded until you reveal your prediction "
                   "(or open the next tab to look now).")
    return answer


def go_to(page: str, state: dict, note: str) -> None:
    """Open `page` with `state` (its widgets' keys) set; where pages cannot switch (a page run alone), say so."""
    for name, value in state.items():
        st.session_state[name] = value
    try:
        st.switch_page(page)
    except StreamlitAPIException:
        st.info(note)


def question_link(question: Question, text: str, key: str) -> None:
    """A button to the page (and head, token) the question is about, where its numbers are drawn."""
    details = question.details
    if question.kind == "attention":
        label = f"Open layer {details['layer']}, head {details['head']} on One head"
        if st.button(label, key=f"{key}_open", icon=":material/open_in_new:"):
            open_head(details["layer"], details["head"])
    elif question.kind == "movement":
        if st.button("Follow this token on Context at work", key=f"{key}_open", icon=":material/open_in_new:"):
            go_to("pages/context.py", {FOLLOW: (sentence_key(text), details["position"])},
                  "Open the *Context at work* page: it now follows this token.")
    elif question.kind == "next token":
        if st.button("See every candidate on Next token", key=f"{key}_open", icon=":material/open_in_new:"):
            go_to("pages/next_token.py", {}, "Open the *Next token* page to see every candidate.")
    elif question.kind == "analogy":
        if st.button("Work it out on Embedding space", key=f"{key}_open", icon=":material/open_in_new:"):
            go_to("pages/embeddings.py", {}, "Open the *Embedding space* page's analogy builder.")


# -- one-line hooks for the main pages ---------------------------------------------------------------
def attention_quiz(trace: Trace, layer: int, head: int, page: str) -> bool:
    """One head: which token does a query attend to most in the head on show? In a long sentence,
    about tokens in the heatmap's window (its slider's last value, else the first window).
    True while the question waits for its answer (fold the heatmap: answer_fold)."""
    shown = None
    if len(trace.tokens) > SHOW_ALL:
        start, stop = st.session_state.get(f"{page}_window_{sentence_key(trace.text)}", (0, WINDOW))
        shown = window_at(len(trace.tokens), max(1, stop - start), start)
    return asking_first(attention_question(trace, layer, head, shown=shown), f"{page}_quiz")


def analogy_quiz(vectors: WordVectors, page: str) -> bool:
    """Embedding space: a preset analogy (chosen by the sidebar's sentence) on the vectors on show.
    True while it waits for its answer (the analogy builder, when it is set to the same words)."""
    text = current_sentence()
    space = SPACE_LABELS.get(vectors.name, vectors.name)
    question = cached(("quiz analogy", vectors.name, text),
                      lambda: analogy_from(vectors, QUIZ_ANALOGIES, text, space),
                      "Working the analogy out…")
    return asking_first(question, f"{page}_quiz")


def movement_quiz(trace: Trace, position: int, page: str) -> bool:
    """Context at work: which layer moves the token being followed the most? True while it waits
    for its answer (fold the movement bars: answer_fold)."""
    return asking_first(movement_question(trace, position), f"{page}_quiz")


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
