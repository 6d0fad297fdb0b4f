"""Test program: fit a Gaussian (mean, unbiased covariance, MAD Eq. 1) to --data (.npy) into --out."""
import argparse
import os
import sys

import common
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--data")
p.add_argument("--out")
p.add_argument("--init", default="")
p.add_argument("--lam", type=float, default=1.0)
a = common.start(p)
if a.fail_lam == a.lam:
    print("refusing this lambda on purpose", file=sys.stderr)
    sys.exit(3)
x = np.load(a.data)
np.savez(os.path.join(a.out, "gaussian.npz"), mean=x.mean(0), cov=np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1]))
