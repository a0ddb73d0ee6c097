"""Predict, then reveal: multiple-choice questions made from the model's own numbers.

Each maker reads numbers a page of the app already shows and asks the learner to predict them:

- `attention_question`  In layer L, head H, which token does "like" attend to most?   (trace weights)
- `analogy_question`    man is to king as woman is to ?                               (WordVectors.analogy)
- `movement_question`   Which layer moves "flies" most?                                (context.layer_movement)
- `next_token_question` Which token does the model rank first after "…like an"?       (trace logits, LMs)

The answer is always the model's own argmax (top analogy result, biggest movement), never a
textbook answer; the explanation gives the numbers behind it. Every random choice (which query
token, which head, which distractors, their order) comes from a generator seeded by the
sentence's text, so a shared link to a sentence shows the same questions.
A maker returns None when the sentence cannot carry the question (too few tokens to choose from).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Collection, Sequence

import numpy as np

from analysis.context import layer_movement
from core.trace import Trace
from analysis.vectors import WordVectors

N_CHOICES = 4          # choices offered when the sentence has enough candidates (always 3 to 5)
MIN_CHOICES, MAX_CHOICES = 3, 5
CLEAR_MARGIN = 0.05    # a top weight this far above the runner-up makes a fair question
POOL = 10              # analogy answers / next tokens that distractors are drawn from
CONTEXT_CHARS = 60     # text shown before the position a next-token question asks about


@dataclass(frozen=True)
class Question:
    """One multiple-choice question: `choices[answer]` is the model's own answer."""
    kind: str                        # "attention", "analogy", "movement" or "next token"
    prompt: str
    choices: tuple[str, ...]
    answer: int
    explanation: str                 # the numbers behind the answer, in plain text
    details: dict = field(default_factory=dict, compare=False)   # what it was made from (positions, layers, ids)

    def __post_init__(self):
        if not MIN_CHOICES <= len(self.choices) <= MAX_CHOICES:
            raise ValueError(f"a question needs {MIN_CHOICES} to {MAX_CHOICES} choices, got {len(self.choices)}")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"choices must be distinct: {self.choices}")
        if not 0 <= self.answer < len(self.choices):
            raise ValueError(f"answer {self.answer} is not one of the {len(self.choices)} choices")

    @property
    def correct(self) -> str:
        return self.choices[self.answer]


def rng_for(text: str, salt: str) -> np.random.Generator:
    """A generator seeded by the sentence (and what is being asked): same sentence, same questions."""
    digest = hashlib.sha256(f"{salt}\n{text}".encode("utf-8", "replace")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _arrange(answer, distractors: Sequence, rng: np.random.Generator,
             keep_order: bool = False) -> tuple[list, int]:
    """The answer and its distractors (items such as positions or layers) in the order shown,
    and where the answer landed. Shuffled, or sorted (layers read best in order)."""
    items = [answer, *distractors]
    order = sorted(items) if keep_order else [items[i] for i in rng.permutation(len(items))]
    return order, order.index(answer)


def _distractors(first: Sequence, pool: Sequence, count: int, rng: np.random.Generator) -> list:
    """`count` distinct items: `first` in order (the runner-up: the close call that makes a question
    fair), then a random draw from `pool`."""
    chosen = list(dict.fromkeys(first))[:count]
    rest = [x for x in dict.fromkeys(pool) if x not in chosen]
    if rest and count > len(chosen):
        picks = rng.choice(len(rest), size=min(count - len(chosen), len(rest)), replace=False)
        chosen += [rest[i] for i in sorted(picks)]
    return chosen


# -- attention: which key does a query look at most? ------------------------------------------------------
CONTEXT_WORDS = 3     # words either side of a token when a question names it in its context


def in_context(trace: Trace, position: int, words: int = CONTEXT_WORDS) -> str:
    """A few words of the text around the token ("…money at the bank. The…"), or the token itself
    when it has no place in the text ([CLS], [SEP])."""
    start, end = trace.offsets[position] if trace.offsets and position < len(trace.offsets) else (0, 0)
    if end <= start:
        return trace.tokens[position]
    before = trace.text[:start].split(" ")
    after = trace.text[end:].split(" ")
    left = " ".join(before[-words - 1:])          # the word the token sits in, and `words` before it
    right = " ".join(after[:words + 1])
    return (("…" if len(before) > words + 1 else "") + left + trace.text[start:end] + right
            + ("…" if len(after) > words + 1 else ""))


def token_name(trace: Trace, position: int) -> str:
    """The token's text, told apart from its repeats by its context ("the (…at the bank…)")."""
    token = trace.tokens[position]
    return f"{token} ({in_context(trace, position, 2)})" if trace.tokens.count(token) > 1 else token


def named_in_context(trace: Trace, position: int) -> str:
    """How a question names a token: “bank” in “…money at the bank. The…”."""
    context = in_context(trace, position)
    token = trace.tokens[position]
    return f"“{token}”" if context == token else f"“{token}” in “{context}”"


def whole_words(trace: Trace) -> np.ndarray:
    """(T,) True for a token that is a whole word: not [CLS]/[SEP], a letter or digit in it (a row for
    "." makes a dull question), and not a piece of a longer word ("rec" + "##urrent")."""
    tokens = trace.tokens
    return np.array([not special and any(ch.isalnum() for ch in token) and not token.startswith("##")
                     and not (i + 1 < len(tokens) and tokens[i + 1].startswith("##"))
                     for i, (token, special) in enumerate(zip(tokens, trace.special_mask))], dtype=bool)


def top_two(weights: np.ndarray, scores: np.ndarray, rows_at_once: int = 256):
    """Each query row's strongest key, its weight, the runner-up's weight and how many keys it sees.

    A hidden key's weight is exactly 0 and every row that sees a key has a weight ≥ 1/T, so the
    weights alone rank the keys: a hidden key never comes first, nor beats a visible runner-up.
    Rows are read a band at a time through one small buffer: at 4,096 tokens a copy of the whole
    matrix (64 MB of fresh memory) took longer than everything else the quiz does."""
    t = weights.shape[0]
    top = np.empty(t, dtype=np.int64)
    first, second = np.empty(t), np.empty(t)
    n_visible = np.empty(t, dtype=np.int64)
    buffer = np.empty((min(t, rows_at_once), weights.shape[1]), dtype=np.float32)   # (band, T)
    for start in range(0, t, rows_at_once):
        stop = min(t, start + rows_at_once)
        band = buffer[:stop - start]
        np.copyto(band, weights[start:stop])
        rows = np.arange(stop - start)
        top[start:stop] = band.argmax(axis=1)
        first[start:stop] = band[rows, top[start:stop]]
        band[rows, top[start:stop]] = -np.inf                       # the runner-up: no full sort of 4,096 keys
        second[start:stop] = band.max(axis=1)
        n_visible[start:stop] = np.count_nonzero(np.isfinite(scores[start:stop]), axis=1)
    return top, first, second, n_visible


def pick_query(trace: Trace, layer: int, head: int, rng: np.random.Generator,
               shown: Sequence[int] | None = None) -> tuple[int, int] | None:
    """A query position worth asking about in this head, and how good a question it makes (0 best).

    Best: a whole word whose strongest key is a word too — a head that parks on [SEP] makes a dull
    answer — clearly ahead of the runner-up. It must see at least three keys (a causal model's first
    tokens do not). With `shown` (the positions a page draws), a query and answer among them first,
    then a query among them.
    None when no query sees three keys."""
    top, first, second, n_visible = top_two(trace.head(layer, head).weights, trace.head(layer, head).scores)
    sees_enough = n_visible >= MIN_CHOICES
    if not sees_enough.any():
        return None
    word = whole_words(trace)
    word_query = sees_enough & word
    word_answer = word_query & word[top]
    clear = word_answer & (first - second >= CLEAR_MARGIN)
    in_view = np.ones(len(trace.tokens), dtype=bool)
    if shown is not None:
        in_view[:] = False
        in_view[list(shown)] = True
    for where in (in_view & in_view[top], in_view, sees_enough):     # on show, then its query on show, then any
        for grade, ok in enumerate((clear, word_answer, word_query, sees_enough)):
            if (ok & where).any():
                return int(rng.choice(np.flatnonzero(ok & where))), grade
    return None


def attention_question(trace: Trace, layer: int, head: int, n_choices: int = N_CHOICES,
                       shown: Sequence[int] | None = None) -> Question | None:
    """"In layer L, head H, which token does <query> attend to most?" — the row's argmax.

    `shown`: the positions the page draws (a long sentence's window), where query, answer and
    distractors are taken from when they can be."""
    rng = rng_for(trace.text, f"attention {layer} {head}")
    picked = pick_query(trace, layer, head, rng, shown)
    if picked is None:
        return None
    query = picked[0]
    weights = np.asarray(trace.head(layer, head).weights[query], dtype=np.float64)   # (T,)
    visible = np.flatnonzero(np.isfinite(trace.head(layer, head).scores[query]))
    ranked = [int(k) for k in visible[np.argsort(-weights[visible], kind="stable")]]   # strongest first
    answer = ranked[0]
    # The runner-up, and the query itself (looking at itself is a learner's first guess), then any others:
    # those on show when there are enough of them.
    count = min(n_choices, len(ranked)) - 1
    on_show = [k for k in ranked[1:] if shown is None or k in shown]
    candidates = on_show if len(on_show) >= count else ranked[1:]
    first = candidates[:1] + ([query] if query in candidates[1:] else [])
    pool = candidates[1:]
    positions, index = _arrange(answer, _distractors(first, pool, count, rng), rng)
    names = [token_name(trace, k) for k in positions]
    if len(set(names)) < len(names):             # a phrase repeated word for word: positions tell them apart
        names = [f"{trace.tokens[k]} (#{k})" if trace.tokens.count(trace.tokens[k]) > 1 else trace.tokens[k]
                 for k in positions]
    others_text = "; ".join(f"“{token_name(trace, k)}” {weights[k]:.3f}"
                            for k in ranked if k in positions and k != answer)         # strongest first
    skipped = [k for k in ranked if trace.special_mask[k] and k not in positions]
    special_text = (" Not among the choices: " + ", ".join(f"“{trace.tokens[k]}” {weights[k]:.3f}" for k in skipped)
                    + ".") if skipped else ""
    explanation = (
        f"In layer {layer}, head {head}, the row of “{token_name(trace, query)}” puts {weights[answer]:.3f} of its "
        f"attention on “{token_name(trace, answer)}”, the largest weight in the row (which sums to 1 over the "
        f"{len(ranked)} tokens it can see). The other choices: {others_text}.{special_text} Its row in this "
        "head's heatmap (the One head page) shows the whole pattern.")
    return Question("attention",
                    f"In layer {layer}, head {head}, which token does {named_in_context(trace, query)} attend to most?",
                    tuple(names), index, explanation,
                    {"layer": layer, "head": head, "query": query, "keys": tuple(positions), "grade": picked[1]})


def pick_head(trace: Trace, layers: Sequence[int], salt: str, avoid: Collection[int] = ()) -> tuple[int, int]:
    """A head in `layers` that makes a fair attention question (a word query, a word answer, a clear
    lead), tried in an order seeded by the sentence; one whose answer is not in `avoid` (positions that
    answered an earlier question) if there is one; the first head tried if none is clear."""
    rng = rng_for(trace.text, f"head {salt}")
    heads = [(int(layer), int(head)) for layer in layers for head in range(trace.n_heads)]
    order = [heads[i] for i in rng.permutation(len(heads))]
    fair = []
    for layer, head in order:
        picked = pick_query(trace, layer, head, rng_for(trace.text, f"attention {layer} {head}"))
        if picked is not None and picked[1] == 0:
            answer = int(np.argmax(trace.head(layer, head).weights[picked[0]]))
            if answer not in avoid:
                return layer, head
            fair.append((layer, head))
    return (fair or order)[0]


# -- analogy: a is to b as c is to ? -------------------------------------------------------------------
def analogy_question(vectors: WordVectors, a: str, b: str, c: str, expected: str | None = None,
                     text: str = "", space: str = "", n_choices: int = N_CHOICES) -> Question | None:
    """"a is to b as c is to ?" — the top 3CosAdd answer of these vectors (the embedding page's first row).

    Distractors: the textbook answer when the vectors rank it lower, then other near answers.
    Raises KeyError (UnknownWordError) for a word outside the vocabulary."""
    answers = vectors.analogy(a, b, c, k=POOL)                       # [(word, cosine)], best first
    if len(answers) < MIN_CHOICES:
        return None
    rng = rng_for(text, f"analogy {a} {b} {c}")
    cosine = dict(answers)
    rank = {word: i + 1 for i, (word, _) in enumerate(answers)}
    words = [w for w, _ in answers]
    answer = words[0]
    ranked = list(words[1:])
    if expected and expected.lower() != answer.lower() and expected in vectors:
        expected = vectors.words[vectors.row(expected)]
        rank[expected], cosine[expected] = vectors.analogy_rank(a, b, c, expected)
        ranked = [expected] + [w for w in ranked if w != expected]
    count = min(n_choices, len(rank)) - 1
    picked = _distractors(ranked[:1], ranked[1:], count, rng)
    choices, index = _arrange(answer, picked, rng)
    space = space or vectors.name or "these vectors"
    others = "; ".join(f"“{w}” ranks #{rank[w]:,} ({cosine[w]:.3f})"
                       for w in sorted(choices, key=rank.get) if w != answer)
    textbook = ""
    if expected and expected.lower() != answer.lower():
        textbook = (f" The textbook answer “{expected}” is not the vectors' first choice: vector arithmetic is "
                    "approximate.")
    explanation = (f"With {space}, the word whose vector points closest to “{b}” − “{a}” + “{c}” "
                   f"(leaving out the three input words) is “{answer}”, cosine {cosine[answer]:.3f}. "
                   f"The other choices: {others}.{textbook} The Analogy builder on the Embedding space "
                   "page lists them all.")
    return Question("analogy", f"With {space}: “{a}” is to “{b}” as “{c}” is to … ?", tuple(choices),
                    index, explanation, {"a": a, "b": b, "c": c, "expected": expected, "space": space})


def analogy_from(vectors: WordVectors, presets: Sequence[tuple[str, str, str, str]], text: str,
                 space: str = "", n_choices: int = N_CHOICES) -> Question | None:
    """An analogy question from one of `presets` (a, b, c, expected), chosen by the sentence; presets
    with a word outside the vocabulary are passed over."""
    rng = rng_for(text, "analogy preset")
    for i in rng.permutation(len(presets)):
        a, b, c, expected = presets[i]
        try:
            question = analogy_question(vectors, a, b, c, expected, text, space, n_choices)
        except (KeyError, ValueError):    # a word outside this vocabulary
            continue
        if question is not None:
            return question
    return None


# -- context: which layer moves a token most? --------------------------------------------------------
def movement_question(trace: Trace, position: int | None = None, n_choices: int = N_CHOICES) -> Question | None:
    """"Which layer moves <token> most?" — the largest ‖h_l − h_(l−1)‖ (the Context page's bars).

    Layers count from 0, as on every page: layer l turns the vector before it into the one after it.
    Without `position`, a whole word chosen by the sentence."""
    n_layers = trace.n_layers
    if n_layers < MIN_CHOICES or not trace.tokens:
        return None
    rng = rng_for(trace.text, "movement")
    if position is None:
        words = np.flatnonzero(whole_words(trace))
        words = words if words.size else [i for i, special in enumerate(trace.special_mask) if not special] or [0]
        position = int(rng.choice(words))
    movement = layer_movement(trace, position)
    change = np.asarray(movement["change_norm"], dtype=np.float64)  # (L,) layer l at index l
    ranked = [int(i) for i in np.argsort(-change, kind="stable")]
    answer = ranked[0]
    count = min(n_choices, n_layers) - 1
    layers, index = _arrange(answer, _distractors(ranked[1:2], ranked[2:], count, rng), rng,
                             keep_order=True)
    name = token_name(trace, position)
    at = answer
    others = "; ".join(f"layer {l}: {change[l]:.2f}" for l in layers if l != answer)
    explanation = (
        f"Layer {answer} moves “{name}” the most: its vector changes by ‖Δ‖ = {change[at]:.2f} there "
        f"(cosine to the layer before {movement['cosine_to_previous'][at]:.3f}). The other choices: {others}. "
        f"In that layer attention added a vector of size {movement['attn_out_norm'][at]:.2f} and the "
        f"feed-forward one of size {movement['mlp_out_norm'][at]:.2f}. Layers count from 0, as on every page.")
    return Question("movement", f"Which layer moves {named_in_context(trace, position)} the most (the biggest "
                                "change to its vector)?",
                    tuple(f"layer {l}" for l in layers), index, explanation,
                    {"position": position, "layers": tuple(layers)})


# -- next token: what does a language model expect? -------------------------------------------------
def next_token_question(trace: Trace, decode: Callable[[int], str], position: int | None = None,
                        n_choices: int = N_CHOICES) -> Question | None:
    """"Which token comes next after <text>?" — the argmax of the model's logits (language models only).

    `decode` turns a vocabulary id into the text shown (spaces made visible); entries that read the
    same are offered once, as the better-ranked one."""
    if trace.top_ids is None or not trace.tokens:
        return None
    position = len(trace.tokens) - 1 if position is None else position
    logits = np.asarray(trace.logits_at(position), dtype=np.float64)    # (vocab,)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    labels: dict[str, int] = {}
    for token_id in np.argsort(-logits, kind="stable")[:4 * POOL]:
        labels.setdefault(decode(int(token_id)), int(token_id))
        if len(labels) >= POOL:
            break
    if len(labels) < MIN_CHOICES:
        return None
    rng = rng_for(trace.text, f"next token {position}")
    ids = list(labels.values())
    count = min(n_choices, len(ids)) - 1
    chosen, index = _arrange(ids[0], _distractors(ids[1:2], ids[2:], count, rng), rng)
    text_of = {i: label for label, i in labels.items()}
    rank = {i: r + 1 for r, i in enumerate(np.argsort(-logits, kind="stable")[:4 * POOL].tolist())}
    end = trace.offsets[position][1] if trace.offsets and trace.offsets[position][1] else len(trace.text)
    before = trace.text[:end]
    before = before if len(before) <= CONTEXT_CHARS else "…" + before[-CONTEXT_CHARS:]
    others = "; ".join(f"“{text_of[i]}” #{rank[i]} ({probs[i]:.3f})"
                       for i in sorted(chosen, key=rank.get) if i != ids[0])
    explanation = (f"After “{before}” the model gives “{text_of[ids[0]]}” probability {probs[ids[0]]:.3f}, the "
                   f"highest of its {len(logits):,} vocabulary entries. The other choices: {others}. "
                   "(␣ is a space; the Next token page lists more.)")
    return Question("next token", f"Which token does the model rank most likely to come right after “{before}”?",
                    tuple(text_of[i] for i in chosen), index, explanation,
                    {"position": position, "ids": tuple(chosen)})


# -- a set of questions for one sentence --------------------------------------------------------------
def question_set(trace: Trace, vectors: WordVectors | None = None,
                 analogies: Sequence[tuple[str, str, str, str]] = (), space: str = "",
                 decode: Callable[[int], str] | None = None, follow: int | None = None,
                 n_choices: int = N_CHOICES) -> list[Question]:
    """The questions the Quiz page asks about one sentence: a head in the first half of the layers and
    one in the second, the layer that moves a token (`follow`, else one chosen by the sentence), the next
    token (language models, with `decode`), and an analogy (with `vectors` and `analogies`)."""
    questions: list[Question | None] = []
    half = max(1, trace.n_layers // 2)
    answered: list[int] = []     # the second head should not have the first one's answer
    for salt, layers in (("early", range(half)), ("late", range(half, trace.n_layers))):
        if len(layers) and trace.n_heads:
            question = attention_question(trace, *pick_head(trace, layers, salt, answered), n_choices=n_choices)
            if question is not None:
                answered.append(question.details["keys"][question.answer])
            questions.append(question)
    questions.append(movement_question(trace, follow, n_choices))
    if decode is not None:
        questions.append(next_token_question(trace, decode, n_choices=n_choices))
    if vectors is not None and analogies:
        questions.append(analogy_from(vectors, analogies, trace.text, space, n_choices))
    return [q for q in questions if q is not None]
