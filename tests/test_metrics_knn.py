"""madray.metrics.knn against brute force, the `prdc` package and NVlabs' `<=` semantics: equality, not closeness."""

import pickle
import tracemalloc

import faiss
import numpy as np
import pytest

from madray.metrics import knn
from madray.metrics.knn import (
    COVERAGE,
    DENSITY,
    PRECISION,
    RECALL,
    ReferenceSet,
    knn_radii,
    prdc,
)

prdc_package = pytest.importorskip("prdc")


# ----------------------------------------------------------------- independent references


def brute_sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Full float64 matrix of Σ_j (a_j − b_j)², one coordinate at a time (fine at test sizes)."""
    out = np.zeros((len(a), len(b)))
    for j in range(a.shape[1]):
        diff = a[:, j, None] - b[None, :, j]
        out += diff * diff
    return out


def reference_prdc(generated, real, k, strict):
    """Kynkäänniemi et al. 2019 / Naeem et al. 2020 by brute force.

    strict=False is NVlabs' reference code: squared distances, radius = np.partition(·, k)[k]
    (self included), inside = `<=`. strict=True swaps in the `prdc` package's `<`.
    """
    gen, ref = np.asarray(generated, float), np.asarray(real, float)
    inside = np.less if strict else np.less_equal
    radius_real = np.partition(brute_sqdist(ref, ref), k, axis=1)[:, k]
    radius_gen = np.partition(brute_sqdist(gen, gen), k, axis=1)[:, k]
    d = brute_sqdist(gen, ref)
    in_real_ball = inside(d, radius_real[None, :])
    in_gen_ball = inside(d, radius_gen[:, None])
    return {
        PRECISION: float(in_real_ball.any(axis=1).mean()),
        RECALL: float(in_gen_ball.any(axis=0).mean()),
        DENSITY: (1.0 / float(k)) * float(in_real_ball.sum(axis=1).mean()),
        COVERAGE: float(in_real_ball.any(axis=0).mean()),
    }


def package_prdc(generated, real, k):
    out = prdc_package.compute_prdc(real_features=np.asarray(real, float), fake_features=np.asarray(generated, float), nearest_k=k)
    return {key: float(value) for key, value in out.items()}


# ----------------------------------------------------------------- data with ties


def gaussian_pair(rng, n_gen=900, n_real=1000, d=8):
    return rng.standard_normal((n_gen, d)) * 1.1 + 0.1, rng.standard_normal((n_real, d))


def with_duplicates(rng, n_gen=900, n_real=1000, d=8):
    """Memorised real points, repeated real points (radius 0 when repeated > k times)."""
    gen, real = gaussian_pair(rng, n_gen, n_real, d)
    gen[:150] = real[rng.choice(n_real, 150)]  # copies: ties with real radii are exact
    real[100:200] = real[200:300]  # pairs of duplicates
    real[300:310] = real[310]  # 11 copies of one point: radius 0 for k <= 10
    gen[150:160] = real[310]
    gen[160:170] = gen[170]
    return gen, real


def lattice(rng, n_gen=900, n_real=1000, d=3, side=5):
    """Integer grid points: every distance is an integer, ties everywhere, float64 exact."""
    return rng.integers(0, side, (n_gen, d)).astype(float), rng.integers(0, side - 1, (n_real, d)).astype(float)


def near_ties(rng, n=600, d=6):
    """Generated points at squared distance r·(1 ± ~1e-13) from real centres: float32 cannot tell."""
    real = rng.standard_normal((n, d))
    radius = np.partition(brute_sqdist(real, real), 5, axis=1)[:, 5]
    centres = rng.choice(n, 300)
    u = rng.standard_normal((300, d))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    scale = 1.0 + rng.choice([-1e-13, 0.0, 1e-13], 300)
    gen = real[centres] + u * np.sqrt(radius[centres])[:, None] * scale[:, None]
    return np.vstack([gen, rng.standard_normal((300, d))]), real


def far_from_origin(rng):
    """Offset 1e4, spread 1e-3: float32 keeps 3 significant digits of the spread unless centred."""
    gen, real = with_duplicates(rng)
    return 1e4 + 1e-3 * gen, 1e4 + 1e-3 * real


DATASETS = {
    "gaussian": gaussian_pair,
    "duplicates": with_duplicates,
    "lattice": lattice,
    "near_ties": near_ties,
    "far_from_origin": far_from_origin,
    "tiny_scale": lambda rng: tuple(1e-30 * x for x in with_duplicates(rng)),
    "huge_scale": lambda rng: tuple(1e30 * x for x in with_duplicates(rng)),
}


# ----------------------------------------------------------------- equality with references


@pytest.mark.parametrize("name", sorted(DATASETS))
@pytest.mark.parametrize("strict", [False, True])
def test_equals_brute_force(name, strict):
    gen, real = DATASETS[name](np.random.default_rng(1))
    assert prdc(gen, real, k=5, strict=strict) == reference_prdc(gen, real, 5, strict)


@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_strict_equals_prdc_package_on_lattice_and_duplicates(k):
    rng = np.random.default_rng(k)
    gen, real = lattice(rng, n_gen=1200, n_real=1500, d=4)
    real[:40] = real[40]  # many exact duplicates
    assert prdc(gen, real, k=k, strict=True) == package_prdc(gen, real, k)


@pytest.mark.slow
def test_strict_equals_prdc_package_on_gaussian_5000():
    rng = np.random.default_rng(5)
    gen, real = gaussian_pair(rng, n_gen=5000, n_real=4000, d=16)
    assert prdc(gen, real, k=5, strict=True) == package_prdc(gen, real, 5)


@pytest.mark.slow
def test_non_strict_equals_nvlabs_semantics_on_lattice_5000():
    rng = np.random.default_rng(6)
    gen, real = lattice(rng, n_gen=5000, n_real=4500, d=2, side=40)
    assert prdc(gen, real, k=3) == reference_prdc(gen, real, 3, strict=False)


def test_ties_make_the_two_semantics_differ():
    """On a lattice, `<=` counts the boundary points that `<` leaves out."""
    gen, real = lattice(np.random.default_rng(7))
    loose, tight = prdc(gen, real, strict=False), prdc(gen, real, strict=True)
    assert loose[DENSITY] > tight[DENSITY]
    assert all(loose[key] >= tight[key] for key in loose)


def test_radii_equal_brute_force_to_the_bit():
    """Radii are distances of actual pairs, so they match bit for bit a brute force that sums
    the squared differences the same way (numpy's sum over the feature axis)."""
    for make in (with_duplicates, lattice, near_ties):
        _, real = make(np.random.default_rng(8))
        full = ((real[:, None, :] - real[None, :, :]) ** 2).sum(-1)
        for k in (1, 5):
            assert np.array_equal(knn_radii(real, k=k), np.partition(full, k, axis=1)[:, k])


# ----------------------------------------------------------------- blocking, reuse, pickling


@pytest.mark.parametrize("make", [with_duplicates, lattice])
def test_block_size_does_not_change_results(make):
    gen, real = make(np.random.default_rng(9), n_gen=350, n_real=400)
    results = [prdc(gen, real, strict=strict, block_size=b) for strict in (False, True) for b in (7, 64, 333, 10**6)]
    assert all(r == results[0] for r in results[:4]) and all(r == results[4] for r in results[4:])


@pytest.mark.parametrize("make", [with_duplicates, lattice, near_ties])
def test_small_tiles_and_threads_equal_brute_force(make, monkeypatch):
    """The tiled tally cut into many column tiles (edges, a ragged last tile) and run on 1 or 2 threads."""
    gen, real = make(np.random.default_rng(17))
    expected = {strict: reference_prdc(gen, real, 5, strict) for strict in (False, True)}
    monkeypatch.setattr(knn, "_TILE_COLS", 37)
    for threads in (1, 2):
        for strict in (False, True):
            assert prdc(gen, real, strict=strict, block_size=50, num_threads=threads) == expected[strict]


@pytest.mark.parametrize("threads", [1, 2])
def test_radii_from_small_self_tiles_equal_brute_force(threads, monkeypatch):
    """Many square tiles (a ragged last block, blocks whose own points are far from their
    neighbours, so the first bounds are loose) on 1 or 2 threads: the radii are still exact."""
    rng = np.random.default_rng(18)
    clusters = rng.standard_normal((8, 5)) * 20
    real = clusters[np.arange(700) % 8] + rng.standard_normal((700, 5))  # each block mixes all clusters
    real[::50] = real[1]  # duplicates across blocks
    monkeypatch.setattr(knn, "_SELF_TILE", 45)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(threads)
    try:
        check_radii(real)
    finally:
        faiss.omp_set_num_threads(before)


def check_radii(real):
    full = ((real[:, None, :] - real[None, :, :]) ** 2).sum(-1)
    for k in (1, 5, 20):
        assert np.array_equal(knn_radii(real, k=k), np.partition(full, k, axis=1)[:, k])
    sorted_real = real[np.argsort(real[:, 0])]  # each block holds its own neighbours: tight first bounds
    full = ((sorted_real[:, None, :] - sorted_real[None, :, :]) ** 2).sum(-1)
    assert np.array_equal(knn_radii(sorted_real, k=5), np.partition(full, 5, axis=1)[:, 5])


def test_growing_k_search_is_exact_with_many_duplicates():
    """200 copies of one point: hundreds of pairs tie at distance 0 with every bound."""
    rng = np.random.default_rng(10)
    gen, real = gaussian_pair(rng, n_gen=700, n_real=800, d=4)
    real[:200] = real[200]
    gen[:300] = real[200]
    for strict in (False, True):
        assert prdc(gen, real, strict=strict, block_size=64) == reference_prdc(gen, real, 5, strict)


def test_reference_set_matches_prdc_and_survives_pickle():
    gen, real = with_duplicates(np.random.default_rng(11))
    ref = ReferenceSet.from_features(real, k=4)
    clone = pickle.loads(pickle.dumps(ref))
    for strict in (False, True):
        expected = prdc(gen, real, k=4, strict=strict)
        assert ref.prdc(gen, strict=strict) == expected
        assert clone.prdc(gen, strict=strict) == expected
    assert np.array_equal(clone.radii, ref.radii) and clone.k == 4
    assert clone.frechet(gen) == ref.frechet(gen)


def test_reference_set_rescales_for_far_generated_points():
    gen, real = with_duplicates(np.random.default_rng(12))
    gen[:5] *= 1e25  # outside the float32 frame of the real set
    ref = ReferenceSet.from_features(real)
    assert ref.prdc(gen) == reference_prdc(gen, real, 5, strict=False)


def test_reference_set_holds_gaussian_statistics():
    _, real = gaussian_pair(np.random.default_rng(13))
    ref = ReferenceSet.from_features(real)
    assert np.array_equal(ref.mean, real.mean(axis=0))
    assert np.array_equal(ref.cov, np.cov(real, rowvar=False))


def test_num_threads_is_restored():
    gen, real = gaussian_pair(np.random.default_rng(14), 100, 100)
    before = faiss.omp_get_max_threads()
    prdc(gen, real, num_threads=1)
    assert faiss.omp_get_max_threads() == before


def test_no_quadratic_memory():
    """numpy allocations stay far below one 5000×5000 float64 matrix (200 MB)."""
    gen, real = gaussian_pair(np.random.default_rng(15), 5000, 5000, 16)
    tracemalloc.start()
    prdc(gen, real)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 40e6


def test_float32_and_integer_inputs():
    gen, real = lattice(np.random.default_rng(16))
    expected = reference_prdc(gen, real, 5, strict=False)
    assert prdc(gen.astype(np.float32), real.astype(np.float32)) == expected
    assert prdc(gen.astype(np.int64), real.astype(np.int32)) == expected


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "gen, real, k, message",
    [
        (np.ones((10, 3)), np.ones((10, 4)), 5, "generated features have 3 dimensions but real features have 4"),
        (np.ones(10), np.ones((10, 3)), 5, r"generated features must be a 2-D array \(n_samples, n_features\), got shape \(10,\)"),
        (np.ones((0, 3)), np.ones((10, 3)), 5, r"generated features are empty: shape \(0, 3\)"),
        (np.ones((10, 3)), np.ones((5, 3)), 5, "k=5 needs at least 6 real features"),
        (np.ones((4, 3)), np.ones((10, 3)), 5, "k=5 needs at least 6 generated features"),
        (np.ones((10, 3)), np.ones((10, 3)), 0, "k must be a positive integer, got 0"),
        (np.ones((10, 3)), np.full((10, 3), "a"), 5, "real features must be a real numeric array, got dtype <U1"),
    ],
)
def test_bad_input_messages(gen, real, k, message):
    with pytest.raises(ValueError, match=message):
        prdc(gen, real, k=k)


def test_nan_rows_are_named():
    gen = np.ones((30, 3))
    gen[[17, 20, 25], 1] = [np.nan, np.inf, -np.inf]
    with pytest.raises(ValueError, match=r"generated features contain 3 rows with NaN or inf \(first at row 17\)"):
        prdc(gen, np.ones((30, 3)))
    ref = ReferenceSet.from_features(np.random.default_rng(0).standard_normal((30, 3)))
    with pytest.raises(ValueError, match="first at row 17"):
        ref.prdc(gen)


def test_reference_set_checks_generated():
    ref = ReferenceSet.from_features(np.random.default_rng(0).standard_normal((30, 3)), k=5)
    with pytest.raises(ValueError, match="generated features have 4 dimensions but real features have 3"):
        ref.prdc(np.ones((30, 4)))
    with pytest.raises(ValueError, match="k=5 needs at least 6 generated features"):
        ref.prdc(np.ones((5, 3)))
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        ref.prdc(np.ones((30, 3)), block_size=0)


def test_module_constants():
    assert (PRECISION, RECALL, DENSITY, COVERAGE) == ("precision", "recall", "density", "coverage")
    assert knn.DEFAULT_K == 5
