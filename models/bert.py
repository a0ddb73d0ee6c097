"""BERT checkpoints (model_type "bert"; MiniLM is one) -> our core.

A post-LN encoder with learned positions and segment (token type) embeddings. Checkpoints
on the Hub are often saved from a task model: names under "bert.", a masked-LM /
next-sentence head ("cls."), a classifier; older ones keep TensorFlow's LayerNorm names
gamma/beta. RoBERTa (models/roberta.py) uses the same tensor names (`bert_names`).
"""
from __future__ import annotations

from core import TransformerConfig

from .checkpoint import NameMap, common_prefix, linears
from .family import Family

ACTIVATIONS = ("gelu", "relu")
# Their layer part -> ours; every one has a weight and a bias.
PER_LAYER = {
    "attention.self.query": "attention.query",
    "attention.self.key": "attention.key",
    "attention.self.value": "attention.value",
    "attention.output.dense": "attention.output",
    "attention.output.LayerNorm": "attn_norm",
    "intermediate.dense": "mlp.up",
    "output.dense": "mlp.down",
    "output.LayerNorm": "mlp_norm",
}


def config_from_hf(hf: dict) -> TransformerConfig:
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute (learned) position embeddings are supported")
    act = hf.get("hidden_act", "gelu")
    if act not in ACTIVATIONS:
        raise ValueError(f"bert hidden_act {act!r} is not supported (supported: {list(ACTIVATIONS)})")
    return TransformerConfig(
        vocab_size=hf["vocab_size"], d_model=hf["hidden_size"], n_heads=hf["num_attention_heads"],
        n_layers=hf["num_hidden_layers"], d_ff=hf["intermediate_size"],
        max_positions=hf["max_position_embeddings"], positional="learned", norm="post",
        activation=act, eps=hf.get("layer_norm_eps", 1e-12),
        type_vocab_size=hf.get("type_vocab_size", 2), embed_norm=True,
        pad_id=hf.get("pad_token_id", 0),
    )


def bert_names(p: str, config: TransformerConfig) -> NameMap:
    """Hugging Face BertModel's tensor names (under the prefix p) -> ours."""
    tables = {"word_embeddings": "token", "position_embeddings": "position", "token_type_embeddings": "segment"}
    m = linears(f"{p}embeddings.", "embeddings.", tables, bias=False)
    m.update(linears(f"{p}embeddings.", "embeddings.", {"LayerNorm": "norm"}))
    for i in range(config.n_layers):
        m.update(linears(f"{p}encoder.layer.{i}.", f"blocks.{i}.", PER_LAYER))
    return m


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    p = common_prefix(theirs, ("bert.",), "embeddings.word_embeddings.weight")
    m = bert_names(p, config)
    if f"{p}embeddings.LayerNorm.gamma" in theirs:          # TensorFlow-era LayerNorm names
        renamed = {".LayerNorm.weight": ".LayerNorm.gamma", ".LayerNorm.bias": ".LayerNorm.beta"}
        for ours, (source, change) in m.items():
            for old, new in renamed.items():
                source = source[:-len(old)] + new if source.endswith(old) else source
            m[ours] = (source, change)
    # Not part of the per-token hidden states: buffers, the sentence pooler, task heads on top.
    ignored = [rf"{p}embeddings\.(position_ids|token_type_ids)", rf"{p}pooler\.dense\.(weight|bias)",
               r"cls\..*", r"classifier\..*", r"qa_outputs\..*"]
    return m, ignored


FAMILY = Family("bert", {"bert": "BERT"}, config_from_hf, hf_name_map)
