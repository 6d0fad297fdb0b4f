import pytest

# The session's Ray instances (ray_local, ray.cluster_utils.Cluster) get the environment an embedded
# sweep's Ray gets, a token included: a plain ray.init() would write ~/.ray/auth_token into the tester's home.
from madray.sweep.ray_session import prepare_environment, ray_session

prepare_environment()


@pytest.fixture(scope="session")
def ray_local():
    """One embedded Ray (madray's own session: loopback only) for the tests that only need a local instance."""
    import ray

    with ray_session(num_cpus=2):
        yield ray
    ray.shutdown()


def write_sweep(path, text: str):
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def madray_cache(tmp_path_factory):
    """A LeNet cache folder for the deep-model tests: the feature extractor is trained once per session."""
    return str(tmp_path_factory.mktemp("madray-cache"))
