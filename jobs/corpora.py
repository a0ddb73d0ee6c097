"""Where a corpus comes from: a text file (one passage per line), a CSV or Parquet file with a text
column, or the built-in training corpus (training/corpus.py). Every source is bounded: bytes read,
passages kept and characters per passage, so an upload cannot make a job without end.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

from training.corpus import CorpusConfig, generate_corpus

MAX_FILE_BYTES = 200 * 2**20    # the command reads a researcher's file up to this size
MAX_PASSAGES = 100_000          # passages kept from one source
MAX_PASSAGE_CHARS = 5_000       # the tokenizer cuts at the model's limit anyway; this bounds the work
TEXT_COLUMNS = ("text", "sentence", "passage")   # tried in this order when no column is named
BUILTIN = "builtin"             # the name of the built-in corpus (`--corpus builtin:1000`)


class CorpusError(ValueError):
    """A corpus that cannot be read, with a message for the person who gave it."""


def tidy(passages, limit: int = MAX_PASSAGES) -> list[str]:
    """Non-empty passages, whitespace collapsed (a passage is one line), cut to the bounds."""
    kept = []
    for passage in passages:
        if not isinstance(passage, str):
            continue
        text = " ".join(passage.split())[:MAX_PASSAGE_CHARS]
        if text:
            kept.append(text)
            if len(kept) >= limit:
                break
    return kept


def _text_column(frame, column: str | None) -> str:
    if column is not None:
        if column not in frame.columns:
            raise CorpusError(f"the table has no column {column!r}; its columns: {list(frame.columns)[:20]}")
        return column
    for name in TEXT_COLUMNS:
        if name in frame.columns:
            return name
    strings = [c for c in frame.columns if frame[c].dtype == object or str(frame[c].dtype).startswith("str")]
    if len(strings) == 1:
        return strings[0]
    raise CorpusError(f"which column holds the text? Name it (columns: {list(frame.columns)[:20]}); "
                      f"a column called {' or '.join(TEXT_COLUMNS)} is found by itself.")


def read_corpus(data: bytes, filename: str, column: str | None = None, limit: int = MAX_PASSAGES) -> list[str]:
    """Passages from a file's bytes; its name's ending says the format (.txt/.csv/.parquet)."""
    import pandas as pd

    suffix = Path(filename).suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            frame = pd.read_csv(io.BytesIO(data), sep="\t" if suffix == ".tsv" else ",", dtype=str,
                                nrows=limit * 2, on_bad_lines="skip")
            passages = frame[_text_column(frame, column)].tolist()
        elif suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(io.BytesIO(data))
            passages = frame[_text_column(frame, column)].tolist()
        else:   # plain text: one passage per line
            passages = data.decode("utf-8", errors="replace").splitlines()
    except CorpusError:
        raise
    except Exception as exc:   # pandas and pyarrow raise many kinds; the person needs one sentence
        raise CorpusError(f"{Path(filename).name} could not be read as {suffix or 'text'}: "
                          f"{type(exc).__name__}: {str(exc)[:200]}") from exc
    kept = tidy(passages, limit)
    if not kept:
        raise CorpusError(f"{Path(filename).name} holds no text: one passage per line (or a text column).")
    return kept


def builtin_corpus(n: int = 1000, seed: int = 0) -> list[str]:
    """The built-in training corpus's first n sentences (the same for the same seed)."""
    return generate_corpus(CorpusConfig(seed=seed, n_sentences=max(1, min(n, MAX_PASSAGES))))


def load_corpus(source: str, column: str | None = None, limit: int = MAX_PASSAGES) -> list[str]:
    """The command's --corpus: a file path, or `builtin` / `builtin:N` for the built-in corpus."""
    if source == BUILTIN or source.startswith(BUILTIN + ":"):
        count = source.partition(":")[2]
        if count and not count.isdigit():
            raise CorpusError(f"builtin:N needs a number of sentences, got {count!r}")
        return builtin_corpus(int(count) if count else 1000)[:limit]
    path = Path(source)
    if not path.is_file():
        raise CorpusError(f"no corpus file {source!r} (or use builtin:N for the built-in corpus)")
    if path.stat().st_size > MAX_FILE_BYTES:
        raise CorpusError(f"{path.name} is over {MAX_FILE_BYTES // 2**20} MB: split it")
    return read_corpus(path.read_bytes(), path.name, column, limit)


def corpus_hash(texts) -> str:
    """A short fingerprint of the passages, in order: the same corpus gives the same hash."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()[:16]
