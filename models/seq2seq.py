"""A loaded encoder–decoder (T5, BART, Marian): core's EncoderDecoder joined with its tokenizer.

`trace(source, target=None)` returns a Seq2SeqTrace (core/seq2seq.py): the encoder's Trace of the
source and the decoder's Trace of the target, whose layers carry the cross-attention (`.cross`). The
target is typed (forced decoding: the decoder reads it, whatever it would have written) or, when
None, the model's own greedy output, at most `max_new` tokens. The decoder reads its start token
first (`decoder_start_token_id`), then the target; the end token it writes last is not a row of its
own (nothing is read after it). Read-only after loading, like LoadedModel.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from core import Trace
from core.seq2seq import Seq2SeqTrace

from .loaded import Loaded
from .text import EmptyTextError

MAX_OUTPUT = 128      # tokens the decoder writes or reads at most (a typed target is cut there too)


@dataclass(frozen=True)
class Generation:
    """How the model writes (config.json's fields, as transformers' greedy generate reads them)."""
    start_id: int                      # decoder_start_token_id: the decoder's first input
    stop_id: Optional[int] = None      # eos_token_id: writing stops after it
    banned: tuple[int, ...] = ()       # bad_words_ids of one token (Marian: its pad token)
    first_id: Optional[int] = None     # forced_bos_token_id: the first token written (some BARTs)
    last_id: Optional[int] = None      # forced_eos_token_id: written when the length bound is reached


def _token_id(value) -> Optional[int]:
    if isinstance(value, list):       # eos_token_id may list several; the first ends the output here
        value = value[0] if value else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def generation_of(hf: dict, generation: Optional[dict] = None) -> Generation:
    """The writing rules from config.json and generation_config.json (which wins where both say); a
    missing start token: the pad token, as T5 and Marian use."""
    hf = {**hf, **(generation or {})}
    start = _token_id(hf.get("decoder_start_token_id"))
    start = start if start is not None else (_token_id(hf.get("pad_token_id")) or 0)
    bad = hf.get("bad_words_ids") or []
    banned = tuple(w[0] for w in bad if isinstance(w, list) and len(w) == 1 and _token_id(w[0]) is not None)
    return Generation(start, _token_id(hf.get("eos_token_id")), banned, _token_id(hf.get("forced_bos_token_id")),
                      _token_id(hf.get("forced_eos_token_id")))


@dataclass(frozen=True, eq=False)
class LoadedSeq2Seq(Loaded):
    """An encoder–decoder: `net` is core's EncoderDecoder; `generation` says how it writes."""
    generation: Generation = Generation(start_id=0)

    @property
    def special_ids(self) -> set[int]:
        """Ids of the tokenizer's special tokens (<pad>, </s>, ...): marked special in the traces."""
        return {int(i) for i, t in self.tokenizer.backend.get_added_tokens_decoder().items() if t.special}

    def output_limit(self, n_source: int) -> int:
        """How many tokens greedy writes at most: twice the source and a few more, within MAX_OUTPUT
        and the decoder's positions."""
        return max(1, min(MAX_OUTPUT, 2 * n_source + 10, self.config.n_positions - 1))

    def write(self, source_ids: list[int], max_new: int) -> list[int]:
        """Greedy output ids (the end token included when written), as transformers' greedy generate."""
        g = self.generation
        device = self.net.source_embed.token.weight.device
        out = self.net.greedy(torch.tensor([source_ids], device=device), max_new, g.start_id, g.stop_id,
                              g.banned, g.first_id)[0].tolist()
        if g.last_id is not None and len(out) == max_new and out[-1] != g.stop_id:
            out = out[:-1] + [g.last_id]    # transformers forces the end token at the last step of a bounded output
        return out

    def encoder_trace(self, source: str) -> Trace:
        """The encoder's Trace of `source` alone (the decoder reads only its start token): what the
        attention pages show of an encoder–decoder."""
        enc = self.tokenizer.encode(source)
        start = self.generation.start_id
        return self.net.trace(enc.ids, [start], enc.tokens, [self.tokenizer.id_to_token(start) or ""],
                              special=self.special_ids, text=source, source_offsets=enc.offsets,
                              source_special=enc.special_mask, truncated=enc.truncated,
                              n_input_tokens=enc.n_input_tokens)[0]

    def trace(self, source: str, target: Optional[str] = None, max_new: Optional[int] = None) -> Seq2SeqTrace:
        """Encode `source`; decode `target` (typed) or the model's own greedy output. Empty text raises
        EmptyTextError (a ValueError)."""
        enc = self.tokenizer.encode(source)
        if target is not None:
            if not target.strip():
                raise EmptyTextError("The target is empty: type the output to read, or let the model write it.")
            written = self.tokenizer.encode_target(target)[:MAX_OUTPUT]
        else:
            written = self.write(enc.ids, max_new or self.output_limit(len(enc.ids)))
        if written and written[-1] == self.generation.stop_id:
            written = written[:-1]           # the end token: the last row predicts it, it reads nothing
        decoder_ids = [self.generation.start_id] + written
        decoder_ids = decoder_ids[: self.config.n_positions]
        specials = self.special_ids
        encoder, decoder = self.net.trace(
            enc.ids, decoder_ids, enc.tokens, [self.tokenizer.id_to_token(i) or f"<{i}>" for i in decoder_ids],
            special=specials, text=source, source_offsets=enc.offsets, source_special=enc.special_mask)
        output = self.tokenizer.backend.decode(decoder_ids[1:], skip_special_tokens=True)
        guess = self.tokenizer.id_to_token(int(decoder.top_ids[-1, 0])) or ""
        return Seq2SeqTrace(source=source, output=output, encoder=encoder, decoder=decoder,
                            typed=target is not None, truncated=enc.truncated, last_guess=guess)
