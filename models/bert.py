"""BERT (MiniLM is one): its config.json -> our TransformerConfig, and its strict weight-name map.

The weight names of Hugging Face's BertModel are mapped to ours one by one; models/families.py
reads the safetensors file, checks every shape and refuses a tensor we do not expect, or
one we need and do not find, by name.
"""
from __future__ import annotations

from core import TransformerConfig


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
