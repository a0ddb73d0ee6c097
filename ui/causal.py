"""What the causal pages share: answer tokens, cached patching grids and induction probes, a stop
with a plain message where a tool does not apply."""
from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from analysis.detectors import InductionProbe, induction_probe
from analysis.patching import PatchGrid, make_metric, patch_grid
from core import Trace
from models import LoadedModel
from ui.jobs import run_job
from ui.state import get_model

# Prompt pairs that differ in one name or word and keep the same number of tokens in GPT-2's tokenizer.
DECODER_PAIR = ("When Mary and John went to the store, John gave a drink to",
                "When Mary and John went to the store, Mary gave a drink to", " Mary", " John")
ENCODER_PAIR = ("The cat sat on the mat.", "The dog sat on the mat.", "", "")


def does_not_apply(message: str) -> None:
    """Stop the page, saying plainly why this tool does not apply to the chosen model."""
    st.info(message, icon="ℹ️")
    st.stop()


@dataclass(frozen=True)
class Answers:
    """The two answers of a patching run, as the logit difference reads them."""
    answer: int              # the clean answer's token where the two answers part
    other: int               # the corrupted answer's token there
    answer_piece: str
    other_piece: str
    shared: str              # the text of the whole tokens both answers begin with ("" when they part at once)
    shared_ids: tuple[int, ...]   # those tokens

    @property
    def n_shared(self) -> int:
        return len(self.shared_ids)


def answers_for(model: LoadedModel, answer_text: str, other_text: str) -> Answers | str:
    """Where the two answers part, or why they cannot be compared (a message).

    A model with a small vocabulary spells " Mary" and " John" piece by piece, both starting with the
    same space token, whose logit difference is always 0. The tokens both answers share are then
    appended to both prompts (the model has read them), and the first tokens that differ are measured."""
    encode = model.tokenizer.backend.encode
    a = encode(answer_text, add_special_tokens=False).ids if answer_text else []
    b = encode(other_text, add_special_tokens=False).ids if other_text else []
    if not a or not b:
        return "Type both answers: the measure is the difference of their logits."
    shared = 0
    while shared < min(len(a), len(b)) and a[shared] == b[shared]:
        shared += 1
    if shared == min(len(a), len(b)):
        return ("The two answers make the same tokens (or one is the start of the other), so no token tells them "
                "apart. Pick answers that differ (see the Tokenization page for how this model splits them).")

    def piece(token: int) -> str:
        return model.tokenizer.id_to_token(int(token)) or f"<{token}>"
    return Answers(int(a[shared]), int(b[shared]), piece(a[shared]), piece(b[shared]),
                   model.tokenizer.backend.decode(a[:shared]) if shared else "", tuple(int(t) for t in a[:shared]))


def patch_grid_for(model_name: str, clean: Trace, corrupted: Trace, kind: str,
                   answer: int | None, other: int | None) -> PatchGrid:
    """One patching grid, once per server, as a job of the server's one queue (ui/jobs.py: place in
    line, progress, Cancel); its batches stay within the per-job memory budget (analysis/patching.py)."""
    def compute(progress) -> PatchGrid:
        model = get_model(model_name)
        metric = make_metric(model, clean.ids, corrupted.ids, answer, other)
        return patch_grid(model, clean, corrupted.ids, kind, metric, progress=progress)
    return run_job(("patch", model_name, clean.text, corrupted.text, kind, answer, other), compute,
                   "Patching, layer by layer")


def detector_scores_for(model_name: str, trace: Trace, detector: str, detect):
    """detect(trace, progress=...) -> (L, H), once per server, as a job of the one queue."""
    return run_job(("detector", model_name, trace.text, detector),
                   lambda progress: detect(trace, progress=progress), "Scoring every head")


def special_ids(model: LoadedModel) -> list[int]:
    """Ids of the tokenizer's special tokens ([CLS], <s>, <|endoftext|>...): never drawn as random tokens."""
    added = model.tokenizer.backend.get_added_tokens_decoder()
    return sorted(i for i, token in added.items() if token.special)


def leading_specials(model: LoadedModel) -> list[int]:
    """What the tokenizer puts before every text (<s>, [CLS]), so probes start as real inputs do."""
    enc = model.tokenizer.encode("a")
    prefix = []
    for token_id, special in zip(enc.ids, enc.special_mask):
        if not special:
            break
        prefix.append(int(token_id))
    return prefix


def induction_for(model_name: str) -> InductionProbe:
    """The induction probe of a model (random tokens, seeded: the same for everyone), cached."""
    def compute(progress) -> InductionProbe:
        model = get_model(model_name)
        return induction_probe(model, n=20, batch=4, seed=0, prefix=leading_specials(model),
                               avoid=special_ids(model), vocab=model.tokenizer.vocab_size)
    return run_job(("induction probe", model_name), compute, "Running repeated random tokens")
