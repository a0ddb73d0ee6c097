"""Attention Explorer's transformer, written out by hand, and its Trace.

The model, in dependency order:
  config.py      TransformerConfig, the frozen shape of a model
  embeddings.py  token, position (learned or sinusoidal) and segment embeddings
  attention.py   attend(): scores = q·kᵀ/√d_head, weights = softmax, head_out = weights·v; multi-head W_Q/K/V/O
  blocks.py      encoder and decoder blocks: attention and feed-forward, residual adds, LayerNorm
  model.py       Transformer (BERT-style encoder or GPT-style decoder); run_blocks and build_trace
  seq2seq.py     EncoderDecoder, the original paper's shape, on the same blocks and the same Trace
  trace.py       Trace: the residual stream of one forward pass, layers recomputed on access
  rotary.py      rotary position embedding (RoPE): q and k turned by position
  budget.py      parameter counts and the bytes a model and one trace take

No Streamlit, Plotly or tokenizers here: core takes ids and returns numbers. What is computed
from a Trace (head statistics, rollout, flow, lens, ...) lives in analysis/, training in
training/, loading files in models/.
"""
from .attention import MultiHeadAttention, attend, causal_mask, merge_heads, split_heads
from .blocks import DecoderBlock, EncoderBlock, FeedForward, RMSNorm
from .budget import count_parameters, estimate_model_bytes, estimate_trace_bytes
from .config import TransformerConfig
from .embeddings import Embeddings, sinusoidal_encoding
from .model import Transformer, from_state_dict
from .rotary import apply_rotary, rotary_angles
from .trace import AttentionRecord, AttentionSummary, AttentionTrace, BlockRecord, HeadTrace, LayerTrace, Trace

__all__ = [
    "AttentionRecord", "AttentionSummary", "AttentionTrace", "BlockRecord", "DecoderBlock", "Embeddings",
    "EncoderBlock", "FeedForward", "HeadTrace",
    "LayerTrace", "MultiHeadAttention", "RMSNorm", "Trace", "Transformer", "TransformerConfig",
    "apply_rotary", "attend", "causal_mask", "count_parameters", "estimate_model_bytes",
    "estimate_trace_bytes", "from_state_dict", "merge_heads", "rotary_angles",
    "sinusoidal_encoding", "split_heads",
]
