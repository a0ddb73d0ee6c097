"""DistilBERT checkpoints (model_type "distilbert") -> our core.

A post-LN BERT encoder with half the layers, other tensor names (q_lin, sa_layer_norm,
ffn.lin1, ...) and no token-type (segment) embeddings. LayerNorm epsilon is fixed at
1e-12 in its code, not in config.json. With sinusoidal_pos_embds the position table is
filled with sinusoids at creation but still stored in the file, so we read it as a table.
"""
from __future__ import annotations

from core import TransformerConfig

from .checkpoint import NameMap, common_prefix, linears
from .family import Family

ACTIVATIONS = ("gelu", "relu")


def config_from_hf(hf: dict) -> TransformerConfig:
    act = hf.get("activation", "gelu")
    if act not in ACTIVATIONS:
        raise ValueError(f"distilbert activation {act!r} is not supported (supported: {list(ACTIVATIONS)})")
    return TransformerConfig(
        vocab_size=hf["vocab_size"], d_model=hf.get("dim", 768), n_heads=hf.get("n_heads", 12),
        n_layers=hf.get("n_layers", 6), d_ff=hf.get("hidden_dim", 3072),
        max_positions=hf.get("max_position_embeddings", 512), positional="learned", norm="post",
        activation=act, eps=1e-12, type_vocab_size=0, embed_norm=True, pad_id=hf.get("pad_token_id", 0),
    )


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    p = common_prefix(theirs, ("distilbert.",), "embeddings.word_embeddings.weight")
    tables = {"word_embeddings": "token", "position_embeddings": "position"}
    m = linears(f"{p}embeddings.", "embeddings.", tables, bias=False)
    m.update(linears(f"{p}embeddings.", "embeddings.", {"LayerNorm": "norm"}))
    per_layer = {
        "attention.q_lin": "attention.query", "attention.k_lin": "attention.key",
        "attention.v_lin": "attention.value", "attention.out_lin": "attention.output",
        "sa_layer_norm": "attn_norm", "ffn.lin1": "mlp.up", "ffn.lin2": "mlp.down",
        "output_layer_norm": "mlp_norm",
    }
    for i in range(config.n_layers):
        m.update(linears(f"{p}transformer.layer.{i}.", f"blocks.{i}.", per_layer))
    # Not part of the per-token hidden states: the position-id buffer and task heads on top
    # (masked-LM head, sentence classifier, question answering).
    ignored = [rf"{p}embeddings\.position_ids", r"vocab_(transform|layer_norm|projector)\..*",
               r"(pre_classifier|classifier|qa_outputs)\..*"]
    return m, ignored


FAMILY = Family("distilbert", {"distilbert": "DistilBERT"}, config_from_hf, hf_name_map)
