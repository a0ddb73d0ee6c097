"""Marian repos as the Hub ships them: source.spm, target.spm and vocab.json, no tokenizer.json.

Two tiny SentencePiece models are trained here (an English-like source, a French and Chinese
target), vocab.json is made from both as opus-mt's is, and a tiny random MarianMTModel is saved
beside them with transformers' own MarianTokenizer.save_pretrained. What a person relies on:
- the ids the model reads are MarianTokenizer's, for emoji, CJK, unknown words, typed special
  tokens, a language code and empty text; every token has its characters (offsets);
- the attentions (self and cross) and logits equal transformers eager at 1e-4 on those ids, and
  the written output reads as MarianTokenizer decodes it;
- the Hub download fetches the three files (and tokenizer_config.json), counts them in the size
  shown before, lists the model and opens it; a repo with no tokenizer at all is refused by name;
- a malformed source.spm is refused with the model's name, never the server's path.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
sentencepiece = pytest.importorskip("sentencepiece")

from fake_hub import FakeHub, use_fake_hub  # noqa: E402
from hf_tiny import LAYERS, hf_model  # noqa: E402
from test_hub_cache import add_to_cache  # noqa: E402
from test_seq2seq_families import assert_matches  # noqa: E402

from models import load_model  # noqa: E402
from models.hub_cache import available_hf_models, cache_dir, cached_models  # noqa: E402
from models.hub_download import download, plan_download  # noqa: E402
from models.seq2seq import LoadedSeq2Seq  # noqa: E402
from models.spm_text import SentencePieceTokenizer  # noqa: E402
from models.text import EmptyTextError  # noqa: E402

SOURCE_CORPUS = [
    "the quick brown fox jumps over the lazy dog", "attention is all you need",
    "Time flies like an arrow; fruit flies like a banana.", "Naïve café, crème brûlée — isn't it?",
    "a small model reads small sentences", "hello world, how are you today?",
    "the cat sat on the mat and looked at the dog", "translation models read a source and write a target",
    "every word is split into pieces the model knows", "where is the station, please?",
]
TARGET_CORPUS = [
    "le renard brun rapide saute par-dessus le chien paresseux", "l'attention est tout ce dont vous avez besoin",
    "Le temps file comme une flèche.", "un petit modèle lit de petites phrases",
    "bonjour le monde, comment allez-vous ?",
    "le chat était assis sur le tapis", "我爱東京和北京", "东京的春天很美", "où est la gare, s'il vous plaît ?",
    "chaque mot est découpé en morceaux",
]
TEXTS = {
    "plain": "Time flies like an arrow; fruit flies like a banana.",
    "emoji_cjk": "I love 🍕 and 東京 in the spring 🌸!",      # 東京 is the target's, <unk> on the source side
    "unknown": "xyzzy qwertz QQQ",
    "spaces": "  hello   world  ",
    "typed_specials": "hello </s> world<unk>again <pad>",
    "language_code": ">>fra<< where is the station?",
    "zero_width": "hello\u200bworld",
    "empty": "",
}
TARGETS = {"plain": "Le temps file comme une flèche.", "emoji_cjk": "我爱 🍕 東京 !", "unknown": "xyzzy"}
REPO = "Helsinki-NLP-tiny/opus-mt-en-fr"
pytestmark = pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses")   # MarianTokenizer's


def train_spm(corpus: list[str], prefix) -> None:
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus * 3), model_prefix=str(prefix), vocab_size=100, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, unk_id=1, eos_id=0, bos_id=-1, pad_id=-1,
        num_threads=1, minloglevel=2)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(transformers model, MarianTokenizer, checkpoint folder, its files as bytes)."""
    work = tmp_path_factory.mktemp("spm")
    train_spm(SOURCE_CORPUS, work / "source")
    train_spm(TARGET_CORPUS, work / "target")
    pieces = ["</s>", "<unk>", "<pad>"]    # the ids tests/hf_tiny.py's Marian config uses: eos 0, pad 2
    for name in ("source", "target"):
        sp = sentencepiece.SentencePieceProcessor(model_file=str(work / f"{name}.model"))
        pieces += [p for p in (sp.id_to_piece(i) for i in range(sp.get_piece_size())) if p not in pieces]
    dropped = "▁model"              # a source piece vocab.json lacks: MarianTokenizer reads it as <unk>
    assert dropped in pieces and "東" in pieces       # and a target piece the source model does not know
    pieces.remove(dropped)
    (work / "vocab.json").write_text(json.dumps({p: i for i, p in enumerate(pieces)}, ensure_ascii=False))
    tokenizer = transformers.MarianTokenizer(str(work / "source.model"), str(work / "target.model"),
                                             str(work / "vocab.json"))
    folder = work / "checkpoint"
    model = hf_model("marian", vocab=len(pieces))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    assert {"source.spm", "target.spm", "vocab.json"} <= {p.name for p in folder.iterdir()}
    assert not (folder / "tokenizer.json").exists()
    tokenizer = transformers.MarianTokenizer.from_pretrained(str(folder))
    return model, tokenizer, folder, {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.fixture(scope="module")
def ours(built):
    loaded = load_model(str(built[2]))
    assert isinstance(loaded, LoadedSeq2Seq) and isinstance(loaded.tokenizer, SentencePieceTokenizer)
    return loaded


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_source_ids_are_marian_tokenizers(name, built, ours):
    _, theirs, _, _ = built
    text = TEXTS[name]
    expected = theirs(text).input_ids
    enc = ours.tokenizer.backend.encode(text)
    assert enc.ids == expected
    assert enc.tokens == theirs.convert_ids_to_tokens(expected)
    assert enc.special_tokens_mask == theirs.get_special_tokens_mask(expected, already_has_special_tokens=True)
    if name == "empty":                       # MarianTokenizer reads "" as </s> alone; the app asks for words
        assert expected == [theirs.eos_token_id]
        with pytest.raises(EmptyTextError):
            ours.tokenizer.encode(text)
        return
    mine = ours.tokenizer.encode(text)
    assert mine.ids == expected and mine.tokens[-1] == "</s>" and mine.special_mask[-1]


def test_unknown_pieces_are_unk_even_when_the_target_knows_them(built, ours):
    """東京 is in vocab.json (target.spm's) but source.spm cannot spell it, so the model reads <unk>;
    "▁model" is a source piece vocab.json lacks: <unk> too, as MarianTokenizer."""
    _, theirs, _, _ = built
    unk = theirs.unk_token_id
    enc = ours.tokenizer.encode(TEXTS["emoji_cjk"])
    spans = {TEXTS["emoji_cjk"][a:b] for i, (a, b) in zip(enc.ids, enc.offsets) if i == unk}
    assert {"🍕", "東京", "🌸!"} <= spans
    assert ours.tokenizer.token_to_id("東") is not None
    model = ours.tokenizer.encode("a model reads")
    assert model.tokens[1] == "<unk>" and model.ids == theirs("a model reads").input_ids


@pytest.mark.parametrize("name", ["plain", "emoji_cjk", "unknown", "spaces", "zero_width"])
def test_every_token_has_its_characters(name, ours):
    """The pieces' spans follow each other without gaps or overlaps over the text's words."""
    text = TEXTS[name]
    enc = ours.tokenizer.encode(text)
    spans = [span for span, special in zip(enc.offsets, enc.special_mask) if not special]
    assert len(spans) == len(enc.ids) - 1
    assert all(b2 == a1 for (_, b2), (a1, _) in zip(spans, spans[1:]))
    covered = text[spans[0][0]:spans[-1][1]]
    assert covered == text.strip()
    if name == "emoji_cjk":
        assert "".join(text[a:b] for a, b in spans) == text


def test_typed_specials_and_language_codes_have_their_spans(ours):
    text = TEXTS["typed_specials"]
    enc = ours.tokenizer.encode(text)
    typed = [(t, text[a:b]) for t, (a, b) in zip(enc.tokens, enc.offsets) if t in ("</s>", "<pad>", "<unk>")]
    assert typed[:3] == [("</s>", "</s>"), ("<unk>", "<unk>"), ("<pad>", "<pad>")]
    code = ours.tokenizer.encode(TEXTS["language_code"])
    assert code.offsets[0] == (0, 7) and code.tokens[0] == "<unk>"    # >>fra<< is not in this tiny vocabulary


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_typed_target_is_spelled_with_the_target_model(name, built, ours):
    _, theirs, _, _ = built
    assert ours.tokenizer.encode_target(TARGETS[name]) == theirs(text_target=TARGETS[name]).input_ids


def test_decoding_is_marian_tokenizers_with_the_target_model(built, ours):
    _, theirs, _, _ = built
    rng = np.random.default_rng(0)
    runs = [theirs(text_target=t).input_ids for t in TARGETS.values()]
    runs += [rng.integers(0, ours.tokenizer.vocab_size, 12).tolist() for _ in range(20)]
    for ids in runs:
        for skip in (True, False):
            assert ours.tokenizer.backend.decode(ids, skip_special_tokens=skip) == \
                theirs.decode(ids, skip_special_tokens=skip, use_source_tokenizer=False)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_forced_decoding_matches_transformers(name, built, ours):
    model, theirs, _, _ = built
    trace = ours.trace(TEXTS[name], TARGETS[name])
    assert trace.encoder.ids == theirs(TEXTS[name]).input_ids
    assert trace.decoder.ids == [model.config.decoder_start_token_id] + theirs(text_target=TARGETS[name]).input_ids[:-1]
    assert len(trace.decoder.layers) == LAYERS
    assert_matches(model, trace, pre_ln=False)


def test_the_written_output_is_transformers_greedy_generate(built, ours):
    model, theirs, _, _ = built
    for name in ("plain", "emoji_cjk"):
        source = theirs(TEXTS[name]).input_ids
        with torch.no_grad():
            written = model.generate(torch.tensor([source]), max_new_tokens=12, do_sample=False,
                                     num_beams=1)[0].tolist()
        trace = ours.trace(TEXTS[name], max_new=12)
        assert trace.output == theirs.decode(written, skip_special_tokens=True, use_source_tokenizer=False)
        assert_matches(model, trace, pre_ln=False)


def test_step_tokens_stages_read_the_sentencepiece_pair(built, ours):
    from models.stages import tokenizer_stages

    theirs = built[1]
    stages = tokenizer_stages(ours.tokenizer, TEXTS["emoji_cjk"])
    assert stages.model_kind == "SentencePiece" and stages.pre_tokenizer.startswith("Metaspace")
    assert stages.normalized.startswith("▁I▁love")
    assert stages.n_unknown == theirs(TEXTS["emoji_cjk"]).input_ids.count(theirs.unk_token_id) >= 3
    assert [w for w, _ in stages.pre_tokens][:2] == ["▁I", "▁love"]
    assert all(len({p.word for p in ps}) == 1 for _, ps in stages.pieces_by_word())


# -- the local cache and the Hub ------------------------------------------------------------
@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(root))
    return root


def test_a_cached_marian_snapshot_is_listed_and_opens(cache, built):
    model, theirs, _, files = built
    add_to_cache(cache, REPO, files)
    assert [m.repo_id for m in cached_models()] == [REPO]
    trace = load_model(REPO).trace(TEXTS["plain"], TARGETS["plain"])
    assert trace.encoder.ids == theirs(TEXTS["plain"]).input_ids
    assert_matches(model, trace, pre_ln=False)


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated"])
def test_a_malformed_spm_file_is_refused_by_the_models_name(cache, built, damage):
    files = dict(built[3])
    good = files["source.spm"]
    files["source.spm"] = {"garbage": b"\x0a\xff\xff\xff\xff not a protobuf", "empty": b"",
                           "truncated": good[: len(good) // 3]}[damage]
    add_to_cache(cache, REPO, files)
    with pytest.raises(ValueError) as refused:
        load_model(REPO)
    message = str(refused.value)
    assert "source.spm" in message and REPO in message and "SentencePiece" in message
    assert str(cache) not in message and "/snapshots/" not in message and ".cc" not in message


def test_a_marian_snapshot_without_any_tokenizer_is_listed_with_its_problem(cache, built):
    files = {k: v for k, v in built[3].items() if k not in ("source.spm", "target.spm", "vocab.json")}
    add_to_cache(cache, REPO, files)
    assert cached_models() == []
    [entry] = cached_models(include_problems=True)
    assert "tokenizer.json" in entry.problem and "source.spm" in entry.problem and str(cache) not in entry.problem


@pytest.fixture
def hub(tmp_path, monkeypatch, built):
    files = built[3]
    with FakeHub() as hub:
        hub.add(REPO, files)
        hub.add("tiny-org/marian-no-tokenizer",
                {k: v for k, v in files.items() if k not in ("source.spm", "target.spm", "vocab.json")})
        pickled = {k: v for k, v in files.items() if k != "model.safetensors"}
        pickled["pytorch_model.bin"] = b"\x80\x04not really a pickle"
        hub.add("tiny-org/marian-pickled", pickled)
        gpt2_config = json.dumps({"model_type": "gpt2", "n_embd": 64, "n_layer": 2, "n_head": 4,
                                  "vocab_size": 100, "n_positions": 64}).encode()
        hub.add("tiny-org/gpt2-with-spm", dict(files, **{"config.json": gpt2_config}))
        use_fake_hub(hub, monkeypatch, tmp_path)
        yield hub


def test_a_marian_repo_without_tokenizer_json_downloads_and_opens(hub, built):
    model, theirs, _, files = built
    plan = plan_download(REPO)
    wanted = ["source.spm", "target.spm", "vocab.json", "tokenizer_config.json", "generation_config.json",
              "model.safetensors", "config.json"]
    assert plan.problem is None and plan.family == "marian"
    assert [f.name for f in plan.files] == wanted
    assert plan.new_bytes == plan.total_bytes == sum(len(files[name]) for name in wanted)
    assert f"Download: {plan.new_bytes / 1e6:,.1f} MB, 7 files" in "\n".join(plan.summary())
    assert not cache_dir().exists() or not any(cache_dir().rglob("*.spm"))    # nothing written before
    seen = []
    folder = download(plan, lambda done, total, name: seen.append((done, name)))
    assert seen[-1][0] == plan.total_bytes and {name for _, name in seen} == set(wanted)
    assert sorted(p.name for p in folder.iterdir()) == sorted(wanted)      # no pickle
    assert available_hf_models() == [REPO]
    # how it writes came with it: opus-mt bans <pad> in generation_config.json only
    assert load_model(REPO).generation.banned == tuple(w[0] for w in model.generation_config.bad_words_ids)
    trace = load_model(REPO).trace(TEXTS["emoji_cjk"], TARGETS["emoji_cjk"])
    assert trace.encoder.ids == theirs(TEXTS["emoji_cjk"]).input_ids
    assert_matches(model, trace, pre_ln=False)


def test_repos_without_a_tokenizer_the_app_reads_are_refused_before_download(hub):
    plan = plan_download("tiny-org/marian-no-tokenizer")
    assert "has no tokenizer.json" in plan.problem and "source.spm" in plan.problem and not plan.files
    gpt2 = plan_download("tiny-org/gpt2-with-spm")      # SentencePiece files serve Marian models only
    assert "has no tokenizer.json" in gpt2.problem and "gpt2" in gpt2.problem
    pickled = plan_download("tiny-org/marian-pickled")
    assert "pickle" in pickled.problem and not pickled.files
    assert hub.gets("source.spm") == 0 and hub.gets("model.safetensors") == 0


@pytest.mark.parametrize("page", ["pages/step_tokens.py", "pages/seq2seq.py"])
def test_the_tokenization_and_translation_pages_read_the_sentencepiece_pair(page, built, ours):
    """The pages show the pieces and ids the model reads (MarianTokenizer's), and the translation."""
    from page_helpers import run_page, texts
    from test_pages_smoke import frame_errors

    at = run_page(page, TEXTS["emoji_cjk"], str(built[2]))
    assert not at.exception and not frame_errors(at)
    if page == "pages/step_tokens.py":
        ids = [t for t in at.dataframe if "position" in t.value][0].value["id"]
        assert list(ids) == built[1](TEXTS["emoji_cjk"]).input_ids
        assert "SentencePiece" in texts(at.markdown)
    else:
        expected = ours.trace(TEXTS["emoji_cjk"])
        assert list(at.dataframe[0].value["decoder input"]) == expected.decoder.tokens
        assert expected.output and expected.output in [t.value for t in at.text]
