"""The models that ship with the app, trained here on its own data (training/shipped.py has their recipes).

    models/shipped_models/grammar-lm/             Grammar LM: a small decoder trained on the built-in grammar
    models/shipped_models/grammar-lm-untrained/   its random start (Try your model's "before training")
    models/shipped_models/grammar-lm-steps/       its weights at steps 100, 200, 400 and 800 of the build
                                                  (Across training checkpoints: "grammar-lm@step400")
    models/shipped_models/reversal/               the Encoder–decoder page's trained reversal toy

The two Grammar LM folders are saved models (models/saved.py's format) opened by name, "grammar-lm":
they live beside the code, not in the Train page's models folder, so its size limit and its Delete
buttons never reach them. The reversal toy has no tokenizer (its vocabulary is its task's letters):
config.json holds its core config and the task, model.safetensors its weights.
`python -m jobs.shipped` rebuilds all three.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

from safetensors.torch import save_file

from core import TransformerConfig
from core.budget import count_parameters
from core.seq2seq import EncoderDecoder, seq2seq_from_state_dict

from .files import read_config
from .loaded import LoadedModel
from .saved import TEMP_SUFFIX, load_saved, read_state

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped_models"
GRAMMAR_LM = "grammar-lm"
GRAMMAR_LM_UNTRAINED = "grammar-lm-untrained"
REVERSAL = "reversal"
REVERSAL_TYPE = "attention-explorer-reversal"
EXAMPLE_PROMPTS = ("the king rules his", "paris is the capital of", "cows eat")   # sentences of its grammar
GRAMMAR_LM_DESCRIPTION = (
    "Grammar LM: the small decoder that ships with the app, trained here on the built-in grammar corpus "
    "(royalty, animals and their food, capitals, subject–verb agreement; {words} words, each one token). "
    "{shape}, BPE vocabulary of {vocab}. It knows only that corpus: any other word is spelled in pieces it "
    "never saw together.")


def shipped_folder(name: str) -> Path:
    return SHIPPED_DIR / name


def is_shipped_lm(name: str) -> bool:
    """"grammar-lm" and its random start: names that open a shipped folder, whatever the working directory."""
    return name in (GRAMMAR_LM, GRAMMAR_LM_UNTRAINED)


@lru_cache(maxsize=1)
def grammar_lm_label() -> str:
    """The picker's words: "Grammar LM — decoder trained here on the built-in corpus · 2 × 4 heads · 0.1 M"."""
    config = TransformerConfig.from_dict(read_config(shipped_folder(GRAMMAR_LM))["config"])
    return (f"Grammar LM — decoder trained here on the built-in corpus · {config.n_layers} × {config.n_heads} "
            f"heads · {count_parameters(config) / 1e6:.1f} M")


def load_shipped_lm(name: str = GRAMMAR_LM) -> LoadedModel:
    """The Grammar LM (or its random start), named by its key, described for a newcomer."""
    model = load_saved(shipped_folder(name))
    config = model.config
    shape = (f"{config.n_layers} layers × {config.n_heads} heads, d_model {config.d_model}, "
             f"context {config.max_positions}")
    description = GRAMMAR_LM_DESCRIPTION.format(words=len(known_words(model)), shape=shape, vocab=config.vocab_size)
    if name == GRAMMAR_LM_UNTRAINED:
        description = "The Grammar LM before training: the same shape and tokenizer, its random starting weights."
    return replace(model, name=name, description=description)


def known_words(model: LoadedModel) -> set[str]:
    """Every word the model was trained on: the Grammar LM's build lists its corpus's words (each one token)."""
    return set(model.info.get("words") or ())


# -- the Grammar LM's training checkpoints -------------------------------------------------------------
GRAMMAR_LM_STEPS = "grammar-lm-steps"     # step100, step200 … : its weights kept during its build
STEP_NAME = re.compile(r"step(\d+)")


def grammar_lm_checkpoints() -> list[tuple[int, str]]:
    """(training step, revision name) of every shipped state of the Grammar LM, in training order: its
    random start (step 0), the steps kept during its build, and the trained model."""
    kept = []
    folder = shipped_folder(GRAMMAR_LM_STEPS)
    if folder.is_dir():
        for child in folder.iterdir():
            match = STEP_NAME.fullmatch(child.name)
            if match and (child / "model.safetensors").is_file():
                kept.append((int(match.group(1)), child.name))
    last = int(read_config(shipped_folder(GRAMMAR_LM)).get("info", {}).get("steps", 0) or 0)
    return [(0, "step0"), *sorted(kept), (last, f"step{last}")]


def load_grammar_lm_step(revision: str) -> LoadedModel:
    """"step0", "step400", … (grammar_lm_checkpoints): the Grammar LM as it was at that step of its build."""
    states = grammar_lm_checkpoints()
    steps = {name: step for step, name in states}
    if revision not in steps:
        raise ValueError(f"the Grammar LM has no checkpoint {revision!r}: it ships "
                         + ", ".join(name for _, name in states))
    step = steps[revision]
    if step == 0:
        model = load_shipped_lm(GRAMMAR_LM_UNTRAINED)
    elif revision == states[-1][1]:
        model = load_shipped_lm(GRAMMAR_LM)
    else:
        model = replace(load_saved(shipped_folder(GRAMMAR_LM_STEPS) / revision),
                        description=f"The Grammar LM after {step:,} of its training steps.")
    return replace(model, name=f"{GRAMMAR_LM}@{revision}")


def unknown_words(model: LoadedModel, text: str) -> list[str]:
    """The words of `text` that are not one token of `model`'s vocabulary, in order, each once (lower case:
    the Grammar LM's tokenizer lower-cases what it reads)."""
    known, seen = known_words(model), []
    for word in re.findall(r"[^\W_]+|[^\w\s]", text.lower()):
        if word not in known and word not in seen:
            seen.append(word)
    return seen


# -- the reversal toy ------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class ShippedReversal:
    net: EncoderDecoder           # trained, in eval mode
    config: TransformerConfig
    task: dict                    # training.reversal.ReversalTask's fields (models never imports training)
    info: dict                    # the recipe, held-out accuracy and the training curve


def save_reversal(net: EncoderDecoder, task: dict, info: dict, folder: Path | str) -> Path:
    """Write the toy to `folder` (replacing it) through a temporary folder renamed when complete."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=TEMP_SUFFIX, dir=folder.parent))
    try:
        state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
        save_file(state, str(tmp / "model.safetensors"))
        meta = {"model_type": REVERSAL_TYPE, "config": net.config.to_dict(), "task": task, "info": info}
        (tmp / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
        replace_folder(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def replace_folder(new: Path, old: Path) -> None:
    """Put the complete folder `new` where `old` is (the old one removed first: a rebuild replaces it)."""
    if old.exists():
        shutil.rmtree(old)
    os.rename(new, old)


def load_reversal(folder: Path | str | None = None) -> ShippedReversal:
    """The shipped reversal toy; errors name the file that is wrong."""
    folder = Path(folder) if folder is not None else shipped_folder(REVERSAL)
    raw = read_config(folder)
    path = folder / "config.json"
    if raw.get("model_type") != REVERSAL_TYPE:
        raise ValueError(f"{path}: model_type is {raw.get('model_type')!r}, not the reversal toy ({REVERSAL_TYPE!r})")
    try:
        config = TransformerConfig.from_dict(raw["config"])
        task, info = dict(raw["task"]), dict(raw.get("info") or {})
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: config.json has an unusable config or task ({exc})") from exc
    state = read_state(folder / "model.safetensors")
    try:
        net = seq2seq_from_state_dict(config, state)
    except ValueError as exc:
        raise ValueError(f"{folder / 'model.safetensors'} does not match config.json ({exc})") from exc
    return ShippedReversal(net.eval(), config, task, info)

