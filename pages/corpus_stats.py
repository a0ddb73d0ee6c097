"""Corpus head statistics: what each head does on many sentences, as mean ± spread over a corpus."""
import streamlit as st

from analysis.corpus import CORPUS_STATISTICS as STATISTICS, DETECTORS, WHERE
from jobs.store import to_table
from ui.corpus import (choose_corpus, finding, job_key, one_head_finding, opening_result, pick_corpus_head,
                       result_caption, run_job, sentence_rows)
from ui.frame import require_frame
from ui.state import current_model_name
from ui.widgets import linked, plot
from viz.corpus import head_distribution, mean_spread_heatmap

PAGE = require_frame()   # this file's name: its controls' keys start with it
model_name = current_model_name()
chosen = choose_corpus()
if chosen is None:
    st.stop()
texts, described = chosen
key = job_key(model_name, texts)
result = opening_result(model_name, texts)    # the default corpus: computed once per server, no click
if result is None:
    engine = st.radio("Run on", ["ray", "local"], horizontal=True, **linked("engine"),
                      format_func={"ray": "Ray (2 workers)", "local": "this process"}.get,
                      help="The numbers are the same; Ray uses both cores and, with ATTENTION_EXPLORER_RAY_ADDRESS, "
                           "a cluster. If Ray cannot start, the job runs here and says so.")
    st.caption(f"{described} with **{model_name}**: not computed yet.")
    if st.session_state.get("corpus_cancel"):
        st.warning("Cancelled: nothing was saved.")
    if not st.button(f"Run on {len(texts)} passages", key=f"{PAGE}_run", type="primary",
                     icon=":material/play_arrow:"):
        st.stop()
    if run_job(model_name, texts, key, engine) is None:
        st.stop()
    st.rerun()                       # the page again, reading the saved result
else:
    st.caption(result_caption(result, described, model_name, texts))

name = st.selectbox("Statistic", list(STATISTICS), index=list(STATISTICS).index("previous"),
                    format_func={n: f"{label}: {meaning}" for n, (label, meaning) in STATISTICS.items()}.get,
                    **linked("stat"))
label = STATISTICS[name][0]
if name in DETECTORS:
    st.caption(f"{STATISTICS[name][1].capitalize()}: the Head detectors page's score, measured on each sentence; "
               "1 = the head only ever looks there.")
mean, spread = result.mean(name), result.spread(name)
plot(mean_spread_heatmap(mean, spread, label, f"{label}: mean ± spread over {result.n_sentences} sentences"),
     f"corpus_{name}")
best = divmod(int(mean.argmax()), mean.shape[1])
st.caption(finding(result, name))

st.subheader("One head across the corpus")
layer, head = pick_corpus_head(result.shape, best)    # the person's head if they chose one, else the best
plot(head_distribution(result.per_sentence(name)[:, layer, head], label,
                       f"Layer {layer}, head {head}: {label} on each sentence", share=name in WHERE),
     f"corpus_{name}_{layer}_{head}")
st.caption(one_head_finding(result, name, layer, head))
most, least = result.typical(name, layer, head, k=5)
st.markdown("**Most typical sentences** (closest to the head's mean)")
sentence_rows(result, most, name, layer, head, PAGE, "most")
st.markdown("**Least typical sentences** (farthest from it: where the head behaves unusually)")
sentence_rows(result, least, name, layer, head, PAGE, "least")

with st.expander("Download"):
    st.download_button("Every sentence × head (CSV)", to_table(result).to_csv(index=False, float_format="%.5f"),
                       file_name="corpus_head_statistics.csv", mime="text/csv", key=f"{PAGE}_csv",
                       on_click="ignore", icon=":material/download:")
st.caption("For large corpora or a cluster: `python -m jobs corpus-stats --model minilm --corpus file.txt "
           "--out stats.parquet` (README, *Beyond one machine*); its result opens here.")
