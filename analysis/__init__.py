"""What is computed from a Trace: the analysis that reads the model, kept apart from the model.

Each file holds one idea; none of them stores anything on a model or a trace.
  head_stats.py    entropy, distance and the share on [CLS]/[SEP]/previous/next/self per head
  recognisable.py  which head to open first (a pattern a learner recognises) and why
  rollout.py       mean over heads, attention rollout, summed rows
  flow.py          attention flow (exact maximum flow, Abnar & Zuidema 2020)
  ablation.py      knocking heads out, batched: the importance map
  attribution.py   gradient × input and integrated gradients
  faithfulness.py  ERASER's comprehensiveness and sufficiency curves
  lens.py          logit lens and next-token tables
  words.py         merging word pieces into whole words
  qk_space.py      one head's queries and keys in one picture (AttentionViz)
  score_parts.py   one score taken apart (q ⊙ k) and norm-based attention
  context.py       hidden states through the layers, movement, nearest words
  sentence.py      mean pooling: MiniLM's sentence embedding
  recompute.py     the forward pass redone by hand in numpy, one arrow at a time (step pages)
  kernels.py       the numpy twin of core's mathematics (attention, rotary, norms, activations),
                   shared by every recomputation and checked against core in tests/test_kernels.py
  vectors.py       word-vector tables: analogies, neighbours, cosines
  vector_search.py the int8 search engine behind them, with its proven error bound
  pca.py, projection.py   PCA and the 2-D projections of embedding spaces
  corpus.py        head statistics over many sentences: mean, spread, most and least typical
  corpus_search.py one head's query vectors over a corpus, searched by cosine (exBERT-style)
  budget.py        the memory an expensive computation needs, and batch sizes that fit a budget

analysis imports core (and numpy/torch); never Streamlit, Plotly, models, training, viz or ui.
"""
