"""Text -> tokens for Marian repos that ship SentencePiece files instead of tokenizer.json.

The Helsinki-NLP opus-mt models ship `source.spm` and `target.spm` (two SentencePiece models) and
`vocab.json` (the model's one id map, shared by encoder and decoder). transformers' MarianTokenizer
reads them so, and so do we:

    source text --split on the special tokens typed in it (</s>, <unk>, <pad>)-->
        chunks --a leading language code ">>fra<<" is one token--> --source.spm--> pieces
        --vocab.json--> ids (a piece vocab.json lacks is <unk>), then </s> appended
    ids --vocab.json--> pieces --target.spm joins them--> the output text

A `tokenizers.Tokenizer` cannot do this exactly: its ids are the SentencePiece model's own, while
Marian's come from vocab.json, which also holds the target's pieces (a Chinese piece of target.spm
is <unk> in an English source, yet a tokenizers Unigram over vocab.json would pick it). So the
`sentencepiece` package segments, and `MarianPieces` below offers the part of `tokenizers.Tokenizer`
the app reads (encode with offsets, decode, the added tokens, a fingerprint, the stage descriptions),
so SentencePieceTokenizer is a TextTokenizer like any other.

The .spm files are protobuf, read with a byte limit and parsed by sentencepiece (never unpickled);
a malformed one is a ValueError naming the file, which the registry turns into the model's name.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from tokenizers import AddedToken

from .files import MAX_CONFIG_BYTES, MAX_TOKENIZER_BYTES, SPM_FILES, inside, read_json_capped
from .text import TextTokenizer

WORD_START = "▁"           # SentencePiece writes every space as this mark (U+2581): a piece with it starts a word
SPECIAL_DEFAULTS = {"eos_token": "</s>", "unk_token": "<unk>", "pad_token": "<pad>"}   # MarianTokenizer's


def read_capped(path: Path, limit: int = MAX_TOKENIZER_BYTES) -> bytes:
    """A file's bytes, refused unread when over `limit`."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: {path.name} is not a file")
    if path.stat().st_size > limit:
        raise ValueError(f"{path}: {path.name} is {path.stat().st_size / 1e6:,.0f} MB; at most "
                         f"{limit / 1e6:,.0f} MB are read")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path}: {path.name} is over {limit / 1e6:,.0f} MB; at most {limit / 1e6:,.0f} MB are read")
    return data


def load_processor(path: Path):
    """A SentencePiece model from its serialized protobuf (bounded read; sentencepiece parses it)."""
    try:
        import sentencepiece
    except ImportError as exc:   # an app dependency (requirements.txt); said plainly if it is missing
        raise ValueError(f"{path}: reading {path.name} needs the sentencepiece package "
                         "(pip install -r requirements.txt)") from exc
    data = read_capped(path)
    processor = sentencepiece.SentencePieceProcessor()
    try:
        processor.LoadFromSerializedProto(data)
    except (RuntimeError, OSError, ValueError) as exc:    # the library's words name its own C++ source
        raise ValueError(f"{path}: {path.name} is not a readable SentencePiece model") from exc
    if processor.get_piece_size() == 0:
        raise ValueError(f"{path}: {path.name} is a SentencePiece model with no pieces")
    return processor


def read_vocab(path: Path) -> dict[str, int]:
    """vocab.json: piece -> id, the ids exactly 0..N-1 (each model row named once)."""
    raw = read_json_capped(path, MAX_TOKENIZER_BYTES)
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: vocab.json must hold a JSON object of piece -> id")
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in raw.values()):
        raise ValueError(f"{path}: every id in vocab.json must be a whole number")
    if sorted(raw.values()) != list(range(len(raw))):
        raise ValueError(f"{path}: the ids in vocab.json must be 0 to {len(raw) - 1}, each once")
    return raw


def special_names(folder: Path) -> tuple[dict[str, str], bool]:
    """(eos/unk/pad token strings, clean_up_tokenization_spaces) from tokenizer_config.json, else
    MarianTokenizer's defaults. Separate source and target vocabularies are refused by name."""
    if not (folder / "tokenizer_config.json").is_file():
        return dict(SPECIAL_DEFAULTS), False
    raw = read_json_capped(inside(folder, "tokenizer_config.json"), MAX_CONFIG_BYTES)
    raw = raw if isinstance(raw, dict) else {}
    if raw.get("separate_vocabs"):
        raise ValueError(f"{folder / 'tokenizer_config.json'}: separate source and target vocabularies "
                         "(separate_vocabs) are not supported")
    names = {}
    for key, default in SPECIAL_DEFAULTS.items():
        value = raw.get(key, default)
        value = value.get("content") if isinstance(value, dict) else value   # AddedToken written as a dict
        names[key] = value if isinstance(value, str) and value else default
    return names, raw.get("clean_up_tokenization_spaces") is True


def clean_up_spaces(text: str) -> str:
    """transformers' clean_up_tokenization: no space before punctuation and English contractions."""
    for spaced, joined in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
                           (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
        text = text.replace(spaced, joined)
    return text


@dataclass(frozen=True)
class PieceEncoding:
    """What `tokenizers.Encoding` offers the app: one entry per token."""
    ids: list[int]
    tokens: list[str]
    offsets: list[tuple[int, int]]         # characters of the text; (0, 0) for the appended </s>
    special_tokens_mask: list[int]
    word_ids: list[Optional[int]]          # the ▁-started word a piece belongs to; None for specials


class SentencePieceNormalizer:
    """The source model's own normalisation (its rule, NFKC for opus-mt; spaces written as ▁)."""

    def __init__(self, processor):
        self._processor = processor

    def normalize_str(self, text: str) -> str:
        return self._processor.normalize(text)

    def __str__(self) -> str:
        return "SentencePiece(source.spm's rule: NFKC in opus-mt; spaces as ▁)"


class SentencePieceWords:
    """SentencePiece's pieces never cross a space: its words (each starting with ▁) act as pre-tokens."""

    def pre_tokenize_str(self, normalized: str) -> list[tuple[str, tuple[int, int]]]:
        return [(m.group(), m.span()) for m in re.finditer(f"{WORD_START}[^{WORD_START}]*|[^{WORD_START}]+",
                                                           normalized)]

    def __str__(self) -> str:
        return "Metaspace(SentencePiece: each space is ▁ and starts a word; no piece crosses it)"


class SentencePiece:
    """The model stage: source.spm picks the most likely split of each word into pieces it knows."""

    def __init__(self, unk_token: str):
        self.unk_token = unk_token


class MarianPieces:
    """The slice of `tokenizers.Tokenizer` the app reads, done as transformers' MarianTokenizer does:
    encode = the source side (source.spm), decode = the target side (target.spm), ids from vocab.json."""

    def __init__(self, folder: Path):
        folder = Path(folder)
        paths = {name: inside(folder, name) for name in SPM_FILES}
        self.source = load_processor(paths["source.spm"])
        self.target = load_processor(paths["target.spm"])
        self.vocab = read_vocab(paths["vocab.json"])
        self.pieces = {i: piece for piece, i in self.vocab.items()}
        names, self.clean_up = special_names(folder)
        missing = [names[k] for k in ("unk_token", "eos_token") if names[k] not in self.vocab]
        if missing:
            raise ValueError(f"{paths['vocab.json']}: vocab.json has no {' or '.join(missing)} token")
        self.unk_token, self.eos_token = names["unk_token"], names["eos_token"]
        self.unk_id, self.eos_id = self.vocab[self.unk_token], self.vocab[self.eos_token]
        # The added tokens: typed in a text they are one token each (split out before SentencePiece).
        self.specials = {t: self.vocab[t] for t in dict.fromkeys(names.values()) if t in self.vocab}
        self._typed = re.compile("|".join(re.escape(t) for t in sorted(self.specials, key=len, reverse=True)))
        digest = hashlib.sha256()
        for name in SPM_FILES:
            digest.update(read_capped(paths[name]))
        self._fingerprint = json.dumps({"model": "MarianSentencePiece", "sha256": digest.hexdigest()})
        self.normalizer = SentencePieceNormalizer(self.source)
        self.pre_tokenizer = SentencePieceWords()
        self.model = SentencePiece(self.unk_token)

    # -- encoding -------------------------------------------------------------------------------
    def encode(self, text: str, add_special_tokens: bool = True) -> PieceEncoding:
        """The source side, as MarianTokenizer(text): source.spm's pieces, then </s>."""
        return self._encode(text, self.source, add_special_tokens)

    def encode_target(self, text: str) -> PieceEncoding:
        """The target side, as MarianTokenizer(text_target=text): target.spm's pieces, then </s>."""
        return self._encode(text, self.target, True)

    def _encode(self, text: str, processor, add_special_tokens: bool) -> PieceEncoding:
        out = PieceEncoding([], [], [], [], [])
        word = -1
        pos = 0
        for typed in self._typed.finditer(text) if self.specials else ():
            word = self._chunk(text[pos:typed.start()], pos, processor, out, word)
            self._add(out, typed.group(), self.specials[typed.group()], typed.span(), None)
            pos = typed.end()
        self._chunk(text[pos:], pos, processor, out, word)
        if add_special_tokens:
            self._add(out, self.eos_token, self.eos_id, (0, 0), None)
        return out

    def _chunk(self, chunk: str, start: int, processor, out: PieceEncoding, word: int) -> int:
        """One stretch of text between typed special tokens; returns the last word index used."""
        if chunk.startswith(">>") and (end := chunk.find("<<")) != -1:   # a target-language code: one token
            code = chunk[:end + 2]
            word += 1
            self._add(out, code, self.vocab.get(code, self.unk_id), (start, start + len(code)), word)
            chunk, start = chunk[len(code):], start + len(code)
        if not chunk:
            return word
        found = processor.encode(chunk, return_type="offset_mapping")   # offsets in characters of the chunk
        for piece, (a, b) in zip(found["pieces"], found["offsets"]):
            if piece.startswith(WORD_START) or word < 0:
                word += 1
            self._add(out, piece, self.vocab.get(piece, self.unk_id), (start + a, start + b), word)
        return word

    def _add(self, out: PieceEncoding, piece: str, i: int, span: tuple[int, int], word: Optional[int]) -> None:
        out.ids.append(i)
        out.tokens.append(self.pieces[i])        # what the model reads: <unk> for a piece vocab.json lacks
        out.offsets.append(span)
        # MarianTokenizer's mask: </s> and <pad> are special, <unk> stands for text and is not
        out.special_tokens_mask.append(int(i in self.specials.values() and i != self.unk_id))
        out.word_ids.append(word)

    # -- decoding -------------------------------------------------------------------------------
    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """The target side, as MarianTokenizer.decode with target.spm: pieces joined by SentencePiece,
        special tokens kept as written (or dropped), ▁ as spaces."""
        tokens = [self._piece(int(i)) for i in ids
                  if not (skip_special_tokens and int(i) in self.specials.values())]
        text, run = "", []
        for token in tokens:
            if token in self.specials:
                text += self.target.decode_pieces(run) + token + " "
                run = []
            else:
                run.append(token)
        text = (text + self.target.decode_pieces(run)).replace(WORD_START, " ").strip()
        return clean_up_spaces(text) if self.clean_up else text

    def _piece(self, i: int) -> str:
        if i in self.pieces:
            return self.pieces[i]
        return self.target.id_to_piece(i) if 0 <= i < self.target.get_piece_size() else self.unk_token

    # -- the vocabulary -----------------------------------------------------------------------
    def get_vocab_size(self, with_added_tokens: bool = True) -> int:
        return len(self.vocab)

    def id_to_token(self, i: int) -> Optional[str]:
        return self.pieces.get(int(i))

    def token_to_id(self, token: str) -> Optional[int]:
        return self.vocab.get(token)

    def get_added_tokens_decoder(self) -> dict[int, AddedToken]:
        return {i: AddedToken(t, special=True, normalized=False) for t, i in self.specials.items()}

    def to_str(self) -> str:
        """A fingerprint of the three files (pages compare tokenizers by it)."""
        return self._fingerprint


class SentencePieceTokenizer(TextTokenizer):
    """A Marian folder's tokenizer from source.spm, target.spm and vocab.json (no tokenizer.json):
    the same methods as TextTokenizer; `backend` is a MarianPieces."""

    def __init__(self, folder: Path | str, max_tokens: int):
        folder = Path(folder)       # not super().__init__, which reads a tokenizer.json
        self._tok = MarianPieces(folder)
        self.path = folder / "vocab.json"
        self.max_tokens = max_tokens

    def encode_target(self, text: str) -> list[int]:
        return list(self._tok.encode_target(text).ids)
