"""Weights & Biases: one W&B run per trial, in the sweep's project (default: the sweep's name), grouped
by sweep, named by trial id; the trial's config as the run's config, the grid axes as tags
("lam=0.8"); sample grids as `wandb.Image`. A trial that was killed resumes its run and sends
every generation again (W&B keeps the first point of each step). `mode: offline` writes the run under
<sweep folder>/tracking/wandb/ only (upload it later with `wandb sync`); online sends it to W&B.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from typing import Any

from madray.config import ConfigError, require
from madray.tracking.base import Tracker, images, texts

MODES = (None, "online", "offline")
TAG_LIMIT = 64  # W&B's longest tag


@dataclass(frozen=True)
class WandbConfig:
    project: str | None = None  # None: the sweep's name
    entity: str | None = None  # None: the logged-in user's default entity
    mode: str | None = None  # online or offline; None: $WANDB_MODE, else W&B's default (online)

    def __post_init__(self) -> None:
        require(self.mode in MODES, "tracking.wandb.mode", self.mode, "online, offline or null ($WANDB_MODE)")


def _login() -> None:
    """Online runs need a W&B login: ask on the driver (a prompt on a terminal), not in every trial."""
    import wandb

    try:
        wandb.login()
    except wandb.errors.Error as e:  # UsageError: no key and no terminal to ask on
        raise ConfigError(f"tracking.wandb: W&B login failed ({e}); run `wandb login`, set WANDB_API_KEY, "
                          f"or use mode: offline") from None


class WandbTracker(Tracker):
    package = "wandb"
    Config = WandbConfig
    # W&B's service buffers the run's records (a SIGKILLed trial's offline run file was found holding
    # only its header): a reopened unclosed run gets every generation again, and W&B ignores a step
    # lower than the run's current one ("Steps must be monotonically increasing").
    replays_unclosed = True

    @classmethod
    def resolve(cls, config: WandbConfig, folder: str, sweep: str) -> dict[str, Any]:
        if (config.mode or os.environ.get("WANDB_MODE") or "online") == "online":
            _login()
        return {"project": config.project or sweep, "entity": config.entity, "mode": config.mode,
                "dir": os.path.abspath(folder)}

    def start(self, run_id: str | None, first_step: int) -> str:
        import wandb

        os.makedirs(self.settings["dir"], exist_ok=True)
        quiet = wandb.Settings(console="off", silent=True, x_disable_stats=True, x_disable_meta=True,
                               save_code=False, x_save_requirements=False)
        self.wb = wandb.init(project=self.settings["project"], entity=self.settings["entity"],
                             mode=self.settings["mode"], dir=self.settings["dir"], id=run_id, resume="allow",
                             name=self.run.trial_id, group=self.run.sweep, config=self.run.config,
                             tags=[f"{k}={v}"[:TAG_LIMIT] for k, v in self.run.tags.items()], settings=quiet)
        return self.wb.id

    def log(self, step: int, metrics: dict[str, float], files: dict[str, bytes]) -> None:
        import wandb

        media = {k: wandb.Image(v) for k, v in images(files).items()}
        media.update({k: wandb.Html(f"<pre>{html.escape(v)}</pre>") for k, v in texts(files).items()})
        self.wb.log({**metrics, **media}, step=step)

    def close(self, failure: str | None) -> None:
        if failure:
            self.wb.summary["failure"] = failure
        self.wb.finish(exit_code=1 if failure else 0)
        import wandb

        wandb.teardown()  # stop W&B's service now: Ray ends its workers without the atexit hook it relies on
