"""Try your model: next-token probabilities, generated text, before vs after training, the analogy."""
import streamlit as st

from analysis.pca import fit_pca
from models import EmptyTextError
from models.vectors import vectors_from_model
from training.lm import generate, next_token_probs
from training.probe import WORD_GROUPS
from ui.frame import require_frame
from ui.head_choice import pick_head, pick_layer
from ui.library import model_opener, shipped_note, try_choices, untrained_twin
from ui.state import current_model_name, get_model, model_choices
from ui.training import current_run
from ui.training_probe import training_scrubber
from ui.url import page_key
from ui.widgets import linked, plot, show_text
from viz.attention import attention_heatmap
from viz.training import embedding_map, probability_axis_end, token_probabilities

require_frame()
with st.expander("Where are saved models?"):
    model_opener()
# The Grammar LM that ships with the app, and every model trained in this app (by this session or another).
choices, opened = try_choices(model_choices(), current_model_name())
if not choices:
    st.info("No model trained in this app is open or saved yet: train one on **Train a tiny transformer** "
            "(the page estimates the time before you start), or open a saved model above.")
    st.stop()
if len(choices) > 1:
    key = st.selectbox("Model", list(choices), format_func=choices.get, **linked("model"),
                       index=list(choices).index(opened))
else:   # one model to try: named, not offered as a choice of one
    key = opened
    st.text(f"Model: {choices[key]}")        # a name, shown as plain text
try:
    model = get_model(key)
except (OSError, ValueError) as exc:
    st.error(f"The model could not be loaded: {exc}")
    st.stop()
if not model.config.lm_head:
    st.info("This model has no next-token head (it is an encoder): pick a model trained in this app.")
    st.stop()
twin = untrained_twin(key)
before = get_model(twin) if twin else None
shipped_note(key, model)

prefix = st.text_input("Prefix", "the queen rules", **linked("prefix"), max_chars=2000)
temperature = st.slider("Temperature", 0.1, 3.0, 1.0, 0.1, **linked("temperature"),
                        help="Logits are divided by it before softmax: below 1 sharper, above 1 flatter.")
try:
    trace = model.trace(prefix)
except EmptyTextError:
    st.info("The prefix is empty: type a few words for the model to continue.")
    st.stop()
ids, vocab = list(trace.ids), model.vocabulary()
show_text(prefix)
st.caption("Tokens: " + " | ".join(trace.tokens))
if trace.truncated:
    st.warning(f"The prefix makes {trace.n_input_tokens} tokens; the model's context is "
               f"{model.config.max_positions} tokens, so only the first {model.config.max_positions} are shown "
               "below and predictions read the last ones.")
if "<unk>" in trace.tokens:
    st.warning("Some characters were never seen in training and became <unk>; predictions after them are guesses.")
full_ids = model.tokenizer.backend.encode(prefix).ids

st.header("Next token")
shown = [(name, next_token_probs(m.net, full_ids, temperature))
         for name, m in [("after training", model), ("before training (random)", before)] if m is not None]
xmax = probability_axis_end(*[probs.max() for _, probs in shown])     # one axis: bars compare across charts
for col, (name, probs) in zip(st.columns(len(shown)), shown):
    plot(token_probabilities(probs, vocab, 15, title=f"P(next token), {name}, T = {temperature}", xmax=xmax),
         f"next_token_{name.split()[0]}", col)
if before:
    st.caption("Both charts share one probability axis: the random model spreads its guesses almost evenly "
               f"(about 1/{len(vocab)} each), so its bars are short.")

st.header("Generated text")
c1, c2 = st.columns(2)
n_new = c1.slider("Tokens to generate", 5, 200, 40, **linked("n"))
seed = c2.number_input("Sampling seed", 0, 10_000, 0, **linked("seed"))
out = generate(model.net, full_ids, int(n_new), temperature, int(seed))
st.code(model.tokenizer.backend.decode(full_ids + out, skip_special_tokens=False).replace("<eos>", "⏎\n"),
        language=None)
st.caption("Sampled one token at a time from the probabilities above (same seed, same text); "
           "⏎ marks the end-of-sentence token <eos>.")

if before:
    st.header("Before and after: attention")
    layer, head = pick_layer(trace), pick_head(trace)
    b_trace = before.trace(prefix)
    c1, c2 = st.columns(2)
    plot(attention_heatmap(b_trace.layers[layer].weights[head], b_trace.tokens, "before (random weights)"),
         "attention_before", c1)
    plot(attention_heatmap(trace.layers[layer].weights[head], trace.tokens, "after training"), "attention_after", c2)
    st.caption("The causal mask hides the future in both (upper triangle empty). Untrained, each row is close to "
               "uniform over the past; trained heads pick particular earlier tokens.")

    st.header("Heads forming during training")
    run = current_run()
    if run is not None and run.folder == key:
        training_scrubber(run.probe, page_key("probe_step"), layer, head)
    else:
        st.info("Training snapshots are kept for this session's latest run only, while the session lasts: "
                "train a model (or pick the latest one) to scrub through its training steps.")

    st.header("Before and after: the embedding table")
    index = {t: i for i, t in enumerate(vocab)}
    words = [(w, g) for g, ws in WORD_GROUPS.items() for w in ws if "▁" + w in index]
    if len(words) < 3:
        st.info("Too few of the built-in corpus's words are single tokens in this vocabulary to draw a map.")
    else:
        rows = [index["▁" + w] for w, _ in words]
        c1, c2 = st.columns(2)
        for col, (name, m) in zip((c1, c2), [("before (random)", before), ("after training", model)]):
            table = m.embedding_table()[rows]
            pca = fit_pca(table, 2)
            plot(embedding_map(pca.project(table), [w for w, _ in words], [g for _, g in words],
                               f"Embeddings {name}", pca.explained_variance_ratio),
                 f"embeddings_{name.split()[0]}", col)

    st.header("man : king :: woman : ?")
    st.caption("3CosAdd on the model's own embedding table: the rows nearest (cosine) to king − man + woman, "
               "excluding the three input words.")
    c1, c2 = st.columns(2)
    for col, (name, m) in zip((c1, c2), [("before (random)", before), ("after training", model)]):
        try:
            best = vectors_from_model(m, name).analogy("▁man", "▁king", "▁woman", k=5)
        except KeyError as exc:
            col.info(f"{exc.word.lstrip('▁')!r} is not one token in this vocabulary: no analogy to check.")
            continue
        col.markdown(f"**{name}**: the nearest is **{best[0][0].lstrip('▁')}**")
        col.dataframe({"token": [t.lstrip("▁") for t, _ in best], "cosine": [round(c, 3) for _, c in best]},
                      hide_index=True)
