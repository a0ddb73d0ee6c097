"""The app's pages by section: one list that the frame (app.py) and the home page both read.

Each entry: (file, title, icon, what it shows). The first page is the default.
"""
from __future__ import annotations

SECTIONS: dict[str, list[tuple[str, str, str, str]]] = {
    "Start": [
        ("pages/home.py", "Home", "🏠", "What the app shows, your sentence's tokens and one real head."),
        ("pages/quiz.py", "Quiz", "🎓",
         "Predict, then reveal: questions made from the model's own numbers for your sentence, a score, "
         "and a link that gives a class the same questions."),
    ],
    "Attention": [
        ("pages/attention_head.py", "One head", "🔥",
         "The attention weights of one layer and head as a heatmap, query rows × key columns."),
        ("pages/attention_grid.py", "All heads", "🧩",
         "Every head of the model at once (MiniLM: 6 layers × 12 = 72) on one colour scale; click a cell to "
         "open that head."),
        ("pages/attention_compare.py", "Compare heads", "⚖️",
         "Two to four heads side by side, and the difference map of two heads."),
        ("pages/attention_lines.py", "Lines view", "〰️",
         "Tokens in two columns joined by lines as strong as the weights (one head or a whole layer)."),
        ("pages/attention_aggregate.py", "Aggregates & rollout", "➕",
         "The mean over a layer's heads, attention rollout across layers, attention summed over chosen tokens."),
        ("pages/query_key.py", "Query–key space", "🧲",
         "One head's queries and keys in one 2-D picture (AttentionViz's normalisation, which changes no "
         "weight), lines for the strongest weights."),
        ("pages/head_stats.py", "Head statistics", "📊",
         "Entropy, distance and where each head looks ([CLS], [SEP], previous, next, itself): find the "
         "previous-token heads and the sinks."),
        ("pages/long_context.py", "Long context", "📜",
         "For a whole long text: attention sinks on the first token, how far each head looks by position, and "
         "the stretches of text one head reads most."),
        ("pages/corpus_stats.py", "Corpus head statistics", "📚",
         "Every head's statistics over many sentences (a corpus), as mean ± spread, on Ray or in-process; "
         "the sentences where a head is most and least typical."),
        ("pages/corpus_search.py", "Search the corpus by head", "🔎",
         "Pick a token and a head: the corpus contexts whose queries at that head point the same way "
         "(exBERT), or whose attention rows look the same way, each with where the head looked."),
        ("pages/corpus_qk.py", "Corpus query–key space", "🌌",
         "One head's queries and keys for thousands of corpus tokens in one picture (AttentionViz), coloured by "
         "position or token."),
    ],
    "Inside the model": [
        ("pages/step_tokens.py", "1 · Tokenization", "✂️",
         "Normalised text, pre-tokens, the pieces (WordPiece for MiniLM, BPE for GPT-2) and ids, each piece "
         "highlighted in your text."),
        ("pages/step_embeddings.py", "2 · Embeddings & positions", "📍",
         "Token rows of the embedding table, sinusoidal, learned and rotary positions, and the norm that follows."),
        ("pages/step_head.py", "3 · One head, with numbers", "🧮",
         "X → Q, K, V → scores → ÷√d_head → softmax → weighted sum of V, with the real numbers."),
        ("pages/step_layer.py", "4 · Heads to next layer", "🧱",
         "Concatenated heads, W_O, residual and norm, the feed-forward that widens each token's vector and "
         "narrows it back (MiniLM: 384 → 1536 → 384)."),
        ("pages/step_mask.py", "5 · Masks", "🎭",
         "Why an encoder (MiniLM) sees both ways, and the causal triangle of a decoder (GPT-2)."),
    ],
    "Predictions": [
        ("pages/next_token.py", "Next token", "🔮",
         "A language model's most likely next tokens, with probabilities, after any position of your text."),
        ("pages/logit_lens.py", "Logit lens", "🔭",
         "The prediction read after every layer (layers × positions): where the model starts to know the next word."),
    ],
    "Meaning": [
        ("pages/embeddings.py", "Embedding space", "🗺️",
         "king − man + woman ≈ queen on GloVe and MiniLM vectors, and a PCA/t-SNE projector."),
        ("pages/context.py", "Context at work", "🧭",
         "Each token's vector moving layer by layer: its path, what it is near, which layer moved it."),
        ("pages/context_pair.py", "Same word, two sentences", "🔀",
         "One word (bank, flies, bat) in two sentences: its two vectors drifting apart layer by layer."),
    ],
    "What heads do": [
        ("pages/head_ablation.py", "Knock heads out", "🔇",
         "Remove heads and see what changes (next token or sentence meaning), and a map of which heads matter."),
        ("pages/sentence_meaning.py", "Sentence meaning", "📐",
         "MiniLM's sentence embeddings: cosines of your sentences, a map, and which tokens carry a similarity."),
        ("pages/attribution.py", "Which tokens drove it", "🎯",
         "Gradient × input and integrated gradients (captum) for a similarity, a token's state or the next "
         "token, your sentence shaded by them, attention rollout beside."),
        ("pages/faithfulness.py", "Is the explanation faithful?", "🧪",
         "Delete the tokens that attention, rollout, flow or gradients rank highest and see how far the "
         "output moves (ERASER comprehensiveness and sufficiency), beside random rankings."),
        ("pages/score_anatomy.py", "Inside one score", "🔍",
         "q, k and q ⊙ k of one head for a chosen query and key, and what the head writes: ‖α·v·W_O‖ beside α."),
    ],
    "Why the model says it": [
        ("pages/patching.py", "Activation patching", "🔌",
         "Two prompts, clean and corrupted: copy one activation at a time from the clean run into the corrupted "
         "one and see which layer, position or head brings the clean answer back."),
        ("pages/logit_attribution.py", "Direct logit attribution", "🧾",
         "Each head's and MLP's direct share of a predicted token's logit, through the final norm with its scale "
         "frozen; the shares add up to the logit."),
        ("pages/head_detectors.py", "Head detectors", "🕵️",
         "Induction heads on repeated random tokens (with the stripe and the loss on the repeat), previous-token, "
         "duplicate-token and sink heads on your sentence."),
    ],
    "Train": [
        ("pages/train.py", "Train a tiny transformer", "🏋️",
         "A BPE tokenizer and a small GPT-style model trained here, its time estimated first, live loss curve."),
        ("pages/train_results.py", "Try your model", "💬",
         "Next-token probabilities, generated text, the model before vs after training, heads forming step by step."),
        ("pages/train_step.py", "One training step", "🔬",
         "Logits → softmax → cross-entropy with numbers, gradient norms, how far one update moves."),
        ("pages/seq2seq.py", "Encoder–decoder", "🔁",
         "A model that learns to reverse strings; scrub through training as its cross-attention turns anti-diagonal."),
        ("pages/induction.py", "Induction head forming", "🧲",
         "A 2-layer attention-only model trained on repeated random segments: scrub through training as an "
         "induction head forms and the loss on the repeat drops suddenly (the phase change)."),
        ("pages/checkpoints.py", "Across training checkpoints", "🕰️",
         "A real model's training checkpoints (Pythia's step1000 … step143000 revisions): scrub through them "
         "and watch one head's attention and every head's previous-token or induction score change."),
    ],
}
