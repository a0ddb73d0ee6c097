"""The Encoder–decoder page for a real encoder–decoder picked in the sidebar (T5, BART, Marian).

The source is the sidebar's sentence; the target is typed (forced decoding: the decoder reads it,
whatever it would have written) or, left empty, the model's own greedy output. Cross-attention
shows which source tokens each output token read. (The trained toy is drawn by pages/seq2seq.py.)
"""
from __future__ import annotations

import streamlit as st

from models import EmptyTextError, LoadedSeq2Seq
from ui.family import model_family
from ui.state import cached, current_model_name, current_sentence
from ui.widgets import linked, plot, show_text
from viz.attention import attention_heatmap

MAX_TARGET_CHARS = 2_000


def trace_of(model: LoadedSeq2Seq, source: str, target: str):
    """The source and target traced once per server (shared cache); a clear message instead of a traceback."""
    try:
        return cached(("seq2seq", current_model_name(), source, target), lambda: model.trace(source, target or None),
                      "Running the encoder and the decoder…")
    except EmptyTextError as exc:
        st.info(str(exc))
    except ValueError as exc:
        st.error(f"The model could not read this text: {exc}")
    st.stop()


def encoder_decoder_page(model: LoadedSeq2Seq) -> None:
    name = model_family(model)
    st.subheader(f"{name}: {model.config.n_layers} layers × {model.config.n_heads} heads on each side")
    source = current_sentence()
    st.markdown("**Source** (the sidebar's sentence):")
    show_text(source)
    target = st.text_input("Target", "", max_chars=MAX_TARGET_CHARS, **linked("target"),
                           placeholder="Empty: the model writes its own output (greedy)",
                           help="Type an output (say a translation) to see how the decoder reads it: forced "
                                "decoding. Leave it empty to see what the model writes itself, the likeliest "
                                "token at each step.")
    tr = trace_of(model, source, target.strip())
    if tr.truncated:
        st.warning(f"The source is cut to the model's first {len(tr.encoder)} tokens.", icon="✂️")
    how = "you typed (forced decoding)" if tr.typed else "the model wrote (greedy)"
    st.markdown(f"**Output** {how}:")
    show_text(tr.output or "(nothing: the model ended at once)")
    dec, enc = tr.decoder, tr.encoder
    c1, c2 = st.columns(2)
    layer = c1.slider("Layer", 0, dec.n_layers - 1, dec.n_layers - 1, **linked("layer")) if dec.n_layers > 1 else 0
    heads = ["mean of all heads"] + [f"head {h}" for h in range(dec.n_heads)]
    head = c2.selectbox("Head", range(len(heads)), format_func=heads.__getitem__, **linked("head")) - 1
    head = None if head < 0 else min(head, dec.n_heads - 1)

    st.subheader("Cross-attention: which source tokens each output token read")
    st.caption(f"Row i is decoder input i ({dec.tokens[0]} is the start token the decoder is given); it reads the "
               "source through cross-attention to write the next token, listed in the table below.")
    plot(attention_heatmap(tr.cross_weights(layer, head), dec.tokens, key_tokens=enc.tokens,
                           title=f"Layer {layer}, {heads[0] if head is None else f'head {head}'}",
                           query_title="decoder input (query)", key_title="source token (key)", zmax=None),
         "cross_attention")
    rows = tr.alignment(layer, head)
    st.dataframe({"decoder input": dec.tokens, "writes next": [r[0] for r in rows],
                  "source token read most": [r[1] for r in rows], "its weight": [round(r[2], 3) for r in rows]},
                 hide_index=True)
    c1, c2 = st.columns(2)
    pick = (lambda w: w.mean(axis=0)) if head is None else (lambda w: w[head])
    with c1:
        st.subheader("Encoder self-attention")
        plot(attention_heatmap(pick(enc.layers[layer].weights), enc.tokens, width_px=300), "encoder_self_attention")
    with c2:
        st.subheader("Decoder masked self-attention")
        plot(attention_heatmap(pick(dec.layers[layer].weights), dec.tokens, key_title="key (only the past)",
                               width_px=300), "decoder_self_attention")
    st.caption(f"{name} pages that read one stack of attention (One head, All heads, the step pages …) do not "
               "apply to an encoder–decoder and say so; this page shows both stacks.")
