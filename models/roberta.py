"""RoBERTa checkpoints (model_type "roberta") -> our core.

RoBERTa is BERT with another tokenizer and training recipe; its tensors are named as
BERT's (see models/bert.py), under "roberta." when saved from a task model. One real
difference: position ids start at padding_idx + 1 (pad_token_id is 1, so the first token
reads row 2 of the position table), which is config.position_offset in our core; that is
why max_position_embeddings is 514 for 512 usable positions.
"""
from __future__ import annotations

from core import TransformerConfig

from .bert import bert_names  # the same tensor names
from .checkpoint import NameMap, common_prefix
from .family import Family

ACTIVATIONS = ("gelu", "relu")


def config_from_hf(hf: dict) -> TransformerConfig:
    if hf.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"position_embedding_type {hf['position_embedding_type']!r} is not supported "
                         "(only 'absolute', a learned table)")
    if hf.get("is_decoder", False):
        raise ValueError("RoBERTa with is_decoder=true (a causal decoder) is not supported")
    act = hf.get("hidden_act", "gelu")
    if act not in ACTIVATIONS:
        raise ValueError(f"roberta hidden_act {act!r} is not supported (supported: {list(ACTIVATIONS)})")
    pad = hf.get("pad_token_id", 1)
    return TransformerConfig(
        vocab_size=hf["vocab_size"], d_model=hf["hidden_size"], n_heads=hf["num_attention_heads"],
        n_layers=hf["num_hidden_layers"], d_ff=hf["intermediate_size"],
        max_positions=hf["max_position_embeddings"], positional="learned", norm="post",
        activation=act, eps=hf.get("layer_norm_eps", 1e-5),
        type_vocab_size=hf.get("type_vocab_size", 1), embed_norm=True, pad_id=pad,
        position_offset=pad + 1,
    )


def hf_name_map(config: TransformerConfig, theirs: dict, where: str) -> tuple[NameMap, list[str]]:
    """(our name -> (their name, conversion)), and the regexes of tensors we may ignore."""
    p = common_prefix(theirs, ("roberta.",), "embeddings.word_embeddings.weight")
    # Not part of the per-token hidden states: the position-id buffer, the sentence pooler,
    # and task heads on top (masked-LM head, classifier).
    ignored = [rf"{p}embeddings\.(position_ids|token_type_ids)", rf"{p}pooler\.dense\.(weight|bias)",
               r"lm_head\..*", r"classifier\..*"]
    return bert_names(p, config), ignored


FAMILY = Family("roberta", {"roberta": "RoBERTa"}, config_from_hf, hf_name_map)
