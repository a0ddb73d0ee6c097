"""What the "inside the model" pages share beyond widgets: the rotary-positions section."""
from __future__ import annotations

import numpy as np
import streamlit as st

from core import Trace
from analysis.recompute import ACTIVATION_NAMES, head_steps, norm_name, pages_stack, rope_angles
from models import LoadedModel
from ui.family import model_family
from ui.widgets import plot
from viz.rotary import rotary_angle_heatmap, rotary_arrows
from viz.steps import softcap_curve, weights_with_mask


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


def gemma_mask_sections(config, ctrace: Trace, chain, clayer: int, chead: int, query: int, crows: range) -> None:
    """5 · Masks for Gemma 2 and 3: a sliding-window layer beside a global one, and soft-capping as a curve
    with this query's real scores before and after the cap."""
    n_causal = len(ctrace.tokens)
    causal_span = slice(crows.start, crows.stop)
    ctokens = [ctrace.tokens[i] for i in crows]
    cnote = f" (tokens {crows.start}–{crows.stop - 1})" if len(crows) < n_causal else ""
    if config.sliding_window is not None:
        st.subheader("A sliding window beside the causal mask")
        window = config.sliding_window
        sliding = [layer for layer in range(config.n_layers) if config.window_of(layer)]
        full = [layer for layer in range(config.n_layers) if not config.window_of(layer)]
        st.markdown(f"In layers {', '.join(map(str, sliding))} a query sees only the last **{window}** keys (itself "
                    "included): the causal mask hides the future, the window hides the distant past too, so the "
                    f"visible cells form a band {window} wide along the diagonal. "
                    + (f"Layers {', '.join(map(str, full))} are global: the whole past. " if full else "")
                    + "Information from further back still arrives, passed on by the global layers.")
        pair = ([(full[0], "global: causal mask only")] if full else []) + [(sliding[0], f"sliding window of {window}")]
        for column, (shown, what) in zip(st.columns(len(pair)), pair):
            grid = ctrace.layers[shown]
            with column:
                plot(weights_with_mask(grid.weights[chead][causal_span, causal_span],
                                       ~np.isfinite(grid.scores[chead][causal_span, causal_span]), ctokens,
                                       f"Layer {shown} ({what}){cnote}", crows.start), f"mask_window_{shown}")
        band = ~np.isfinite(ctrace.layers[sliding[0]].scores[chead])
        st.caption(f"Layer {sliding[0]}: the query at position {n_causal - 1} sees "
                   f"{int((~band[-1]).sum())} of its {n_causal} keys; its weights on the others are exactly 0.")
    if config.attn_softcap is not None or config.final_softcap is not None:
        st.subheader("Soft-capping: scores bent to stay within ±cap")
    if config.attn_softcap is not None:
        cap = config.attn_softcap
        seen = chain.allowed
        raw = chain.dots[seen] / chain.scale                             # before the cap: q·k / √scale
        st.markdown(f"Before the mask and the softmax, every score x becomes **{cap:g} · tanh(x / {cap:g})**: "
                    f"almost x while it is small, never beyond ±{cap:g}, so no single key can take all the weight "
                    f"by a huge score. The scores are divided by √{chain.scale ** 2:g} first"
                    + (" (query_pre_attn_scalar, not d_head)." if config.attn_scale is not None else "."))
        plot(softcap_curve(raw, chain.scaled[seen], cap, [ctrace.tokens[i] for i in np.flatnonzero(seen)],
                           f"Layer {clayer}, head {chead}, the query at position {query}: each visible key's score"),
             "softcap_scores")
        st.caption(f"Largest score before the cap: {np.abs(raw).max():.3f}; "
                   f"after: {np.abs(chain.scaled[seen]).max():.3f}.")
    if config.final_softcap is not None:
        st.markdown(f"The next-token logits are capped the same way at the very end: "
                    f"**{config.final_softcap:g} · tanh(logit / {config.final_softcap:g})**, which keeps their order "
                    "(the likeliest token stays the likeliest) but flattens the extremes.")


def encoder_block_caption(model: LoadedModel, layer: int, NORM: str) -> None:
    """4 · Heads to the next layer, for an encoder–decoder (T5): which block this is, and the decoder's extra piece."""
    st.caption(f"This is block {layer} of {model_family(model)}'s encoder, on the sidebar's sentence as the source. "
               "A decoder block has the same pieces and one more between them: a **cross-attention** (with its own "
               f"{NORM}), through which each output token reads the encoder's output.")


GATED = {"silu": "SwiGLU", "gelu": "GeGLU", "gelu_tanh": "GeGLU", "relu": "ReGLU"}   # by the gate's activation


def feed_forward_text(config, t: int, parallel: bool) -> str:
    """4 · Heads to the next layer: the feed-forward's weights and shapes, gated (SwiGLU, GeGLU) or not."""
    d, dff, act, norm = config.d_model, config.d_ff, ACTIVATION_NAMES[config.activation], norm_name(config)
    b = " + b" if config.bias else ""
    if config.mlp == "gated":
        text = (f"A **gated** feed-forward ({GATED[config.activation]}): W_gate, W_up, W_down. mlp_in ({t} × {d}) · "
                f"W_gate ({d} × {dff}) → **{act}**, times mlp_in · W_up ({d} × {dff}) element by element → · W_down "
                f"({dff} × {d}) → mlp_out ({t} × {d}): the gate decides, per neuron, how much of W_up's value passes.")
    else:
        text = (f"mlp_in ({t} × {d}) · W_up ({d} × {dff}){b} → **{act}** → · W_down ({dff} × {d}){b} → mlp_out "
                f"({t} × {d}).")
    return (text + " Each token goes through alone: no mixing between tokens here, that was attention's job."
            + (f" Here mlp_in = {norm}₂(layer input): the feed-forward never sees what attention added."
               if parallel else ""))


def rms_norm_caption(row: np.ndarray, token: int) -> None:
    """4 · Heads to the next layer: what RMSNorm does to one token's resid_mid, with its numbers."""
    rms = float(np.sqrt(np.mean(np.asarray(row, dtype=np.float64) ** 2)))
    st.caption(f"mlp_in = RMSNorm(resid_mid): for the token at position {token}, resid_mid's root mean square is "
               f"{rms:.3f} and its mean {float(np.mean(row)):.3f} is **not** subtracted; each of its {len(row)} "
               "numbers is divided by the root mean square (plus a tiny ε) and multiplied by its own learned γ — "
               "no β, no bias.")


def shared_bias_text(net) -> str:
    """" Besides the blocks, the encoder's relative-position table: …" for T5 (one table for the stack, kept in
    block 0 and added by every block); "" for every other model."""
    table = pages_stack(net).bias
    if table is None:
        return ""
    return (f" Besides the blocks, the encoder's relative-position table: {table.n_buckets} buckets × "
            f"{table.buckets.weight.shape[1]} heads = {table.buckets.weight.numel():,} numbers, stored in block 0 and "
            "added by every block.")


def layout_caption(norm: str, parallel: bool, post: bool, NORM: str) -> None:
    """4 · Heads to the next layer: where this block's norms sit, in one caption (every layout but post-LN,
    which the page's headings already name)."""
    if parallel:
        st.caption(f"This model is parallel (as GPT-NeoX and Pythia): attention reads {NORM}₁(layer input) and the "
                   f"feed-forward reads {NORM}₂(layer input) — the same input, not resid_mid — so the two branches "
                   "could run at the same time; resid_post = layer input + attention output + feed-forward output. "
                   "The residual stream itself is never normalised.")
    elif norm == "post_sublayer":
        st.caption(f"This model puts its {NORM} on each sublayer's *output* (as OLMo 2): attention reads the layer "
                   f"input as it is, and what it returns is normalised before the add: resid_mid = layer input + "
                   f"{NORM}(attention output); likewise resid_post = resid_mid + {NORM}(feed-forward output). The "
                   "residual stream itself is never normalised.")
    elif norm == "sandwich":
        st.caption(f"This model has a {NORM} before *and* after each sublayer (as Gemma 2 and 3): attention reads "
                   f"{NORM}₁(layer input) and its output goes through {NORM}₂ before the add: resid_mid = layer input "
                   f"+ {NORM}₂(attention output); the feed-forward reads {NORM}₃(resid_mid), and resid_post = "
                   f"resid_mid "
                   f"+ {NORM}₄(feed-forward output). The residual stream itself is never normalised.")
    elif not post:
        st.caption(f"This model is pre-norm (as GPT-2 and Llama): the {NORM} comes *before* each sublayer — attention "
                   f"reads {NORM}(layer input), the feed-forward reads {NORM}(resid_mid) — and the residual stream "
                   "itself is never normalised, so the adds below have no norm after them."
                   + (" RMSNorm divides by the root mean square and scales by γ: no mean subtracted, no β."
                      if NORM == "RMSNorm" else ""))
