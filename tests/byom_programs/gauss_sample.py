"""Test program: --n draws from N(mean, λ cov) of the Gaussian in --model, seeded by --seed, to --out (.npy)."""
import argparse
import os

import common
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--model")
p.add_argument("--n", type=int)
p.add_argument("--lam", type=float)
p.add_argument("--seed", type=int)
p.add_argument("--out")
p.add_argument("--bad", default="")
a = common.start(p)
g = np.load(os.path.join(a.model, "gaussian.npz"))
x = np.random.default_rng(a.seed).multivariate_normal(g["mean"], a.lam * g["cov"], size=a.n)
np.save(a.out, x[:-1] if a.bad == "short" else x)
