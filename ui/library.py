"""The models a visitor may open, and nothing else.

A web visitor chooses from a list: MiniLM, the models in the models folder, and the
folders the person running the server listed ($ATTENTION_EXPLORER_MODEL_DIRS, separated
by the system's path separator). A typed path is accepted only when the server was started
with ATTENTION_EXPLORER_ALLOW_PATHS=1 (a personal run); otherwise nothing a visitor types
ever reaches the file system, so no answer can tell them which folders exist.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import streamlit as st

from models import available_models, load_model
from models.files import read_config
from models.hub_cache import cache_dir
from models.registry import has_failed
from models.saved import MODEL_TYPE as TRAINED_HERE, models_dir
from models.loaded import LoadedModel
from models.shipped import GRAMMAR_LM, GRAMMAR_LM_UNTRAINED, known_words
from ui.paths import link

def allowed_roots() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("ATTENTION_EXPLORER_MODEL_DIRS", "").split(os.pathsep) if p.strip()]
    return [models_dir()] + extra


def free_paths_allowed() -> bool:
    return os.environ.get("ATTENTION_EXPLORER_ALLOW_PATHS", "") == "1"


def listed_models() -> dict[str, str]:
    """Name -> label of every model this server offers (looked up again after 15 s: new saves appear);
    a model that failed on a page is left out at once, until its files change."""
    listed = _listed_in(tuple(str(root) for root in allowed_roots()), str(cache_dir()))
    return {name: label for name, label in listed.items() if not has_failed(name)}


@st.cache_data(ttl=15, show_spinner=False)
def _listed_in(roots: tuple[str, ...], hf_cache: str) -> dict[str, str]:
    """Keyed by the folders and the Hugging Face cache they are read from (a moved cache lists anew)."""
    return available_models(roots)


def trained_models(choices: dict[str, str]) -> dict[str, str]:
    """The models of `choices` that were trained in this app (by any session: a saved model is a
    model), untrained "before" copies left out. Only config.json is read, bounded in size."""
    found = {}
    for key, label in choices.items():
        if key.endswith("-untrained") or not (Path(key) / "config.json").is_file():
            continue
        try:
            if read_config(Path(key)).get("model_type") == TRAINED_HERE:
                found[key] = label
        except (OSError, ValueError):
            continue
    return found


def try_choices(choices: dict[str, str], picked: str) -> tuple[dict[str, str], str]:
    """Try your model's list, and the model it opens on: the Grammar LM that ships with the app first, then
    every model trained in this app; it opens on the sidebar's pick when that is one of them, else on this
    session's latest trained (or opened) model, else on the Grammar LM (never an empty page)."""
    listed = {GRAMMAR_LM: choices[GRAMMAR_LM]} if GRAMMAR_LM in choices else {}
    listed.update(trained_models(choices))
    if picked in listed:
        return listed, picked
    mine = [key for key in st.session_state.get("extra_models", {}) if key in listed]
    return listed, mine[-1] if mine else next(iter(listed), "")


def untrained_twin(key: str) -> str | None:
    """The random start saved beside a trained model ("<folder>-untrained"), when there is one."""
    if key == GRAMMAR_LM:
        return GRAMMAR_LM_UNTRAINED
    twin = key + "-untrained"
    return twin if (Path(twin) / "config.json").is_file() else None


def shipped_note(key: str, model: LoadedModel) -> None:
    """What the model is; for the Grammar LM, plainly that it ships with the app, and how to train your own."""
    if key != GRAMMAR_LM:
        st.caption(model.description)
        return
    recipe, info = model.info.get("recipe", {}), model.info
    st.info(f"This is the **Grammar LM**, the small decoder that ships with the app: trained here, with this app's "
            f"own code, on the built-in grammar corpus ({recipe.get('n_sentences', 0):,} sentences, "
            f"{info.get('steps', 0):,} steps, validation loss {info.get('val_loss', float('nan')):.2f}). It knows "
            f"only that corpus's {len(known_words(model))} words: try *the king rules*, *paris is the capital of* or "
            "*cows eat*. To try a model of your own, train one on **Train a tiny transformer** (about a minute): "
            "it opens here when it is done.")
    link(st, "pages/train.py", "Train your own")


def open_model(path: str, label: str) -> None:
    """Load a listed (or, on a personal run, typed) folder and add it to this session's picker."""
    try:
        model = load_model(path)
    except (OSError, ValueError) as exc:
        st.error(f"Could not load this model: {exc}")
        return
    if not model.config.lm_head:
        st.warning("That folder holds an encoder without a next-token head: pick it in the sidebar's model "
                   "picker for the attention pages; there is nothing to predict here.")
    st.session_state.setdefault("extra_models", {})[str(model.folder)] = label
    st.success("Loaded: it is now in the sidebar's model picker on every page.")


def model_opener() -> None:
    """Where saved models are; a free path box only on a personal run."""
    st.caption("Every model saved on this server (and those in the server's Hugging Face cache) is in the "
               "sidebar's model picker.")
    if free_paths_allowed():
        path = st.text_input("Open a folder on this computer (config.json, model.safetensors, tokenizer.json)",
                             key="open_model_path", placeholder="/path/to/model")
        if st.button("Open folder", key="open_model_path_go") and path.strip():
            open_model(path.strip(), f"📂 {Path(path.strip()).name}")


def own_models() -> dict[str, str]:
    """Folders this session saved (the only ones it may delete)."""
    return st.session_state.setdefault("own_models", {})


def delete_own_model(folder: str) -> bool:
    """Delete a folder this session saved, inside the models folder only."""
    path = Path(folder).resolve()
    if folder not in own_models() or models_dir().resolve() not in path.parents:
        return False
    shutil.rmtree(path, ignore_errors=True)
    own_models().pop(folder, None)
    st.session_state.get("extra_models", {}).pop(folder, None)
    return True


def own_models_manager() -> None:
    """This session's saved models, each with a Delete button."""
    own = own_models()
    if not own:
        return
    st.markdown("**Models this session saved** (delete the ones you no longer need: the server's models "
                "folder has a size limit):")
    for folder, label in list(own.items()):
        name, button = st.columns([4, 1], vertical_alignment="center")
        name.text(label)
        if button.button("Delete", key=f"delete_{folder}", icon=":material/delete:"):
            delete_own_model(folder)
            st.rerun()
