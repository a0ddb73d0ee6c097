"""What the attention pages share: cached numbers per sentence, token windows, exports, opening a head."""
from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from functools import partial

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from streamlit.errors import StreamlitAPIException

from core import Trace
from analysis.head_stats import HeadStats
from analysis.rollout import hide_tokens, rollout
from ui import url
from ui.export import export_menu
from ui.head_choice import choose, head_stats_of
from ui.interactive import GridPicture, grid_data, interactive_grid
from ui.plain import plain
from ui.state import COLOUR_BLIND, cached, current_model_name, trace_for, use_sentence
from ui.widgets import MAX_WINDOW, WINDOW, pick_window, plot, sentence_key
from viz.common import OPEN_HEAD
from viz.long_context import OVERVIEW_SIDE, pooled_overview
from viz.palettes import SAFE, recolour

SHOW_ALL = 80        # sentences up to this many tokens are shown whole
JSON_LIMIT = 128     # all-heads JSON above this many tokens gets too large
NPZ_LIMIT = 1024     # every head at full resolution up to this many tokens; beyond, the streamed summary
OVERVIEW_FROM = 512  # longer views get a pooled overview of the whole matrix above the exact window
ONE_HEAD_PAGE = "pages/attention_head.py"


def stats_for(model_name: str, text: str) -> HeadStats:
    """The sentence's head statistics: the same numbers the default head was chosen from, measured once."""
    return head_stats_of(trace_for(model_name, text))


def rollout_for(model_name: str, text: str, residual: float) -> np.ndarray:
    return cached(("rollout", model_name, text, residual),
                  lambda: rollout(mean_attention(trace_for(model_name, text)), residual),
                  "Rolling attention through the layers…")


def mean_attention(trace) -> np.ndarray:
    """(L, 1, P, P) each layer's mean over heads, as rollout reads it, streamed during the forward pass
    (core.trace.AttentionSummary): every token's own row up to MEAN_SIDE tokens (P = T), block-pooled
    to P = MEAN_SIDE beyond (is_long): the rollout of a long text is then an overview of blocks."""
    return trace.summary.mean_weights[:, None]


def is_long(trace: Trace) -> bool:
    """True beyond MEAN_SIDE tokens: pages then read the streamed summary and one head at a time
    (trace.head), never every layer's T×T weights at once."""
    return not trace.summary.mean_is_exact


def mean_starts(trace: Trace) -> np.ndarray:
    """First token of each row of mean_attention (every token when it is exact)."""
    return trace.summary.mean_starts


def colour_max(page: str) -> float | None:
    """1.0 (colours comparable between heads) or None (stretched to the largest weight shown)."""
    choice = st.radio("Colour scale", ["0 to 1 (comparable)", "stretch to the largest weight"],
                      horizontal=True, key=f"{page}_scale", bind=url.bound(f"{page}_scale"),
                      help="0 to 1 keeps one colour per weight on every head; stretching shows the "
                           "pattern of a head whose weights are all small.")
    return 1.0 if choice.startswith("0 to 1") else None


def view(matrix: np.ndarray, trace: Trace, hide_specials: bool) -> tuple[np.ndarray, list[int]]:
    """The matrix (…, T, T) with [CLS]/[SEP] dropped and rows renormalised when asked, and the kept positions."""
    if not hide_specials:
        return np.asarray(matrix), list(range(len(trace.tokens)))
    smaller, kept = hide_tokens(matrix, trace.special_mask)
    return smaller, [int(i) for i in kept]


def most_attended(attentions: np.ndarray, positions: list[int]) -> int:
    """Index (into `positions`) of the token that receives the most attention, all heads averaged:
    the [CLS]/[SEP] or first token that a sink head parks on. A window that leaves it out makes such a
    head look blank, so windows keep it in view."""
    links = np.asarray(attentions, dtype=np.float32).mean(axis=(0, 1))[np.ix_(positions, positions)]  # (n, n)
    return int(np.argmax(links.sum(axis=0)))


def busiest_window(attentions: np.ndarray, positions: list[int], special_mask, size: int,
                   keep: int | None = None) -> int:
    """Where a `size`-token window over `positions` starts so that its tokens attend to each other the
    most (all heads averaged; links to or from [CLS]/[SEP] and to oneself left out): a long text's
    heatmap opens where there is something to see rather than on its first tokens. With `keep` (an
    index into `positions`), only windows that hold that token are considered."""
    n = len(positions)
    if n <= size:
        return 0
    links = np.asarray(attentions, dtype=np.float32).mean(axis=(0, 1))[np.ix_(positions, positions)]  # (n, n)
    words = ~np.asarray(special_mask, dtype=bool)[positions]
    links = links * words[:, None] * words[None, :]
    np.fill_diagonal(links, 0.0)
    total = np.zeros((n + 1, n + 1))
    total[1:, 1:] = links.cumsum(axis=0).cumsum(axis=1)                    # (n+1, n+1) 2-D prefix sums
    first = np.arange(n - size + 1)
    last = first + size
    inside = total[last, last] - total[first, last] - total[last, first] + total[first, first]
    if keep is not None:                                                   # windows without it never win
        inside = np.where((first <= keep) & (keep < last), inside, -np.inf)
    return int(np.argmax(inside))


def opening_window(attentions: np.ndarray, positions: list[int], special_mask, size: int) -> tuple[int, int]:
    """(start, the token kept in view): the busiest window that still holds the most-attended token."""
    keep = most_attended(attentions, positions)
    return busiest_window(attentions, positions, special_mask, size, keep), keep


def summary_window(trace: Trace, positions: list[int], size: int) -> tuple[int, int]:
    """opening_window from the streamed summary, so no layer is recomputed: the mean attention over
    layers and heads (exact up to MEAN_SIDE tokens), and beyond it the busiest stretch of the pooled
    mean, with the most-attended token from the summary's `received` (each key's share, exact)."""
    summary = trace.summary
    mean = summary.mean_weights.mean(axis=0)                                  # (P, P) over layers and heads
    if summary.mean_is_exact:
        return opening_window(mean[None, None], positions, trace.special_mask, size)
    received = summary.received.mean(axis=(0, 1))[positions]                 # (n,) each kept key's share
    keep = int(np.argmax(received))
    starts = summary.mean_starts                                             # (P,) each block's first token
    block_of = np.searchsorted(starts, positions, side="right") - 1          # (n,) block of each kept token
    specials = np.zeros(len(starts), dtype=bool)
    np.logical_or.at(specials, block_of, np.asarray(trace.special_mask, dtype=bool)[positions])
    width = max(1, int(round(size * len(starts) / len(trace))))              # the window, in blocks
    start_block = busiest_window(mean[None, None], list(range(len(starts))), specials, width,
                                 int(block_of[keep]))
    first = int(np.searchsorted(block_of, start_block))                      # first kept token in that block
    start = min(max(first, keep - size + 1), keep)                          # the window holds `keep`
    return max(0, min(start, len(positions) - size)), keep


def attention_window(positions: list[int], trace: Trace, page: str, limit: int = MAX_WINDOW) -> slice:
    """The part of `positions` a heatmap shows: all of a short sentence, a chosen window of a long one
    (opening on its busiest stretch that still holds the token most attention goes to, see
    opening_window), with a line saying which part of the text is shown."""
    around, keep = 0, None
    if len(positions) > SHOW_ALL:
        start, keep = cached(("opening window", current_model_name(), trace.text, tuple(positions), WINDOW),
                             lambda: summary_window(trace, positions, WINDOW), "Finding where the attention is…")
        around = start + WINDOW // 2
    shown = pick_window(len(positions), f"{page}_window_{sentence_key(trace.text)}", limit=limit,
                        show_all=SHOW_ALL, around=around)
    if len(shown) < len(positions):
        st.caption(window_note(trace, positions, shown, keep, words=page.endswith("_words")))
    return slice(shown.start, shown.stop)


def window_note(trace: Trace, positions: list[int], shown: range, keep: int | None, words: bool = False) -> str:
    """"Showing positions 0–63 of 141, from “[CLS]” to “river”; …": which part of a long text is drawn.
    `words`: the positions are words (ui.words), named by number only."""
    def name(i: int) -> str:
        return f"word {i}" if words else plain(trace.tokens[positions[i]])   # the token, literally
    note = (f"Showing positions {shown.start}–{shown.stop - 1} of {len(positions)}, from “{name(shown.start)}” "
            f"to “{name(shown.stop - 1)}”; move the token window to see the rest.")
    if keep is not None:
        inside = "it is in view" if keep in shown else "it is outside the window now"
        note += (f" The window opened where “{name(keep)}” (position {keep}), the token that receives the most "
                 f"attention, is drawn ({inside}).")
    return note


def head_overview(matrix: np.ndarray, positions: list[int], window: slice, title: str, name: str,
                  where=st) -> None:
    """A long text's whole (n, n) matrix, block-pooled to at most OVERVIEW_SIDE × OVERVIEW_SIDE, with the
    exact window outlined, and a line saying how it is pooled (nothing for n ≤ OVERVIEW_FROM)."""
    n = len(positions)
    if n <= OVERVIEW_FROM:
        return
    block = n / min(n, OVERVIEW_SIDE)
    where.caption(f"**Overview of all {n} positions**, pooled into blocks of about {block:.0f}: a cell is the "
                  "share of attention a block of queries gives, on average, to a block of keys (keys summed, "
                  "queries averaged, so rows still sum to 1 and a sink column or a diagonal stays visible). "
                  "Log colours. The outlined square is the window drawn exactly below: move the token window "
                  "to read any part.")
    shown = range(window.start, window.stop)
    plot(pooled_overview(matrix, positions, shown, f"{title} · overview"), f"{name}_overview", where)


def head_csv(weights: np.ndarray, trace: Trace) -> str:
    """One head as a table: a row per query token, a column per key token."""
    labels = [f"{i} {t}" for i, t in enumerate(trace.tokens)]
    frame = pd.DataFrame(np.asarray(weights), index=pd.Index(labels, name="query \\ key"), columns=labels)
    return frame.to_csv(float_format="%.6f")


def all_heads_npz(trace: Trace, model_name: str) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, attentions=trace.attentions, tokens=np.array(trace.tokens),
                        ids=np.array(trace.ids), model=np.array(model_name), text=np.array(trace.text))
    return buffer.getvalue()


def summary_npz(trace: Trace, model_name: str) -> bytes:
    """A long text's streamed summary: head statistics, each key's share, thumbnails, pooled means."""
    summary = trace.summary
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{name: getattr(summary, name) for name in vars(summary)},
                        tokens=np.array(trace.tokens), ids=np.array(trace.ids), model=np.array(model_name),
                        text=np.array(trace.text))
    return buffer.getvalue()


def all_heads_json(trace: Trace, model_name: str) -> str:
    return json.dumps({
        "model": model_name, "text": trace.text, "tokens": trace.tokens,
        "shape": ["layers", "heads", "query", "key"],
        "attentions": np.round(trace.attentions.astype(np.float64), 5).tolist(),
    })


def export_all_heads(trace: Trace, model_name: str, page: str) -> None:
    """NPZ always (built on click); JSON for sentences small enough to open in an editor."""
    cols = st.columns(2)
    if len(trace.tokens) > NPZ_LIMIT:
        cols[0].download_button(
            "Head summaries (NPZ)", lambda: summary_npz(trace, model_name), file_name="attention_summary.npz",
            mime="application/octet-stream", key=f"{page}_summary_npz", on_click="ignore",
            icon=":material/download:",
            help="entropy, distance, previous, next, self (layers, heads); received (layers, heads, key); "
                 "thumbnails and mean_weights pooled by blocks starting at thumb_starts / mean_starts.")
        cols[1].caption(f"Every head at full resolution is offered up to {NPZ_LIMIT:,} tokens (this text has "
                        f"{len(trace.tokens):,}: {trace.n_layers * trace.n_heads * len(trace) ** 2 * 4 / 1e9:.1f} "
                        "GB); one head's CSV is on the One head page.")
        return
    cols[0].download_button(
        "All heads (NPZ)", lambda: all_heads_npz(trace, model_name), file_name="attention_all_heads.npz",
        mime="application/octet-stream", key=f"{page}_npz", on_click="ignore", icon=":material/download:",
        help="numpy: np.load(file)['attentions'] has shape (layers, heads, query, key).")
    if len(trace.tokens) <= JSON_LIMIT:
        cols[1].download_button(
            "All heads (JSON)", lambda: all_heads_json(trace, model_name), file_name="attention_all_heads.json",
            mime="application/json", key=f"{page}_json", on_click="ignore", icon=":material/download:")
    else:
        cols[1].caption(f"JSON is offered up to {JSON_LIMIT} tokens (this sentence has {len(trace.tokens)}); "
                        "the NPZ file holds the same numbers.")


def open_head(layer: int, head: int) -> None:
    """Show (layer, head) on the one-head page: the person's choice, then the page itself. The link
    keeps the frame's parameters only: Streamlit refuses to clear a link that holds this page's
    bound controls (the patching page's prompts), so the switch names what to keep."""
    choose(layer, head)
    try:
        url.switch_page(ONE_HEAD_PAGE)
    except StreamlitAPIException:  # this page runs alone (tests): there is no page to go to
        st.info(f"Layer {layer}, head {head} is now chosen: open the *One head* page to see it.")


def head_opener(trace: Trace, page: str, label: str = "Open one head", default: tuple[int, int] = (0, 0),
                sentence: str | None = None) -> None:
    """Layer and head pickers with a button that opens the head on the one-head page (on `sentence`,
    which then becomes the app's sentence, when the page's figures were drawn for another text)."""
    cols = st.columns([1, 1, 1], vertical_alignment="bottom")
    layer = cols[0].selectbox("Layer", range(trace.n_layers), index=default[0], key=f"{page}_open_layer",
                              bind=url.bound(f"{page}_open_layer"))
    head = cols[1].selectbox("Head", range(trace.n_heads), index=default[1], key=f"{page}_open_head",
                             bind=url.bound(f"{page}_open_head"))
    if cols[2].button(label, key=f"{page}_open", icon=":material/open_in_new:",
                      on_click=use_sentence if sentence else None, args=(sentence,) if sentence else None):
        open_head(layer, head)


def clicked_head(fig, selection) -> tuple[int, int] | None:
    """(layer, head) of the head marker a click selected on a map of heads (viz.common.OPEN_HEAD), read
    back from the figure's own customdata; None when nothing, or a point of another trace, is selected.
    selection: a chart's event (st.plotly_chart's return value), its .selection, or its dict."""
    if not isinstance(selection, Mapping):
        return None
    points = (selection["selection"] if "selection" in selection else selection).get("points") or []
    markers = {i for i, trace in enumerate(fig.data) if trace.name == OPEN_HEAD}
    for point in points:
        curve, index = point.get("curve_number"), point.get("point_index")
        if curve in markers and index is not None and 0 <= int(index) < len(fig.data[curve].customdata):
            layer, head = fig.data[curve].customdata[int(index)][:2]
            return int(layer), int(head)
    return None


def _open_on(key: str, fig, sentence: str) -> None:
    """A click on a map drawn for `sentence`: it becomes the app's sentence before the rerun draws the sidebar."""
    if clicked_head(fig, st.session_state.get(key)) is not None:
        use_sentence(sentence)


def head_map(fig, name: str, key: str, sentence: str | None = None) -> None:
    """A map of heads (one clickable marker per head, viz.common.OPEN_HEAD: layer_head_map(clickable=True),
    statistic_heatmap(clickable=True), heads_grid) whose click opens that head on One head, on the
    sidebar's sentence, or on `sentence` (then the app's sentence) when the map was drawn for another text."""
    if not any(trace.name == OPEN_HEAD for trace in fig.data):
        raise ValueError("head_map needs a figure with head markers (clickable=True)")
    on_select = partial(_open_on, key, fig, sentence) if sentence else "rerun"
    event = plot(fig, name, key=key, on_select=on_select, selection_mode="points")
    picked = clicked_head(fig, event)
    if picked is not None:
        open_head(*picked)


def all_heads_map(picture: GridPicture, tokens, unit: str, zmax: float | None, key: str,
                  figure: Callable[[], go.Figure], name: str) -> None:
    """Every head as a thumbnail on a canvas (ui.interactive.interactive_grid): the hover names the head,
    the tokens and the weight; a click, or Enter on the keyboard, opens that head on One head. The menu
    under it prints `figure()` (viz.heads.heads_grid), built only when the files are asked for."""
    picked = interactive_grid(grid_data(picture, tokens, unit, zmax), key)
    export_menu(lambda: recolour(figure(), SAFE) if st.session_state.get(COLOUR_BLIND) else figure(), name,
                camera=False)
    if picked is not None:
        open_head(*picked)
