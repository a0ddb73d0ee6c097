"""What the prediction pages share: the unembedding check, the cached logit lens, token text."""
from __future__ import annotations

import streamlit as st

from core import Trace
from analysis.lens import LogitLens, logit_lens
from models import LoadedModel
from models.registry import is_decoder
from models.shipped import EXAMPLE_PROMPTS, GRAMMAR_LM, known_words, unknown_words
from ui.family import model_family
from ui.plain import plain
from ui.state import cached, current_model_and_trace, get_model, model_choices, trace_for, use_sentence

LENS_K = 5


def require_unembedding(model: LoadedModel, trace: Trace) -> None:
    """Stop the page with a plain message when the model cannot predict tokens (an encoder), and
    offer the decoders this server has, one click each, instead of a dead end."""
    if trace.top_ids is not None and model.net.final_norm is not None:
        return
    name = model_family(model)
    st.info(f"{'This model' if name == 'this model' else name} has no unembedding: it is an encoder that reads the "
            "whole sentence at once, so it never predicts a next token. This page needs a decoder.")
    decoders = {key: label for key, label in model_choices().items() if is_decoder(key)}
    if decoders:
        st.markdown("Decoders on this server:")
        for key, label in list(decoders.items())[:6]:
            st.button(f"Switch to {label}", key=f"use_decoder_{key}", on_click=use_model, args=(key,))
    else:
        st.markdown("No decoder is on this server yet: get one with the sidebar's **Get a model** box (for "
                    "example `openai-community/gpt2` or `EleutherAI/pythia-70m`), or train one on **Train a "
                    "tiny transformer**.")
    st.stop()


def decoder_and_trace() -> tuple[LoadedModel, Trace]:
    """The sidebar's model and sentence for a prediction page, which stops with the decoders on offer
    when the model is an encoder."""
    model, trace = current_model_and_trace()
    require_unembedding(model, trace)
    grammar_words_note(model, trace.text)
    return model, trace


def grammar_words_note(model: LoadedModel, text: str) -> None:
    """The Grammar LM knows only the built-in corpus's words: name the sentence's words it never saw
    (it reads them as pieces it never saw together, so what it predicts after them is a guess) and
    offer sentences of its grammar, one click each."""
    if model.name != GRAMMAR_LM:
        return
    unknown = unknown_words(model, text)
    if not unknown:
        return
    named = ", ".join(f"*{plain(w)}*" for w in unknown[:6]) + (", …" if len(unknown) > 6 else "")
    st.info(f"The Grammar LM knows only the {len(known_words(model))} words of the built-in corpus (kings and "
            f"queens, animals and their food, capitals): {named} {'is' if len(unknown) == 1 else 'are'} not among "
            "them, so its predictions here are guesses. Try a sentence of its grammar:")
    for col, prompt in zip(st.columns(len(EXAMPLE_PROMPTS)), EXAMPLE_PROMPTS):
        col.button(f"“{prompt} …”", key=f"grammar_example_{prompt}", on_click=use_sentence, args=(prompt,),
                   width="stretch")


def use_model(key: str) -> None:
    st.session_state["model"] = key


def lens_for(model_name: str, text: str, positions: range, k: int = LENS_K) -> LogitLens:
    """The logit lens of the sidebar's sentence at `positions`, once per server (byte-budgeted cache)."""
    def compute() -> LogitLens:
        return logit_lens(get_model(model_name).net, trace_for(model_name, text), k, positions=list(positions))
    return cached(("lens", model_name, text, positions.start, positions.stop, k), compute,
                  "Reading every layer through the unembedding…")


def token_texts(model: LoadedModel, ids) -> dict[int, str]:
    """id -> text for every distinct id in `ids` (any nesting of arrays)."""
    import numpy as np

    return {int(i): token_text(model, int(i)) for i in np.unique(np.asarray(ids))}


def token_text(model: LoadedModel, token_id: int) -> str:
    """A vocabulary entry as text ("Ġthe" becomes " the"); the raw entry when it decodes to nothing or to
    part of a character (a byte-level piece of an emoji)."""
    text = model.tokenizer.backend.decode([int(token_id)], skip_special_tokens=False)
    entry = model.tokenizer.id_to_token(int(token_id)) or ""
    if not text or "\ufffd" in text:   # part of a multi-byte character: show the vocabulary entry itself
        return entry or f"<{int(token_id)}>"
    if entry.startswith("▁") and not text.startswith(" "):
        # A word-start piece of a SentencePiece-style vocabulary (the Grammar LM's, Llama's): its decoder drops
        # the space of a text's first token, and a token decoded alone is always first. Kept, as GPT-2's "Ġthe".
        text = " " + text
    return text
