"""Test program: fit a Gaussian (mean, unbiased covariance, MAD Eq. 1) to --data (.npy) into --out."""
import argparse
import os
import sys
import time

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("--data")
p.add_argument("--out")
p.add_argument("--init", default="")
p.add_argument("--lam", type=float, default=1.0)
p.add_argument("--counter")
p.add_argument("--sleep", type=float, default=0.0)
p.add_argument("--fail-lam", type=float, default=None)
a = p.parse_args()
with open(a.counter, "a") as f:
    f.write(f"start {a.out}\n")
if a.fail_lam == a.lam:
    print("refusing this lambda on purpose", file=sys.stderr)
    sys.exit(3)
time.sleep(a.sleep)
x = np.load(a.data)
np.savez(os.path.join(a.out, "gaussian.npz"), mean=x.mean(0), cov=np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1]))
