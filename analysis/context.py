"""Context at work: how each token's vector moves from layer to layer.

Everything here reads `trace.hidden_states` (n_layers + 1, T, d_model): row 0 is the
embedding output, row l the output of block l. Four questions, four small tools:

- where does each vector go?      `project_trajectories`: ONE PCA fitted on every
                                   layer's states together, so a move in the picture is a
                                   move in the model, not a change of axes;
- how far does each layer push it? `layer_movement`: ‖Δ‖, cosine to the previous layer,
                                   and the sizes of the attention and feed-forward outputs;
- what is it near?                 the model's input embedding table as a `WordVectors`
                                   (analysis/vectors.py, built by models.vectors.vectors_from_model):
                                   its `nearest_words` for the token at every layer at once;
- same word, other sentence?       `find_word`, `word_vectors`, `cosine_per_layer`.

The vocabulary lens is a lens, not a readout: the table lives where layer 0 lives. Each
block moves the vectors away from that space (MiniLM has no output head tied to it), so
at deep layers the similarities shrink and the neighbours are a hint, not what the model
"means". The pages: pages/context.py (paths, lens, movement) and pages/context_pair.py
(the same word in two sentences), with their shared pieces in ui/context.py.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .pca import PCA, fit_pca
from core.trace import Trace
from .vectors import unit_rows


# -- trajectories ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trajectories:
    """Hidden states of one or more sentences projected into one shared PCA basis."""
    pca: PCA
    coords: tuple[np.ndarray, ...]   # one (n_layers + 1, T_i, k) array per sentence

    @property
    def explained(self) -> np.ndarray:
        """Share of the variance of all stacked states that each component keeps."""
        return self.pca.explained_variance_ratio

    def project_paths(self, paths: Sequence[np.ndarray]) -> np.ndarray:
        """Other paths in this basis: one (L+1, d) array per path (a word's vector at every
        layer, say) -> (L+1, n_paths, k), shaped like `coords` for the trajectory figure."""
        return np.stack([self.pca.project(path) for path in paths], axis=1)


def project_trajectories(hidden_states: Sequence[np.ndarray], n_components: int = 2) -> Trajectories:
    """Fit one PCA on every layer of every given sentence, then project each layer.

    `hidden_states` is one (L+1, T, d) array per sentence (a single trace: pass
    `[trace.hidden_states]`). Fitting once on the stack keeps the axes fixed for all
    layers and sentences; fitting per layer would make every layer's picture incomparable.
    """
    states = [np.asarray(h) for h in hidden_states]
    if not states or any(h.ndim != 3 for h in states):
        raise ValueError("hidden_states must be one (layers + 1, T, d_model) array per sentence")
    d = states[0].shape[-1]
    stacked = np.concatenate([h.reshape(-1, d) for h in states])  # ((L+1)·ΣT, d)
    pca = fit_pca(stacked, n_components)
    coords = []
    for h in states:
        n_states, t, _ = h.shape
        flat = pca.project(h.reshape(-1, d))                      # ((L+1)·T, k)
        coords.append(flat.reshape(n_states, t, -1).astype(np.float32))  # (L+1, T, k)
    return Trajectories(pca=pca, coords=tuple(coords))


# -- how much each layer moves a token ------------------------------------------------------------
MOVEMENT_COLUMNS = ("layer", "change_norm", "cosine_to_previous", "attn_out_norm", "mlp_out_norm",
                    "vector_norm")


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of matching rows of a and b, (n, d) each -> (n,)."""
    return np.sum(unit_rows(a) * unit_rows(b), axis=-1)


def layer_movement(trace: Trace, position: int) -> dict[str, np.ndarray]:
    """Per layer l = 0..L−1 (counted from 0, as on every page), for the token at `position`, with
    h_l the vector after layer l and h_{−1} the embeddings:

    change_norm        ‖h_l − h_{l−1}‖, how far the layer moved the vector;
    cosine_to_previous cos(h_l, h_{l−1}), 1 = same direction (the move was only a stretch);
    attn_out_norm      ‖attn_out‖, the size of what attention added to the stream;
    mlp_out_norm       ‖mlp_out‖, the size of what the feed-forward added;
    vector_norm        ‖h_l‖, for scale.
    In a post-LN model (BERT, MiniLM) a LayerNorm follows each addition, so the two
    sublayer sizes compare which one pushed harder, not exact shares of ‖Δ‖.
    """
    if not 0 <= position < len(trace.tokens):
        raise IndexError(f"position {position} is outside the {len(trace.tokens)} tokens")
    path = trace.hidden_states[:, position]                      # (L+1, d)
    before, after = path[:-1], path[1:]                          # (L, d) each
    return {
        "layer": np.arange(trace.n_layers),
        "change_norm": np.linalg.norm(after - before, axis=-1),
        "cosine_to_previous": _row_cosines(after, before),
        "attn_out_norm": np.array([np.linalg.norm(l.attn_out[position]) for l in trace.layers]),
        "mlp_out_norm": np.array([np.linalg.norm(l.mlp_out[position]) for l in trace.layers]),
        "vector_norm": np.linalg.norm(after, axis=-1),
    }


# -- words and their pieces -----------------------------------------------------------------------------
@dataclass(frozen=True)
class WordMatch:
    """One occurrence of a word in a trace: its WordPiece pieces, in order."""
    positions: tuple[int, ...]
    pieces: tuple[str, ...]
    start: int                       # character span in the text
    end: int

    @property
    def split(self) -> bool:
        return len(self.positions) > 1


def find_word(trace: Trace, word: str) -> list[WordMatch]:
    """Every whole-word occurrence of `word` (case-insensitive) and the tokens covering it.

    Found in the text, then mapped to tokens by their character offsets, so a word the
    tokenizer split ("unbelievable" -> un ##bel ##ie ##vable) comes back as all its pieces.
    Words past a truncation have no tokens and are not returned.
    """
    word = word.strip()
    if not word:
        return []
    pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)
    matches = []
    for found in pattern.finditer(trace.text):
        positions = tuple(i for i, (a, b) in enumerate(trace.offsets)
                          if not trace.special_mask[i] and a < found.end() and b > found.start())
        if positions:
            matches.append(WordMatch(positions, tuple(trace.tokens[i] for i in positions),
                                     found.start(), found.end()))
    return matches


def word_around(trace: Trace, position: int) -> WordMatch:
    """The whole word the token at `position` belongs to: WordPiece marks a continuation
    piece with a leading "##", so the word runs from the last piece without it to the
    last "##" piece after. A token that is a word on its own comes back alone."""
    if not 0 <= position < len(trace.tokens):
        raise IndexError(f"position {position} is outside the {len(trace.tokens)} tokens")
    start = position
    while start > 0 and trace.tokens[start].startswith("##") and not trace.special_mask[start - 1]:
        start -= 1
    end = position + 1
    while end < len(trace.tokens) and trace.tokens[end].startswith("##"):
        end += 1
    positions = tuple(range(start, end))
    return WordMatch(positions, tuple(trace.tokens[i] for i in positions),
                     trace.offsets[start][0], trace.offsets[end - 1][1])


def word_vectors(hidden_states: np.ndarray, positions: Sequence[int], piece: int | None = None) -> np.ndarray:
    """(L+1, d): the word's vector at every layer — one piece (`piece` = index within the
    word, e.g. 0 for the first), or the mean of all its pieces when `piece` is None."""
    positions = list(positions)
    if not positions:
        raise ValueError("the word has no tokens")
    if piece is not None:
        return np.asarray(hidden_states[:, positions[piece]])   # (L+1, d)
    return np.asarray(hidden_states[:, positions]).mean(axis=1)  # (L+1, pieces, d) -> (L+1, d)


def cosine_per_layer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(L+1, d) and (L+1, d) -> (L+1,): cosine of the two vectors at each layer."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"the two paths must have the same shape, got {a.shape} and {b.shape}")
    return _row_cosines(a, b)
