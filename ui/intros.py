"""Every page's title and introduction, in one place.

The frame writes them (ui/frame.require_frame) before the page's own code runs, so a page script starts
with what is its own, and the words a newcomer reads first on each page are edited here side by side.
A page whose introduction depends on the model or the sentence writes that part itself.
"""
from __future__ import annotations

import streamlit as st

# page file name -> (title, introduction in Markdown or None)
HEADERS: dict[str, tuple[str, str | None]] = {
    "attention_aggregate": (
        '➕ Aggregates & rollout',
        'One head is one of many. Here attention is **added up**: over the heads of a layer, through the layers '
        '(*rollout*), and over several query tokens at once.',
    ),
    "attention_compare": (
        '⚖️ Compare heads',
        'Put heads next to each other on **one** colour scale, so the same colour means the same weight '
        'everywhere, then subtract two of them to see exactly where they disagree.',
    ),
    "attention_grid": ('🧩 All heads at once', None),
    "attention_head": (
        '🔥 One head',
        "Each **row** is a query token asking *where should I look?*; its colours are that token's attention "
        'weights over the **key** tokens in the columns, and every row sums to 1. Hover a cell for *query → key: '
        'weight*, or a token to light up its row and column.',
    ),
    "attention_lines": (
        '〰️ Lines view',
        'The sentence twice: **queries** on the left, **keys** on the right. **Hover a token on the left** to see '
        'where it looks: one line to each key, as strong as its weight. **Hover a token on the right** to see '
        'which queries look at it. Pick one head, or lay several heads of a layer on top of each other, one '
        'colour per head.',
    ),
    "attribution": ('🎯 Which tokens drove it', None),
    "checkpoints": (
        '🕰️ Across training checkpoints',
        "Some models are published at many moments of their training: Pythia has 154 checkpoints, the branches "
        "`step0` … `step143000` of its Hub repository. Pick a repository this server holds at several "
        "checkpoints and a sentence, then **scrub through training**: one head's attention at the checkpoint "
        "you pick, every head's score there, and the chosen head's score as a line across all of them, where a "
        "previous-token or induction head shows up as the step its line climbs. The Train pages do this for "
        "the tiny models trained here; this is the same scrubber on a real model's training.",
    ),
    "context": (
        '🧭 Context at work',
        "Attention mixes each token's vector with the vectors of its context, so the vector **moves** from layer "
        'to layer. Follow it: where it goes, what it ends up near, and which layer moved it.',
    ),
    "context_pair": (
        '🔀 Same word, two sentences',
        'The same word starts from the same embedding in any sentence; attention then mixes in its context. '
        'Follow one word through two sentences and watch its two vectors drift apart.',
    ),
    "corpus_qk": (
        '🌌 Corpus query–key space',
        "The **Query–key space** page draws one sentence. Here one head's queries and keys come from **a whole "
        "corpus** at once, as in AttentionViz's main view: a sample of its tokens, normalised together (the move "
        "that changes no attention weight) and projected by one PCA. Groups that recur across sentences — every "
        "determiner's query, every first key — show up as clusters.",
    ),
    "corpus_search": (
        '🔎 Search the corpus by head',
        "At one head, each token's **query** says what it is looking for. Pick a token of your sentence and a "
        "head: the corpus tokens whose queries point the **same way** (cosine) are listed, each with where the "
        "head looked from there — e.g. *where else does this head look from a verb to its object?* (after "
        "exBERT, Hoover et al. 2020). Or search by **where the head looks**: the contexts whose attention row is "
        "most like your token's. Special tokens are left out of the corpus.",
    ),
    "corpus_stats": (
        '📚 Corpus head statistics',
        "One sentence can make a head look like a previous-token head by chance. Here every head's statistics "
        "are measured on **many sentences** and shown as **mean ± spread** (the standard deviation over the "
        "sentences), as Clark et al. (2019) did over a thousand segments, and so are the **head detectors** "
        "(previous-token, duplicate-token, induction, sink). The job runs on **Ray** (two workers on this server, "
        "or a cluster) or in this process.",
    ),
    "embeddings": (
        '🗺️ Embedding space',
        'Every word is a point in space, and **directions mean something**: the step from *man* to *king* is '
        'close to the step from *woman* to *queen*. Try it on real vectors.',
    ),
    "faithfulness": (
        '🧪 Is the explanation faithful?',
        'Attention maps and attribution scores both *rank* the tokens, and they often disagree: attention is not '
        'by itself an explanation. A test that needs no trust in any of them (ERASER, DeYoung et al. 2020): '
        "**delete** each method's top *k* tokens and see how far the model's output drops (*comprehensiveness*: "
        'high is faithful), then **keep only** them (*sufficiency*: a small drop is faithful). Random rankings '
        'show what chance does on the same sentence.',
    ),
    "head_ablation": (
        '🔇 Knock heads out',
        "Attention weights show where a head *looks*; knocking it out shows what it *does*. The chosen heads' "
        'outputs are replaced before W_O reads them, and the rest of the model runs as usual.',
    ),
    "head_detectors": (
        '🕵️ Head detectors',
        'Some heads do one recognisable job in every sentence. Each detector gives every head a score from 0 to '
        "1; the definitions follow TransformerLens's head_detector.",
    ),
    "head_stats": ('📊 Head statistics', None),
    "induction": (
        '🧲 Watch an induction head form',
        "Each training sequence is random tokens, with one segment **repeated** later on: `… 17 4 [8 31 2] 40 … 23 "
        "[8 31 2] 5 …`. Only the repeat can be predicted, and only one way: find the earlier copy of the current "
        "token and copy the token that followed it. That is what an **induction head** does (Olsson et al., "
        "2022). The tokens, the segment's length and where both copies sit are drawn afresh for every sequence, "
        "so no shortcut (such as always looking a fixed distance back) works.",
    ),
    "home": (
        '🔎 Attention Explorer',
        "Type a sentence in the sidebar and watch a real transformer read it. Every number is the real model's "
        'number.',
    ),
    "long_context": (
        '📜 Long context',
        'A long text through every head at once: which heads park their attention on the **first token** (a '
        '*sink*), how **far back** each head looks as the text goes on, and which **stretches of the text** one '
        'head reads most. It works the same on a sentence and on 4,096 tokens.',
    ),
    "logit_attribution": (
        '🧾 Direct logit attribution',
        'The last residual stream is a **sum** of what every part of the model wrote into it: the embeddings, '
        'each head, each MLP. Pass each part alone through the final norm and the unembedding and you get its '
        "**direct** share of a token's logit. The shares add up to the model's logit exactly.",
    ),
    "logit_lens": (
        '🔭 Logit lens',
        "The model's own prediction comes from its **last** layer: final norm, then the unembedding. The *logit "
        'lens* applies the same final norm and unembedding to the residual stream after **every** layer, as if '
        "the model stopped there. Read a column from the bottom (the embedding) to the top (the model's output) "
        "to see at which layer it starts to 'know' the next word.",
    ),
    "next_token": (
        '🔮 Next token',
        "A decoder ends in an **unembedding**: the last layer's output goes through a final norm and is scored "
        'against every entry of the vocabulary (one *logit* each); a softmax turns the scores into probabilities '
        'for the **next** token. The prediction after position i used only tokens 0…i (the model is causal).',
    ),
    "patching": (
        '🔌 Activation patching',
        'Run a **corrupted** prompt, and copy into it, at one place only, what the **clean** prompt had there. If '
        'the output swings back to the clean answer, that place carries the information. Every place is tried, '
        'one at a time: each cell of a map below is one patched run.',
    ),
    "query_key": (
        '🧲 Query–key space',
        'A head compares every **query** (what a token is looking for) with every **key** (what a token offers): '
        'the score is their dot product q·k/√d_head. Both are vectors of the same size, so they can share one '
        'picture. As in **AttentionViz**, the keys are first moved so the two clouds share a centre, and both are '
        'rescaled to the same average length: a move that changes **no** attention weight (checked below). Then '
        'one PCA projects queries and keys together onto two axes. Lines join queries to the keys they attend to '
        'most.',
    ),
    "quiz": (
        '🎓 Quiz: predict, then reveal',
        "Each question is made from **this model's own numbers** for your sentence: guess what the model does, "
        'then reveal the answer and the numbers behind it (the same sentence always gives the same questions).',
    ),
    "score_anatomy": (
        '🔍 Inside one score',
        "An attention score is a dot product: multiply the query's and the key's numbers dimension by dimension, "
        'add them up, divide by √d_head. Below, the real vectors of one head; then what the head actually '
        '**writes**, which the weights alone do not show.',
    ),
    "sentence_meaning": (
        '📐 Sentence meaning',
        "all-MiniLM-L6-v2 is a **sentence encoder**: the mean of its last layer's token vectors, scaled to length "
        "1, is the sentence's meaning. Sentences that mean alike point alike: their **cosine** is near 1. *bank* "
        'by a river and *bank* for money should land apart.',
    ),
    "seq2seq": (
        '🔁 Encoder–decoder',
        'The shape of a translation model. The **encoder** reads the input with self-attention (everyone sees '
        'everyone); the **decoder** writes the output one token at a time with *masked* self-attention (only '
        "what it has written) and **cross-attention** to the encoder's output: each output token's row says "
        'which input tokens it read. A T5, BART or Marian model picked in the sidebar is shown here; otherwise, '
        'a small one that reverses letters: a trained one ships with the app, and you can train your own.',
    ),
    "step_embeddings": ('📍 2 · Embeddings and positions', None),
    "step_head": (
        '🧮 3 · One attention head, with numbers',
        'A head asks, for each token (the **query**), *which other tokens matter to me?* It projects every '
        "token's vector three ways — **Q**uery, **K**ey, **V**alue — scores each key against the query, turns the "
        'scores into weights with a softmax, and returns the weighted sum of the values.',
    ),
    "step_layer": ('🧱 4 · From heads to the next layer', None),
    "step_mask": (
        '🎭 5 · Masks',
        'A **mask** decides which keys a query may look at. An encoder like MiniLM reads the whole sentence at '
        'once, so every token sees every other — no mask. A decoder that writes text one token at a time must not '
        'peek at the words it has not written yet: it sets those scores to **−∞** before the softmax.',
    ),
    "step_tokens": (
        '✂️ 1 · Tokenization',
        'Before any attention, the text becomes a list of **token ids**. The tokenizer does it in stages — '
        'normalise, pre-tokenise, split into vocabulary pieces, look up ids — and each stage below is its own '
        "output on your sentence (the `tokenizers` library's; SentencePiece's for a Marian translation model).",
    ),
    "train": (
        '🏋️ Train a tiny transformer',
        'Train a small GPT-style model **here, on this server**: it starts as random numbers and learns to '
        'predict the next token. The time your settings take is estimated below before you start. Then open the '
        "model in every other page with the sidebar's model picker — next to the same model *before* training.",
    ),
    "train_results": ('💬 Try your model', None),
    "train_step": (
        '🔬 One training step',
        "Training is this, repeated: run a batch, compare each position's predicted next token with the true one "
        '(the **loss**), compute how every weight should change to lower it (the **gradient**), and move each '
        'weight a little: **w ← w − lr · ∇w**. Here is one such step with every number shown.',
    ),
}


def write_header(page: str) -> None:
    """The page's title and introduction, if it has them here."""
    if page not in HEADERS:
        return
    title, intro = HEADERS[page]
    st.title(title)
    if intro:
        st.markdown(intro)
