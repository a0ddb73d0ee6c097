"""Across training checkpoints: one head's attention and every head's score at each cached revision of a repo."""
import numpy as np
import streamlit as st

from models import EmptyTextError
from models.hub_revisions import cached_revisions, openable, repos_with_checkpoints
from models.shipped import GRAMMAR_LM, unknown_words
from ui.checkpoints import (MAX_CURVE, SCORE_LABELS, SCORES, best_head, download_box, rise, scores_across,
                            shipped_revisions, sidebar_repo, thinned)
from ui.frame import require_frame
from ui.plain import plain
from ui.head_choice import pick_head, pick_layer
from ui.state import current_sentence, get_model, trace_for
from ui.widgets import linked, pick_window, plot
from viz.attention import attention_heatmap
from viz.checkpoints import checkpoint_curve
from viz.common import PLOT_WIDTH
from viz.heads import statistic_heatmap

PAGE = require_frame()
# A sentence of the Grammar LM's corpus with repeated words, so its induction and duplicate-token scores
# have something to find.
GRAMMAR_SENTENCE = "the queen rules her kingdom . the king rules his castle . the queen rules her kingdom ."
repos = repos_with_checkpoints()
shipped = shipped_revisions()
if not repos:
    st.info("No model in this server's Hugging Face cache can be read here yet, so the page opens on the Grammar LM "
            "that ships with the app, at steps of its own training here. For a model people study, get one in the "
            "sidebar's **Get a model from the Hub** box, once per checkpoint: for example EleutherAI/pythia-70m "
            "with the revisions step1000, step8000 and step143000 (each about 160 MB).")
names = [*repos, GRAMMAR_LM]
start = sidebar_repo()
repo_labels = {r: f"{r} — {n} checkpoint{'s' * (n != 1)} cached" for r, n in repos.items()}
repo_labels[GRAMMAR_LM] = f"Grammar LM (trained here; ships with the app) — {len(shipped)} states of its training"
if len(names) > 1:
    repo = st.selectbox("Model repository", names, index=names.index(start) if start in names else 0,
                        format_func=repo_labels.__getitem__, **linked("repo"))
else:
    repo = names[0]
    st.caption(f"Model: **{plain(repo_labels[repo])}**.")
revisions = shipped if repo == GRAMMAR_LM else cached_revisions(repo)
usable = openable(revisions)
for revision in revisions:
    if revision.problem:
        st.warning(f"Not offered: {plain(revision.problem)}.")
grammar = get_model(GRAMMAR_LM) if repo == GRAMMAR_LM else None     # the app's cached copy: its word list
sentence = current_sentence()
if grammar is not None and unknown_words(grammar, sentence):      # it would read other words as letters
    sentence = GRAMMAR_SENTENCE
text = st.text_input("Sentence every checkpoint reads", sentence[:2000], max_chars=2000, **linked("text"),
                     help="Every checkpoint reads this sentence. The induction score needs a word that comes twice.")
unknown = unknown_words(grammar, text) if grammar is not None else []
if unknown:
    st.caption("The Grammar LM knows only the words of its corpus; it reads "
               + ", ".join(f"“{plain(w)}”" for w in unknown[:8]) + " in pieces it never saw together.")
if not usable:
    st.info(f"No checkpoint of {plain(repo)} opens here: download one below.")
    download_box(repo, PAGE)
    st.stop()
if not text.strip():
    st.info("The sentence is empty: type a few words for the checkpoints to read.")
    st.stop()
score = st.selectbox("Score to follow", list(SCORES), format_func=SCORE_LABELS.__getitem__, **linked("score"))
label = SCORES[score][0]

shown = thinned(usable)
where = ("the Grammar LM shipped with the app (saved while it was trained here)" if repo == GRAMMAR_LM
         else f"{plain(repo)} in this server's cache")
st.caption(f"{len(usable)} checkpoint{'s' * (len(usable) != 1)} of {where}"
           + (f"; {len(shown)} of them, evenly spread over training, are read here (at most {MAX_CURVE})"
              if len(shown) < len(usable) else "")
           + ": " + ", ".join(plain(r.label) for r in shown) + ".")
if len(usable) < 2:
    st.info("Only one checkpoint is cached: download another below to see the heads change with training.")
try:
    results = scores_across(shown, text)
except EmptyTextError as exc:
    st.info(f"{exc}")
    st.stop()
read = [(r, s) for r, s in results if s.problem is None]
for r, s in results:
    if s.problem is not None:
        st.error(f"{plain(s.problem)}")
if read and any(s.shape != read[-1][1].shape for _, s in read):
    last_shape = read[-1][1].shape
    for r, s in read:
        if s.shape != last_shape:
            st.warning(f"{plain(r.name)} has {s.shape[0]} layers × {s.shape[1]} heads, the last checkpoint "
                       f"{last_shape[0]} × {last_shape[1]}: left out (another model, not a training checkpoint).")
    read = [(r, s) for r, s in read if s.shape == last_shape]
if not read:
    st.error("None of the cached checkpoints could be read; see the messages above.")
    if repo != GRAMMAR_LM:
        download_box(repo, PAGE)
    st.stop()

options = [r.name for r, _ in read]
control = linked("revision")
key = control["key"]
asked = st.session_state.get(key)
if asked is not None and asked not in options:
    st.warning(f"The revision {plain(str(asked))[:80]} is not among the checkpoints read here "
               f"({', '.join(plain(o) for o in options)}): showing {plain(options[-1])}. Get it below.")
    st.session_state[key] = options[-1]
elif asked is None:
    st.session_state[key] = options[-1]
if len(options) > 1:
    name = st.select_slider("Checkpoint", options=options, **control,
                            help="The repo's revisions in training order: drag to scrub through training.")
else:
    name = options[0]
index = options.index(name)
revision, at = read[index]
try:
    trace = trace_for(revision.key, text)
except (OSError, ValueError) as exc:
    st.error(f"{plain(revision.name)} could not be read: {plain(str(exc))}")
    st.stop()
if trace.truncated:
    st.warning(f"The sentence makes {trace.n_input_tokens:,} tokens; the model reads the first {len(trace)}.")

suggestion = best_head(read[-1][1].scores[score])
c1, c2 = st.columns(2)
with c1:
    layer = pick_layer(trace, PAGE, suggestion=suggestion)
with c2:
    head = pick_head(trace, PAGE, suggestion=suggestion)
values = np.stack([s.scores[score][layer] for _, s in read])          # (checkpoints, heads)
plot(checkpoint_curve(options, values, index, label, [f"head {h}" for h in range(values.shape[1])], head,
                      f"{label.capitalize()} of layer {layer}'s heads across training"), f"{PAGE}_curve")
st.caption(f"**Layer {layer}, head {head}**: " + rise(values[:, head], options)
           + f" Until you pick a head, the page opens on the one with the highest {label} at the last checkpoint.")

left, right = st.columns(2)
weights = trace.layers[layer].weights[head]                               # (T, T)
window = pick_window(len(trace), f"{PAGE}_window")
tokens = [trace.tokens[i] for i in window]
plot(attention_heatmap(weights[window.start:window.stop, window.start:window.stop], tokens,
                       f"Layer {layer}, head {head} at {revision.name}", positions=list(window),
                       width_px=PLOT_WIDTH / 2), f"{PAGE}_attention", left)
plot(statistic_heatmap(at.scores[score], label, f"{label.capitalize()} of every head at {revision.name}"),
     f"{PAGE}_grid", right)
if repo != GRAMMAR_LM:
    download_box(repo, PAGE)
