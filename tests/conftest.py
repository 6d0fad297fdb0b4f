import os

import pytest

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")


# The session's Ray instances (ray_local, ray.cluster_utils.Cluster) get a token in this process's
# environment, as an embedded sweep does: a plain ray.init() would write ~/.ray/auth_token into the
# tester's home. Imported after the variables above: Ray and Tune read some of them at import.
from madray.sweep.runner import _token_in_environment  # noqa: E402

_token_in_environment()


@pytest.fixture(scope="session")
def ray_local():
    """One embedded Ray for the tests that only need a local instance (ray.init costs seconds).

    address="local" starts a new instance even when another Ray runs on this machine.
    """
    import ray

    if not ray.is_initialized():
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    ray.shutdown()


def write_sweep(path, text: str):
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def madray_cache(tmp_path_factory):
    """A LeNet cache folder for the deep-model tests: the feature extractor is trained once per session."""
    return str(tmp_path_factory.mktemp("madray-cache"))
