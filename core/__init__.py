"""Attention Explorer's transformer, written out by hand, and the analysis math.

The model, in dependency order:
  config.py      TransformerConfig, the frozen shape of a model
  embeddings.py  token, position (learned or sinusoidal) and segment embeddings
  attention.py   attend(): scores = q·kᵀ/√d_head, weights = softmax, head_out = weights·v; multi-head W_Q/K/V/O
  blocks.py      encoder and decoder blocks: attention and feed-forward, residual adds, LayerNorm
  model.py       Transformer (BERT-style encoder or GPT-style decoder); run_blocks and build_trace
  seq2seq.py     EncoderDecoder, the original paper's shape, on the same blocks and the same Trace
  trace.py       Trace, the frozen record of every intermediate of one forward pass
The analysis of a Trace:
  recompute.py   the forward pass redone by hand in numpy, one arrow at a time (the "inside" pages)
  rollout.py, flow.py (attention flow), faithfulness.py (ERASER erasure scores),
  head_stats.py, context.py, vectors.py (word tables, cosines), pca.py, projection.py

No Streamlit, Plotly or tokenizers here: core takes ids and returns numbers. Training lives
in training/, loading files in models/.
"""
from .attention import MultiHeadAttention, attend, causal_mask, merge_heads, split_heads
from .blocks import DecoderBlock, EncoderBlock, FeedForward, RMSNorm
from .budget import count_parameters, estimate_model_bytes, estimate_trace_bytes
from .config import TransformerConfig
from .embeddings import Embeddings, sinusoidal_encoding
from .flow import attention_flow
from .lens import LogitLens, logit_lens
from .model import Transformer, from_state_dict
from .rotary import apply_rotary, rotary_angles
from .trace import AttentionTrace, LayerTrace, Trace

__all__ = [
    "AttentionTrace", "DecoderBlock", "Embeddings", "EncoderBlock", "FeedForward",
    "LayerTrace", "LogitLens", "MultiHeadAttention", "RMSNorm", "Trace", "Transformer", "TransformerConfig",
    "apply_rotary", "attend", "attention_flow", "causal_mask", "count_parameters", "estimate_model_bytes",
    "estimate_trace_bytes", "from_state_dict", "logit_lens", "merge_heads", "rotary_angles",
    "sinusoidal_encoding", "split_heads",
]
