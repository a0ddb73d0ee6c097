"""Step 1 · Tokenization: the tokenizer's own stages, on the person's sentence."""
import pandas as pd
import streamlit as st

from models.stages import SPECIAL_MEANINGS, tokenizer_stages
from ui.frame import require_frame
from ui.state import current_model_and_trace, current_model_name, get_model, model_choices
from ui.widgets import pick_window, plot, show_text
from viz.steps import token_chips, visible

WINDOW = 90          # tokens drawn over the text at a time


def word_marks(stages) -> str:
    """What the pieces' marks mean for this tokenizer: `##` (WordPiece), ▁ (Metaspace) or Ġ (byte-level BPE)."""
    if stages.model_kind == "WordPiece":
        return "`##` marks a piece that continues the word before it."
    if stages.pre_tokenizer.startswith("Metaspace"):
        return ("**▁** (a low bar, U+2581 — not the underscore _) marks a piece that **starts a word**: the "
                "pre-tokenizer writes every space as ▁, so a piece without it continues the word before it.")
    if "ByteLevel" in stages.pre_tokenizer:
        return ("**Ġ** marks a piece that **starts with a space** (byte-level BPE writes the space byte as Ġ and a "
                "new line as Ċ), so a piece without it continues the word before it.")
    return ""


def how_words_split(stages) -> str:
    if stages.model_kind == "WordPiece":
        return ("the vocabulary has no entry for the whole word, so WordPiece takes the longest piece it knows "
                "from the left, then continues with `##` pieces.")
    if stages.model_kind == "SentencePiece":
        return ("the vocabulary has no entry for the whole word, so SentencePiece picks the most likely split of "
                "it into pieces it knows (each piece has a learned score).")
    return (f"the vocabulary has no entry for the whole word, so {stages.model_kind} spells it with the merges it "
            "learned in training, from characters (or bytes) up to the longest pieces it knows.")


def chips(stages, title: str | None, first: int = 0, size: int = WINDOW, width: int = 72):
    pieces = [p for p in stages.pieces if not p.special][first:first + size]
    return token_chips(stages.text, [(p.start, p.end) for p in pieces], [p.token for p in pieces],
                       [p.id for p in pieces], title=title, width=width)


require_frame()
model, trace = current_model_and_trace()
stages = tokenizer_stages(model.tokenizer, trace.text)

st.subheader("Your text")
show_text(trace.text)

st.subheader("① Normalise")
st.caption("The normaliser, as the library describes itself:")
st.code(stages.normalizer, language=None)
show_text(stages.normalized)
dropped = len(stages.text) - len(stages.normalized)
notes = []
if stages.normalized != stages.text:
    notes.append("Lower-cased and cleaned: *Héllo* and *hello* are the same to this model." if "lowercase=True"
                 in stages.normalizer else "The normaliser changed the text.")
if dropped > 0:
    notes.append(f"{dropped} character(s) removed (control or zero-width characters).")
st.markdown(" ".join(notes) or "Nothing to change: the text was already normal.")

st.subheader(f"② Pre-tokenise: {len(stages.pre_tokens):,} pre-tokens")
st.caption(f"`{stages.pre_tokenizer}` splits on spaces and punctuation; each piece is then spelled with the "
           "vocabulary on its own.")
st.dataframe(pd.DataFrame({"pre-token": [visible(s) for s, _ in stages.pre_tokens[:500]],
                           "characters (normalised text)": [f"{a}–{b}" for _, (a, b) in stages.pre_tokens[:500]]}),
             hide_index=True, height=min(300, 38 + 35 * len(stages.pre_tokens)))

words = [p for p in stages.pieces if not p.special]
st.subheader(f"③ {stages.model_kind}: {len(words):,} pieces over your text")
st.caption("Each box holds the characters of your text that made one token (the tokenizer's offsets); the "
           "token is written underneath. " + word_marks(stages) + " Grey boxes are "
           "characters no token kept. Hover for the id.")
first = pick_window(len(words), "step_tokens_window", size=WINDOW, limit=WINDOW).start
plot(chips(stages, f"Pieces {first}–{first + min(WINDOW, len(words)) - 1} over the original characters", first),
     "tokens_over_text")
split = [(w, ps) for w, ps in stages.pieces_by_word() if len(ps) > 1]
if split:
    st.markdown("**Words spelled with several pieces:** " + how_words_split(stages))
    st.dataframe(pd.DataFrame({"word": [visible(stages.text[ps[0].start:ps[-1].end]) for _, ps in split[:200]],
                               "pieces": [" + ".join(p.token for p in ps) for _, ps in split[:200]]}),
                 hide_index=True, height=min(260, 38 + 35 * len(split)))

st.subheader("④ Ids, and the special tokens")
shown = range(len(trace.tokens))
table = pd.DataFrame({"position": list(shown), "token": [trace.tokens[i] for i in shown],
                      "id": [trace.ids[i] for i in shown],
                      "characters": [visible(trace.text[a:b]) for a, b in (trace.offsets[i] for i in shown)],
                      "offsets": [f"{a}–{b}" for a, b in (trace.offsets[i] for i in shown)],
                      "special": [trace.special_mask[i] for i in shown]})
st.dataframe(table, hide_index=True, height=min(400, 38 + 35 * len(table)))
st.download_button("Download the tokens (CSV)", table.to_csv(index=False), "tokens.csv", "text/csv",
                   key="step_tokens_csv")
c1, c2, c3 = st.columns(3)
c1.metric("Vocabulary size", f"{stages.vocab_size:,}")
c2.metric("Tokens the model reads", f"{len(trace.tokens):,}")
c3.metric(f"Unknown ({stages.unk_token})", stages.n_unknown)
vocab = model.tokenizer
specials = [(tok, vocab.token_to_id(tok), meaning) for tok, meaning in SPECIAL_MEANINGS.items()
            if vocab.token_to_id(tok) is not None]
if specials:
    st.dataframe(pd.DataFrame(specials, columns=["special token", "id", "what it is for"]), hide_index=True)
if stages.n_unknown:
    st.warning(f"{stages.n_unknown} piece(s) became {stages.unk_token}: the model sees the same id for all of "
               "them and cannot tell them apart (often emoji or rare symbols).")

st.subheader("Two tokenizers, one sentence")


def other_tokenizers() -> list[tuple[str, object]]:
    """(label, model) for each other tokenizer in the picker: one per distinct tokenizer (a trained
    model and its untrained twin share theirs), none identical to this model's."""
    seen, found = {model.tokenizer.backend.to_str()}, []
    for key, label in model_choices().items():
        if key == current_model_name():
            continue
        try:
            other = get_model(key)
        except (OSError, ValueError) as exc:
            st.warning("A model in the picker could not be loaded:")
            st.text(f"{label}: {exc}")
            continue
        fingerprint = other.tokenizer.backend.to_str()
        if fingerprint not in seen:
            seen.add(fingerprint)
            found.append((label, other))
    return found


others = other_tokenizers()
if not others:
    st.info("Train a small model on the **Train** page: its byte-pair (BPE) tokenizer will appear here "
            "beside this one, splitting the same sentence differently.")
else:
    st.markdown(f"**{stages.model_kind}** (this model) · {stages.vocab_size:,} entries · {len(words):,} pieces")
    plot(chips(stages, None, 0, 60), "tokens_this_model", key="step_tokens_chips_this")
for n, (label, other) in enumerate(others):
    other_stages = tokenizer_stages(other.tokenizer, trace.text)
    st.markdown(f"**{other_stages.model_kind}** · {other_stages.vocab_size:,} entries · "
                f"{sum(not p.special for p in other_stages.pieces):,} pieces. " + word_marks(other_stages))
    st.text(label)
    plot(chips(other_stages, None, 0, 60), f"tokens_other_model_{n}", key=f"step_tokens_chips_{n}")
