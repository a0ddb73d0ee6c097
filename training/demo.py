"""A small decoder with random weights, to show what a causal mask does on any sentence.

The masks page runs the person's sentence through it: MiniLM sees both ways, this model
only looks back. Untrained on purpose; its weights come from the one seeded initialiser.
"""
from __future__ import annotations

from core import Transformer, TransformerConfig

from .weights import seeded

UNTRAINED_CAUSAL = TransformerConfig(vocab_size=4096, d_model=64, n_heads=4, n_layers=2, d_ff=256,
                                     max_positions=512, norm="pre", causal=True, lm_head=True,
                                     eps=1e-5, type_vocab_size=0, embed_norm=False)
DEMO_STD = 0.125   # 1/√d_model: larger than training's 0.02, so an untrained head's scores vary visibly


def untrained_causal_model(config: TransformerConfig = UNTRAINED_CAUSAL, seed: int = 0) -> Transformer:
    """A decoder-only Transformer with seeded random weights, in eval mode."""
    return seeded(lambda: Transformer(config), seed, std=DEMO_STD).eval()


def fold_ids(ids, vocab_size: int) -> list[int]:
    """Token ids of another tokenizer folded into a smaller vocabulary (id mod vocab)."""
    return [int(i) % vocab_size for i in ids]
