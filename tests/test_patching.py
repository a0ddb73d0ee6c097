"""Activation patching equals transformers with forward hooks replacing the same activation, and the
batched grids equal one patched run per site."""
from __future__ import annotations

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import hf_model, save_checkpoint, tokenizer_for  # noqa: E402

from analysis.patching import make_metric, patch_grid  # noqa: E402
from models import load_model  # noqa: E402

TOL = dict(atol=1e-4, rtol=0)
CLEAN = [5, 41, 77, 120, 9, 200, 33, 64, 18, 150]
CORRUPTED = [5, 41, 90, 120, 9, 201, 33, 64, 18, 150]      # two tokens changed


@pytest.fixture(scope="module", params=["gpt2", "llama"])
def pair(request, tmp_path_factory):
    """(family, transformers model, our LoadedModel) from one tiny random checkpoint (Llama: grouped-query)."""
    family = request.param
    hf = hf_model(family, tied=family == "gpt2", seed=3)
    folder = save_checkpoint(hf, tokenizer_for(family), tmp_path_factory.mktemp(family))
    return family, hf, load_model(str(folder))


def modules(hf, family: str, layer: int) -> dict:
    """Where each site lives in transformers: the block (its input is resid_pre), the attention
    (its output is attn_out), W_O (its input is the heads side by side) and the MLP."""
    if family == "gpt2":
        block = hf.transformer.h[layer]
        return dict(block=block, attn=block.attn, w_o=block.attn.c_proj, mlp=block.mlp)
    block = hf.model.layers[layer]
    return dict(block=block, attn=block.self_attn, w_o=block.self_attn.o_proj, mlp=block.mlp)


def _first(value):
    return value[0] if isinstance(value, tuple) else value


def hf_activations(hf, family: str, ids: list[int], n_layers: int) -> dict:
    """The clean run's activations, captured by hooks: (kind, layer) -> (1, T, d_model)."""
    seen, handles = {}, []
    for layer in range(n_layers):
        m = modules(hf, family, layer)
        handles += [
            m["block"].register_forward_pre_hook(
                lambda mod, args, kwargs, l=layer: seen.__setitem__(
                    ("resid_pre", l), (args[0] if args else kwargs["hidden_states"]).clone()), with_kwargs=True),
            m["attn"].register_forward_hook(
                lambda mod, a, out, l=layer: seen.__setitem__(("attn_out", l), _first(out).clone())),
            m["mlp"].register_forward_hook(lambda mod, a, out, l=layer: seen.__setitem__(("mlp_out", l), out.clone())),
            m["w_o"].register_forward_pre_hook(lambda mod, a, l=layer: seen.__setitem__(("heads", l), a[0].clone())),
        ]
    try:
        with torch.no_grad():
            hf(torch.tensor([ids]))
    finally:
        for h in handles:
            h.remove()
    return seen


def hf_patched_logits(hf, family: str, ids: list[int], clean: dict, site: tuple, d_head: int) -> np.ndarray:
    """The corrupted run with one hook writing the clean activation at `site`."""
    kind, layer, *rest = site
    m = modules(hf, family, layer)

    def put(x, value, position=None, head=None):
        x = x.clone()
        cols = slice(None) if head is None else slice(head * d_head, (head + 1) * d_head)
        rows = slice(None) if position is None else position
        x[:, rows, cols] = value[:, rows, cols]
        return x

    if kind == "resid_pre":
        def hook(mod, args, kwargs):
            if args:
                return (put(args[0], clean["resid_pre", layer], rest[0]),) + tuple(args[1:]), kwargs
            return args, dict(kwargs, hidden_states=put(kwargs["hidden_states"], clean["resid_pre", layer], rest[0]))
        handle = m["block"].register_forward_pre_hook(hook, with_kwargs=True)
    elif kind in ("attn_out", "mlp_out"):
        def hook(mod, args, out):
            if isinstance(out, tuple):
                return (put(out[0], clean[kind, layer], rest[0]),) + tuple(out[1:])
            return put(out, clean[kind, layer], rest[0])
        handle = m["attn" if kind == "attn_out" else "mlp"].register_forward_hook(hook)
    else:
        position = rest[1] if len(rest) == 2 else None
        handle = m["w_o"].register_forward_pre_hook(
            lambda mod, args: (put(args[0], clean["heads", layer], position, rest[0]),) + tuple(args[1:]))
    try:
        with torch.no_grad():
            return hf(torch.tensor([ids])).logits[0].numpy()
    finally:
        handle.remove()


SITES = [("resid_pre", 0, 2), ("resid_pre", 2, 5), ("attn_out", 1, 2), ("attn_out", 2, 9), ("mlp_out", 0, 5),
         ("mlp_out", 1, 2), ("head", 0, 1), ("head", 2, 3), ("head", 1, 2, 5), ("head", 0, 3, 2)]


@pytest.mark.parametrize("site", SITES, ids=str)
def test_patched_run_equals_transformers_with_hooks(pair, site):
    family, hf, ours = pair
    clean = ours.net.trace(CLEAN)
    patched = ours.net.trace(CORRUPTED, patch_from=clean, sites=[site])
    reference_clean = hf_activations(hf, family, CLEAN, ours.config.n_layers)
    expected = hf_patched_logits(hf, family, CORRUPTED, reference_clean, site, ours.config.d_head)
    np.testing.assert_allclose(patched.logits, expected, **TOL)
    corrupted = ours.net.trace(CORRUPTED)
    assert not np.allclose(patched.logits, corrupted.logits, atol=1e-4)        # the patch did something


def test_patching_every_residual_position_gives_the_clean_run(pair):
    _, _, ours = pair
    clean = ours.net.trace(CLEAN)
    everything = [("resid_pre", 0, p) for p in range(len(CLEAN))]
    patched = ours.net.trace(CORRUPTED, patch_from=clean, sites=everything)
    np.testing.assert_allclose(patched.logits, clean.logits, **TOL)


@pytest.mark.parametrize("kind", ["resid_pre", "attn_out", "mlp_out", "head", "head_position"])
def test_batched_grid_equals_one_patched_run_per_site(pair, kind):
    _, _, ours = pair
    clean = ours.net.trace(CLEAN)
    metric = make_metric(ours, CLEAN, CORRUPTED, answer=17, other=250)
    fractions = []
    grid = patch_grid(ours, clean, CORRUPTED, kind, metric, progress=fractions.append)
    n_layers, n_heads, t = ours.config.n_layers, ours.config.n_heads, len(CLEAN)
    shapes = {"head": (n_layers, n_heads), "head_position": (n_layers, n_heads, t)}
    assert grid.values.shape == shapes.get(kind, (n_layers, t))
    assert fractions[-1] == pytest.approx(1.0) and fractions == sorted(fractions)
    logits = lambda tr: float(tr.logits[-1, 17] - tr.logits[-1, 250])            # noqa: E731
    assert metric.clean == pytest.approx(logits(clean), abs=1e-4)
    assert metric.corrupted == pytest.approx(logits(ours.net.trace(CORRUPTED)), abs=1e-4)
    for index in [(0, 0), (n_layers - 1, 2), (1, 3)] + ([(2, 1, 2)] if kind == "head_position" else []):
        index = index if kind == "head_position" else index[:2]
        if kind == "head_position" and len(index) == 2:
            index = (*index, t - 1)
        site = ("head", *index) if kind.startswith("head") else (kind, *index)
        one = ours.net.trace(CORRUPTED, patch_from=clean, sites=[site])
        assert grid.values[index] == pytest.approx(logits(one), abs=1e-4)


def test_normalised_metric_is_one_clean_zero_corrupted(pair):
    _, _, ours = pair
    clean = ours.net.trace(CLEAN)
    metric = make_metric(ours, CLEAN, CORRUPTED, answer=17, other=250)
    assert metric.normalise(np.array([metric.clean, metric.corrupted])) == pytest.approx([1.0, 0.0])
    grid = patch_grid(ours, clean, CORRUPTED, "resid_pre", metric)
    # The prompts share their first two tokens, and a decoder's early positions never see later
    # ones: the residual stream there is the same in both runs, so patching it changes nothing.
    np.testing.assert_allclose(grid.normalised[:, :2], 0.0, atol=1e-4)
    # At layer 0 the changed tokens' own positions are where the difference enters.
    assert set(np.argsort(-np.abs(grid.normalised[0]))[:2]) == {2, 5}


def test_encoder_metric_is_the_sentence_cosine(minilm):
    clean_text, corrupted_text = "The cat sat on the mat.", "The dog sat on the mat."
    clean, corrupted = minilm.trace(clean_text), minilm.trace(corrupted_text)
    metric = make_metric(minilm, clean.ids, corrupted.ids)
    assert metric.clean == pytest.approx(1.0, abs=1e-5)
    expected = float(minilm.sentence_embedding(clean_text) @ minilm.sentence_embedding(corrupted_text))
    assert metric.corrupted == pytest.approx(expected, abs=1e-4)
    grid = patch_grid(minilm, clean, corrupted.ids, "resid_pre", metric)
    # Patching every position of a layer's input makes the run the clean one; one position of the
    # changed word at layer 0 carries most of the difference.
    assert np.nanmax(grid.normalised[0]) == pytest.approx(grid.normalised[0, 2], abs=1e-6)


def test_bad_sites_are_named(pair):
    _, _, ours = pair
    clean = ours.net.trace(CLEAN)
    for site, message in [(("resid", 0, 1), "unknown site"), (("resid_pre", 9, 1), "no layer 9"),
                          (("head", 0, 7), "no head 7"), (("mlp_out", 0, 40), "no position 40"),
                          (("head", 0), "unknown site")]:
        with pytest.raises(ValueError, match=message):
            ours.net.trace(CORRUPTED, patch_from=clean, sites=[site])
    with pytest.raises(ValueError, match="same number of tokens"):
        ours.net.trace(CORRUPTED[:-1], patch_from=clean, sites=[("resid_pre", 0, 1)])
    with pytest.raises(ValueError, match="patch_from"):
        ours.net.trace(CORRUPTED, sites=[("resid_pre", 0, 1)])
