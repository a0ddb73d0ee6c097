"""Step 2 · Embeddings and positions: from ids to the vectors layer 0 reads."""
import numpy as np
import streamlit as st

from core import sinusoidal_encoding
from analysis.recompute import cosine_matrix, embedding_steps, position_table
from ui.frame import require_frame
from ui.family import model_family, require_step_page
from ui.steps import diagonal_band_caption, rotary_section
from ui.state import current_model_and_trace
from ui.widgets import linked, pick_window, plot, token_labels
from viz.steps import (cosine_heatmap, matrix_heatmap, position_heatmap, sinusoid_curves, strip_dims, strip_note,
                       vector_strip)

WINDOW = 40
DIMS = {"24 largest": "largest", "first 24": "first", "all (colours only)": "all"}


require_frame()
model, trace = current_model_and_trace()
require_step_page(model, "step_embeddings")
net, config = model.net, model.config
steps = embedding_steps(net, trace)
t, d = len(trace.tokens), config.d_model
rotary, added = config.positional == "rotary", config.positional in ("learned", "sinusoidal")
extras = ((", and a **segment** vector" if steps.type_embed is not None else "")
          + ("; a LayerNorm follows" if net.embeddings.norm is not None else ""))
st.markdown("Each id picks one **row of the embedding table**. Attention by itself cannot tell *dog bites man* "
            "from *man bites dog* — it treats the tokens as a set — so the model needs **positions**. "
            + (f"This model adds a position vector to each row{extras}: the result is layer 0's input." if added else
               "This model adds nothing here: the token's row itself is layer 0's input, and positions enter "
               "inside every attention layer, which turns q and k by position (rotary, below)." if rotary else
               "This model has no position signal at all: the token's row itself is layer 0's input."))
scale = config.embed_scale
scaled = scale != 1.0
times = f" · √{d} (= {scale:.2f})" if scaled and abs(scale * scale - d) < 1e-6 else f" · {scale:g}" if scaled else ""
if scaled:   # Gemma: the table is shared with the unembedding, so its rows are small; √d_model brings them up
    st.markdown(f"First the token's row is **multiplied by √d_model = √{d} = {scale:.2f}**: the same table gives "
                "the output scores (tied), which keeps its rows small, and this scale brings them to the size "
                "the residual stream works at.")

token = st.selectbox("Token", range(t), index=min(1, t - 1), **linked(f"token_{t}"),
                     format_func=token_labels(trace).__getitem__)
plus_segment = f" + E_segment[0] ({config.type_vocab_size} × {d} table)" if steps.type_embed is not None else ""
norm = " → LayerNorm" if net.embeddings.norm is not None else ""
kind = {"learned": "learned table", "sinusoidal": "sinusoidal encoding"}.get(config.positional)
position = (f" + **P[position {token}]** (row of the {config.max_positions} × {d} {kind})" if added else "")
st.markdown(f"**E_token[id = {trace.ids[token]}]** (row of the {config.vocab_size:,} × {d} table){times}{position}"
            f"{plus_segment}{norm} → **x** (1 × {d}); for all tokens at once, X is {t} × {d}.")
names = ["token embedding"] + ([f"position {token} embedding"] if added else [])
rows = [steps.token_embed[token]] + ([steps.pos_embed[token]] if added else [])
if steps.type_embed is not None:
    names.append("segment A embedding")
    rows.append(steps.type_embed[token])
strips = np.stack(rows + [steps.summed[token]] + ([steps.embed[token]] if net.embeddings.norm is not None else []))
how = DIMS[st.radio("Dimensions shown", list(DIMS), horizontal=True, **linked("dims"),
                    help=f"{d} numbers do not fit across the page: see a few of them as numbers, or all as colours.")]
dims = strip_dims(strips, how)
if len(rows) > 1:
    plot(vector_strip(np.stack(rows + [steps.summed[token]]), names + ["sum"],
                      f"“{trace.tokens[token]}”: the vectors added, each 1 × {d}", dims=dims), "embedding_sum")
elif scaled:
    plot(vector_strip(np.stack(rows + [steps.summed[token]]), ["token embedding", f"×{times[2:]}"],
                      f"“{trace.tokens[token]}”: its row and layer 0's input, 1 × {d}", dims=dims), "embedding_sum")
else:
    plot(vector_strip(np.stack(rows), ["token embedding"], f"“{trace.tokens[token]}”: its row, 1 × {d}", dims=dims),
         "embedding_sum")
if net.embeddings.norm is not None:
    plot(vector_strip(np.stack([steps.summed[token], steps.embed[token]]), ["sum", "after LayerNorm"],
                      f"LayerNorm rescales the sum: this is layer 0's input for “{trace.tokens[token]}” (1 × {d})",
                      dims=dims), "embedding_layernorm")
st.caption(strip_note(dims, d, how))
gap = steps.agreement(trace)
st.caption(f"Recomputed here from the tables; equals the model's own layer-0 input to {gap:.1e}."
           + (f" The LayerNorm subtracts the mean of the {d} numbers, divides by their spread, then scales and "
              "shifts each dimension with learned γ and β." if net.embeddings.norm is not None else ""))

shown = pick_window(t, "step_embeddings_window", size=WINDOW, limit=WINDOW)
x_rows = trace.embed[shown.start:shown.stop]                            # (window, d)
plot(matrix_heatmap(x_rows, f"X, the input of layer 0: {t} × {d}"
                    + (f" (tokens {shown.start}–{shown.stop - 1} shown)" if len(shown) < t else ""),
                    [trace.tokens[i] for i in shown], row_start=shown.start, dims=strip_dims(x_rows, how)),
     "layer0_input")

st.subheader("Sinusoidal positions (Attention Is All You Need)")
st.markdown("The original transformer adds a fixed pattern: dimension pairs are sine and cosine waves, each pair "
            "turning at its own speed — fast in the first dimensions, slow in the last — so every position gets "
            "a distinct code, and nearby positions get similar ones.  \n"
            "PE[pos, 2i] = sin(pos / 10000^(2i/d)),  PE[pos, 2i+1] = cos(pos / 10000^(2i/d))")
n_pos = st.slider("Positions", 16, 512, 100, step=4, **linked("positions"))
pe = sinusoidal_encoding(n_pos, d)
left, right = st.columns(2)
with left:
    plot(position_heatmap(pe, f"Sinusoidal encoding: {n_pos} positions × {d} dimensions"), "sinusoidal_heatmap")
# Dimensions spread across the table: a fast pair (sin, cos) near the start, slower ones further
# on (for d = 384: 0, 48, 49, 96, 160); scaled to the model's width, so trained models work too.
eighth = 2 * (d // 16)                                   # an even (sine) dimension d/8 in
curve_dims = sorted({0, eighth, eighth + 1, 2 * eighth, 2 * (5 * d // 24)} & set(range(d)))
with right:
    plot(sinusoid_curves(pe, curve_dims, "A few dimensions along the positions"),
         "sinusoidal_curves")

if config.positional == "rotary":
    rotary_section(model, trace, n_pos)
elif config.positional != "learned":
    st.subheader("This model's positions")
    st.info("This model uses the sinusoidal encoding above instead of a learned table." if config.positional ==
            "sinusoidal" else "This model has no positions: it sees the sentence as a set of tokens.")
else:
    st.subheader(f"Learned positions ({model_family(model)})")
    st.markdown(f"This model **learns** its {config.n_positions} position vectors during training instead. "
                "No formula says what they should be; the heatmap and the cosines show what training made.")
    learned = position_table(net, n_pos)
    n_pos = len(learned)
    left, right = st.columns(2)
    with left:
        plot(position_heatmap(learned, f"Learned position table: first {n_pos} of {config.n_positions} rows "
                              f"× {d}"), "learned_positions")
    with right:
        cosines = cosine_matrix(learned)
        plot(cosine_heatmap(cosines, f"Cosine between positions 0–{n_pos - 1}"), "position_cosine")
    st.caption(diagonal_band_caption(cosines))
