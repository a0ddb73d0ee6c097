"""All heads at once: every layer and head of the model as a grid of small heatmaps."""
import streamlit as st

from analysis.recognisable import heads_with
from analysis.words import words_of
from ui.attention import all_heads_map, colour_max, export_all_heads, head_opener, is_long
from ui.colour_words import colour_words
from ui.frame import require_frame
from ui.defaults import fixed_scale_note, stretch_changes_nothing
from ui.head_choice import head_stats_of, special_names, suggested_head
from ui.interactive import pack_grid
from ui.state import cached, current_model_name, current_trace
from ui.words import all_heads_in_words, word_toggle, words_caption
from viz.heads import MAX_THUMB, heads_grid

PAGE = require_frame()   # this file's name: its controls' keys start with it
trace = current_trace()
n = len(trace.tokens)
stats = head_stats_of(trace)
names = special_names(trace)
pooled = n > MAX_THUMB
st.markdown(f"Every head of every layer ({trace.n_layers} × {trace.n_heads} = "
            f"{trace.n_layers * trace.n_heads} heads), each a small version of the *One head* heatmap: rows are "
            f"query tokens, columns key tokens, the top-left cell is the first token (`{trace.tokens[0]}`), and "
            f"{colour_words().more} means more weight. **Click a thumbnail** to open that head.")
# Only patterns this sentence's heads really show (analysis/recognisable.py), each with where to find it.
# The mark is named in the active palette's words ("a dark diagonal", or "a bright" one in cividis).
mark = colour_words().mark
LOOKS = {"previous": (mark("line just below the diagonal"), "each token looks at the one before it"),
         "self": (mark("diagonal"), "each token looks at itself"),
         "next": (mark("line just above the diagonal"), "each token looks at the one after it"),
         "cls": (mark("first column"), "a sink on {name}"), "sep": (mark("last column"), "a sink on {name}")}
found = []
for pattern, (look, meaning) in LOOKS.items():
    if pattern in ("cls", "sep") and pattern not in names:
        continue
    heads = heads_with(stats, pattern)
    if heads:
        listed = ", ".join(f"layer {layer} · head {head}" for layer, head, _ in heads[:3])
        count = f"{len(heads)} heads, e.g. " if len(heads) > 3 else ""
        found.append(f"- **{look}** ({meaning.format(name=names.get(pattern, ''))}): {count}{listed}")
if found:
    st.markdown("What to look for in this sentence (heads that give more than half of their attention to one "
                "place):\n" + "\n".join(found))
    if pooled and heads_with(stats, "previous"):
        st.caption("In a pooled thumbnail the token before usually falls in the same block, so a previous-token "
                   "line merges into the diagonal: open the head to see it.")
else:
    st.caption("No head gives half of its attention to a neighbour, itself or a special token in this sentence: "
               "the patterns are spread out. A longer sentence, or a trained model, shows more.")
long = is_long(trace)   # beyond 512 tokens: the thumbnails streamed during the forward pass, no layer recomputed
whole_words = word_toggle(PAGE) and not long
if long:
    st.caption("At this length each thumbnail block holds dozens of tokens, so the grid is drawn from the "
               "thumbnails kept while the model ran (pieces, not words).")
if whole_words:
    words_caption(trace, False)


def grid_and_starts():
    """What the grid is drawn from, read only when the picture or the print figure is built: every layer's
    attention is recomputed for it, which a rerun with both already cached must not pay."""
    if long:
        return trace.summary.thumbnails, trace.summary.thumb_starts                    # (L, H, S, S)
    if whole_words:
        return all_heads_in_words(current_model_name(), trace.text), None              # (L, H, W, W)
    return trace.attentions, None                                                      # (L, H, T, T)


def print_figure(zmax):
    grid, starts = grid_and_starts()
    return heads_grid(grid, zmax=zmax, starts=starts, n_tokens=n if long else None)


largest = cached(("largest thumbnail weight", current_model_name(), trace.text),
                 lambda: float(trace.summary.thumbnails.max()), "Drawing every head…")
if stretch_changes_nothing(largest):
    zmax = 1.0
    fixed_scale_note(largest)
else:
    zmax = colour_max(PAGE)
tokens = words_of(trace).labels if whole_words else trace.tokens
rows, unit = len(tokens), "words" if whole_words else "tokens"
if rows > MAX_THUMB:
    st.caption(f"This sentence has {rows} {unit}, so each thumbnail is pooled down to {MAX_THUMB} × {MAX_THUMB}: "
               f"a cell is the attention that a block of about {rows / MAX_THUMB:.1f} query {unit} gives, on "
               f"average, to a block of about {rows / MAX_THUMB:.1f} key {unit} (summed), so rows still sum "
               "to 1. Open a head to see every token.")
# Drawn on a canvas from the thumbnails packed once per text (ui.interactive.pack_grid, kept with the trace and
# shared by every session): a new tab sends 0.4 MB and loads no Plotly (issue 26). The Plotly figure is built
# only for the print files.
picture = cached(("all heads picture", current_model_name(), trace.text, whole_words, long),
                 lambda: pack_grid(*grid_and_starts(), n if long else None), "Drawing every head…")
all_heads_map(picture, tokens, unit[:-1], zmax, key=f"{PAGE}_chart", name="attention_all_heads",
              figure=lambda: cached(("all heads figure", current_model_name(), trace.text, whole_words, long, zmax),
                                    lambda: print_figure(zmax),
                                    "Drawing every head…"))

st.caption("No mouse handy? Tab to the grid and use the arrow keys and Enter, or pick a head here.")
suggested = suggested_head(trace, keep_choices=False)
head_opener(trace, PAGE, default=(suggested.layer, suggested.head))

st.subheader("Export")
st.caption("The grid as SVG, PDF or PNG: the menu under it. The attention of the whole sentence, every "
           "layer and head, at full resolution:")
export_all_heads(trace, current_model_name(), PAGE)
