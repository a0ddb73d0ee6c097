"""Reading a Hugging Face checkpoint folder strictly: config.json, safetensors weights, a name map.

Shared by the family files (models/<family>.py), which build their name maps with the
helpers at the end (`linears`: the weight/bias loops; `unembedding`: tied or untied). Weights are
read with safetensors only (one model.safetensors, or shards listed in
model.safetensors.index.json), never with pickle. bf16 and fp16 weights stay as the file stores
them (half the bytes of float32); every block still computes in float32, upcasting one block's
weights at a time (core.model.in_float32); any other dtype is read as float32. Every tensor of
the file must be used by the name map or be listed as ignored by the family; every tensor the
map needs must be there, with the shape our module expects. Each error names the tensor.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Collection, Iterable, Mapping, Optional, Union

import torch
from safetensors import SafetensorError, safe_open

from core import Transformer, TransformerConfig
from core.seq2seq import EncoderDecoder

from .files import weight_files  # paths checked inside the folder, the shard index read bounded

# Our parameter name -> (their tensor name, optional conversion of that tensor).
Conversion = Callable[[torch.Tensor], torch.Tensor]
NameMap = dict[str, tuple[str, Optional[Conversion]]]
# The dtypes a weight keeps in memory as the file stores it; any other is read as float32.
STORED = (torch.float32, torch.bfloat16, torch.float16)

def read_weights(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint by its Hugging Face name, as stored (dtype unchanged)."""
    tensors: dict[str, torch.Tensor] = {}
    for path in weight_files(folder):
        try:
            with safe_open(str(path), framework="pt") as f:
                for name in f.keys():
                    if name in tensors:
                        raise ValueError(f"{path}: tensor {name} appears in two shards")
                    tensors[name] = f.get_tensor(name)
        except (SafetensorError, OSError) as exc:
            raise ValueError(f"{path}: the weights file is damaged or not safetensors ({exc})") from exc
    return tensors


def common_prefix(names: Iterable[str], candidates: tuple[str, ...], probe: str) -> str:
    """The wrapper prefix of a checkpoint saved from a task model ("model.", "transformer.", ...),
    found from a tensor every checkpoint of the family has (`probe`); "" when saved bare."""
    names = set(names)
    for prefix in candidates:
        if prefix + probe in names:
            return prefix
    return ""


def expected_shapes(config: TransformerConfig) -> dict[str, tuple[int, ...]]:
    """Our parameter names and shapes for `config`, without allocating any weights."""
    with torch.device("meta"):
        net = EncoderDecoder(config) if config.encoder_decoder else Transformer(config)
    return {name: tuple(t.shape) for name, t in net.state_dict().items()}


def convert(theirs: dict[str, torch.Tensor], mapping: NameMap, ignored: Iterable[str],
            config: TransformerConfig, where: str) -> dict[str, torch.Tensor]:
    """Apply a family's name map strictly; return our state dict (bf16/fp16 kept, else float32).

    ignored: regular expressions (full match) for tensors the file may hold that we do not
    use (buffers such as causal-mask tables, task heads on top of the model).
    """
    patterns = [re.compile(p) for p in ignored]
    used = {source for source, _ in mapping.values()}
    missing = sorted(used - set(theirs))
    if missing:
        raise ValueError(f"{where}: missing tensor {missing[0]!r}"
                         + (f" (and {len(missing) - 1} more: {missing[1:4]})" if len(missing) > 1 else ""))
    unexpected = sorted(n for n in theirs if n not in used and not any(p.fullmatch(n) for p in patterns))
    if unexpected:
        raise ValueError(f"{where}: unexpected tensor {unexpected[0]!r}"
                         + (f" (and {len(unexpected) - 1} more: {unexpected[1:4]})" if len(unexpected) > 1 else "")
                         + ": the checkpoint does not match its config.json, or has parts we do not support")
    shapes = expected_shapes(config)
    ours_missing = sorted(set(shapes) - set(mapping))
    if ours_missing:  # a bug in a name map, not in the file
        raise ValueError(f"{where}: the name map leaves {ours_missing[:4]} unset")
    state = {}
    for ours, (source, change) in mapping.items():
        tensor = theirs[source]
        try:   # a conversion cuts or reshapes (a fused QKV): a wrong shape can fail inside it
            tensor = change(tensor) if change is not None else tensor
        except (RuntimeError, IndexError, ValueError):
            tensor = None
        if tensor is None or tuple(tensor.shape) != shapes[ours]:
            raise ValueError(f"{where}: tensor {source!r} has shape {tuple(theirs[source].shape)}, "
                             f"which does not give {ours} the shape {shapes[ours]} the config needs")
        # bf16/fp16 kept as stored: computing upcasts them exactly, so nothing we show is rounded.
        state[ours] = (tensor if tensor.dtype in STORED else tensor.to(torch.float32)).contiguous()
    return state


def check_tied(theirs: dict[str, torch.Tensor], head: str, table: str, where: str) -> list[str]:
    """A tied checkpoint may still store the unembedding; accept it only if it is the table."""
    if head not in theirs:
        return []
    if theirs[head].shape != theirs[table].shape or not torch.equal(theirs[head], theirs[table]):
        raise ValueError(f"{where}: tensor {head!r} differs from {table!r}, but config.json says "
                         "tie_word_embeddings is true (the two must be the same matrix)")
    return [re.escape(head)]


# -- building a family's name map ---------------------------------------------------------------
def linears(theirs: str, ours: str, parts: Mapping[str, str], *, bias: Union[bool, Collection[str]] = True,
            change: Optional[Conversion] = None) -> NameMap:
    """The weight, and the bias, of each part of one layer (linears and norms alike):
    f"{theirs}{their_part}.weight" -> f"{ours}{our_part}.weight", and the same for ".bias".

    bias: True (every part has one), False (none: Llama), or the their-part names that have one.
    change: a conversion of the weights only (GPT-2's Conv1D stores them transposed).
    """
    m: NameMap = {}
    for their_part, our_part in parts.items():
        m[f"{ours}{our_part}.weight"] = (f"{theirs}{their_part}.weight", change)
        if bias is True or (bias is not False and their_part in bias):
            m[f"{ours}{our_part}.bias"] = (f"{theirs}{their_part}.bias", None)
    return m


def unembedding(m: NameMap, config: TransformerConfig, theirs: dict[str, torch.Tensor], head: str,
                table: str, where: str) -> list[str]:
    """Map the unembedding: its own matrix `head` when untied; when tied (logits read the token
    table `table`), a stored copy of `head` is accepted only if equal. Returns the names to ignore."""
    if config.tie_embeddings:
        return check_tied(theirs, head, table, where)
    m["unembed.weight"] = (head, None)
    return []
