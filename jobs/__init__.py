"""Jobs over a corpus: many sentences through one model, on Ray or in this process.

  corpora.py       where a corpus comes from (text, CSV, Parquet, the built-in corpus), bounded
  engine.py        running sentences: Ray actors that hold the model once each, or in-process
  corpus_stats.py  corpus_head_stats(model, texts, engine="ray" | "local", address=None)
  corpus_qk.py     one head's query–key space over a corpus (same engines); corpus_search.py: its search index
  budget.py        a corpus job's memory, estimated before it starts (one passage at a time, within the budget)
  store.py         results as Parquet, keyed by model, corpus hash and settings
  __main__.py      the commands: python -m jobs corpus-stats --model minilm --corpus file.txt --out stats.parquet
                   and python -m jobs corpus-qk ... --layer 3 --head 5 --out qk.parquet

jobs imports models, training and analysis (never Streamlit, Plotly, viz or ui); the statistics
themselves (mean, spread, typical sentences) are analysis/corpus.py's.
"""
from analysis.corpus import CorpusStats

from .corpora import CorpusError, builtin_corpus, corpus_hash, load_corpus, read_corpus
from .corpus_stats import corpus_head_stats
from .engine import JobCancelled, stop_ray
from .store import ResultStore, result_key

__all__ = ["CorpusError", "CorpusStats", "JobCancelled", "ResultStore", "builtin_corpus", "corpus_hash",
           "corpus_head_stats", "load_corpus", "read_corpus", "result_key", "stop_ray"]
