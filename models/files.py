"""Reading a model folder safely: every read bounded in size, every path inside the folder, every
config field of the right type, weights finite.

Every loader reads config.json through here once; the registry dispatches on its
`model_type`, then hands the parsed dict to the family's loader. A crafted folder gets a
message that names the file and the field, never a crash on some later page:

    read_json_capped     size checked before a byte is parsed (config, shard index)
    inside               a file a folder names (a shard, a link into blobs/) must resolve inside it
    check_hf_fields      the type and range of every config.json field a family reads, in one table
    weight_files         model.safetensors or the shards of its index, each checked with `inside`
    safetensors_header   the header only (8 bytes + its JSON): tensor shapes agree with the file size
"""
from __future__ import annotations

import json
import math
import os
import struct
from pathlib import Path

import torch

MAX_CONFIG_BYTES = 1_000_000    # real configs are a few KB; a huge file is refused before it is read
MAX_INDEX_BYTES = 4_000_000     # a shard index of a model this server can hold is tens of KB
MAX_SHARDS = 256
MAX_HEADER_BYTES = 16_000_000   # a safetensors header lists names and shapes: a few hundred KB at most
MAX_TOKENIZER_BYTES = 20_000_000  # Llama 3's tokenizer.json is 9 MB; a bigger one is refused unread
# A Marian (opus-mt) repo may ship its tokenizer as two SentencePiece models and the shared id map
# instead of tokenizer.json (models/spm_text.py); each is read with the limit above.
SPM_FILES = ("source.spm", "target.spm", "vocab.json")
SINGLE = "model.safetensors"
INDEX = "model.safetensors.index.json"


def read_json_capped(path: Path, limit: int):
    """A JSON file parsed only when it is at most `limit` bytes (checked before reading)."""
    path = Path(path)
    if not path.is_file():    # a folder, a missing file, or a pipe that would block the reader forever
        raise FileNotFoundError(f"{path}: {path.name} is not a file")
    size = path.stat().st_size
    if size > limit:
        raise ValueError(f"{path}: {path.name} is {size:,} bytes; at most {limit:,} bytes are read")
    with open(path, "rb") as f:
        data = f.read(limit + 1)     # the file may have grown since stat
    if len(data) > limit:
        raise ValueError(f"{path}: {path.name} is over {limit:,} bytes; at most {limit:,} bytes are read")
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: {path.name} is not valid JSON ({type(exc).__name__}: {exc})") from exc


def read_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"config.json is missing from {path.parent}")
    raw = read_json_capped(path, MAX_CONFIG_BYTES)
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: config.json must hold a JSON object (a {{...}} of settings), "
                         f"not a {type(raw).__name__}")
    return raw


# -- config.json fields: one table of every field a family reads, with its type and range ----------------
COUNT, SIZE, TOKEN_ID, POSITIVE, FLAG, NAME, SETTINGS = ("count", "size", "token id", "positive number",
                                                         "flag", "name", "settings")
HF_FIELDS = {
    # sizes: whole numbers from 1 (0 heads divides by zero; a list or a string is no size)
    **{name: SIZE for name in ("vocab_size", "hidden_size", "num_attention_heads", "num_hidden_layers",
                               "intermediate_size", "max_position_embeddings", "num_key_value_heads",
                               "head_dim", "sliding_window", "n_embd", "n_head", "n_layer", "n_inner",
                               "n_positions", "dim", "n_heads", "n_layers", "hidden_dim", "pretraining_tp",
                               # encoder–decoders (T5; BART, Marian)
                               "d_model", "d_kv", "d_ff", "num_layers", "num_decoder_layers", "num_heads",
                               "relative_attention_num_buckets", "relative_attention_max_distance",
                               "encoder_layers", "decoder_layers", "encoder_attention_heads",
                               "decoder_attention_heads", "encoder_ffn_dim", "decoder_ffn_dim",
                               "decoder_vocab_size")},
    "type_vocab_size": COUNT,
    **{name: TOKEN_ID for name in ("pad_token_id", "decoder_start_token_id", "forced_bos_token_id",
                                   "forced_eos_token_id")},
    **{name: POSITIVE for name in ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "rope_theta",
                                   "partial_rotary_factor")},
    **{name: FLAG for name in ("tie_word_embeddings", "attention_bias", "mlp_bias", "use_sliding_window",
                               "is_decoder", "scale_attn_weights", "scale_attn_by_inverse_layer_idx",
                               "add_cross_attention", "scale_embedding", "scale_decoder_outputs",
                               "share_encoder_decoder_embeddings", "normalize_before", "add_final_layer_norm")},
    **{name: NAME for name in ("model_type", "hidden_act", "activation_function", "activation",
                               "position_embedding_type", "feed_forward_proj")},
    "rope_scaling": SETTINGS,
    "rope_parameters": SETTINGS,
}
# Inside rope_scaling / rope_parameters.
ROPE_FIELDS = {"rope_type": NAME, "type": NAME, "rope_theta": POSITIVE, "partial_rotary_factor": POSITIVE}
MAX_SIZE = 2**31


def field_problem(value, kind: str) -> str | None:
    """Why `value` is not a `kind` (None: it is, or it is null, which means the family's default)."""
    if value is None:
        return None
    whole = isinstance(value, int) and not isinstance(value, bool)
    if kind == SIZE:
        return None if whole and 1 <= value <= MAX_SIZE else f"a whole number from 1 to {MAX_SIZE:,}"
    if kind in (COUNT, TOKEN_ID):
        return None if whole and 0 <= value <= MAX_SIZE else f"a whole number from 0 to {MAX_SIZE:,}"
    if kind == POSITIVE:
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if number and math.isfinite(value) and value > 0 else "a positive number"
    if kind == FLAG:
        return None if isinstance(value, bool) else "true or false"
    if kind == NAME:
        return None if isinstance(value, str) and len(value) <= 100 else "a short text"
    return None if isinstance(value, dict) else "an object ({...}) of settings"


def check_hf_fields(hf: dict) -> None:
    """Refuse, by field, a config.json whose fields a family reads have the wrong type or range:
    a family's arithmetic then only meets the values it expects (no ZeroDivisionError from
    `num_attention_heads: 0`, no AttributeError from `rope_scaling: "yarn"`)."""
    if not isinstance(hf, dict):
        raise ValueError(f"config.json must hold a JSON object, not a {type(hf).__name__}")
    checks = [(name, hf.get(name), kind) for name, kind in HF_FIELDS.items()]
    for name in ("rope_scaling", "rope_parameters"):
        if isinstance(hf.get(name), dict):
            checks += [(f"{name}.{key}", hf[name].get(key), kind) for key, kind in ROPE_FIELDS.items()]
    for name, value, kind in checks:
        problem = field_problem(value, kind)
        if problem:
            shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"
            raise ValueError(f"config.json's {name} must be {problem}, not {shown}")


# -- paths: nothing a folder's files name may lead outside it --------------------------------------------
def allowed_root(folder: Path) -> Path:
    """Where a folder's files may live: a Hugging Face cache snapshot's files are links into its
    repo's blobs/, so the repo folder (models--org--name); any other folder, itself."""
    folder = Path(folder)
    if folder.parent.name == "snapshots" and folder.parent.parent.name.startswith("models--"):
        return folder.parent.parent
    return folder


def inside(folder: Path, name: str) -> Path:
    """folder/name, refused (ValueError) unless it resolves inside allowed_root(folder): a shard
    named "/etc/passwd" or "../../x", or a link to a file elsewhere, is never opened."""
    folder = Path(folder)
    if not isinstance(name, str) or not name or "\x00" in name:
        raise ValueError(f"{folder}: the file name {name!r} is not usable")
    path = folder / name
    root = allowed_root(folder).resolve()
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as exc:     # a loop of links
        raise ValueError(f"{folder}: {name!r} cannot be resolved ({type(exc).__name__})") from exc
    if not resolved.is_relative_to(root):
        raise ValueError(f"{folder}: {name!r} leads outside the model's folder; it is never opened")
    return path


def weight_files(folder: Path) -> list[Path]:
    """The safetensors file(s) of a checkpoint: one file, or the shards its index lists (read
    bounded), each inside the folder."""
    folder = Path(folder)
    if (folder / SINGLE).is_file():
        return [inside(folder, SINGLE)]
    index = folder / INDEX
    if index.is_file():
        raw = read_json_capped(inside(folder, INDEX), MAX_INDEX_BYTES)
        weight_map = raw.get("weight_map") if isinstance(raw, dict) else None
        if not isinstance(weight_map, dict) or not weight_map \
                or not all(isinstance(v, str) for v in weight_map.values()):
            raise ValueError(f"{index}: not a usable shard index (no weight_map of tensor -> file name)")
        names = sorted(set(weight_map.values()))
        if len(names) > MAX_SHARDS:
            raise ValueError(f"{index}: lists {len(names):,} shards; at most {MAX_SHARDS} are opened")
        shards = [inside(folder, name) for name in names]
        for shard in shards:
            if not shard.is_file():
                raise FileNotFoundError(f"{index} lists {shard.name}, which is not in {folder}")
        return shards
    pickled = [p.name for p in folder.glob("*.bin")] + [p.name for p in folder.glob("*.pt")]
    hint = f" ({', '.join(sorted(pickled))} are pickle files, which are never opened)" if pickled else ""
    raise FileNotFoundError(f"no {SINGLE} or {INDEX} in {folder}{hint}")


DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
               "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def safetensors_header(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from a safetensors file's header alone (8 bytes of length, then JSON),
    refusing a file that is not safetensors or whose header disagrees with its size."""
    path = Path(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise ValueError(f"{path}: {path.name} is not a safetensors file (too short)")
        (n,) = struct.unpack("<Q", head)
        if n > MAX_HEADER_BYTES or 8 + n > size:
            raise ValueError(f"{path}: {path.name} is not a safetensors file (its header size is wrong)")
        raw = f.read(n)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: {path.name} is not a safetensors file (unreadable header)") from exc
    if not isinstance(header, dict):
        raise ValueError(f"{path}: {path.name} is not a safetensors file (unreadable header)")
    data_bytes, shapes = size - 8 - n, {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        ok = isinstance(entry, dict) and entry.get("dtype") in DTYPE_BYTES
        shape, offsets = (entry.get("shape"), entry.get("data_offsets")) if ok else (None, None)
        ok = ok and isinstance(shape, list) and all(type(d) is int and d >= 0 for d in shape) \
            and isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets) \
            and 0 <= offsets[0] <= offsets[1] <= data_bytes \
            and offsets[1] - offsets[0] == math.prod(shape) * DTYPE_BYTES[entry["dtype"]]
        if not ok:
            raise ValueError(f"{path}: {path.name} is damaged: the header entry of tensor {name!r} does not "
                             "match its data")
        shapes[name] = tuple(shape)
    if not shapes:
        raise ValueError(f"{path}: {path.name} holds no tensors")
    return shapes


def require_finite(state: dict[str, torch.Tensor], path: Path) -> None:
    """Refuse weights with NaN or infinite values: every probability they produced would be NaN."""
    for name, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"{path}: the weight {name} holds NaN or infinite values; the model cannot be used")


def sentence_pooling(folder: Path) -> dict | None:
    """A sentence-transformers folder's pooling: {"pooling": "mean", "max_tokens": 256, "normalize": True},
    or None when the folder is not a mean-pooling sentence encoder (its own files say which)."""
    folder = Path(folder)
    try:
        # Bounded reads, and a module's "path" may not lead out of the folder ("../../etc").
        modules = read_json_capped(inside(folder, "modules.json"), MAX_CONFIG_BYTES)
        kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules if isinstance(m, dict)]
        pooling_path = next(inside(folder, str(Path(m.get("path", "")) / "config.json")) for m in modules
                            if isinstance(m, dict) and m.get("type", "").endswith("Pooling"))
        pooling = read_json_capped(pooling_path, MAX_CONFIG_BYTES)
        settings = read_json_capped(inside(folder, "sentence_bert_config.json"), MAX_CONFIG_BYTES)
    except (OSError, ValueError, StopIteration, AttributeError, TypeError):
        return None
    if not isinstance(pooling, dict) or not pooling.get("pooling_mode_mean_tokens") or not isinstance(settings, dict):
        return None
    max_tokens = settings.get("max_seq_length")
    return {"pooling": "mean", "normalize": "Normalize" in kinds,
            "max_tokens": max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None}


def folder_signature(folder: Path, limit: int = 2_000) -> tuple:
    """What a folder's files look like now: (name, size, mtime) of each of its first `limit` entries, read
    through links (None where one cannot be read). A finished or repaired download changes it."""
    stats = []
    try:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name)[:limit]:
            try:
                st = entry.stat()
                stats.append((entry.name, st.st_size, st.st_mtime_ns))
            except OSError:
                stats.append((entry.name, None))
    except OSError:
        pass
    return tuple(stats)
