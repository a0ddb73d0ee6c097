"""What the two context pages share: example pairs, the token to follow first, and the CSV tables.

pages/context.py        one sentence: each token's path, what it is near, how far each layer moves it;
pages/context_pair.py   the same word in two sentences.
The vocabulary lens itself is the model's input table as a analysis.vectors.WordVectors, cached
once per model by ui.embedding.input_vectors (the embedding page uses the same object).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from core import Trace
from analysis.vectors import WordVectors
from viz.common import state_label

PRESETS = {  # shared word -> (sentence A, sentence B)
    "bank": ("I sat on the bank of the river.", "I deposited money at the bank."),
    "flies": ("Time flies like an arrow.", "Fruit flies like a banana."),
    "bat": ("The bat flew out of the cave at night.", "He swung the bat and hit the ball."),
}
LOOK_FOR = {  # checked against the model's numbers in tests/test_context.py
    "flies": "Look at the nearest entries below: in *fruit flies*, **insects** joins the six nearest "
             "vocabulary entries after layer 1 and stays to the last layer (**insect** too, after layers 2–4); in "
             "*time flies* neither ever does, and the list stays forms of *fly* and flight words (flew, "
             "flying, flown, airplanes, soared). *flies* itself stays nearest in both: context tilts the "
             "vector, it does not swap the word.",
}
FOLLOW_FIRST = set(PRESETS) | {"tower"}   # words worth following first when the sentence has them
PATHS_OPEN = 4       # token paths drawn when the page opens: a few stay readable
PATHS_AT_HAND = 12   # paths in the figure, the others one click on their legend entry away
FUNCTION_WORDS = set(
    "a an the and or but if of to in on at by for with from as into onto than then that this these those "
    "is are was were be been being am do does did has have had it its it's he she they we you i me him her "
    "them us my your our their his not no so such which who whom what when where while how there here "
    "can could will would shall should may might must also very".split())


def is_content(trace: Trace, i: int) -> bool:
    """Letters, more than one, not a word's later piece (##ing), not a function word (the, of, was)."""
    token = trace.tokens[i].lstrip("Ġ▁").lower()                 # GPT-2 / SentencePiece word starts
    return token.isalpha() and len(token) > 1 and token not in FUNCTION_WORDS


def token_to_follow(trace: Trace, words: Sequence[int]) -> int:
    """The first preset word (bank, flies, bat) or "tower" among the word positions, else the first
    content word (issue 26: it opened on "the"), else the first word."""
    preset = next((i for i in words if trace.tokens[i] in FOLLOW_FIRST), None)
    if preset is not None:
        return preset
    return next((i for i in words if is_content(trace, i)), words[0] if words else 0)


def content_words(trace: Trace, words: Sequence[int]) -> list[int]:
    """The word positions whose tokens carry content (is_content). The followed token comes first."""
    picked = [i for i in words if is_content(trace, i)]
    first = token_to_follow(trace, words)
    return ([first] if first in picked else []) + [i for i in picked if i != first]


def paths_to_draw(trace: Trace, words: Sequence[int]) -> list[int]:
    """The token paths the trajectories open on: a few content words (any words if there are none)."""
    return (content_words(trace, words) or list(words))[:PATHS_OPEN]


def paths_at_hand(trace: Trace, words: Sequence[int], drawn: Sequence[int]) -> list[int]:
    """More content words to put in the figure's legend, unseen, so that the figure holds at most
    PATHS_AT_HAND paths (12 distinct colours and markers)."""
    room = max(0, PATHS_AT_HAND - len(drawn))
    return [i for i in content_words(trace, words) if i not in drawn][:room]


def trajectory_csv(tokens: Sequence[str], coords: np.ndarray) -> str:
    """One row per vector and position: the token and its coordinates (pc1, pc2[, pc3]) in the shared PCA.

    `coords` is (layers + 1, T, dims), layer-major, as Trajectories holds it; the `vector` column names
    each stage as the pages do ("embeddings", "after layer 0", …)."""
    n_states, n_tokens, dims = coords.shape
    table = pd.DataFrame({"vector": np.repeat([state_label(i) for i in range(n_states)], n_tokens),
                          "position": np.tile(np.arange(n_tokens), n_states),
                          "token": list(tokens) * n_states})
    for axis in range(dims):
        table[f"pc{axis + 1}"] = coords[..., axis].ravel()
    return table.to_csv(index=False)


def nearest_csv(rows: Sequence[Sequence[tuple[str, float]]]) -> str:
    """The lens table as the page draws it: a row per layer, the nearest entries in rank columns 1..k."""
    n_entries = len(rows[0]) if rows else 0
    table = pd.DataFrame([[word for word, _ in row] for row in rows],
                         columns=[str(rank + 1) for rank in range(n_entries)])
    table.index = [state_label(i) for i in range(len(table))]
    return table.rename_axis("vector").to_csv()


def nearest_by_sentence(table: WordVectors, vectors: Sequence[np.ndarray], n_entries: int = 6) -> pd.DataFrame:
    """A row per layer, a column per sentence (A, B): the entries nearest the word's vector there."""
    return pd.DataFrame({f"{name}: nearest entries": [", ".join(word for word, _ in row)
                                                      for row in table.nearest_words(path, n_entries)]
                         for name, path in zip("AB", vectors)},
                        index=[state_label(i) for i in range(len(vectors[0]))]).rename_axis("vector")
