"""Attention Explorer's transformer, written out by hand, and the analysis math.

No Streamlit, Plotly or tokenizers here: core takes ids and returns numbers.
"""
from .attention import MultiHeadAttention, attend, causal_mask, merge_heads, split_heads
from .blocks import DecoderBlock, EncoderBlock, FeedForward
from .config import TransformerConfig
from .embeddings import Embeddings, sinusoidal_encoding
from .model import Transformer, from_state_dict
from .trace import AttentionTrace, LayerTrace, Trace

__all__ = [
    "AttentionTrace", "DecoderBlock", "Embeddings", "EncoderBlock", "FeedForward",
    "LayerTrace", "MultiHeadAttention", "Trace", "Transformer", "TransformerConfig",
    "attend", "causal_mask", "from_state_dict", "merge_heads", "sinusoidal_encoding", "split_heads",
]
