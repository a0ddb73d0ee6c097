"""The training loop, the corpus and the BPE tokenizer on tiny configurations (seconds each)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from analysis.vectors import WordVectors
from training.bpe import alphabet, train_bpe, vocab_problem
from training.corpus import CorpusConfig, generate_corpus, split_lines
from training.lm import (LossNotFinite, TrainConfig, count_parameters, evaluate, generate, lm_config, make_stream,
                         new_model, next_token_probs, step_breakdown, train_lm)


@pytest.fixture(scope="module")
def corpus():
    return generate_corpus(CorpusConfig(seed=0, n_sentences=1200))


@pytest.fixture(scope="module")
def bpe(corpus):
    return train_bpe(corpus, 160)


@pytest.fixture(scope="module")
def stream(corpus, bpe):
    return make_stream(bpe.encode_lines(corpus), context=16)


def tiny(bpe, **kw):
    return lm_config(bpe.vocab_size, context=16, d_model=32, n_heads=2, n_layers=1, **kw)


def test_corpus_is_deterministic_and_covers_the_four_topics():
    a = generate_corpus(CorpusConfig(seed=3, n_sentences=400))
    assert a == generate_corpus(CorpusConfig(seed=3, n_sentences=400))
    assert a != generate_corpus(CorpusConfig(seed=4, n_sentences=400))
    text = " ".join(a)
    for phrase in ("rules", "eats", "capital of", "queen", "her", "his"):
        assert phrase in text
    # agreement: a plural subject takes a plural verb across the noun in between
    agree = [s.split() for s in a if s.split()[2] in ("near", "behind", "with", "beside")]
    assert agree and all((w[1].endswith("s") or w[1] == "mice") != w[-2].endswith("s") for w in agree)


def test_split_lines_drops_blank_lines():
    assert split_lines("  a  b \n\n c\r\n") == ["a b", "c"]


def test_bpe_merges_in_order_and_whole_words(bpe):
    merges = bpe.merges()
    assert len(merges) == bpe.vocab_size - len(set("".join(bpe.vocabulary()[3:]))) or len(merges) > 50
    # each merge makes a token that is in the vocabulary, and the first is the most frequent pair
    vocab = set(bpe.vocabulary())
    assert all(a + b in vocab for a, b in merges)
    assert merges[0] == ("h", "e")
    assert bpe.split("the king") == ["▁the", "▁king"]
    assert bpe.decode(bpe.encode("the queen rules her kingdom .")) == "the queen rules her kingdom ."


def test_lowercase_corpus_reads_capitals_as_lowercase(bpe):
    # the built-in corpus has no capitals, so "The King" must not become <unk>s
    assert bpe.split("The King") == bpe.split("the king") == ["▁the", "▁king"]
    cased = train_bpe(["Hello World"] * 30 + ["hello world"] * 30, 40)
    assert cased.split("Hello") != cased.split("hello")        # text with capitals keeps them


def test_vocabulary_smaller_than_alphabet_is_refused(corpus):
    assert vocab_problem(corpus, 64) is None
    many_characters = corpus[:50] + ["ABCDEFGHIJKLMNOPQRSTUVWXYZ 0123456789 éèà"]
    problem = vocab_problem(many_characters, 64)
    need = len(alphabet(many_characters)) + 3              # every character, the word marker, 3 specials
    assert need > 64 and "smaller than the alphabet" in problem and f"at least {need}" in problem
    assert vocab_problem(["   "], 100).startswith("The text is empty")
    with pytest.raises(ValueError, match="alphabet"):
        train_bpe(many_characters, 64)


def test_impossible_hyperparameters_have_messages(stream, bpe):
    with pytest.raises(ValueError, match="divisible"):
        lm_config(bpe.vocab_size, d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="at least 1 token"):
        make_stream(np.arange(1000), context=0)
    with pytest.raises(ValueError, match="too small"):
        make_stream(np.arange(100), context=64)


def test_loss_falls(stream, bpe):
    net = new_model(tiny(bpe), seed=0)
    before = evaluate(net, stream, batches=2)
    assert abs(before - math.log(bpe.vocab_size)) < 0.5   # random start: about uniform
    reports = list(train_lm(net, stream, TrainConfig(steps=60, batch_size=16, lr=5e-3, warmup=5,
                                                     report_every=20, eval_batches=2)))
    assert [r.step for r in reports] == [20, 40, 60]
    assert reports[-1].val_loss < before - 1.0
    assert all(r.tokens_per_s > 0 for r in reports)


def test_same_seed_same_model(stream, bpe):
    def run():
        net = new_model(tiny(bpe), seed=7)
        list(train_lm(net, stream, TrainConfig(steps=5, batch_size=4, seed=7, report_every=5, eval_batches=1)))
        return net.token_table.detach().clone()
    assert torch.equal(run(), run())


def test_causal_mask_future_token_changes_no_earlier_logit(bpe):
    net = new_model(tiny(bpe), seed=1).eval()
    ids = torch.randint(3, bpe.vocab_size, (1, 12), generator=torch.Generator().manual_seed(0))
    changed = ids.clone()
    changed[0, 8] = (ids[0, 8] + 1) % bpe.vocab_size
    with torch.no_grad():
        a, b = net(ids), net(changed)
    assert torch.equal(a[0, :8], b[0, :8])
    assert not torch.allclose(a[0, 8:], b[0, 8:])


def test_tied_weights_are_one_tensor(bpe):
    tied = new_model(tiny(bpe), seed=0)
    assert tied.unembedding() is tied.token_table
    assert tied.unembedding().data_ptr() == tied.token_table.data_ptr()
    untied = new_model(tiny(bpe, tie_embeddings=False), seed=0)
    assert untied.unembedding().data_ptr() != untied.token_table.data_ptr()
    extra = count_parameters(tiny(bpe, tie_embeddings=False)) - count_parameters(tiny(bpe))
    assert extra == bpe.vocab_size * 32


def test_nan_loss_stops_and_keeps_last_good_weights(stream, bpe):
    net = new_model(tiny(bpe), seed=0)
    cfg = TrainConfig(steps=50, batch_size=4, report_every=10, eval_batches=1)
    run = train_lm(net, stream, cfg)
    next(run)                                              # 10 good steps
    good = net.token_table.detach().clone()
    with torch.no_grad():
        net.blocks[0].mlp.up.weight.fill_(float("nan"))   # a blow-up
    with pytest.raises(LossNotFinite, match="last good weights"):
        next(run)
    assert torch.equal(net.token_table, good)
    assert torch.isfinite(net.blocks[0].mlp.up.weight).all()


def test_stop_keeps_last_good_weights(stream, bpe):
    net = new_model(tiny(bpe), seed=0)
    kept = []
    run = train_lm(net, stream, TrainConfig(steps=100, batch_size=4, report_every=10, eval_batches=1),
                   on_good_weights=kept.append)
    next(run)
    next(run)
    run.close()  # what a stop does: nothing more is asked of the generator
    assert len(kept) == 2
    assert torch.equal(kept[-1]["embeddings.token.weight"], net.token_table)


def test_next_token_probs_and_generation(bpe):
    net = new_model(tiny(bpe), seed=0).eval()
    ids = bpe.encode("the king")
    p = next_token_probs(net, ids, temperature=1.0)
    assert p.shape == (bpe.vocab_size,) and abs(p.sum() - 1) < 1e-9
    cold, hot = next_token_probs(net, ids, 0.2), next_token_probs(net, ids, 5.0)
    assert cold.max() > p.max() > hot.max()   # temperature sharpens or flattens
    assert generate(net, ids, 10, seed=3) == generate(net, ids, 10, seed=3)
    long_prefix = list(range(3, 3 + 40))      # longer than the context: only the last 16 are read
    assert np.allclose(next_token_probs(net, long_prefix), next_token_probs(net, long_prefix[-16:]))


def test_step_breakdown_numbers_add_up(stream, bpe):
    net = new_model(tiny(bpe), seed=0)
    x, y = stream.batch("train", 4, torch.Generator().manual_seed(0))
    token = int(x[0, 3])
    before = net.token_table.detach().clone()
    step = step_breakdown(net, x, y, position=3, token_id=token, lr=0.5)
    assert torch.equal(net.token_table, before)          # the shown step does not touch the model
    assert abs(step.probs.sum() - 1) < 1e-9
    assert step.position_loss == pytest.approx(-math.log(step.probs[step.target_id]))
    assert step.target_id == int(y[0, 3]) and step.context_ids == x[0, :4].tolist()
    # the page's formula: p(target) = exp(z - log Σ exp z), and the cosine of the row before/after
    assert step.log_sum_exp == pytest.approx(float(torch.logsumexp(torch.tensor(step.logits), 0)), rel=1e-9)
    assert math.exp(step.logits[step.target_id] - step.log_sum_exp) == pytest.approx(step.probs[step.target_id])
    cosine = torch.nn.functional.cosine_similarity(torch.tensor(step.embed_before), torch.tensor(step.embed_after), 0)
    assert step.embed_cosine == pytest.approx(float(cosine), abs=1e-6)
    assert set(step.grad_norms) == {"token embeddings", "position embeddings", "block 0", "final LayerNorm"}
    # the embedding moved by exactly lr x its gradient
    work = new_model(tiny(bpe), seed=0)
    work.load_state_dict(net.state_dict())
    logits = work(x)
    torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1)).backward()
    assert step.embed_moved == pytest.approx(0.5 * float(work.token_table.grad[token].norm()), rel=1e-4)


def test_analogy_excludes_inputs_and_finds_a_planted_answer():
    vocab = ["man", "king", "woman", "queen", "cat"]
    table = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1], [0, 1, 1], [1, -1, 0.2]], dtype=np.float32)
    vectors = WordVectors(table, vocab, fold_case=False)     # the one vector table, as the results page uses it
    result = vectors.analogy("man", "king", "woman", k=2)
    assert result[0][0] == "queen"
    assert all(tok not in ("man", "king", "woman") for tok, _ in result)
    with pytest.raises(KeyError):
        vectors.analogy("man", "emperor", "woman")


def test_a_text_without_spaces_trains_in_bounded_time():
    """The attack: a 900 KB upload with no spaces once kept a core busy for minutes (BPE is
    quadratic in a word's length). Runs of non-space characters are cut for training."""
    import random
    import time

    from training.bpe import MAX_WORD_CHARS, bounded_words

    rng = random.Random(0)
    text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(900_000))
    assert max(len(w) for w in bounded_words([text])[0].split()) == MAX_WORD_CHARS
    start = time.perf_counter()
    bpe = train_bpe([text], 512)
    assert time.perf_counter() - start < 30            # was 2–6 minutes before the cut
    assert bpe.vocab_size == 512
    assert bpe.decode(bpe.encode(text[:500])).strip() == text[:500]   # encoding itself is unchanged


def test_advice_for_a_huge_alphabet_is_possible_to_follow():
    from training.bpe import MAX_VOCAB

    lines = ["".join(chr(0x4E00 + i) for i in range(3000))]      # 3,000 different CJK characters
    problem = vocab_problem(lines, MAX_VOCAB)
    assert problem and "3,000 different characters" in problem and "Choose at least" not in problem


def test_the_loop_reports_every_step_so_stop_is_noticed_within_one(stream, bpe):
    """A page shows progress (and Streamlit notices Stop or a closed tab) through on_step."""
    seen = []
    net = new_model(tiny(bpe), seed=0)
    reports = list(train_lm(net, stream, TrainConfig(steps=7, batch_size=4, report_every=5, eval_batches=1),
                            on_step=seen.append))
    assert seen == list(range(1, 8)) and [r.step for r in reports] == [5, 7]


# -- time: the estimate follows the server's present pace, the time left corrects itself ---------------------
def test_the_estimate_follows_the_present_load_and_the_steps_running_now():
    from training.cost import MIN_RECENT_STEPS, Calibration, TrainingCost

    cost = TrainingCost(step_seconds=0.027, seconds=27.0, bytes=0, parameters=0)
    load, now = [0.0], [0.0]
    calibration = Calibration(load=lambda: load[0], cores=2, clock=lambda: now[0])
    assert calibration.seconds(cost) == pytest.approx(27.0)                  # a quiet server: the settings' time
    load[0] = 28.0                                                           # 14 runnable per core: busy
    assert calibration.seconds(cost) == pytest.approx(27.0 * 15)             # one more run shares the cores
    assert "present load" in calibration.basis()
    for _ in range(MIN_RECENT_STEPS):                                        # a run going now: 15× its estimate
        calibration.observe_step(0.027, 0.027 * 15.1)
    assert calibration.seconds(cost) == pytest.approx(27.0 * 15.1)
    assert "last minute" in calibration.basis()
    now[0] = 120.0                                                           # those steps are old news now
    load[0] = 0.0
    assert calibration.seconds(cost) == pytest.approx(27.0)
    load[0] = 2.0                                                            # a finished run, alone on 2 cores:
    calibration.record(27.0, 54.0)                                           # twice as slow as estimated
    assert calibration.seconds(cost) == pytest.approx(54.0 * 2)              # and now another one's load


def test_the_time_left_corrects_itself_when_the_pace_changes():
    from training.cost import StepPace

    now = [0.0]
    pace = StepPace(1000, window_s=10.0, clock=lambda: now[0])
    assert pace.seconds_left() is None
    for step in range(1, 101):                                               # 100 quick steps: 0.1 s each
        now[0] += 0.1
        pace.step(step)
    assert pace.seconds_left() == pytest.approx(90.0)
    for step in range(101, 131):                                             # the server gets busy: 1 s each
        now[0] += 1.0
        pace.step(step)
    assert pace.seconds_left() == pytest.approx(870.0)                       # the new pace, not the average
    assert pace.last_step_s == pytest.approx(1.0)
