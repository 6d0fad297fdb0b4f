"""Wall time of one generation of each deep family at its sweep's default size, generation-1 quality, and diffusion samplers.

One generation = what `Trial.step` does for a generation t < G: fit on the training set (n_ini
real samples for generation 1), evaluate (n_eval samples + metrics), artifacts (the sample grid)
and the n_s synthetic samples for the next generation. Sizes come from the first trial of
sweeps/<sweep>.yaml with one replicate and `--threads` CPUs (torch threads). Printed per family:
fit / evaluate / artifacts / sample / total seconds, and the process's one-time costs (the
LeNet, if not cached, and torch's first optimizer, which imports torch._dynamo) separately.
Then DDPM sampling of `--images` images: DDIM (`sample_steps` steps) vs ancestral (all T steps), and
the language model's sampling of `--stories` sequences of `context` tokens: with its key/value cache
vs recomputing the whole prefix at every step.

    python benchmarks/bench_generation.py                       # every deep family (many minutes)
    python benchmarks/bench_generation.py --families lm --threads 1   # the language model (about 70 s)
    python benchmarks/bench_generation.py --families ddpm --threads 2
    python benchmarks/bench_generation.py --families ddpm wgan_gp --quality 3   # generation-1 quality over 3 seeds

`--precision STEPS` instead times STEPS DDPM training steps in float32 and in bfloat16 autocast on the
same data and prints the ratio.

`--quality S` instead fits generation 1 (n_ini real images) for seeds 0 … S−1 and prints, per λ in
`--lams`, the metrics (FID, precision, recall, density, coverage) as mean ± standard deviation over the
seeds, the per-seed values, and the fit time: the sampling-bias trade-off at generation 1 (MAD §5:
λ < 1 should raise precision and lower recall).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import numpy as np
import torch

from madray.models import make_family
from madray.models.transformer import generate
from madray.seeding import Stream, rng
from madray.spec import load_sweep
from madray.torch_utils import module_state, seeded, stack_states

SWEEPS = {"flow": "rosenbrock_flow", "ddpm": "mnist_ddpm", "wgan_gp": "mnist_wgan", "vae": "mnist_vae",
          "lm": "lm_stories"}
HERE = os.path.dirname(os.path.abspath(__file__))


def config(family: str, threads: int):
    sweep = load_sweep(os.path.join(HERE, "..", "sweeps", f"{SWEEPS[family]}.yaml"),
                       [f"resources.cpu={threads}", "replicates=1", "generations=2"])
    return sweep.trials[0]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def one_generation(cfg) -> dict[str, float]:
    family, t_shared = timed(lambda: make_family(cfg))
    train = family.sample_real(cfg.n_ini, rng(cfg.seed, 1, Stream.REAL_INITIAL))
    state, t_fit = timed(lambda: family.fit(train, None, rng(cfg.seed, 1, Stream.FIT)))
    _, t_eval = timed(lambda: family.evaluate(state, rng(cfg.seed, 1, Stream.EVALUATE)))
    _, t_art = timed(lambda: family.artifacts(state, rng(cfg.seed, 1, Stream.ARTIFACTS)))
    _, t_sample = timed(lambda: family.sample(state, cfg.n_s, cfg.lam, rng(cfg.seed, 1, Stream.SYNTHETIC)))
    return {"shared inputs": t_shared, "fit": t_fit, "evaluate": t_eval, "artifacts": t_art,
            f"sample n_s={cfg.n_s}": t_sample, "generation": t_fit + t_eval + t_art + t_sample}


def generation_one_quality(family: str, threads: int, seeds: int, lams: list[float]) -> None:
    """Generation-1 metrics per λ over `seeds` seeds: mean ± sd, per-seed values, fit seconds."""
    rows: dict[float, list[dict[str, float]]] = {lam: [] for lam in lams}
    fits = []
    for seed in range(seeds):
        cfg = dataclasses.replace(config(family, threads), seed=seed)
        fam = make_family(cfg)
        train = fam.sample_real(cfg.n_ini, rng(seed, 1, Stream.REAL_INITIAL))
        state, t_fit = timed(lambda: fam.fit(train, None, rng(seed, 1, Stream.FIT)))
        fits.append(t_fit)
        for lam in lams:
            scores = make_family(dataclasses.replace(cfg, lam=lam), fam.shared).evaluate(state, rng(seed, 1, Stream.EVALUATE))
            rows[lam].append({k: float(v[0]) for k, v in scores.items()})
        print(f"{family} seed {seed}: fit {t_fit:.0f} s (load average {os.getloadavg()[0]:.1f}); "
              + "; ".join(f"λ={lam} FID {rows[lam][-1]['fid']:.1f} P {rows[lam][-1]['precision']:.3f} "
                          f"R {rows[lam][-1]['recall']:.3f}" for lam in lams), flush=True)
    print(f"{family} generation 1 over {seeds} seeds (fit {np.mean(fits):.0f} ± {np.std(fits, ddof=1) if seeds > 1 else 0:.0f} s):")
    for lam in lams:
        cells = []
        for metric in rows[lam][0]:
            values = np.array([r[metric] for r in rows[lam]])
            sd = values.std(ddof=1) if seeds > 1 else float("nan")
            cells.append(f"{metric} {values.mean():.3f} ± {sd:.3f}")
        print(f"  λ = {lam}: " + ", ".join(cells))


def ddpm_samplers(threads: int, images: int) -> dict[str, float]:
    """Seconds to sample `images` images (λ = 1) with the default EDM Heun sampler and with the "ho"
    formulation's DDIM (same step count) and ancestral (all T steps) samplers."""
    cfg = config("ddpm", threads)
    p = cfg.params
    variants = {f"EDM Heun {p.sample_steps} steps": p,
                f"ho DDIM {p.sample_steps} steps": dataclasses.replace(p, formulation="ho", sampler="ddim"),
                f"ho ancestral {p.T} steps": dataclasses.replace(p, formulation="ho", sampler="ancestral")}
    first = make_family(cfg)
    with seeded(0, first.device):
        state = stack_states([module_state(first.modules())])  # an untrained network costs the same to sample
    times = {}
    for name, params in variants.items():
        family = make_family(dataclasses.replace(cfg, params=params), first.shared)
        times[name] = timed(lambda: family.sample(state, images, 1.0, np.random.default_rng(0)))[1]
    return times


def ddpm_precisions(threads: int, steps: int) -> dict[str, float]:
    """Seconds to train the sweep's DDPM for `steps` steps (the same data and seed) with float32 and with
    bfloat16 autocast (`precision: bf16`; what "auto" picks where the CPU runs bf16 natively)."""
    cfg = config("ddpm", threads)
    first = make_family(cfg)
    train = first.sample_real(cfg.n_ini, rng(cfg.seed, 1, Stream.REAL_INITIAL))
    times = {}
    for precision in ("fp32", "bf16"):
        params = dataclasses.replace(cfg.params, precision=precision, steps=steps)
        family = make_family(dataclasses.replace(cfg, params=params), first.shared)
        times[precision] = timed(lambda: family.fit(train, None, rng(cfg.seed, 1, Stream.FIT)))[1]
    return times


@torch.no_grad()
def lm_cache_vs_full_prefix(threads: int, stories: int) -> tuple[float, float, int]:
    family = make_family(config("lm", threads))
    with seeded(0, family.device):
        gpt = family.modules()["gpt"].eval()  # an untrained network costs the same to sample
    length = family.params.context

    def full_prefix():
        seq = torch.zeros(stories, 1, dtype=torch.long, device=family.device)
        for _ in range(length):
            logits, _ = gpt(seq)
            seq = torch.cat([seq, torch.multinomial(torch.softmax(logits[:, -1], -1), 1)], dim=1)

    # an untrained network rarely samples the end token, so both run (almost) all `length` steps
    _, t_cache = timed(lambda: generate(gpt, stories, length, 1.0, eos=0))
    _, t_full = timed(full_prefix)
    return t_cache, t_full, length


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", nargs="+", default=list(SWEEPS), choices=list(SWEEPS))
    p.add_argument("--threads", type=int, default=2, help="torch threads (the trial's resources.cpu)")
    p.add_argument("--images", type=int, default=100, help="images for the diffusion sampler comparison")
    p.add_argument("--stories", type=int, default=500, help="sequences for the lm's cache vs full-prefix comparison")
    p.add_argument("--quality", type=int, default=0, metavar="SEEDS",
                   help="instead of timings: generation-1 metrics per λ over this many seeds")
    p.add_argument("--lams", type=float, nargs="+", default=[1.0, 0.5], help="sampling biases for --quality")
    p.add_argument("--precision", type=int, default=0, metavar="STEPS",
                   help="instead of timings: DDPM training of this many steps in float32 vs bfloat16")
    args = p.parse_args()
    if args.precision:
        t = ddpm_precisions(args.threads, args.precision)
        print(f"ddpm training, {args.precision} steps, {args.threads} thread(s): float32 {t['fp32']:.1f} s, "
              f"bfloat16 {t['bf16']:.1f} s, ratio {t['fp32'] / t['bf16']:.2f}x (load average {os.getloadavg()[0]:.1f})")
        return
    if args.quality:
        for family in args.families:
            generation_one_quality(family, args.threads, args.quality, args.lams)
        return

    _, t_dynamo = timed(lambda: torch.optim.Adam([torch.zeros(1, requires_grad=True)]))
    print(f"torch {torch.__version__}, {args.threads} thread(s); first optimizer (imports torch._dynamo): {t_dynamo:.1f} s")
    for family in args.families:
        times = one_generation(config(family, args.threads))
        print(f"{family:8s} " + "  ".join(f"{k} {v:6.1f} s" for k, v in times.items()), flush=True)
    if "ddpm" in args.families:
        times = ddpm_samplers(args.threads, args.images)
        fastest = min(times.values())
        print(f"ddpm sampling of {args.images} images: " + ", ".join(f"{k} {v:.1f} s ({v / fastest:.1f}x)" for k, v in times.items()))
    if "lm" in args.families:
        t_cache, t_full, length = lm_cache_vs_full_prefix(args.threads, args.stories)
        print(f"lm sampling of {args.stories} sequences of {length} tokens: key/value cache {t_cache:.1f} s, "
              f"full prefix every step {t_full:.1f} s, ratio {t_full / t_cache:.1f}x")


if __name__ == "__main__":
    main()
