"""Corpus results as Parquet: head statistics, one row per (sentence, layer, head), one column per
statistic; a query–key space, one row per drawn token.

A result is keyed by the model, the corpus's hash and the settings that change the numbers, so
a second visit (or the app opening what the command computed on a cluster) is a file read.
The folder is bounded in bytes: the oldest results go first.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from analysis.corpus import NAMES, CorpusStats
from analysis.corpus_qk import CorpusQK

STORE_ENV = "ATTENTION_EXPLORER_CORPUS_DIR"
MAX_STORE_BYTES = 512 * 2**20
VERSION = 2          # bump when the statistics change meaning: old files stop matching (2: detectors)
META = b"attention_explorer"
HEAD_STATS = {"statistics": "head_stats"}   # the settings of a head-statistics job (all it has today)


def result_key(model: str, corpus: str, settings: dict | None = None) -> str:
    """A file name for (model, corpus hash, settings): the same inputs, the same key."""
    text = json.dumps({"model": model, "corpus": corpus, "settings": settings or {}, "version": VERSION},
                      sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def to_table(stats: CorpusStats):
    """A pandas DataFrame, long form: sentence, layer, head, text, tokens, then each statistic."""
    import pandas as pd

    n, _, layers, heads = stats.values.shape
    sentence, layer, head = np.meshgrid(np.arange(n), np.arange(layers), np.arange(heads), indexing="ij")
    columns = {"sentence": sentence.ravel().astype(np.int32), "layer": layer.ravel().astype(np.int16),
               "head": head.ravel().astype(np.int16)}
    columns["text"] = np.repeat(np.asarray(stats.texts, dtype=object), layers * heads)
    columns["tokens"] = np.repeat(stats.n_tokens, layers * heads)
    for s, name in enumerate(NAMES):
        columns[name] = stats.values[:, s].ravel()          # (N·L·H,) in sentence, layer, head order
    return pd.DataFrame(columns)


def save(stats: CorpusStats, path: Path | str, info: dict | None = None) -> Path:
    """Write a result to `path` (Parquet), with the model, engine and `info` in the file's metadata."""
    meta = {"model": stats.model, "engine": stats.engine, "note": stats.note, "shape": list(stats.shape),
            **(info or {})}
    return _write(to_table(stats), path, META, meta)


def load(path: Path | str) -> CorpusStats:
    """A result saved by `save` (the app opens what the command wrote)."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(META, b"{}"))
    if "shape" not in meta:
        raise ValueError(f"{Path(path).name} is not a corpus statistics file from this app")
    layers, heads = meta["shape"]
    frame = table.to_pandas().sort_values(["sentence", "layer", "head"], kind="stable")
    n = len(frame) // (layers * heads)
    values = np.stack([frame[name].to_numpy(np.float32).reshape(n, layers, heads) for name in NAMES],
                      axis=1)                                 # (N, S, L, H)
    first = frame.iloc[:: layers * heads]
    return CorpusStats(meta["model"], tuple(first["text"].tolist()), values, first["tokens"].to_numpy(np.int32),
                       meta.get("engine", "local"), meta.get("note", ""))


QK_META = b"attention_explorer_qk"


def qk_settings(layer: int, head: int, max_points: int, seed: int) -> dict:
    """The settings of a corpus query–key job (they change the picture, so they are in its key)."""
    return {"statistics": "corpus_qk", "layer": int(layer), "head": int(head), "points": int(max_points),
            "seed": int(seed)}


def qk_table(space: CorpusQK, texts: Sequence[str] = ()):
    """A pandas DataFrame, one row per drawn token: which passage and position, the token, its query's
    and its key's place in the head's joint projection (and the passage's text when `texts` is given)."""
    import pandas as pd

    columns = {"sentence": space.sentence, "position": space.position, "token": list(space.tokens),
               "query_x": space.query_xy[:, 0], "query_y": space.query_xy[:, 1],
               "key_x": space.key_xy[:, 0], "key_y": space.key_xy[:, 1]}
    if texts:
        columns["text"] = [texts[i] for i in space.sentence]
    return pd.DataFrame(columns)


def save_qk(space: CorpusQK, path: Path | str, info: dict | None = None, texts: Sequence[str] = ()) -> Path:
    """Write a corpus query–key space to `path` (Parquet); its scale and explained spread go in the metadata."""
    meta = {"explained": [float(x) for x in space.explained], "scale": space.scale, **(info or {})}
    return _write(qk_table(space, texts), path, QK_META, meta)


def load_qk(path: Path | str) -> CorpusQK:
    """A corpus query–key space saved by `save_qk`."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads((table.schema.metadata or {}).get(QK_META, b"{}"))
    if "scale" not in meta:
        raise ValueError(f"{Path(path).name} is not a corpus query–key file from this app")
    frame = table.to_pandas()
    xy = lambda a, b: np.stack([frame[a].to_numpy(np.float32), frame[b].to_numpy(np.float32)], axis=1)  # noqa: E731
    return CorpusQK(xy("query_x", "query_y"), xy("key_x", "key_y"), frame["sentence"].to_numpy(np.int32),
                    frame["position"].to_numpy(np.int32), tuple(frame["token"].tolist()),
                    np.asarray(meta["explained"], dtype=np.float64), float(meta["scale"]))


def _write(frame, path: Path | str, key: bytes, meta: dict) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), key: json.dumps(meta).encode()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".part")
    pq.write_table(table, tmp)
    os.replace(tmp, path)        # a reader never sees half a file
    return path


class ResultStore:
    """Saved results in one folder, by key, at most `max_bytes` in all."""

    def __init__(self, folder: Path | str | None = None, max_bytes: int = MAX_STORE_BYTES):
        default = Path(os.environ.get(STORE_ENV) or Path.home() / ".cache" / "attention_explorer" / "corpus")
        self.folder = Path(folder) if folder is not None else default
        self.max_bytes = max_bytes

    def path(self, key: str) -> Path:
        if not key.isalnum():
            raise ValueError("a result key is letters and digits")
        return self.folder / f"{key}.parquet"

    def get(self, key: str, reader: Callable = load):
        """The result stored under `key` (read by `reader`: load, or load_qk), or None."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            return reader(path)
        except Exception:     # a damaged file is recomputed, not shown
            return None

    def put(self, key: str, stats: CorpusStats, info: dict | None = None) -> Path:
        path = save(stats, self.path(key), info)
        self._trim()
        return path

    def put_qk(self, key: str, space: CorpusQK, info: dict | None = None, texts: Sequence[str] = ()) -> Path:
        path = save_qk(space, self.path(key), info, texts)
        self._trim()
        return path

    def _trim(self) -> None:
        files = sorted(self.folder.glob("*.parquet"), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        while len(files) > 1 and total > self.max_bytes:   # the newest always stays
            oldest = files.pop(0)
            total -= oldest.stat().st_size
            oldest.unlink(missing_ok=True)
