"""A BERT checkpoint folder (config.json, model.safetensors, tokenizer.json) -> our core.

The weight names of Hugging Face's BertModel are mapped to ours one by one, with
the shapes checked, and the load is strict: a tensor we do not expect, or one we
need and do not find, is an error. Weights are read with safetensors, never pickle.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from core import Transformer, TransformerConfig, from_state_dict

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


def load_bert(folder: Path) -> tuple[TransformerConfig, Transformer]:
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"config file not found: {config_path}")
    try:
        config = bert_config(json.loads(config_path.read_text()))
    except (json.JSONDecodeError, KeyError) as exc:
        raise ValueError(f"{config_path}: not a usable BERT config ({exc})") from exc
    weights_path = folder / "model.safetensors"
    theirs = read_weights(weights_path)
    mapping = name_map(config.n_layers)
    unknown = sorted(set(theirs) - set(mapping) - set(IGNORED))
    missing = sorted(set(mapping) - set(theirs))
    if unknown or missing:
        raise ValueError(f"{weights_path}: weights do not match a {config.n_layers}-layer BERT "
                         f"(missing {missing[:4]}, unexpected {unknown[:4]})")
    state = {mapping[name]: theirs[name].to(torch.float32) for name in mapping}
    try:
        net = from_state_dict(config, state)
    except ValueError as exc:
        raise ValueError(f"{weights_path}: {exc}") from exc
    return config, net


# -- Hugging Face checkpoints in general (models/families.py) ------------------------------
# BERT checkpoints on the Hub are often saved from a task model: names under "bert.", a
# masked-LM / next-sentence head ("cls."), a classifier; older ones keep TensorFlow's
# LayerNorm names gamma/beta. The map is the same one as above, with those spellings.
MODEL_TYPES = ("bert",)
config_from_hf = bert_config


def hf_name_map(config: TransformerConfig, theirs: dict, where: str):
    """(our name -> (their name, None)), and the regexes of tensors we may ignore."""
    from .checkpoint import common_prefix

    p = common_prefix(theirs, ("bert.",), "embeddings.word_embeddings.weight")
    tf_names = f"{p}embeddings.LayerNorm.gamma" in theirs   # TensorFlow-era weight/bias names

    def spelled(name: str) -> str:
        if tf_names and ".LayerNorm." in name:
            name = name.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        return p + name

    mapping = {ours: (spelled(name), None) for name, ours in name_map(config.n_layers).items()}
    ignored = [rf"{p}embeddings\.(position_ids|token_type_ids)", rf"{p}pooler\.dense\.(weight|bias)",
               r"cls\..*", r"classifier\..*", r"qa_outputs\..*"]
    return mapping, ignored
