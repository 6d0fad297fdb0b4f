"""Language model: Gerstgrasser et al.'s TinyStories experiment at laptop scale, on a known language.

Gerstgrasser et al. (2024, abstract): "We next empirically test whether accumulating data
similarly prevents model collapse by pretraining sequences of language models on text corpora. We
confirm that replacing data does indeed cause model collapse, then demonstrate that accumulating
data prevents model collapse"; the test loss is the cross-entropy on held-out real text (Kazdan
et al.'s released notebook, GPT-2 9M with replace: 1.82, 2.07, 2.21, 2.30, 2.39 over iterations
0-4). Here every generation trains a fresh small GPT (madray/models/transformer.py) on the loop's
training set; a sample is one story (or document), a row of `context` token ids.

Data (`params.lm.path`):
- None (default): madray's story language (madray/data/stories.py), whose distribution is known
  exactly: real samples are fresh draws from it, the held-out set is `n_ref` draws with a fixed
  seed, and the KL to the truth is a metric.
- a .txt file or a folder of them (TinyStories' released files work as they are): documents split
  as in madray/data/text.py, every 10th held out; real samples are drawn without replacement from
  the rest; word-level vocabulary of the `vocab` most frequent training tokens plus <eos>, <unk>.

Sampling bias λ is the softmax temperature (Ackley, Hinton & Sejnowski 1985; "sampling with
temperature" in Holtzman et al. 2020): the next token is drawn from softmax(logits / λ), so λ < 1
favours likely tokens over diversity, as MAD's λ does for the other families ("λ < 1 trades
diversity for quality").

Metrics per replicate (cross-entropies in nats per token, the end token counted as a token):
- `cross_entropy`: −Σ log q(token | its prefix) / number of tokens, over the held-out real rows.
- `kl`: `cross_entropy` − the truth's exact entropy rate H(story)/E[tokens] (madray/data/language.py).
  Its expectation is KL(p ‖ q)/E[tokens] ≥ 0, the per-token KL divergence of the model's story
  distribution from the truth's; the estimate has the held-out set's Monte-Carlo error (about
  0.002 nats/token with n_ref = 1,000 stories). NaN for a user's text, whose truth is unknown.
- `distinct_1`, `distinct_2`: Li et al.'s distinct-n (madray/metrics/distinct.py) of `n_eval`
  samples drawn with the trial's λ, as the loop draws them.
- `sample_length`: mean tokens per sample (end token not counted).
- `valid_frac`: fraction of those samples the true language can produce (NaN for a user's text).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch

from madray.config import ConfigError, require
from madray.data.language import Language
from madray.data.pool import draw_indices, require_pool
from madray.data.stories import story_language
from madray.data.text import (
    HOLD_OUT_EVERY,
    build_vocabulary,
    decode,
    describe,
    encode,
    pad_rows,
    read_documents,
    split_documents,
    tokenize,
)
from madray.metrics.distinct import distinct_n, story_tokens
from madray.models.torch_family import TorchFamily, TorchParams
from madray.models.transformer import GPT, GPTConfig, generate, token_nll
from madray.torch_utils import descend, learning_rate_factor, replicate, run_steps

REFERENCE_SEED = 20240401  # the known language's held-out stories are the same for every trial
EVAL_CHUNK = 256  # held-out rows per forward pass
ARTIFACT_SAMPLES = 30  # stories in samples.txt
SAMPLE_METRICS = ("distinct_1", "distinct_2", "sample_length", "valid_frac")  # from n_eval samples


@dataclass(frozen=True)
class Params(TorchParams):
    family: ClassVar[str] = "lm"
    positive: ClassVar[tuple[str, ...]] = TorchParams.positive + ("max_docs", "vocab", "context", "layers", "heads",
                                                                 "width")

    path: str | None = None  # a .txt file or folder of .txt files; None = madray's story language
    max_docs: int = 50_000  # documents read from `path` (the first ones)
    vocab: int = 2000  # most frequent training tokens of `path` kept (the rest become <unk>)
    context: int = 80  # tokens per sample: longer documents are truncated (the story language needs 77)
    layers: int = 1  # one block of width 128: 224k parameters on the story language (121 tokens)
    heads: int = 4
    width: int = 128
    steps: int = 600  # Adam steps per generation (batches of `batch_size` samples); or `epochs` (TorchParams)
    batch_size: int = 32
    lr: float = 3e-3  # peak learning rate: linear warm-up over 5% of the steps, cosine decay to lr/10
    n_eval: int = 500  # samples per replicate for distinct-n, length and validity
    n_ref: int = 1000  # held-out real samples for the cross-entropy
    # (warm_start: start generation t from t-1's weights and skip the warm-up; k is not read by lm)

    def __post_init__(self) -> None:
        super().__post_init__()
        require(self.path is None or self.path.strip() != "", "params.lm.path", self.path,
                "give a .txt file or a folder of .txt files, or leave the key out for madray's story language")
        require(self.width % self.heads == 0, "params.lm.width", self.width,
                f"must be a multiple of params.lm.heads = {self.heads}")


@dataclass(frozen=True)
class TextShared:
    """Read-only inputs every trial on the same text shares."""

    vocabulary: tuple[str, ...]  # id -> token; id 0 is the end token
    held: np.ndarray  # (n_ref, context) int32 held-out rows
    pool: np.ndarray | None  # (N, context) int32 rows real samples are drawn from; None = the known language
    language: Language | None  # the known truth, or None for a user's text
    entropy_rate: float  # the truth's nats per token; NaN without one


def known_language_inputs(language: Language, context: int, n_ref: int) -> TextShared:
    """Shared inputs for a known language: its vocabulary, `n_ref` held-out stories drawn with a fixed seed."""
    held = pad_rows(language.sample(n_ref, np.random.default_rng(REFERENCE_SEED)), context)
    return TextShared(language.tokens, held, None, language, language.entropy_rate())


class LM(TorchFamily):
    name = "lm"
    Params = Params
    metric_names = ("cross_entropy", "kl", *SAMPLE_METRICS)

    # ------------------------------------------------------------------ config and data
    @classmethod
    def validate(cls, cfg):
        p = cfg.params
        if p.path is None:
            longest = story_language().max_length()
            require(p.context >= longest, "params.lm.context", p.context,
                    f"madray's story language has stories of up to {longest} tokens (the end token included); "
                    f"the KL to the truth needs whole stories")
            return
        try:
            pool, held, tokens = describe(str(p.path), p.max_docs, p.context)
        except OSError as e:
            raise ConfigError(f"params.lm.path = {p.path!r} is not allowed: {e}; "
                              f"give a .txt file or a folder of .txt files") from None
        require(tokens > 0, "params.lm.path", p.path, "the text is empty; give a .txt file or folder with text in it")
        require(tokens >= p.context, "params.lm.path", p.path,
                f"the text has {tokens} tokens, fewer than params.lm.context = {p.context}; "
                f"give more text or a smaller context")
        require_pool(cfg, pool, "real documents", f"the {{n}} training documents of {p.path} (the first "
                                                  f"{p.max_docs} documents, every {HOLD_OUT_EVERY}th held out)")
        require(p.n_ref <= held, "params.lm.n_ref", p.n_ref, f"the held-out split of {p.path} has {held} documents")

    @classmethod
    def shared_key(cls, cfg):
        p = cfg.params
        return ("lm", p.path, p.context, p.n_ref) + ((p.max_docs, p.vocab) if p.path else ())

    @classmethod
    def shared_inputs(cls, cfg):
        p = cfg.params
        if p.path is None:
            return known_language_inputs(story_language(), p.context, p.n_ref)
        docs = [tokenize(d, p.context) for d in read_documents(p.path, p.max_docs)]
        pool, held = split_documents(docs)
        vocabulary = build_vocabulary(pool, p.vocab)
        return TextShared(vocabulary, encode(held[: p.n_ref], vocabulary, p.context),
                          encode(pool, vocabulary, p.context), None, math.nan)

    def sample_real(self, n, rng):
        s, context = self.shared, self.params.context
        if s.pool is None:
            rows = pad_rows(s.language.sample(self.replicates * n, rng), context).reshape(self.replicates, n, context)
        else:
            rows = s.pool[draw_indices(len(s.pool), n, self.replicates, rng)]
        return {"tokens": rows.astype(np.int64)}

    # ------------------------------------------------------------------ model
    def build(self):
        p = self.params
        return {"gpt": GPT(GPTConfig(len(self.shared.vocabulary), p.context, p.layers, p.heads, p.width))}

    def train(self, modules, data, from_scratch):
        gpt, p = modules["gpt"].train(), self.params
        # nanoGPT's AdamW: weight decay on matrices and embeddings, not on biases and LayerNorm gains
        groups = [{"params": [w for w in gpt.parameters() if w.dim() >= 2], "weight_decay": 0.1},
                  {"params": [w for w in gpt.parameters() if w.dim() < 2], "weight_decay": 0.0}]
        opt = torch.optim.AdamW(groups, lr=p.lr, betas=(0.9, 0.99))
        steps = self.train_steps(data)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: learning_rate_factor(t, steps, warm_up=from_scratch))

        def step(batch):
            nll = token_nll(gpt, batch["tokens"], bos=0)
            loss = descend(opt, nll.sum() / (batch["tokens"] >= 0).sum())
            schedule.step()
            return loss

        run_steps(step, data, steps, p.batch_size)

    def generate(self, modules, n, lam):
        return {"tokens": generate(modules["gpt"], n, self.params.context, temperature=lam, eos=0)}

    # ------------------------------------------------------------------ metrics
    @torch.no_grad()
    def cross_entropy(self, gpt: GPT) -> float:
        """Nats per token of the held-out rows under `gpt` (the end token counted)."""
        gpt.eval()
        held = torch.from_numpy(self.shared.held.astype(np.int64)).to(self.device)
        nll = sum(float(token_nll(gpt, chunk, bos=0).sum()) for chunk in held.split(EVAL_CHUNK))
        return nll / int((held >= 0).sum())

    def evaluate(self, state, rng):
        """The metrics in `self.wanted`: the held-out cross-entropy (and kl) and the sample metrics."""
        s, out = self.shared, {}
        if self.wanted & {"cross_entropy", "kl"}:
            ce = np.asarray([self.cross_entropy(self.modules(replicate(state, r))["gpt"])
                             for r in range(self.replicates)])
            out.update(cross_entropy=ce, kl=ce - s.entropy_rate)
        if self.wanted & set(SAMPLE_METRICS):
            samples = self.sample(state, self.params.n_eval, self.cfg.lam, rng)["tokens"]
            out.update({
                "distinct_1": np.asarray([distinct_n(x, 1, eos=0) for x in samples]),
                "distinct_2": np.asarray([distinct_n(x, 2, eos=0) for x in samples]),
                "sample_length": np.asarray([story_tokens(x, eos=0).sum(axis=1).mean() for x in samples]),
                "valid_frac": np.asarray([np.isfinite(s.language.log_probs(x)).mean() if s.language else math.nan
                                          for x in samples]),
            })
        return out

    def artifacts(self, state, rng):
        """samples.txt: ARTIFACT_SAMPLES samples of replicate 0 drawn with the trial's λ, one per line."""
        rows = self.artifact_samples(state, ARTIFACT_SAMPLES, rng)["tokens"]
        return {"samples.txt": "".join(decode(r, self.shared.vocabulary) + "\n" for r in rows).encode()}
