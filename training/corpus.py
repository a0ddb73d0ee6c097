"""A built-in training corpus, generated from a small grammar written for this project.

Four little worlds, chosen so that a tiny model can learn something we can check:
  royalty and gender   the king rules his kingdom . the queen rules her kingdom .
  animals and food     the cow eats grass . cats eat fish .
  countries, capitals  paris is the capital of france .
  agreement            the dog near the birds runs . the dogs near the bird run .
The same seed always gives the same sentences, so a training run can be repeated.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

# (male, female) pairs: the analogy man : king :: woman : ? is checked on them after training.
PAIRS = [("king", "queen"), ("man", "woman"), ("prince", "princess"), ("boy", "girl"),
         ("father", "mother"), ("son", "daughter"), ("brother", "sister"), ("lord", "lady")]
ROYAL = {"king", "queen", "prince", "princess", "lord", "lady"}
OWNED = ["kingdom", "horse", "castle", "crown", "garden", "house", "dog", "book"]
ACTS = ["rules", "loves", "rides", "guards", "visits", "leaves"]
# animal (singular, plural) -> food
ANIMALS = {("cat", "cats"): "fish", ("cow", "cows"): "grass", ("rabbit", "rabbits"): "carrots",
           ("dog", "dogs"): "meat", ("bird", "birds"): "seeds", ("monkey", "monkeys"): "bananas",
           ("horse", "horses"): "hay", ("bear", "bears"): "honey", ("mouse", "mice"): "cheese",
           ("panda", "pandas"): "bamboo"}
CAPITALS = {"france": "paris", "japan": "tokyo", "germany": "berlin", "italy": "rome",
            "spain": "madrid", "egypt": "cairo", "peru": "lima", "kenya": "nairobi",
            "canada": "ottawa", "china": "beijing"}
# (singular verb, plural verb) for subject-verb agreement across a distracting noun
VERBS = [("runs", "run"), ("sleeps", "sleep"), ("sings", "sing"), ("waits", "wait"),
         ("plays", "play"), ("eats", "eat")]
PLACES = ["near", "behind", "with", "beside"]


@dataclass(frozen=True)
class CorpusConfig:
    seed: int = 0               # the same seed gives the same corpus
    n_sentences: int = 6000     # about 35,000 words: enough for a 1-minute model


def royalty(rng: random.Random) -> str:
    male, female = rng.choice(PAIRS)
    is_female = rng.random() < 0.5
    person, pronoun, subject = (female, "her", "she") if is_female else (male, "his", "he")
    gender = "woman" if is_female else "man"
    kind = rng.randrange(4)
    if kind == 0:
        return f"the {person} {rng.choice(ACTS)} {pronoun} {rng.choice(OWNED)} ."
    if kind == 1:
        royal = "royal " if person in ROYAL else ""
        return f"the {person} is a {royal}{gender} ."
    if kind == 2:
        return f"{subject} is the {person} and {subject} {rng.choice(ACTS)} {pronoun} {rng.choice(OWNED)} ."
    other = PAIRS[[m for m, _ in PAIRS].index(male)][0 if is_female else 1]
    return f"the {person} and the {other} {ACTS[rng.randrange(len(ACTS))][:-1]} together ."


def animals(rng: random.Random) -> str:
    (one, many), food = rng.choice(list(ANIMALS.items()))
    kind = rng.randrange(3)
    if kind == 0:
        return f"the {one} eats {food} ."
    if kind == 1:
        return f"{many} eat {food} ."
    return f"the {many} like {food} but the {rng.choice([a for a, _ in ANIMALS if a != one])} does not ."


CAPITAL_TEMPLATES = ["{city} is the capital of {country} .", "the capital of {country} is {city} .",
                     "{city} is a city in {country} ."]


def capitals(rng: random.Random) -> str:
    country, city = rng.choice(list(CAPITALS.items()))
    return rng.choice(CAPITAL_TEMPLATES).format(city=city, country=country)


def agreement(rng: random.Random) -> str:
    """The verb agrees with the subject, not with the nearer noun in between."""
    (one, many), _ = rng.choice(list(ANIMALS.items()))
    (other_one, other_many), _ = rng.choice(list(ANIMALS.items()))
    plural = rng.random() < 0.5
    subject = many if plural else one
    between = other_one if rng.random() < 0.5 else other_many
    singular_verb, plural_verb = rng.choice(VERBS)
    verb = plural_verb if plural else singular_verb
    return f"the {subject} {rng.choice(PLACES)} the {between} {verb} ."


TOPICS = (royalty, animals, capitals, agreement)


def generate_corpus(config: CorpusConfig = CorpusConfig()) -> list[str]:
    """`config.n_sentences` sentences, one per item, the same for the same seed."""
    if config.n_sentences < 1:
        raise ValueError("the corpus needs at least one sentence.")
    rng = random.Random(config.seed)
    return [TOPICS[i % len(TOPICS)](rng) for i in range(config.n_sentences)]


def split_lines(text: str) -> list[str]:
    """A person's own text as training lines: one per non-empty line, spaces tidied."""
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]
