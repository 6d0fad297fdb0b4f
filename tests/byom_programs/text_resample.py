"""Test program, train and sample in one: `train --data D --out M` keeps the training stories in M;
`sample --model M --n N --seed S --out F` writes N of them drawn with replacement (an empirical model)."""
import argparse
import json
import shutil
from pathlib import Path

import common
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("step", choices=["train", "sample"])
p.add_argument("--data")
p.add_argument("--model")
p.add_argument("--out")
p.add_argument("--n", type=int)
p.add_argument("--seed", type=int)
a = common.start(p)
if a.step == "train":
    shutil.copy(a.data, Path(a.out) / "stories.jsonl")
else:
    stories = (Path(a.model) / "stories.jsonl").read_text().splitlines()
    pick = np.random.default_rng(a.seed).integers(len(stories), size=a.n)
    Path(a.out).write_text("".join(stories[i] + "\n" for i in pick))
    json.loads(stories[0])  # the file madray wrote is JSON lines
