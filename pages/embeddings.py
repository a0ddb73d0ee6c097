"""Embedding space: word analogies (king − man + woman ≈ queen) and a projector, on GloVe or MiniLM's table."""
import pandas as pd
import streamlit as st

from analysis.projection import MIN_TSNE_POINTS, analogy_picture, max_perplexity, project
from analysis.vectors import UnknownWordError
from models import VECTOR_SPACES
from ui.embedding import (ANALOGIES, GROUPS, MAX_WORDS, SPACE_LABELS, coordinates_csv, get_vectors, sentence_words,
                          split_words, unique)
from ui.frame import require_frame
from ui.quiz import analogy_quiz
from ui.widgets import linked, plot
from viz.embedding_space import analogy_figure, projection_figure


def use_preset() -> None:
    a, b, c, expected = ANALOGIES[st.session_state["embeddings_preset"]]
    st.session_state.update(embeddings_a=a, embeddings_b=b, embeddings_c=c, embeddings_expected=expected)


require_frame()
space = st.radio("Vector space", list(VECTOR_SPACES), format_func=SPACE_LABELS.get, horizontal=True,
                 **linked("space"))
st.caption(VECTOR_SPACES[space])
vecs = get_vectors(space)
dims = 3 if st.radio("Picture", ["2-D", "3-D"], horizontal=True, **linked("dims")) == "3-D" else 2
tab_analogy, tab_projector = st.tabs(["Analogy builder", "Projector"])

with tab_analogy:
    analogy_quiz(vecs, "embeddings")   # optional: guess a preset analogy's answer before the builder
    for key, value in zip("abc", ANALOGIES["man : king :: woman : ?"]):
        st.session_state.setdefault(f"embeddings_{key}", value)
    st.session_state.setdefault("embeddings_expected", "queen")
    st.selectbox("Preset", list(ANALOGIES), **linked("preset"), on_change=use_preset)
    cols = st.columns(4)
    a = cols[0].text_input("a", **linked("a")).strip()
    b = cols[1].text_input("is to b", **linked("b")).strip()
    c = cols[2].text_input("as c is to ?", **linked("c")).strip()
    expected = cols[3].text_input("expected answer (optional)", **linked("expected")).strip()
    k = st.slider("Answers to list", 3, 30, 10, **linked("k"))
    if not (a and b and c):
        st.info("Fill in a, b and c: *a is to b as c is to ?*")
    else:
        try:
            answers = vecs.analogy(a, b, c, k=k)
            if expected:
                rank, cos = vecs.analogy_rank(a, b, c, expected)
        except (KeyError, ValueError) as exc:
            st.error(str(exc))
            st.stop()
        if len({vecs.row(w) for w in (a, b, c)}) < 3:
            st.warning("Two of a, b and c are the same word. If a = b the offset b − a is zero and the answers "
                       "are simply c's neighbours; the three inputs themselves are never answers.")
        st.markdown("3CosAdd: the words whose unit vectors point closest to **b − a + c**, leaving out "
                    "a, b and c (as gensim's `most_similar`).")
        if expected and rank == 1:
            st.success(f"The expected answer is the top answer (cosine {cos:.3f}).")
        elif expected:
            st.info(f"The expected answer ranks **#{rank:,}** of {len(vecs):,} (cosine {cos:.3f}); the top "
                    f"answer has cosine {answers[0][1]:.3f}. Vector arithmetic is approximate.")
        mark = vecs.row(expected) if expected else None
        table = pd.DataFrame([{"rank": i + 1, "word": w, "cosine": round(s, 4),
                               "expected": "✓" if vecs.row(w) == mark else ""} for i, (w, s) in enumerate(answers)])
        left, right = st.columns([1, 2.4])
        left.dataframe(table, hide_index=True, width="stretch", height=min(38 + 35 * len(table), 720))
        with right:
            near = [w for x in (a, b, c) for w, _ in vecs.neighbors(x, k=3)]
            show_near = st.checkbox("Also show 3 neighbours of a, b and c", value=True, **linked("near"))
            top = [w for w, _ in answers[:5]]
            pic = analogy_picture(vecs, a, b, c, top, expected or None, near if show_near else (), dims)
            plot(analogy_figure(pic, title=f"{a} : {b} :: {c} : ?  (PCA of unit vectors)"), "analogy")
            st.caption("Both purple arrows are the same offset b − a: one starts at a, one at c. The × marks "
                       "c + (b − a); the answers are the words pointing closest to it. PCA keeps this arithmetic "
                       "(it is linear), but flattening hides distance, so trust the cosines more than the picture.")
            st.download_button("Download coordinates (CSV)", coordinates_csv(pic.words, pic.roles, pic.coords),
                               "analogy_coordinates.csv", "text/csv", key="embeddings_analogy_csv")

with tab_projector:
    presets = st.multiselect("Preset groups", list(GROUPS), default=["royalty and gender"], **linked("groups"))
    typed = st.text_area("Your words (commas, spaces or new lines)", **linked("words"), height=80,
                         placeholder="cat, dog, car, bus")
    with_sentence = st.checkbox("Place the tokens of the current sentence (sidebar) in the picture",
                                **linked("sentence"))
    wanted = [(w, group) for p in presets for group, ws in GROUPS[p].items() for w in ws]
    wanted += [(w, "your words") for w in split_words(typed)]
    if with_sentence:
        tokens = sentence_words(space)
        if not tokens:
            st.info("The sentence in the sidebar is empty: there are no tokens to place.")
        wanted += [(w, "sentence") for w in tokens]
    known, unknown, seen = [], [], set()
    for w, group in wanted:
        row = vecs.index.get(w, vecs.index.get(w.lower()))
        if row is None:
            unknown.append(w)
        elif row not in seen:
            seen.add(row)
            known.append((vecs.words[row], group))
    if unknown:
        st.warning(f"Not in the vocabulary, left out: {', '.join(unique(unknown)[:20])}"
                   + (f" and {len(unique(unknown)) - 20} more" if len(unique(unknown)) > 20 else ""))
        try:
            vecs.row(unknown[0])
        except UnknownWordError as exc:
            st.caption(str(exc))
    if len(known) > MAX_WORDS:
        st.warning(f"{len(known)} words: only the first {MAX_WORDS} are drawn, so the labels stay readable.")
        known = known[:MAX_WORDS]
    method = st.radio("Projection", ["PCA", "t-SNE"], horizontal=True, **linked("method"),
                      help="PCA: a linear, faithful flattening (directions survive). t-SNE: keeps near words "
                           "near, but distances between clusters and directions mean nothing.")
    perplexity = 5.0
    if method == "t-SNE" and len(known) >= MIN_TSNE_POINTS:
        top = min(50.0, max_perplexity(len(known)) - 0.5)
        perplexity = st.slider("Perplexity", 1.0, top, min(5.0, top), 0.5, **linked("perplexity"),
                               help=f"Roughly how many neighbours each point attends to; it must stay below the "
                                    f"number of words ({len(known)}).")
    if len(known) < 2:
        st.info("Choose or type at least two known words: a projection needs two points to find a direction.")
    else:
        words, groups = [w for w, _ in known], [g for _, g in known]
        try:
            proj = project(vecs.unit_vectors(words), dims, method, perplexity)
        except ValueError as exc:
            st.warning(str(exc))
            proj = project(vecs.unit_vectors(words), dims, "PCA")
        focus = st.session_state.get("embeddings_focus")
        fig = projection_figure(proj, words, groups, highlight=focus,
                                title=f"{len(words)} words · {proj.method}" + (f" (perplexity {proj.perplexity:g})"
                                                                               if proj.perplexity else ""))
        event = plot(fig, "projector", on_select="rerun", selection_mode="points", key="embeddings_chart")
        members = [[w for w, g in known if g == group] for group in dict.fromkeys(groups)]
        points = (event.get("selection", {}) or {}).get("points", []) if event else []
        if points and points[0].get("curve_number", 99) < len(members):
            st.session_state["embeddings_focus"] = members[points[0]["curve_number"]][points[0]["point_index"]]
        st.caption("Click a point (2-D) or choose a word to list its nearest neighbours in the whole vocabulary.")
        if st.session_state.get("embeddings_focus") not in words:
            st.session_state["embeddings_focus"] = words[0]
        focus = st.selectbox("Neighbours of", words, **linked("focus"))
        st.dataframe(pd.DataFrame(vecs.neighbors(focus, k=10), columns=["neighbour", "cosine"]).round(4),
                     hide_index=True)
        st.download_button("Download coordinates (CSV)", coordinates_csv(words, groups, proj.coords),
                           "projector_coordinates.csv", "text/csv", key="embeddings_projector_csv")
