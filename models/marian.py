"""Marian checkpoints (model_type "marian", the Helsinki-NLP opus-mt translation models) -> our core.

Marian has BART's layout (models/bart.py: post-LN blocks, biases, one shared token table, tied
unembedding, final_logits_bias) with two differences:
- fixed sinusoidal positions, in Marian's own order: every sin first, then every cos
  (config.sinusoid_layout "halves"), from position 0; nothing of them is stored as a weight to use
  (older checkpoints store the table: ignored, it is computed);
- token rows × √d_model (scale_embedding, true in the released models) and no LayerNorm on the embeddings.
Separate source and target vocabularies (share_encoder_decoder_embeddings false) are refused by name.
The released repos have no tokenizer.json: their source.spm, target.spm and vocab.json are read by
models/spm_text.py, as transformers' MarianTokenizer reads them.
"""
from __future__ import annotations

from core import TransformerConfig

from .bart import checkpoint_names, embeddings_and_head, seq2seq_config
from .family import Family


def config_from_hf(hf: dict) -> TransformerConfig:
    if hf.get("share_encoder_decoder_embeddings", True) is False:
        raise ValueError("Marian with share_encoder_decoder_embeddings=false (separate source and target "
                         "vocabularies) is not supported")
    if hf.get("decoder_vocab_size") not in (None, hf.get("vocab_size")):
        raise ValueError(f"Marian decoder_vocab_size {hf['decoder_vocab_size']} differs from vocab_size "
                         f"{hf.get('vocab_size')}: separate vocabularies are not supported")
    return seq2seq_config(hf, "Marian", positional="sinusoidal", sinusoid_layout="halves", embed_norm=False)


def hf_name_map(config: TransformerConfig, theirs: dict, where: str):
    m, ignored, p = embeddings_and_head(config, theirs, where)
    return m, ignored + [rf"{p}(encoder|decoder)\.embed_positions\.weight"]


# Steps 3 and 4 on the encoder's blocks, as BART's (the same block; the weights under the same names).
FAMILY = Family("marian", {"marian": "Marian"}, config_from_hf, hf_name_map, encoder_decoder=True,
                spm_tokenizer=True,   # opus-mt repos ship source.spm, target.spm, vocab.json
                step_pages=("step_head", "step_layer"), checkpoint_names=checkpoint_names)
