"""Hugging Face checkpoint folders by family: config.json's model_type picks the Family.

Each family file (models/<family>.py) describes itself in one `FAMILY` record (models/family.py:
its model types and their names, config.json -> TransformerConfig refusing by name what our core
does not implement, the strict weight map, its own token limit, the step pages that apply).
FAMILY_LIST below is the one list of them; nothing else in the app names a family. Before any
weight is read, the model's size (2 bytes a weight for a bf16/fp16 checkpoint, kept so in memory;
4 otherwise) plus one traced sentence is checked against a limit, so a model too large for the
server is refused with its size instead of swapping.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from core import TransformerConfig, from_state_dict
from core.budget import count_parameters, estimate_model_bytes, estimate_trace_bytes
from core.model import HALF, device_from_env
from core.seq2seq import seq2seq_from_state_dict

from . import bart, bert, distilbert, gemma, gemma2, gpt2, gpt_neox, llama, marian, olmo2, phi3, qwen3, roberta, t5
from .checkpoint import convert, read_weights
from .family import STEP_PAGES, Family
from .files import (MAX_CONFIG_BYTES, SPM_FILES, inside, read_config, read_json_capped, require_finite,
                    sentence_pooling)
from .loaded import LoadedModel
from .seq2seq import LoadedSeq2Seq, generation_of
from .spm_text import SentencePieceTokenizer
from .text import TextTokenizer

# The family list: adding a family is its own file, and one entry here (and in the import above).
FAMILY_LIST: tuple[Family, ...] = (bert.FAMILY, roberta.FAMILY, distilbert.FAMILY, gpt2.FAMILY, llama.FAMILY,
                                   gpt_neox.FAMILY, phi3.FAMILY, qwen3.FAMILY,
                                   olmo2.FAMILY, gemma.FAMILY, gemma2.FAMILY, t5.FAMILY, bart.FAMILY, marian.FAMILY)
FAMILIES: dict[str, Family] = {t: family for family in FAMILY_LIST for t in family.model_types}
SUPPORTED = tuple(FAMILIES)

# A trace stores the residual stream (L·T·d_model) and recomputes one layer's H·T² attention at a
# time, so long inputs fit; rotary models allow 32k+ positions, so every family is still cut at this
# many tokens (the text is flagged `truncated`). BERT-style models stop at their own 512 positions.
DEFAULT_MAX_TOKENS = 4096
# The weights (in their checkpoint's dtype) plus one trace at the token limit must fit in this many bytes.
DEFAULT_MAX_MODEL_BYTES = 4 * 2**30
HALF_NAMES = ("bfloat16", "float16")     # config.json's torch_dtype (or dtype) of a half-precision checkpoint


def token_limit() -> int:
    return int(os.environ.get("ATTENTION_EXPLORER_MAX_TOKENS", DEFAULT_MAX_TOKENS))


def max_model_bytes() -> int:
    return int(float(os.environ.get("ATTENTION_EXPLORER_MAX_MODEL_BYTES", DEFAULT_MAX_MODEL_BYTES)))


def unsupported(model_type) -> ValueError:
    return ValueError(f"model_type {model_type!r} is not supported; supported model types: "
                      f"{', '.join(SUPPORTED)} (and models trained in this app)")


def config_for(hf: dict) -> TransformerConfig:
    """Our config for a Hugging Face config.json of a supported family."""
    model_type = hf.get("model_type")
    if model_type not in FAMILIES:
        raise unsupported(model_type)
    try:
        return FAMILIES[model_type].config(hf)
    except KeyError as exc:
        raise ValueError(f"config.json of a {model_type} model lacks the field {exc}") from exc


def max_tokens(config: TransformerConfig, hf: dict) -> int:
    """Longest input one trace takes: the positions, the family's own cap (a sliding window), and
    token_limit()."""
    limit = min(config.n_positions, token_limit())
    family = family_of(hf.get("model_type"))
    own = family.token_limit(config, hf) if family is not None else None
    return min(limit, own) if own else limit


def weight_bytes(hf: dict) -> int:
    """Bytes a weight takes in memory: 2 for a checkpoint whose config.json says bf16 or fp16 (kept as
    stored, computed in float32 one block at a time), else 4 (float32)."""
    declared = hf.get("torch_dtype", hf.get("dtype"))
    return 2 if declared in HALF_NAMES else 4


def stored_weight_bytes(tensors: dict[str, torch.Tensor]) -> int:
    """Bytes per weight as a checkpoint's tensors will be held (models/checkpoint.py's STORED rule):
    2 when every floating tensor is bf16/fp16, else 4."""
    floating = [t for t in tensors.values() if t.is_floating_point()]
    return 2 if floating and all(t.dtype in HALF for t in floating) else 4


def fitting_tokens(config: TransformerConfig, n_tokens: int, bytes_per_weight: int = 4) -> int:
    """The token limit, halved (not below 512) until the weights and one trace fit the byte limit:
    a larger model reads shorter texts instead of being refused."""
    while n_tokens > 512 and estimate_model_bytes(config, bytes_per_weight) + \
            estimate_trace_bytes(config, n_tokens) > max_model_bytes():
        n_tokens = max(512, n_tokens // 2)
    return n_tokens


def check_size(config: TransformerConfig, n_tokens: int, where: str, bytes_per_weight: int = 4) -> None:
    """Refuse, before reading weights, a model whose weights (bytes_per_weight each: 2 for a bf16/fp16
    checkpoint, see weight_bytes) and one trace exceed the limit."""
    model, trace = estimate_model_bytes(config, bytes_per_weight), estimate_trace_bytes(config, n_tokens)
    limit = max_model_bytes()
    if model + trace > limit:
        held = "in bf16/fp16 (as the checkpoint stores them)" if bytes_per_weight == 2 else "in float32"
        raise ValueError(
            f"{where} is too large for this server: {count_parameters(config) / 1e6:,.0f}M parameters are "
            f"{model / 1e9:.2f} GB {held}, and one traced sentence of {n_tokens} tokens about "
            f"{trace / 1e9:.2f} GB more; the limit is {limit / 1e9:.2f} GB "
            "(ATTENTION_EXPLORER_MAX_MODEL_BYTES, ATTENTION_EXPLORER_MAX_TOKENS).")


def family_of(model_type) -> Family | None:
    """The Family of a model_type (None for one we do not load, or a damaged non-text value)."""
    return FAMILIES.get(model_type) if isinstance(model_type, str) else None


def display_name(model_type) -> str | None:
    """"GPT-NeoX", "Mistral", ...: a supported model type's name for people; None for any other."""
    family = family_of(model_type)
    return family.display_name(model_type) if family is not None else None


def step_pages(model_type) -> tuple[str, ...]:
    """The step pages whose recomputation follows this model type's mathematics (all, for our own models)."""
    family = family_of(model_type)
    return family.step_pages if family is not None else STEP_PAGES


def checkpoint_names(model_type, config: TransformerConfig) -> dict[str, str]:
    """The step pages' weight names -> this family's names in its checkpoints ({} when none are given)."""
    family = family_of(model_type)
    return dict(family.checkpoint_names(config)) if family is not None else {}


def page_applies(model_type, page: str) -> bool:
    """Whether a page reads models of this type (every page reads ours and the single-stack families)."""
    family = family_of(model_type)
    return family.page_applies(page) if family is not None else True


def describe(model_type: str, config: TransformerConfig, where: str) -> str:
    kv = f" ({config.kv_heads} key/value heads)" if config.kv_heads != config.n_heads else ""
    kind = "decoder: each token sees only the past" if config.causal else "encoder: every token sees every other"
    if config.encoder_decoder:
        kind = ("encoder–decoder: the encoder reads the source, the decoder writes the output reading it "
                "through cross-attention; layers and heads per side")
    return (f"{model_type} from {where}: {config.n_layers} layers × {config.n_heads} heads{kv}, "
            f"{config.d_model} dimensions, {count_parameters(config) / 1e6:,.1f}M parameters; {kind}.")


def generation_config(folder: Path) -> dict:
    """generation_config.json when the folder has one (how transformers' generate writes: its start,
    end and banned tokens override config.json's), else {}."""
    if not (folder / "generation_config.json").is_file():
        return {}
    raw = read_json_capped(inside(folder, "generation_config.json"), MAX_CONFIG_BYTES)
    return raw if isinstance(raw, dict) else {}


def open_tokenizer(folder: Path, family: Family, n_tokens: int) -> TextTokenizer:
    """The folder's tokenizer: tokenizer.json, or the family's SentencePiece files (a Marian repo)."""
    names = {name for name in ("tokenizer.json", *SPM_FILES) if (folder / name).is_file()}
    files = family.tokenizer_files(names)
    if not files:
        raise FileNotFoundError(family.missing_tokenizer(str(folder)))
    if files == SPM_FILES:
        return SentencePieceTokenizer(folder, max_tokens=n_tokens)
    return TextTokenizer(folder / "tokenizer.json", max_tokens=n_tokens)


def load_family(folder: Path, name: str, hf: dict | None = None):
    """A LoadedModel from a Hugging Face checkpoint folder of a family in FAMILIES."""
    folder = Path(folder)
    hf = read_config(folder) if hf is None else hf
    model_type = hf.get("model_type")
    if model_type not in FAMILIES:
        raise unsupported(model_type)
    config = config_for(hf)
    declared = weight_bytes(hf)
    n_tokens = fitting_tokens(config, max_tokens(config, hf), declared)
    check_size(config, n_tokens, name, declared)
    tokenizer = open_tokenizer(folder, FAMILIES[model_type], n_tokens)
    if tokenizer.vocab_size > config.vocab_size:
        raise ValueError(f"{tokenizer.path} has {tokenizer.vocab_size} tokens but the model's "
                         f"vocabulary has {config.vocab_size} rows: they do not belong together")
    theirs = read_weights(folder)
    mapping, ignored = FAMILIES[model_type].weight_map(config, theirs, str(folder))
    state = convert(theirs, mapping, ignored, config, str(folder))
    del theirs
    # The weights as held: float32 buffers the name map ignores (masked_bias, inv_freq) do not count.
    held = stored_weight_bytes(state)
    if held > declared:         # config.json says bf16 but the file is float32: check with the real size
        check_size(config, n_tokens, name, held)
    require_finite(state, folder / "model.safetensors")
    info = {"family": model_type, "n_parameters": count_parameters(config), "max_tokens": n_tokens,
            "weight_dtypes": sorted({str(t.dtype).removeprefix("torch.") for t in state.values()}),
            "sentence": sentence_pooling(folder)}
    if config.encoder_decoder:
        net = seq2seq_from_state_dict(config, state).to(device_from_env())
        return LoadedSeq2Seq(name=name, config=config, net=net, tokenizer=tokenizer,
                             generation=generation_of(hf, generation_config(folder)),
                             description=describe(model_type, config, name), folder=folder, info=info)
    net = from_state_dict(config, state).to(device_from_env())   # ATTENTION_EXPLORER_DEVICE, else the CPU
    return LoadedModel(name=name, config=config, net=net, tokenizer=tokenizer,
                       description=describe(model_type, config, name), folder=folder, info=info)
