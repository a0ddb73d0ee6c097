"""Reading a model folder's config.json: bounded in size, a JSON object, or a clear error.

Every loader reads the file through here once; the registry dispatches on its
`model_type`, then hands the parsed dict to the family's loader.
"""
from __future__ import annotations

import json
from pathlib import Path

MAX_CONFIG_BYTES = 1_000_000    # real configs are a few KB; a huge file is refused before it is read


def read_config(folder: Path) -> dict:
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"config.json is missing from {path.parent}")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"{path}: config.json is {size:,} bytes; a model config is at most "
                         f"{MAX_CONFIG_BYTES:,} bytes")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: config.json is not valid JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: config.json must hold a JSON object (a {{...}} of settings), "
                         f"not a {type(raw).__name__}")
    return raw
