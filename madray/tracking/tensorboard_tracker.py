"""TensorBoard: one event folder per trial, <logdir>/<trial_id>/ (default logdir: <sweep folder>/
tracking/tensorboard, so `tensorboard --logdir <sweep folder>/tracking/tensorboard` shows every trial);
every metric as a scalar at step = generation, sample grids as images, the config and the grid axes
as text at step 0, a failure's message as text. A resumed trial reopens its folder with
`purge_step` = the first generation it logs, so nothing logged after its record is shown twice.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from madray.tracking.base import Tracker, images, texts

DEFAULT_LOGDIR = "tensorboard"  # under the sweep folder's tracking/


@dataclass(frozen=True)
class TensorboardConfig:
    logdir: str | None = None  # None: <sweep folder>/tracking/tensorboard


class TensorboardTracker(Tracker):
    package = "tensorboard"
    Config = TensorboardConfig

    @classmethod
    def resolve(cls, config: TensorboardConfig, folder: str, sweep: str) -> dict[str, Any]:
        return {"logdir": os.path.abspath(config.logdir or folder)}

    def start(self, run_id: str | None, first_step: int) -> str:
        from torch.utils.tensorboard import SummaryWriter

        path = os.path.join(self.settings["logdir"], self.run.trial_id)
        self.writer = SummaryWriter(path, purge_step=first_step if run_id else None)
        self.step = first_step - 1
        if run_id is None:
            self.writer.add_text("config", f"```\n{json.dumps(self.run.config, indent=1)}\n```", 0)
            self.writer.add_text("tags", ", ".join(f"{k}={v}" for k, v in self.run.tags.items()) or "(none)", 0)
        return path

    def log(self, step: int, metrics: dict[str, float], files: dict[str, bytes]) -> None:
        for key, value in metrics.items():
            self.writer.add_scalar(key, value, step)
        for key, image in images(files).items():
            self.writer.add_image(key, np.asarray(image), step, dataformats="HWC")
        for name, text in texts(files).items():
            self.writer.add_text(name, f"```\n{text}\n```", step)
        self.writer.flush()  # the trial's record says this step is logged once this returns
        self.step = step

    def close(self, failure: str | None) -> None:
        if failure:
            self.writer.add_text("failure", failure, max(self.step, 0))
        self.writer.close()
