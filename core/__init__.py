"""Attention Explorer's transformer, written out by hand, and the analysis math.

No Streamlit, Plotly or tokenizers here: core takes ids and returns numbers.
"""
from .attention import MultiHeadAttention, attend, causal_mask, merge_heads, split_heads
from .blocks import DecoderBlock, EncoderBlock, FeedForward, RMSNorm
from .budget import count_parameters, estimate_model_bytes, estimate_trace_bytes
from .config import TransformerConfig
from .embeddings import Embeddings, sinusoidal_encoding
from .lens import LogitLens, logit_lens
from .model import Transformer, from_state_dict
from .rotary import apply_rotary, rotary_angles
from .trace import AttentionTrace, LayerTrace, Trace

__all__ = [
    "AttentionTrace", "DecoderBlock", "Embeddings", "EncoderBlock", "FeedForward",
    "LayerTrace", "LogitLens", "MultiHeadAttention", "RMSNorm", "Trace", "Transformer", "TransformerConfig",
    "apply_rotary", "attend", "causal_mask", "count_parameters", "estimate_model_bytes",
    "estimate_trace_bytes", "from_state_dict", "logit_lens", "merge_heads", "rotary_angles",
    "sinusoidal_encoding", "split_heads",
]
