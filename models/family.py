"""What a Hugging Face model family must say about itself: the Family protocol.

Each family file (models/bert.py, gpt2.py, llama.py, gpt_neox.py, ...) ends with one
`FAMILY = Family(...)`, and models/families.py lists those records once. Nothing else in the
app names a family: the loader, the Hub-cache listing, the picker's words and the step pages
all read these fields.

    name           the family's own name ("gpt_neox"), as its file is named
    model_types    config.json's model_type -> the name a person reads ("GPT-NeoX"); one family
                   file may serve several types that share a weight layout (Llama, Mistral, Qwen2)
    config         config.json (a dict) -> TransformerConfig, refusing by name what core lacks
    weight_map     (config, their tensors, where) -> (our name -> (their name, conversion),
                   regexes of their tensors we may ignore); applied strictly by checkpoint.convert
    token_limit    (config, config.json) -> a cap on one trace's tokens the family imposes
                   (a sliding window), or None; the server's own limit applies on top
    step_pages     the "inside the model" step pages whose numpy recomputation (analysis/recompute.py)
                   follows this family's mathematics; the others say plainly that they do not apply
                   (default: all of them, or none for an encoder–decoder)
    encoder_decoder  an encoder–decoder (T5, BART, Marian): loaded as core/seq2seq.py's EncoderDecoder
                   (models/seq2seq.py), traced as a source and a target; only the pages in
                   ENCODER_DECODER_PAGES apply (ENCODER_PAGES on its encoder) and the step pages it lists
                   (on its encoder's blocks: T5), the others say why not
    checkpoint_names  config -> our weight names ("W_gate") -> the checkpoint's ("wi_0"), for the step
                   pages to show beside ours; empty when the family's names need no translation
    spm_tokenizer  its repos may ship a SentencePiece pair instead of tokenizer.json (Marian's source.spm,
                   target.spm and vocab.json: models/spm_text.py); tokenizer.json wins where both are
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Optional

from core import TransformerConfig

from .checkpoint import NameMap
from .files import SPM_FILES

# The step pages that recompute the picked model's own numbers in numpy (analysis/recompute.py);
# the tokens and mask steps do not depend on the family. A family whose mathematics recompute.py
# does not follow yet lists fewer, and those pages say so instead of showing wrong numbers.
STEP_PAGES = ("step_embeddings", "step_head", "step_layer")

# The pages that read an encoder–decoder: its own page (the encoder's and the decoder's traces, cross-attention)
# and the attention pages that read only a Trace, which show the encoder's self-attention over the source
# (ENCODER_PAGES). Every other page needs the model's one list of blocks or its next-token head, and says
# so instead for these models.
ENCODER_PAGES = ("step_tokens", "attention_head", "attention_grid", "attention_compare", "attention_lines",
                 "attention_aggregate", "head_stats", "query_key")
ENCODER_DECODER_PAGES = ("seq2seq", "step_mask") + ENCODER_PAGES   # step_mask: T5's bias, cross-attention

ConfigMapping = Callable[[dict], TransformerConfig]
CheckpointNames = Callable[[TransformerConfig], Mapping[str, str]]
WeightMap = Callable[[TransformerConfig, dict, str], tuple[NameMap, list[str]]]


def no_token_limit(config: TransformerConfig, hf: dict) -> Optional[int]:
    """Most families attend to the whole past: only the positions and the server's limit cap a trace."""
    return None


def no_checkpoint_names(config: TransformerConfig) -> Mapping[str, str]:
    return {}


@dataclass(frozen=True)
class Family:
    name: str
    model_types: Mapping[str, str]
    config: ConfigMapping
    weight_map: WeightMap
    token_limit: Callable[[TransformerConfig, dict], Optional[int]] = no_token_limit
    step_pages: Optional[tuple[str, ...]] = None
    encoder_decoder: bool = False
    checkpoint_names: CheckpointNames = no_checkpoint_names
    spm_tokenizer: bool = False

    def __post_init__(self) -> None:
        if self.step_pages is None:   # an encoder–decoder's step pages are opted into, one family at a time
            object.__setattr__(self, "step_pages", () if self.encoder_decoder else STEP_PAGES)
        if not self.model_types:
            raise ValueError(f"family {self.name!r} names no model_type")
        unknown = set(self.step_pages) - set(STEP_PAGES)
        if unknown:
            raise ValueError(f"family {self.name!r} lists unknown step pages {sorted(unknown)}")

    def tokenizer_files(self, names) -> tuple[str, ...]:
        """The files of a folder or repo (`names`: the file names it has) its tokenizer is read from:
        tokenizer.json, else this family's SentencePiece files; () when it has neither."""
        if "tokenizer.json" in names:
            return ("tokenizer.json",)
        if self.spm_tokenizer and all(name in names for name in SPM_FILES):
            return SPM_FILES
        return ()

    def missing_tokenizer(self, where: str) -> str:
        """Why a folder or repo (`where`) without the files above cannot be opened."""
        if self.spm_tokenizer:
            return (f"{where} has no tokenizer.json, nor the SentencePiece files {', '.join(SPM_FILES)}: the app "
                    "reads a Marian model's tokenizer from one or the other")
        return f"{where} has no tokenizer.json (the app reads a {self.name} model's tokenizer from that file only)"

    def page_applies(self, page: str) -> bool:
        """Whether the page (its file name, "attention_head") reads models of this family."""
        return page in ENCODER_DECODER_PAGES or page in self.step_pages if self.encoder_decoder else True

    def display_name(self, model_type: str) -> str:
        """"GPT-NeoX", "Mistral", ...: the name headings use for a model of this type."""
        return self.model_types[model_type]
