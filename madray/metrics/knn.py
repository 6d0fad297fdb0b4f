"""k-NN manifold metrics, exact and fast: precision and recall (Kynkäänniemi et al. 2019),
density and coverage (Naeem et al. 2020).

Convention (as torch-fidelity: features_1 = generated, features_2 = real): every function takes
the **generated** features first and the **real** features second. Note that the `prdc`
package's `compute_prdc(real_features, fake_features, nearest_k)` takes them the other way round.

Definitions, k = 5 by default (the MAD paper; NVlabs' code uses 3):

- The radius r(x) of a point x of a set is its squared distance to its k-th nearest neighbour
  in that set, the point itself excluded: the (k+1)-th smallest squared distance from x to the
  set with x included, as in `prdc` and NVlabs' code. Exact duplicates of x are neighbours at 0.
- "y is inside the ball of x" means ‖y − x‖² ≤ r(x) with `strict=False` (the default: NVlabs'
  reference implementation of Kynkäänniemi et al., which compares squared distances with
  `<=`), or ‖y − x‖² < r(x) with `strict=True` (the `prdc` package, which uses `<`). The two
  differ only on exact ties: duplicate points and lattice data.
- precision: fraction of generated points inside at least one real ball.
- recall: fraction of real points inside at least one generated ball.
- density: (1/k) × mean over generated points of the number of real balls containing them.
- coverage: fraction of real points whose ball contains at least one generated point.

Why `<=` by default: it is the comparison of the paper's reference code, and it makes a
generated sample that copies a real point's k-th neighbour count as inside that point's
ball, which is what a memorising model should be credited with. Use `strict=True` to
reproduce numbers published with the `prdc` package.

Exactness. The results equal a float64 brute force that computes every squared distance as
Σ_j (x_j − y_j)² in float64 (numpy's sum over the feature axis), ties and duplicates included.
FAISS only proposes candidates, searching float32 copies of the points: centred on the real
mean and scaled by a power of two (exact) so that real coordinates are at most 1, which rules
out overflow and keeps cancellation small. For every pair we know a rigorous bound on the float32
error, κ·((‖x‖ + ‖y‖)² + r) with κ = (d + 10)·2⁻²⁴ in those units (plus a subnormal-sized
term), covering the rounding of the inputs to float32, of the dot products (any summation
order, with or without FMA) and of the float64 reference values. A pair is decided from
float32 only when its float32 margin exceeds that bound; pairs within it are recomputed in
float64 by one function, so a radius and a distance that tie are computed by the same
arithmetic. A top-K search is trusted only once its K-th hit lies beyond the bound as well;
rows where it does not are searched again with 4K neighbours. "Which balls contain y" is a
maximum-inner-product search: r(x) − ‖y − x‖² = ⟨[y, 1, ‖y‖²], [2x, r(x) − ‖x‖², −1]⟩,
answered by an exact `IndexFlatIP` over the augmented centres. (Coordinates are assumed to
have float64-normal squares, |x| between ~1e-150 and ~1e150, like any float64 brute force.)

Memory is O((n_generated + n_real)·d) plus one block of search results: no N×N matrix is
ever built. Results do not depend on `block_size` (rows per FAISS call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np

from madray.metrics.frechet import RootedGaussian, gaussian_stats
from madray.metrics.validate import as_features, check_k, check_same_dim

PRECISION = "precision"
RECALL = "recall"
DENSITY = "density"
COVERAGE = "coverage"

DEFAULT_K = 5
DEFAULT_BLOCK_SIZE = 4096  # query rows per FAISS call; FAISS itself tiles queries by 4096
_RESULT_BUDGET = 1 << 22  # search results held at once when K has to grow (≈ 50 MB)
_PAIR_CHUNK = 1 << 15  # pairs per float64 re-check (d·8·_PAIR_CHUNK bytes of differences)


def prdc(
    generated: np.ndarray,
    real: np.ndarray,
    k: int = DEFAULT_K,
    strict: bool = False,
    block_size: int = DEFAULT_BLOCK_SIZE,
    num_threads: int | None = None,
) -> dict[str, float]:
    """Precision, recall, density and coverage of generated features (n, d) against real ones (m, d).

    Keys are `PRECISION`, `RECALL`, `DENSITY`, `COVERAGE`. `strict` picks `<` (the `prdc`
    package) over `<=` (NVlabs, the default) for "inside a ball"; see the module docstring.
    `num_threads` sets FAISS's OpenMP threads for this call only (None: leave them alone).
    For many generated sets against the same real set, build a `ReferenceSet` once instead.
    """
    gen = as_features(generated, "generated features")
    ref = as_features(real, "real features")
    check_same_dim(gen, ref, "generated features", "real features")
    check_k(k, len(ref), "real features")
    check_k(k, len(gen), "generated features")
    with _faiss_threads(num_threads):
        frame = _Frame.covering(ref.mean(axis=0), ref, gen)
        return _prdc(gen, _Balls.build(_Cloud.of(ref, frame), k, block_size), k, strict, block_size)


def knn_radii(features: np.ndarray, k: int = DEFAULT_K, block_size: int = DEFAULT_BLOCK_SIZE) -> np.ndarray:
    """Squared distance of each point to its k-th nearest neighbour in the set, itself excluded (exact)."""
    x = as_features(features, "features")
    k = check_k(k, len(x), "features")
    return _radii(_Cloud.of(x, _Frame.covering(x.mean(axis=0), x)), k, block_size)


class ReferenceSet:
    """Real features prepared once and reused for every generation of every trial.

    Holds the real features (float64), their k-NN radii, the FAISS index of their balls, and
    their mean and covariance (float64, with the covariance's eigendecomposition for the
    Fréchet distance). Picklable for Ray's object store: the FAISS index is dropped on
    pickling and rebuilt (a copy of float32 rows, no search) on unpickling.
    Build it with `ReferenceSet.from_features(real, k)`.
    """

    def __init__(self, features: np.ndarray, k: int, balls: "_Balls"):
        self.features = features
        self.k = k
        self.radii = balls.radii
        self.mean, self.cov = gaussian_stats(features)
        self._gaussian = RootedGaussian.of(self.mean, self.cov)
        self._balls = balls

    @classmethod
    def from_features(
        cls, real: np.ndarray, k: int = DEFAULT_K, block_size: int = DEFAULT_BLOCK_SIZE, num_threads: int | None = None
    ) -> "ReferenceSet":
        """Validate real features (n, d); compute their k-NN radii, mean and covariance."""
        ref = as_features(real, "real features")
        k = check_k(k, len(ref), "real features")
        with _faiss_threads(num_threads):
            balls = _Balls.build(_Cloud.of(ref, _Frame.covering(ref.mean(axis=0), ref)), k, block_size)
        return cls(ref, k, balls)

    def prdc(
        self,
        generated: np.ndarray,
        strict: bool = False,
        block_size: int = DEFAULT_BLOCK_SIZE,
        num_threads: int | None = None,
    ) -> dict[str, float]:
        """`prdc(generated, real, self.k, strict)` without recomputing anything about the real set."""
        gen = self._check_generated(generated)
        check_k(self.k, len(gen), "generated features")
        balls = self._balls
        if not balls.cloud.frame.covers(gen):  # generated points absurdly far out: rescale the float32 copies
            balls = _Balls.with_radii(_Cloud.of(self.features, _Frame.covering(self.mean, self.features, gen)), self.radii)
        with _faiss_threads(num_threads):
            return _prdc(gen, balls, self.k, strict, block_size)

    def frechet(self, generated: np.ndarray) -> float:
        """Fréchet distance (FID formula, Heusel et al. 2017) between the generated and real features' Gaussians."""
        mu, sigma = gaussian_stats(self._check_generated(generated))
        return float(self._gaussian.distance(mu, sigma))

    def _check_generated(self, generated: np.ndarray) -> np.ndarray:
        gen = as_features(generated, "generated features")
        check_same_dim(gen, self.features, "generated features", "real features")
        return gen

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        balls = state.pop("_balls")  # holds a FAISS index, which does not pickle
        state["_frame"] = balls.cloud.frame
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        frame = state.pop("_frame")
        self.__dict__.update(state)
        self._balls = _Balls.with_radii(_Cloud.of(self.features, frame), self.radii)


# --------------------------------------------------------------------------- internals


@dataclass(frozen=True)
class _Frame:
    """Coordinates of the float32 copies: centred on the real mean (small cancellation in
    ‖x‖² + ‖y‖² − 2⟨x, y⟩), scaled by a power of two (exact) so that the sets it was fitted to
    have coordinates of at most 1. Other sets fit while their coordinates stay below 2^20,
    far from float32's overflow (~1e19 before squaring)."""

    centre: np.ndarray
    scale: float
    headroom = 2.0**20

    @classmethod
    def covering(cls, centre: np.ndarray, *sets: np.ndarray) -> "_Frame":
        biggest = max(float(np.max(np.abs(x - centre))) for x in sets)
        exponent = int(np.ceil(np.log2(biggest))) if biggest > 0 else 0
        return cls(centre, float(np.ldexp(1.0, -min(max(exponent, -500), 500))))  # scale² stays finite

    def covers(self, x: np.ndarray) -> bool:
        return float(np.max(np.abs(x - self.centre))) * self.scale <= self.headroom


@dataclass(frozen=True)
class _Cloud:
    """A point set in the three forms the search needs."""

    exact: np.ndarray  # float64 (n, d): the values distances are defined on
    frame: _Frame
    shifted: np.ndarray  # float32 (n, d): (exact − centre)·scale, what FAISS searches
    norm: np.ndarray  # float64 (n,): ‖(exact − centre)·scale‖, scales the float32 error bound

    @classmethod
    def of(cls, x: np.ndarray, frame: _Frame) -> "_Cloud":
        shifted = (x - frame.centre) * frame.scale
        norm = np.sqrt(np.einsum("ij,ij->i", shifted, shifted))
        return cls(x, frame, np.ascontiguousarray(shifted, dtype=np.float32), norm)

    def slack(self, rows: np.ndarray, other_norm: np.ndarray | float, radius: np.ndarray | float) -> np.ndarray:
        """Bound on |float32 − exact| of a margin between `rows` and points of norm `other_norm`
        (frame units), for balls of squared radius `radius` (frame units)."""
        d = self.shifted.shape[1]
        relative = (d + 10) * 2.0**-24  # float32 inputs, products and sums; float64 rounding is far below
        absolute = 4 * (d + 10) * 2.0**-126  # subnormals, even if flushed to zero
        return relative * ((self.norm[rows] + other_norm) ** 2 + radius) + absolute


@dataclass(frozen=True)
class _Balls:
    """k-NN balls around the points of a cloud, searchable as an exact inner-product index."""

    cloud: _Cloud
    radii: np.ndarray  # float64 squared radii, original units
    index: faiss.IndexFlatIP  # rows [2x, r − ‖x‖², −1] in frame units

    @classmethod
    def build(cls, cloud: _Cloud, k: int, block_size: int) -> "_Balls":
        return cls.with_radii(cloud, _radii(cloud, k, block_size))

    @classmethod
    def with_radii(cls, cloud: _Cloud, radii: np.ndarray) -> "_Balls":
        aug = np.empty((len(radii), cloud.shifted.shape[1] + 2), dtype=np.float32)
        aug[:, :-2] = 2 * cloud.shifted
        aug[:, -2] = radii * cloud.frame.scale**2 - cloud.norm**2
        aug[:, -1] = -1.0
        return cls(cloud, radii, _flat_index(aug, faiss.IndexFlatIP))

    @property
    def scaled_radii(self) -> np.ndarray:
        return self.radii * self.cloud.frame.scale**2


def _prdc(gen: np.ndarray, real_balls: _Balls, k: int, strict: bool, block_size: int) -> dict[str, float]:
    gen_balls = _Balls.build(_Cloud.of(gen, real_balls.cloud.frame), k, block_size)
    per_gen, covered = _tally(gen_balls.cloud, real_balls, k, strict, block_size, count_all=True)
    per_real, _ = _tally(real_balls.cloud, gen_balls, k, strict, block_size, count_all=False)
    return {
        PRECISION: float(np.mean(per_gen > 0)),
        RECALL: float(np.mean(per_real > 0)),
        # (1/k)·mean, in this order, to match `prdc` to the last bit.
        DENSITY: (1.0 / float(k)) * float(per_gen.mean()),
        COVERAGE: float(np.mean(covered)),
    }


def _radii(cloud: _Cloud, k: int, block_size: int) -> np.ndarray:
    """(k+1)-th smallest canonical squared distance from each point to the cloud, itself included."""
    index = _flat_index(cloud.shifted, faiss.IndexFlatL2)
    rows_all = np.arange(len(cloud.norm))
    # float32 distances are within `slack` of the exact ones, so the exact (k+1)-th is within
    # slack of the float32 (k+1)-th and any point that may tie with it within 2·slack.
    slack = cloud.slack(rows_all, cloud.norm.max(), 0.0)

    def still_open(rows: np.ndarray, dist: np.ndarray) -> np.ndarray:
        return dist[:, -1] <= dist[:, k] + 2 * slack[rows]

    radii = np.empty(len(rows_all))
    for rows, _, idx in _search_until_closed(index, cloud.shifted, k + 2, still_open, block_size):
        exact = _pair_sqdist(cloud.exact, cloud.exact, np.repeat(rows, idx.shape[1]), idx.ravel())
        radii[rows] = np.partition(exact.reshape(idx.shape), k, axis=1)[:, k]
    return radii


def _tally(
    queries: _Cloud, balls: _Balls, k: int, strict: bool, block_size: int, count_all: bool
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the number of balls containing it; for each ball, whether it contains any query.

    With `count_all=False` a query's search stops at its first certain ball: its count is
    then only "> 0 or not", and the per-ball flags are incomplete.
    """
    aug = np.empty((len(queries.norm), queries.shifted.shape[1] + 2), dtype=np.float32)
    aug[:, :-2] = queries.shifted
    aug[:, -2] = 1.0
    aug[:, -1] = queries.norm**2
    rows_all = np.arange(len(queries.norm))
    row_slack = queries.slack(rows_all, balls.cloud.norm.max(), balls.scaled_radii.max())

    def still_open(rows: np.ndarray, score: np.ndarray) -> np.ndarray:
        may_have_more = score[:, -1] >= -row_slack[rows]  # the K-th best ball may still contain the query
        return may_have_more if count_all else may_have_more & (score[:, 0] <= row_slack[rows])

    counts = np.zeros(len(rows_all), dtype=np.int64)
    covered = np.zeros(len(balls.radii), dtype=bool)
    for rows, score, idx in _search_until_closed(balls.index, aug, 2 * k + 2, still_open, block_size):
        q, c = np.repeat(rows, idx.shape[1]), idx.ravel()
        inside = _inside(queries, balls, q, c, score.ravel(), strict)
        counts += np.bincount(q[inside], minlength=len(counts))
        covered[c[inside]] = True
    return counts, covered


def _inside(queries: _Cloud, balls: _Balls, q: np.ndarray, c: np.ndarray, score: np.ndarray, strict: bool) -> np.ndarray:
    """Whether query q lies in ball c, from the float32 margin `score` where it is safe, else in float64."""
    slack = queries.slack(q, balls.cloud.norm[c], balls.scaled_radii[c])
    inside = score > slack
    unsure = np.flatnonzero(~inside & (score >= -slack))
    exact = _pair_sqdist(queries.exact, balls.cloud.exact, q[unsure], c[unsure])
    radii = balls.radii[c[unsure]]
    inside[unsure] = exact < radii if strict else exact <= radii
    return inside


def _search_until_closed(
    index: faiss.Index,
    queries: np.ndarray,
    k0: int,
    still_open: Callable[[np.ndarray, np.ndarray], np.ndarray],
    block_size: int,
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Top-K searches, K grown 4× for rows whose K-th hit may not be the last one that matters.

    Yields (rows, scores, ids) for rows that are settled: `still_open` is false for them, or
    K covers the whole index.
    """
    if block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    pending = np.arange(len(queries))
    kk = min(k0, index.ntotal)
    while pending.size:
        reopened = []
        step = max(1, min(block_size, _RESULT_BUDGET // kk))
        for start in range(0, pending.size, step):
            rows = pending[start : start + step]
            scores, ids = index.search(queries[rows], kk)
            if kk < index.ntotal:
                is_open = still_open(rows, scores)
                reopened.append(rows[is_open])
                rows, scores, ids = rows[~is_open], scores[~is_open], ids[~is_open]
            yield rows, scores, ids
        pending = np.concatenate(reopened) if reopened else pending[:0]
        kk = min(4 * kk, index.ntotal)


def _pair_sqdist(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Canonical squared distances ‖a[ia] − b[ib]‖², Σ_j (a_j − b_j)² in float64.

    Every exact comparison goes through here, so a tie (a radius and a distance of the same
    pair of coordinates) is always computed by the same arithmetic.
    """
    out = np.empty(len(ia))
    for start in range(0, len(ia), _PAIR_CHUNK):
        part = slice(start, start + _PAIR_CHUNK)
        diff = a[ia[part]] - b[ib[part]]
        np.square(diff, out=diff)
        out[part] = diff.sum(axis=1)
    return out


def _flat_index(x: np.ndarray, kind: type) -> faiss.Index:
    index = kind(x.shape[1])
    index.add(x)
    return index


@contextmanager
def _faiss_threads(num_threads: int | None) -> Iterator[None]:
    """Set FAISS's OpenMP thread count for one call and restore it (None: leave it alone)."""
    if num_threads is None:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(num_threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
