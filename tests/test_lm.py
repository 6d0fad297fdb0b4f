"""The lm family: the known story language against Monte Carlo and enumeration, the GPT's fast paths
against brute force, KL to the truth, Gerstgrasser et al.'s replace vs accumulate, temperature λ,
text files, and config errors before work.

Loop tests use MINI, a small language built by the same machinery as madray's story language
(stories of at most 9 words), so that a 5,000-parameter GPT learns it in a few seconds; the entropy
and the λ tests use the story language itself.
"""

import dataclasses
import math

import numpy as np
import pytest
import scipy.stats
import torch
from helpers import column

from madray.config import ConfigError
from madray.data.language import Grammar, Language
from madray.data.stories import story_language
from madray.data.text import decode, read_documents, split_documents, tokenize
from madray.metrics.distinct import distinct_n
from madray.models.lm import LM, known_language_inputs
from madray.models.transformer import GPT, GPTConfig, generate, token_nll
from madray.seeding import Stream, rng
from madray.spec import parse_sweep
from madray.trial import Trial, run_trial

torch.set_num_threads(1)  # the families set this from resources.cpu; the direct GPT tests follow

MINI = Grammar(
    {
        "S": [(1, "$name=NAME likes the TOY . MORE")],
        "MORE": [(2, "$name.She is ADJ ."), (1, "")],
        "NAME": [(4, "Lily"), (2, "Tom"), (1, "Mia"), (1, "Max")],
        "TOY": [(5, "ball"), (2, "kite"), (1, "drum"), (1, "doll")],
        "ADJ": [(3, "happy"), (1, "sad"), (1, "tired")],
    },
    start="S",
    tables={"She": {"Lily": "She", "Mia": "She", "Tom": "He", "Max": "He"}},
)
TINY = {"width": 32, "layers": 1, "heads": 2, "batch_size": 64, "lr": 0.01}  # 5,000 parameters on MINI


@pytest.fixture(scope="module")
def mini():
    return Language.from_grammar(MINI)


def ids(lang, text):
    return np.asarray([lang.tokens.index(w) for w in text.split()] + [0])


def ratio_and_se(a, b):
    """Σa/Σb over a sample of pairs and its delta-method standard error."""
    r = a.mean() / b.mean()
    return r, np.std(a - r * b, ddof=1) / math.sqrt(len(a)) / b.mean()


# --------------------------------------------------------------------------- the known language
def test_entropy_rate_equals_monte_carlo_estimate():
    lang = story_language()
    stories = lang.sample(20_000, np.random.default_rng(0))
    rows = np.full((len(stories), lang.max_length()), -1)
    for i, s in enumerate(stories):
        rows[i, : len(s)] = s
    nll, lengths = -lang.log_probs(rows), np.asarray([len(s) for s in stories], dtype=float)
    h, tokens = lang.story_entropy()
    mc, se = ratio_and_se(nll, lengths)  # mean −log p per token of the language's own samples
    assert abs(mc - lang.entropy_rate()) < 4 * se, (mc, lang.entropy_rate(), se)  # se ≈ 5e-4
    assert abs(nll.mean() - h) < 4 * nll.std(ddof=1) / math.sqrt(len(nll))
    assert abs(lengths.mean() - tokens) < 4 * lengths.std(ddof=1) / math.sqrt(len(lengths))
    # the absorbing-chain solve and the forward propagation of the length distribution agree
    dist = lang.length_distribution()
    assert dist.sum() == pytest.approx(1, abs=1e-12)
    assert (np.arange(len(dist)) * dist).sum() == pytest.approx(tokens, rel=1e-10)


def test_story_lengths_match_their_exact_distribution():
    lang = story_language()
    assert np.allclose(np.add.reduceat(lang.prob, lang.offsets[:-1]), 1.0)  # every state's next-token distribution
    dist = lang.length_distribution()
    counts = np.bincount([len(s) for s in lang.sample(10_000, np.random.default_rng(1))], minlength=len(dist))
    cell, cells, total = 0, np.zeros(len(dist), dtype=int), 0.0  # neighbouring lengths pooled to expect >= 20
    for n, p in enumerate(dist):
        cells[n], total = cell, total + 10_000 * p
        if total >= 20:
            cell, total = cell + 1, 0.0
    cells[cells == cell] = max(cell - 1, 0)  # the short tail cell joins its neighbour
    observed, expected = np.bincount(cells, weights=counts), np.bincount(cells, weights=10_000 * dist)
    assert len(observed) > 20 and scipy.stats.chisquare(observed, expected).pvalue > 1e-3


def enumerate_stories(lang):
    """Every story of an automaton without cycles, with its probability (depth-first)."""
    out, stack = [], [(0, [], 1.0)]
    while stack:
        state, prefix, p = stack.pop()
        for e in range(lang.offsets[state], lang.offsets[state + 1]):
            story = prefix + [int(lang.token[e])]
            if lang.target[e] < 0:
                out.append((tuple(story), p * lang.prob[e]))
            else:
                stack.append((int(lang.target[e]), story, p * lang.prob[e]))
    return out


def test_exact_probabilities_sum_to_one_match_the_grammar_and_empirical_frequencies(mini):
    stories = enumerate_stories(mini)
    probs = np.asarray([p for _, p in stories])
    assert len(stories) == 4 * 4 * 4 and probs.sum() == pytest.approx(1, abs=1e-12)  # 16 short + 48 long
    # products of the grammar's weights, by hand
    assert math.exp(mini.log_probs(ids(mini, "Lily likes the ball . She is happy ."))[0]) == pytest.approx(4 / 8 * 5 / 9 * 2 / 3 * 3 / 5)
    assert math.exp(mini.log_probs(ids(mini, "Max likes the doll ."))[0]) == pytest.approx(1 / 8 * 1 / 9 * 1 / 3)
    # impossible rows: a wrong pronoun, no end token, tokens after the end
    bad = [ids(mini, "Tom likes the ball . She is sad ."), ids(mini, "Tom likes the ball .")[:-1],
           np.concatenate([ids(mini, "Tom likes the ball ."), [1]])]
    assert all(np.isneginf(mini.log_probs(b)[0]) for b in bad)
    rows = np.full((len(stories), mini.max_length()), -1)
    for i, (s, _) in enumerate(stories):
        rows[i, : len(s)] = s
    np.testing.assert_allclose(np.exp(mini.log_probs(rows)), probs, rtol=1e-12)
    # empirical frequencies of 20,000 samples
    index = {s: i for i, (s, _) in enumerate(stories)}
    counts = np.bincount([index[tuple(s)] for s in mini.sample(20_000, np.random.default_rng(2))], minlength=len(stories))
    assert scipy.stats.chisquare(counts, 20_000 * probs).pvalue > 1e-3
    # and the exact entropy is the enumeration's
    h, tokens = mini.story_entropy()
    assert h == pytest.approx(-(probs * np.log(probs)).sum(), rel=1e-12)
    assert tokens == pytest.approx(sum(len(s) * p for s, p in stories), rel=1e-12)


def test_a_grammar_whose_choices_share_a_first_word_is_refused():
    ambiguous = Grammar({"S": [(1, "a b"), (1, "a c")]}, start="S")
    with pytest.raises(ValueError, match="not deterministic"):
        Language.from_grammar(ambiguous)


# --------------------------------------------------------------------------- the GPT and distinct-n
@pytest.fixture(scope="module")
def random_gpt():
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab=11, context=12, layers=2, heads=2, width=16)).double().eval()
    for p in gpt.parameters():  # larger than the init, so that every logit depends on the context
        torch.nn.init.normal_(p, std=0.5)
    return gpt


def test_cached_decoding_and_padded_losses_equal_full_forward_passes(random_gpt):
    gpt, x = random_gpt, torch.randint(1, 11, (3, 12))
    full, _ = gpt(x)
    past, stepwise = None, []
    for t in range(12):
        logits, past = gpt(x[:, t : t + 1], past)
        stepwise.append(logits[:, 0])
    torch.testing.assert_close(torch.stack(stepwise, 1), full, rtol=1e-10, atol=1e-10)
    changed = x.clone()
    changed[:, 7] = (changed[:, 7] % 10) + 1
    torch.testing.assert_close(gpt(changed)[0][:, :7], full[:, :7], rtol=0, atol=0)  # causal
    # token_nll of padded rows = −log softmax of one unpadded sequence at a time
    rows = torch.tensor([[3, 4, 0, -1, -1], [5, 6, 7, 8, 0], [2, 0, -1, -1, -1]])
    nll = token_nll(gpt, rows, bos=0)
    for row, got in zip(rows, nll):
        seq = row[row >= 0]
        logp = torch.log_softmax(gpt(torch.cat([torch.tensor([0]), seq[:-1]])[None])[0][0], dim=-1)
        want = -logp[torch.arange(len(seq)), seq]
        torch.testing.assert_close(got[: len(seq)], want, rtol=1e-10, atol=1e-10)
        assert torch.all(got[len(seq) :] == 0)


def test_temperature_sampling_follows_softmax_of_logits_over_lambda(random_gpt):
    lam, n = 0.5, 20_000
    torch.manual_seed(1)
    first = generate(random_gpt, n, 1, temperature=lam, eos=0)[:, 0]
    logits = random_gpt(torch.zeros(1, 1, dtype=torch.long))[0][0, 0].detach()
    want, untempered = torch.softmax(logits / lam, -1).numpy(), torch.softmax(logits, -1).numpy()
    counts = np.bincount(first.numpy(), minlength=11)
    keep = want * n >= 5  # pool the rare tokens into one cell
    observed = np.append(counts[keep], counts[~keep].sum())
    expected = n * np.append(want[keep], want[~keep].sum())
    assert scipy.stats.chisquare(observed, expected).pvalue > 1e-3
    # and the test can tell: the same draws reject the untempered softmax
    other = n * np.append(untempered[keep], untempered[~keep].sum())
    assert scipy.stats.chisquare(observed, other).pvalue < 1e-6


def test_distinct_n_matches_counting_by_hand():
    g = np.random.default_rng(3)
    rows = g.integers(1, 6, size=(40, 15))
    ends = g.integers(0, 15, size=40)
    for r, e in zip(rows, ends):
        r[e] = 0  # end token
        r[e + 1 :] = -1
    for n in (1, 2, 3):
        stories = [list(r[: e]) for r, e in zip(rows, ends)]
        grams = {tuple(s[i : i + n]) for s in stories for i in range(len(s) - n + 1)}
        assert distinct_n(rows, n, eos=0) == pytest.approx(len(grams) / sum(map(len, stories)))


# --------------------------------------------------------------------------- training on the truth
def lm_config(loop="replace", **kw):
    params = {**TINY, **kw.pop("params", {})}
    return parse_sweep({"name": "t", "family": "lm", "loop": loop, "params": {"lm": params}, **kw}).trials[0]


@pytest.mark.slow
def test_a_model_trained_on_the_truth_gets_kl_close_to_zero(mini):
    cfg = lm_config(replicates=1, n_ini=4000, params={"steps": 300, "n_ref": 2000, "n_eval": 100})
    family = LM(cfg, known_language_inputs(mini, cfg.params.context, cfg.params.n_ref))
    state = family.fit(family.sample_real(4000, rng(0, 1, Stream.REAL_INITIAL)), None, rng(0, 1, Stream.FIT))
    metrics = family.evaluate(state, rng(0, 1, Stream.EVALUATE))
    # Monte-Carlo error of the per-token cross-entropy on the 2,000 held-out stories (ratio estimator)
    gpt = family.modules({k: v[0] for k, v in state.items()})["gpt"].eval()
    held = torch.from_numpy(family.shared.held.astype(np.int64))
    with torch.no_grad():
        per_story = token_nll(gpt, held, bos=0).sum(1).numpy()
    ce, se = ratio_and_se(per_story, (held >= 0).sum(1).numpy().astype(float))
    assert metrics["cross_entropy"][0] == pytest.approx(ce, rel=1e-6)
    kl = metrics["kl"][0]
    # KL >= 0 up to the held-out set's Monte-Carlo error (se ≈ 0.003 nats/token here; measured kl 0.002).
    assert kl > -4 * se, (kl, se)
    # Tolerance 0.01 nats/token (2.4% of the entropy rate 0.419): the maximum-likelihood error of
    # MINI's 9 free probabilities from 4,000 stories is 9/(2·4000) nats per story = 1.3e-4 per token,
    # so what is left is optimisation error, which 300 steps bring to 0.002 (0.0004 after 600).
    assert kl < 0.01, kl
    assert metrics["valid_frac"][0] > 0.9


@pytest.mark.slow
def test_replace_collapses_and_accumulate_does_not(mini):
    """Gerstgrasser et al.: with replace the held-out cross-entropy rises every generation; with
    accumulate it stays near generation 1 (5 generations, 3 replicates, 100 stories per generation)."""
    curves = {}
    for loop in ("replace", "accumulate"):
        cfg = lm_config(loop, generations=5, replicates=3, n_ini=100, n_s=100, params={"steps": 150, "n_ref": 300, "n_eval": 50})
        rows = run_trial(cfg, known_language_inputs(mini, cfg.params.context, cfg.params.n_ref))
        curves[loop] = column(rows, "cross_entropy", 5, 3)
        assert np.allclose(column(rows, "kl", 5, 3), curves[loop] - mini.entropy_rate())
    rep, acc = curves["replace"], curves["accumulate"]
    rise = rep[4] - rep[0]  # per replicate (generation 1 is the same model in both loops)
    np.testing.assert_array_equal(rep[0], acc[0])
    # measured: replace 0.452 -> 0.590 (se 0.017), accumulate 0.452 -> 0.458 (se 0.006)
    assert rise.mean() > 4 * rise.std(ddof=1) / math.sqrt(3) and rise.mean() > 0.05, rep.mean(1)
    assert np.all(np.diff(rep.mean(1)) > 0), rep.mean(1)
    band = np.abs(acc.mean(1) - acc[0].mean())
    assert band.max() < 0.03 and band.max() < rise.mean() / 4, acc.mean(1)


@pytest.mark.slow
def test_temperature_below_one_lowers_distinct_2_at_generation_1():
    """On the story language: generation 1 of a trial at λ = 1, and the same fitted models evaluated
    by a family whose λ is 0.7 (the same evaluation seed)."""
    cfg = lm_config(generations=1, replicates=2, n_ini=300, params={"steps": 100, "batch_size": 32, "n_ref": 50, "n_eval": 300})
    trial = Trial(cfg)
    at_one = np.asarray([r["distinct_2"] for r in trial.step()])
    cooler = LM(dataclasses.replace(cfg, lam=0.7), trial.family.shared)
    at_07 = cooler.evaluate(trial.state, rng(cfg.seed, 1, Stream.EVALUATE))["distinct_2"]
    # measured: 0.066 at λ = 1 and 0.034 at λ = 0.7 in both replicates; distinct-2 of one draw of
    # 300 samples from the same model varies with sd 0.002, so the margin 0.02 is 10 of them
    assert np.all(at_07 < at_one - 0.02), (at_one, at_07)


# --------------------------------------------------------------------------- text files
def write_stories(path, n, words=12):
    g = np.random.default_rng(4)
    vocab = ["the", "cat", "dog", "ran", "sat", "on", "a", "mat", "and", "was", "happy", "sad"]
    stories = [" ".join(g.choice(vocab, size=words)).capitalize() + "." for _ in range(n)]
    path.write_text("\n<|endoftext|>\n".join(stories) + "\n<|endoftext|>\n")
    return stories


def test_tinystories_format_blank_lines_and_folders(tmp_path):
    stories = write_stories(tmp_path / "tiny.txt", 25)
    assert read_documents(tmp_path / "tiny.txt", 100) == stories
    assert read_documents(tmp_path / "tiny.txt", 3) == stories[:3]
    (tmp_path / "para").mkdir()
    (tmp_path / "para" / "b.txt").write_text("Third one.\n\n\n  \nFourth, it's here!\n")
    (tmp_path / "para" / "a.txt").write_text("First line\nstill first.\n\nSecond.")
    (tmp_path / "para" / "skip.md").write_text("not text")
    assert read_documents(tmp_path / "para", 10) == ["First line\nstill first.", "Second.", "Third one.", "Fourth, it's here!"]
    assert tokenize("Fourth, it's here!") == ["Fourth", ",", "it's", "here", "!"]
    pool, held = split_documents(list(range(25)))
    assert held == [9, 19] and pool == [i for i in range(25) if i not in (9, 19)]


def test_a_users_text_trains_and_reports_nan_kl(tmp_path):
    stories = write_stories(tmp_path / "tiny.txt", 60)
    cfg = lm_config(generations=2, replicates=1, n_ini=40, n_s=40, params={"path": str(tmp_path / "tiny.txt"), "steps": 5, "n_ref": 6, "n_eval": 10, "context": 16})
    trial = Trial(cfg)
    shared = trial.family.shared
    assert shared.vocabulary[:2] == ("<eos>", "<unk>") and len(shared.pool) == 54 and len(shared.held) == 6
    assert decode(shared.held[0], shared.vocabulary) == stories[9]  # 12 words + "." fit in 16 tokens
    rows = trial.step() + trial.step()
    assert all(math.isnan(r["kl"]) and math.isnan(r["valid_frac"]) and math.isfinite(r["cross_entropy"]) for r in rows)
    text = trial.artifacts["samples.txt"].decode()
    assert len(text.splitlines()) == 30
    # the state is tensors only: it round-trips through torch.save / weights_only loading
    torch.save(trial.state, tmp_path / "state.pt")
    loaded = torch.load(tmp_path / "state.pt", weights_only=True)
    a = trial.family.sample(trial.state, 5, 1.0, rng(0, 9, Stream.SYNTHETIC))["tokens"]
    b = trial.family.sample(loaded, 5, 1.0, rng(0, 9, Stream.SYNTHETIC))["tokens"]
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- config errors before work
@pytest.mark.parametrize("case, params, knobs, message", [
    ("missing path", {"path": "{tmp}/nope.txt"}, {}, "params.lm.path = '{tmp}/nope.txt' is not allowed: no such file or folder"),
    ("empty path", {"path": ""}, {}, "params.lm.path = '' is not allowed: give a .txt file or a folder"),
    ("empty file", {"path": "{tmp}/empty.txt"}, {}, "params.lm.path = '{tmp}/empty.txt' is not allowed: the text is empty"),
    ("folder without text", {"path": "{tmp}/nothing"}, {}, "is not allowed: the folder has no .txt files"),
    ("too short", {"path": "{tmp}/short.txt", "context": 80}, {}, "the text has 5 tokens, fewer than params.lm.context = 80"),
    ("lambda", {}, {"lam": 0.0}, "lam = 0.0 is not allowed: the sampling bias λ must be > 0"),
    ("negative lambda", {}, {"lam": -1.0}, "lam = -1.0 is not allowed"),
    ("context for the truth", {"context": 40}, {}, "params.lm.context = 40 is not allowed: madray's story language has stories of up to 77 tokens"),
    ("too few documents", {"path": "{tmp}/tiny.txt", "context": 16}, {"n_ini": 100}, "n_ini = 100 is not allowed: real documents are drawn without replacement from the 27"),
    ("heads", {"width": 30, "heads": 4}, {}, "params.lm.width = 30 is not allowed: must be a multiple of params.lm.heads = 4"),
])
def test_bad_input_is_a_config_error_at_parse_time(tmp_path, case, params, knobs, message):
    (tmp_path / "empty.txt").write_text("  \n\n")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "short.txt").write_text("One two three four.")
    write_stories(tmp_path / "tiny.txt", 30)
    params = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in params.items()}
    spec = {"name": "t", "family": "lm", "loop": "replace", "params": {"lm": params}, **knobs}
    with pytest.raises(ConfigError) as err:
        parse_sweep(spec)
    assert message.format(tmp=tmp_path) in str(err.value)
