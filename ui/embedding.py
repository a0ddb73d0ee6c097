"""What the embedding page needs besides widgets: cached tables, presets, word lists, CSV.

`input_vectors(model_name)` is a model's input embedding table as a WordVectors, cached once
per model for every session: the embedding page's "minilm-input" space and the vocabulary lens
of the context pages (pages/context.py, pages/context_pair.py) share it, so MiniLM's table is
wrapped and normalised once.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd
import streamlit as st

from analysis.vectors import WordVectors
from models import EmptyTextError, load_vectors
from models.vectors import vectors_from_model
from ui.state import current_sentence, get_model

SPACE_LABELS = {"glove-6b-50d": "GloVe 6B · 50-d words", "minilm-input": "MiniLM input embeddings · 384-d tokens"}
MAX_WORDS = 200          # more labels than this are an unreadable blot (and t-SNE gets slow)
ANALOGIES = {            # label -> (a, b, c, expected)
    "man : king :: woman : ?": ("man", "king", "woman", "queen"),
    "france : paris :: italy : ?": ("france", "paris", "italy", "rome"),
    "walk : walked :: swim : ?": ("walk", "walked", "swim", "swam"),
    "good : better :: bad : ?": ("good", "better", "bad", "worse"),
    "germany : berlin :: japan : ?": ("germany", "berlin", "japan", "tokyo"),
    "big : bigger :: small : ?": ("big", "bigger", "small", "smaller"),
    "brother : sister :: uncle : ?": ("brother", "sister", "uncle", "aunt"),
    "dog : puppy :: cat : ?": ("dog", "puppy", "cat", "kitten"),
    "go : went :: see : ?": ("go", "went", "see", "saw"),
    "mouse : mice :: child : ?": ("mouse", "mice", "child", "children"),
}
GROUPS = {               # preset -> {legend group: words}
    "royalty and gender": {"male": ["king", "prince", "man", "boy", "father", "husband"],
                           "female": ["queen", "princess", "woman", "girl", "mother", "wife"]},
    "countries and capitals": {"countries": ["france", "italy", "germany", "japan", "spain", "russia", "china"],
                               "capitals": ["paris", "rome", "berlin", "tokyo", "madrid", "moscow", "beijing"]},
    "verb tenses": {"present": ["walk", "swim", "run", "see", "eat", "go"],
                    "past": ["walked", "swam", "ran", "saw", "ate", "went"]},
    "comparatives": {"adjective": ["good", "bad", "big", "small", "fast", "strong"],
                     "comparative": ["better", "worse", "bigger", "smaller", "faster", "stronger"]},
    "elephants, trucks, mice and toasters": {
        "big animals": ["elephant", "whale", "giraffe", "rhino"], "big machines": ["truck", "bus", "tractor", "tank"],
        "small animals": ["mouse", "hamster", "frog", "sparrow"],
        "small machines": ["toaster", "kettle", "phone", "radio"]},
}


@st.cache_resource(show_spinner="Reading the embedding table…", max_entries=4)
def input_vectors(model_name: str) -> WordVectors:
    """The model's input embedding table (its unit rows are made on the first query, ~0.2 s for 30k rows)."""
    return vectors_from_model(get_model(model_name))


@st.cache_resource(show_spinner="Opening the word vectors…", max_entries=2)
def get_vectors(space: str) -> WordVectors:
    if space == "minilm-input":
        return input_vectors("minilm")
    return load_vectors(space)


def split_words(text: str) -> list[str]:
    """Words typed by a person: commas, spaces or new lines between them."""
    return [w for w in re.split(r"[,\s]+", text.strip()) if w]


def sentence_words(space: str) -> list[str]:
    """The current sentence as the chosen table spells it: WordPiece tokens, or GloVe's words."""
    text = current_sentence()
    if space == "minilm-input":
        try:
            encoded = get_model("minilm").tokenizer.encode(text)
        except EmptyTextError:
            return []
        return [t for t, special in zip(encoded.tokens, encoded.special_mask) if not special]
    return re.findall(r"[\w'-]+|[^\w\s]", text.lower())


def unique(words: list[str]) -> list[str]:
    return list(dict.fromkeys(words))


def coordinates_csv(words, groups, coords: np.ndarray) -> bytes:
    frame = pd.DataFrame({"word": list(words), "group": list(groups)})
    for i in range(coords.shape[1]):
        frame[f"axis_{i + 1}"] = coords[:, i]
    return frame.to_csv(index=False).encode("utf-8")
