"""Direct logit attribution: how much each part of the model writes the answer's logit directly.

In a pre-LN model the last residual stream is a sum of what every part wrote:
    x = embed + Σ_layers (attn_out + mlp_out),   attn_out = Σ_heads head_out·W_O[head] + b_O
and the logit of a token is  final_norm(x) · W_U[token].  The final norm is not linear, so we use
the usual convention (TransformerLens's ActivationCache.logit_attrs / apply_ln_to_stack): its scale,
σ = sqrt(var(x) + eps) for LayerNorm (rms for RMSNorm), is frozen at the real run's value. Then
    final_norm(x) = Σ_parts (part − mean(part)) / σ · γ  +  β        (RMSNorm: no mean, no β)
is a sum over parts, and each part's share of the logit is its term dotted with W_U[token]. The
shares plus the bias terms (each layer's b_O and the norm's β) add up to the logit exactly.
With two tokens, the direction is W_U[token] − W_U[other]: the logit difference.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np
import torch

from core.model import Transformer
from core.trace import Trace


@dataclass(frozen=True)
class LogitAttribution:
    position: int
    token: int
    other: Optional[int]
    embed: float                   # token + position (+ segment) embeddings
    token_embed: Optional[float]   # the token row alone (None when the embeddings are normalised)
    pos_embed: Optional[float]     # the position row alone (0 for rotary models)
    heads: np.ndarray              # (L, H) each head's output through its slice of W_O
    attn_bias: np.ndarray          # (L,) each attention layer's W_O bias (0 without biases)
    mlp: np.ndarray                # (L,) each MLP's output (its biases included)
    final_bias: float              # the final norm's β (0 for RMSNorm)
    scale: float                   # the frozen σ (LayerNorm) or rms (RMSNorm) of the final norm
    logit: float                   # the model's own logit (difference) at that position

    @property
    def attn(self) -> np.ndarray:
        """(L,) each attention layer: its heads plus its bias."""
        return self.heads.sum(axis=1) + self.attn_bias

    @property
    def total(self) -> float:
        """Every contribution added up: equals `logit` (to float rounding)."""
        return float(self.embed + self.heads.sum() + self.attn_bias.sum() + self.mlp.sum() + self.final_bias)

    @property
    def by_layer(self) -> tuple[list[str], np.ndarray]:
        """Parts in the order they write: embed, attn 0, mlp 0, attn 1, ... (names, values)."""
        names, values = ["embed"], [self.embed]
        for layer in range(len(self.mlp)):
            names += [f"attn {layer}", f"mlp {layer}"]
            values += [float(self.attn[layer]), float(self.mlp[layer])]
        return names, np.asarray(values)


def applies(config) -> Optional[str]:
    """None if direct logit attribution applies to this model, else why not (one sentence)."""
    if not config.lm_head:
        return "the model has no language-model head: there is no logit to attribute."
    if config.norm != "pre":
        what = {"sandwich": "normalises each sublayer's output before adding it",
                "post_sublayer": "normalises each sublayer's output before adding it"}.get(
            config.norm, "normalises after each block (post-LN)")
        return (f"the model {what}, so its output is not a sum of what the "
                "parts wrote: direct logit attribution needs a pre-LN model.")
    return None


@torch.inference_mode()
def logit_attribution(model, trace: Trace, position: int, token: int, other: Optional[int] = None) -> LogitAttribution:
    """Each part's direct contribution to the logit of `token` (minus `other`'s) at `position`."""
    net: Transformer = getattr(model, "net", model)       # a LoadedModel or a bare Transformer
    config = net.config
    reason = applies(config)
    if reason:
        raise ValueError(f"Direct logit attribution does not apply: {reason}")
    t = len(trace)
    if not -t <= position < t:
        raise ValueError(f"no position {position}: the text has {t} tokens.")
    position %= t
    for tok in (token, other):
        if tok is not None and not 0 <= int(tok) < config.vocab_size:
            raise ValueError(f"token id {tok} is outside the vocabulary (0 to {config.vocab_size - 1}).")
    rows = net.unembedding_rows([token] if other is None else [token, other]).double()     # (1 or 2, d_model)
    direction = rows[0] - (rows[1] if other is not None else 0)                            # (d_model,)
    norm = net.final_norm
    rms = config.norm_kind == "rmsnorm"
    last = trace.layers[-1].resid_post[position] if trace.layers else trace.embed[position]
    x = torch.from_numpy(np.array(last)).double()
    scale = torch.sqrt((x.pow(2).mean() if rms else x.var(unbiased=False)) + config.eps)
    gamma = norm.weight.double()

    def share(part: torch.Tensor) -> torch.Tensor:
        """part (..., d_model) -> (...): its term of the frozen-scale norm, dotted with the direction."""
        centred = part if rms else part - part.mean(-1, keepdim=True)
        return (centred / scale * gamma) @ direction

    def row(array) -> torch.Tensor:
        return torch.from_numpy(np.array(array[position])).double()

    heads = np.zeros((config.n_layers, config.n_heads))
    attn_bias, mlp = np.zeros(config.n_layers), np.zeros(config.n_layers)
    d_head = config.d_head
    for layer, (block, lt) in enumerate(zip(net.blocks, trace.layers)):
        w_o = block.attention.output.weight.double()                                  # (d_model, H*d_head)
        per_head = w_o.view(config.d_model, config.n_heads, d_head).permute(1, 0, 2)  # (H, d_model, d_head)
        head_out = torch.from_numpy(np.array(lt.head_out[:, position])).double()   # (H, d_head)
        written = per_head @ head_out[:, :, None]  # (H, d_model, 1)
        heads[layer] = share(written[..., 0]).numpy()
        bias = block.attention.output.bias
        attn_bias[layer] = float(share(bias.double())) if bias is not None else 0.0
        mlp[layer] = float(share(row(lt.mlp_out)))
    pieces = None if config.embed_norm else (float(share(row(trace.token_embed))), float(share(row(trace.pos_embed))))
    if pieces is not None and trace.type_embed is not None:
        pieces = None                                     # a segment row too: report the sum only
    beta = getattr(norm, "bias", None)
    final_bias = float(beta.double() @ direction) if beta is not None else 0.0
    logit = float(trace.logits[position, int(token)] - (trace.logits[position, int(other)] if other is not None else 0))
    return LogitAttribution(position, int(token), None if other is None else int(other),
                            float(share(row(trace.embed))), *(pieces or (None, None)),
                            heads, attn_bias, mlp, final_bias, float(scale), logit)
