"""Every term a learner meets, defined once, and the terms each page uses.

The sidebar shows the current page's terms in a folded "Terms on this page" box (app.py), so a
definition is one click away on every page and written in one place.
"""
from __future__ import annotations

import streamlit as st

GLOSSARY: dict[str, str] = {
    "token": "A piece of text the model reads as one unit: a word, part of a word (##ing) or a symbol. "
             "Each has an id, its row in the embedding table.",
    "embedding": "The vector a token starts as: its row of the embedding table (plus a position vector in "
                 "BERT and GPT-2).",
    "attention head": "One of several parallel attention computations in a layer. Each head has its own "
                      "W_Q, W_K, W_V and learns its own pattern (previous token, a sink, a syntactic relation).",
    "query, key, value (Q, K, V)": "Three projections of every token's vector: the query asks 'what am I "
                                   "looking for?', the key answers 'what do I offer?', the value is what is "
                                   "passed on when a query picks a key.",
    "÷√d_head": "Scores q·k are divided by the square root of the head's width so that they do not grow with "
                "it; without it the softmax would put almost all weight on one key.",
    "softmax": "Turns a row of scores into weights that are positive and sum to 1: e^score / Σ e^score.",
    "W_O": "The output matrix of attention: the heads' outputs, side by side, times W_O give what the "
           "attention layer adds to each token's vector.",
    "residual stream": "Each token's running vector. Every layer reads it and adds its output to it "
                       "(x + attention(x), then + feed-forward): nothing is overwritten.",
    "LayerNorm / RMSNorm": "Rescales each token's vector to a standard size (LayerNorm also centres it); RMSNorm "
                           "(Llama) only rescales.",
    "feed-forward (MLP)": "A two-layer network applied to each token on its own after attention: it widens "
                          "the vector (e.g. 384 → 1536), applies GELU or SwiGLU, and narrows it back.",
    "causal mask": "A decoder may not look ahead: scores to later tokens are set to −∞ before the softmax, so "
                   "their weights are exactly 0.",
    "RoPE (rotary positions)": "Llama-style models add no position vector; instead q and k are turned by an "
                               "angle proportional to the position, so q·k depends on the distance between tokens.",
    "GQA (grouped-query attention)": "Several query heads share one key/value head, which saves memory; the "
                                     "attention pattern is still one per query head.",
    "sink": "A token (often [CLS], [SEP] or the first token) that many heads put most of their weight on when "
            "they have nothing better to do; it usually adds little to the output.",
    "rollout": "Attention multiplied through the layers (with the residual added), an estimate of how much "
               "each input token could reach each output (Abnar & Zuidema 2020).",
    "attention flow": "The same layered graph as rollout, but read as pipes: the most that can flow from an "
                      "input token to an output at once (maximum flow).",
    "logit": "A raw score for one vocabulary entry before the softmax; the softmax of the logits is the "
             "next-token probability.",
    "logit lens": "The final norm and unembedding applied to the vector after every layer, as if the model "
                  "stopped there: where the next word starts to be known.",
    "ablation (knocking a head out)": "Replacing a head's output by zero or its mean and measuring how much "
                                      "the model's output changes: how much the model needs that head.",
    "activation patching": "Run a corrupted prompt, copy in one activation (a layer, a position, a head) from "
                           "the clean prompt's run, and see how far the output moves back to the clean answer.",
    "direct logit attribution": "The last residual stream is a sum of what each part wrote; each part's sum "
                                "through the final norm and unembedding is its direct share of a token's logit.",
    "induction head": "A head that looks from a token to the token that came after an earlier copy of it, so the "
                      "model can continue a repeated run: ... A B ... A → B.",
    "corpus": "A collection of many texts (passages, one per line) that a measurement is repeated over, so a "
              "head's behaviour is not judged on one sentence.",
    "gradient × input": "How much each input token's embedding pushes a number up or down, to first order: "
                        "the gradient times the embedding, summed over its dimensions.",
    "integrated gradients": "Gradients averaged along a straight path from a baseline to the real input; the "
                            "scores add up to the change in the output.",
    "AOPC / comprehensiveness": "ERASER's faithfulness test: delete an explanation's top tokens and see how "
                                "far the output drops (comprehensiveness), or keep only them (sufficiency).",
    "attention distance": "How many positions away a head's attention lands, on average: Σ_k w_ik |i − k| for "
                          "query i. Small for a head that reads its neighbours, large for one that looks far back.",
    "PCA": "A projection onto the few directions along which vectors vary most, to draw a high-dimensional "
           "space in 2-D or 3-D.",
    "cosine similarity": "How closely two vectors point the same way: 1 the same direction, 0 unrelated, −1 "
                         "opposite.",
}

ATTENTION_TERMS = ["attention head", "query, key, value (Q, K, V)", "softmax", "sink"]
PAGE_TERMS: dict[str, list[str]] = {
    "pages/home.py": ["token", "attention head", "softmax"],
    "pages/quiz.py": ["attention head", "cosine similarity", "logit"],
    "pages/attention_head.py": ATTENTION_TERMS,
    "pages/attention_grid.py": ATTENTION_TERMS + ["causal mask"],
    "pages/attention_compare.py": ATTENTION_TERMS,
    "pages/attention_lines.py": ATTENTION_TERMS,
    "pages/attention_aggregate.py": ["attention head", "residual stream", "rollout", "attention flow"],
    "pages/query_key.py": ["query, key, value (Q, K, V)", "÷√d_head", "PCA"],
    "pages/head_stats.py": ["attention head", "sink", "softmax"],
    "pages/long_context.py": ["attention head", "sink", "attention distance"],
    "pages/step_tokens.py": ["token"],
    "pages/step_embeddings.py": ["token", "embedding", "RoPE (rotary positions)", "LayerNorm / RMSNorm",
                                 "cosine similarity"],
    "pages/step_head.py": ["query, key, value (Q, K, V)", "÷√d_head", "softmax", "GQA (grouped-query attention)",
                           "RoPE (rotary positions)"],
    "pages/step_layer.py": ["W_O", "residual stream", "LayerNorm / RMSNorm", "feed-forward (MLP)"],
    "pages/step_mask.py": ["causal mask", "softmax"],
    "pages/next_token.py": ["logit", "softmax"],
    "pages/logit_lens.py": ["logit lens", "logit", "residual stream"],
    "pages/embeddings.py": ["embedding", "cosine similarity", "PCA"],
    "pages/context.py": ["residual stream", "PCA", "cosine similarity"],
    "pages/context_pair.py": ["residual stream", "cosine similarity", "PCA"],
    "pages/head_ablation.py": ["ablation (knocking a head out)", "attention head", "cosine similarity"],
    "pages/sentence_meaning.py": ["embedding", "cosine similarity", "PCA"],
    "pages/attribution.py": ["gradient × input", "integrated gradients", "rollout"],
    "pages/faithfulness.py": ["AOPC / comprehensiveness", "rollout", "attention flow", "gradient × input"],
    "pages/score_anatomy.py": ["query, key, value (Q, K, V)", "÷√d_head", "W_O", "sink"],
    "pages/train.py": ["token", "logit", "softmax"],
    "pages/train_results.py": ["logit", "softmax", "PCA"],
    "pages/train_step.py": ["logit", "softmax"],
    "pages/seq2seq.py": ["attention head", "causal mask", "query, key, value (Q, K, V)"],
    "pages/corpus_stats.py": ["corpus", "attention head", "sink"],
    "pages/corpus_search.py": ["corpus", "query, key, value (Q, K, V)", "cosine similarity"],
    "pages/corpus_qk.py": ["corpus", "query, key, value (Q, K, V)", "PCA"],
    "pages/patching.py": ["activation patching", "residual stream", "logit"],
    "pages/logit_attribution.py": ["direct logit attribution", "logit", "residual stream", "LayerNorm / RMSNorm"],
    "pages/head_detectors.py": ["induction head", "attention head", "sink"],
}


def terms_box(page: str) -> None:
    """The sidebar's folded definitions of the terms the current page uses (any page not listed: none)."""
    terms = PAGE_TERMS.get(page, [])
    if not terms:
        return
    with st.sidebar.expander("📖 Terms on this page"):
        for term in terms:
            st.markdown(f"**{term}** — {GLOSSARY[term]}")
