"""What the "inside the model" pages share beyond widgets: the rotary-positions section."""
from __future__ import annotations

import streamlit as st

from core import Trace
from analysis.recompute import head_steps, rope_angles
from models import LoadedModel
from ui.family import model_family
from ui.widgets import plot
from viz.rotary import rotary_angle_heatmap, rotary_arrows


def arrow_positions(n_tokens: int, limit: int = 4) -> list[int]:
    """A few positions spread over the sentence (0 and the last included) for the arrows figure."""
    if n_tokens <= limit:
        return list(range(n_tokens))
    return sorted({round(i * (n_tokens - 1) / (limit - 1)) for i in range(limit)})


def rotary_section(model: LoadedModel, trace: Trace, n_pos: int) -> None:
    """Rotary positions (RoPE): the angle table and one head's query pairs turned by position."""
    config = model.config
    dh, rot = config.d_head, config.rotated_dims           # partial rotary turns only the first `rot`
    half = rot // 2
    cut = (f"({dh} dimensions per head)" if rot == dh else
           f"— only the first {rot} of its {dh} dimensions (partial rotary; the other {dh - rot} pass unturned "
           "and score by content alone) —")
    st.subheader(f"Rotary positions ({model_family(model)})")
    st.markdown(
        f"This model adds **no** position vector. Inside every attention layer it cuts each query and key {cut} "
        f"into {half} **pairs** and turns each pair like a clock hand by "
        f"position × θ_i, with θ_i = {config.rope_theta:g}^(−2i/{rot}): pair 0 turns 1 radian per token, the "
        "last pairs barely move. Because q at position m and k at position n are both turned, q·k depends "
        "only on how far apart they are (m − n). Lengths never change; only directions do.")
    left, right = st.columns([2, 3])
    with left:
        plot(rotary_angle_heatmap(rope_angles(config, n_pos),
                                  f"Angle of each pair at positions 0–{n_pos - 1} (mod 360°)"), "rotary_angles")
    with right:
        chain = head_steps(model.net, trace, 0, 0, 0)
        pairs = sorted({0, 1, half // 2})
        shown = arrow_positions(len(trace.tokens))
        plot(rotary_arrows(chain.q_raw[:, :rot], chain.q[:, :rot], shown, pairs, trace.tokens,
                           "Layer 0, head 0: query pairs before (dotted) and after (solid) the turn"),
             "rotary_arrows")
    st.caption("Right: each arrow is one token's query in one pair of dimensions. Position 0 is not turned, so "
               "its two arrows coincide; later positions turn further, fast in pair 0 and slowly in later pairs. "
               "The keys are turned the same way, so the score q·k sees only the distance between two tokens.")


def parameters_text(ap: dict, config) -> str:
    """What splitting into heads costs in weights (plain heads), or saves (grouped-query attention)."""
    d, h, dh, kv = config.d_model, config.n_heads, config.d_head, ap["kv_heads"]
    one = f"({d}·{dh} + {dh})" if config.qkv_bias else f"{d}·{dh}"
    if kv == h:
        return (f"**Many heads cost nothing extra.** Head by head, W_Q, W_K and W_V are {d} × {dh} slices: "
                f"{h} heads × 3 × {one} = {h * ap['per_head_qkv']:,}, plus W_O {ap['output']:,} = "
                f"**{ap['multi_head']:,}**. One head of full width ({d} × {d} projections) has "
                f"**{ap['one_full_head']:,}** — counted on two real modules built with {h} heads and with 1. "
                "Splitting into heads changes what the weights can express (several attention patterns at "
                "once), not how many there are.")
    return (f"**Grouped-query attention saves weights.** W_Q has {h} query-head slices of {d} × {dh}, but W_K and "
            f"W_V have only {kv} key/value-head slices each: {h} × {one} + 2 × {kv} × {one} = "
            f"{h * ap['per_head_q'] + kv * ap['per_kv_head']:,}, plus W_O {ap['output']:,} = **{ap['multi_head']:,}**, "
            f"against **{ap['one_full_head']:,}** for one full-width head with its own keys and values. "
            f"Each key/value head serves {h // kv} query heads, so the cache of keys and values is {h // kv}× smaller.")


def spread_query(trace: Trace, layer: int, head: int) -> int:
    """The query to open One head with numbers on: the word whose attention in this head is spread
    over the most keys (highest entropy), so the weighted sum really mixes values. The first word was
    often all on [CLS] (a sum of zeros), and a decoder's position 0 sees only itself."""
    import numpy as np

    weights = np.asarray(trace.head(layer, head).weights, dtype=np.float64)        # (T, T)
    entropy = -(weights * np.log(np.where(weights > 0, weights, 1.0))).sum(axis=-1)   # (T,)
    words = [i for i, special in enumerate(trace.special_mask) if not special] or list(range(len(entropy)))
    return int(max(words, key=lambda i: (round(float(entropy[i]), 9), -i)))


def diagonal_band_caption(cosines) -> str:
    """What a position-cosine matrix shows, said from its numbers: a bright band along the diagonal
    only when neighbouring positions really are more alike than distant ones (issue 26: the caption
    promised a band that some learned tables do not have)."""
    import numpy as np

    cos = np.asarray(cosines, dtype=np.float64)
    n = len(cos)
    gap = np.abs(np.subtract.outer(np.arange(n), np.arange(n)))              # (n, n): |i − j|
    far = 8 if n > 9 else max(2, n // 2)
    if n < 3 or not (gap >= far).any():
        return "Too few positions to compare neighbours with distant ones."
    near, distant = float(cos[gap == 1].mean()), float(cos[gap >= far].mean())
    numbers = f"mean cosine {near:.2f} between neighbours, {distant:.2f} between positions {far} or more apart"
    if near - distant > 0.1:
        return (f"A band along the diagonal: neighbouring positions have similar vectors ({numbers}), as with the "
                "sinusoids — training rediscovered 'nearby means similar'.")
    return (f"No band along the diagonal: neighbouring positions are hardly more alike than distant ones "
            f"({numbers}). This table does not encode 'nearby means similar' the way the sinusoids do.")

