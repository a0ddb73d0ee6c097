"""A BERT checkpoint folder (config.json, model.safetensors, tokenizer.json) -> our core.

The weight names of Hugging Face's BertModel are mapped to ours one by one, with
the shapes checked, and the load is strict: a tensor we do not expect, or one we
need and do not find, is an error. Weights are read with safetensors, never pickle.
"""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from core import Transformer, TransformerConfig, from_state_dict

from .files import require_finite

# Tensors in the file that the encoder does not use: the position-id buffer and the
# sentence-classification pooler (not part of the per-token hidden states).
IGNORED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def bert_config(hf: dict) -> TransformerConfig:
    if hf.get("model_type") != "bert":
        raise ValueError(f"expected a BERT config, got model_type={hf.get('model_type')!r}")
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute (learned) position embeddings are supported")
    act = hf.get("hidden_act", "gelu")
    if act not in ("gelu", "relu"):
        raise ValueError(f"unsupported activation {act!r}")
    return TransformerConfig(
        vocab_size=hf["vocab_size"], d_model=hf["hidden_size"], n_heads=hf["num_attention_heads"],
        n_layers=hf["num_hidden_layers"], d_ff=hf["intermediate_size"],
        max_positions=hf["max_position_embeddings"], positional="learned", norm="post",
        activation=act, eps=hf.get("layer_norm_eps", 1e-12),
        type_vocab_size=hf.get("type_vocab_size", 2), embed_norm=True,
        pad_id=hf.get("pad_token_id", 0),
    )


def name_map(n_layers: int) -> dict[str, str]:
    """Hugging Face BertModel name -> our name."""
    names = {
        "embeddings.word_embeddings.weight": "embeddings.token.weight",
        "embeddings.position_embeddings.weight": "embeddings.position.weight",
        "embeddings.token_type_embeddings.weight": "embeddings.segment.weight",
        "embeddings.LayerNorm.weight": "embeddings.norm.weight",
        "embeddings.LayerNorm.bias": "embeddings.norm.bias",
    }
    per_layer = {
        "attention.self.query": "attention.query",
        "attention.self.key": "attention.key",
        "attention.self.value": "attention.value",
        "attention.output.dense": "attention.output",
        "attention.output.LayerNorm": "attn_norm",
        "intermediate.dense": "mlp.up",
        "output.dense": "mlp.down",
        "output.LayerNorm": "mlp_norm",
    }
    for i in range(n_layers):
        for theirs, ours in per_layer.items():
            for p in ("weight", "bias"):
                names[f"encoder.layer.{i}.{theirs}.{p}"] = f"blocks.{i}.{ours}.{p}"
    return names


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: the weights file is damaged or not safetensors ({exc})") from exc


def load_bert(folder: Path, raw: dict) -> tuple[TransformerConfig, Transformer]:
    """A BERT folder's weights into our core; `raw` is its parsed config.json."""
    folder = Path(folder)
    try:
        config = bert_config(raw)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{folder / 'config.json'}: not a usable BERT config ({type(exc).__name__}: {exc})") from exc
    weights_path = folder / "model.safetensors"
    theirs = read_weights(weights_path)
    mapping = name_map(config.n_layers)
    unknown = sorted(set(theirs) - set(mapping) - set(IGNORED))
    missing = sorted(set(mapping) - set(theirs))
    if unknown or missing:
        raise ValueError(f"{weights_path}: weights do not match a {config.n_layers}-layer BERT "
                         f"(missing {missing[:4]}, unexpected {unknown[:4]})")
    state = {mapping[name]: theirs[name].to(torch.float32) for name in mapping}
    require_finite(state, weights_path)
    try:
        net = from_state_dict(config, state)
    except ValueError as exc:
        raise ValueError(f"{weights_path}: {exc}") from exc
    return config, net
