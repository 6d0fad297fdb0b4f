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
float32 arithmetic only proposes and rules out: it runs on float32 copies of the points, centred
on the real mean and scaled by a power of two (exact) so that real coordinates are at most 1,
which rules out overflow and keeps cancellation small. For every pair we know a rigorous bound on
the float32 error, κ·((‖x‖ + ‖y‖)² + r) with κ = (d + 10)·2⁻²⁴ in those units (plus a
subnormal-sized term), covering the rounding of the inputs to float32, of the dot products (any
summation order, with or without FMA) and of the float64 reference values. A pair is decided
from float32 only when its float32 margin exceeds that bound; pairs within it are recomputed in
float64 by one function, so a radius and a distance that tie are computed by the same arithmetic.

Everything is tiles of one float32 GEMM each, ‖a − b‖² = ⟨[a, ‖a‖², 1], [−2b, 1, ‖b‖²]⟩.
Radii: square tiles of a set against itself, each unordered pair computed once (the upper
triangle) and serving both of its points. Every point keeps the k + 1 smallest exact distances
offered so far; a pair is offered when its float32 value is within the bound of the point's
current k+1-th, so every point within the final radius is offered (see `_SelfTiles`). FAISS's
flat search computes each pair twice and cannot stop at a per-point bound, so it is not used;
its OpenMP thread count (`num_threads`, which honours OMP_NUM_THREADS) is still the number of
tile threads. Counts: one tile of the generated × real matrix at a time, compared with both
points' radii (a real ball holding g: density, precision, coverage; a generated ball holding x:
recall), the few pairs within the bound of a radius listed for the float64 re-check. Each tile
thread uses one BLAS thread. (Coordinates are assumed to have float64-normal squares, |x|
between ~1e-150 and ~1e150, like any float64 brute force.)

Memory is O((n_generated + n_real)·d) plus one 1024 × 1024 float32 tile (and its candidate
pairs) per thread: no N×N matrix is ever built. Results do not depend on `block_size` (an upper
limit on a tile's rows).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from madray.metrics.frechet import RootedGaussian, gaussian_stats
from madray.metrics.validate import as_features, check_k, check_same_dim

PRECISION = "precision"
RECALL = "recall"
DENSITY = "density"
COVERAGE = "coverage"

DEFAULT_K = 5
DEFAULT_BLOCK_SIZE = 4096  # upper limit on the rows of a tile
_TILE_ROWS, _TILE_COLS = 1024, 1024  # generated × real tile of `_tally`: 4 MB of float32, compared twice while in cache
_SEED_GROUPS = 128  # column groups whose minima seed a diagonal tile's bounds
_SELF_TILE = 1024  # square tiles of a set against itself: 4 MB of float32, compared twice while in cache
_PAIR_CHUNK = 2048  # pairs per float64 re-check: d·8·_PAIR_CHUNK bytes of differences stay in L2


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
    `num_threads` sets FAISS's OpenMP thread count, the number of tile threads, for this call
    only (None: FAISS's current setting).
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

    Holds the real features (float64), their k-NN radii and float32 copies, and their mean
    and covariance (float64, with the covariance's eigendecomposition for the Fréchet
    distance). Picklable for Ray's object store: the float32 copies are dropped on pickling
    and rebuilt (no search) on unpickling.
    Build it with `ReferenceSet.from_features(real, k)`.
    """

    def __init__(self, features: np.ndarray, k: int, balls: _Balls):
        self.features = features
        self.k = k
        self.radii = balls.radii
        self.mean, self.cov = gaussian_stats(features)
        self._gaussian = RootedGaussian.of(self.mean, self.cov)
        self._balls = balls

    @classmethod
    def from_features(
        cls, real: np.ndarray, k: int = DEFAULT_K, block_size: int = DEFAULT_BLOCK_SIZE, num_threads: int | None = None
    ) -> ReferenceSet:
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
            balls = _Balls(_Cloud.of(self.features, _Frame.covering(self.mean, self.features, gen)), self.radii)
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
        balls = state.pop("_balls")  # its float32 copies are rebuilt, not shipped
        state["_frame"] = balls.cloud.frame
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        frame = state.pop("_frame")
        self.__dict__.update(state)
        self._balls = _Balls(_Cloud.of(self.features, frame), self.radii)


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
    def covering(cls, centre: np.ndarray, *sets: np.ndarray) -> _Frame:
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
    norm: np.ndarray  # float64 (n,): ‖(exact − centre)·scale‖, scales the float32 error bound
    left: np.ndarray  # float32 (n, d + 2): rows [a, ‖a‖², 1]
    right: np.ndarray  # float32 (d + 2, n): columns [−2b, 1, ‖b‖²]; left·right = ‖a − b‖² (frame units)

    @classmethod
    def of(cls, x: np.ndarray, frame: _Frame) -> _Cloud:
        shifted = (x - frame.centre) * frame.scale
        norm = np.sqrt(np.einsum("ij,ij->i", shifted, shifted))
        ones, squares = np.ones((len(x), 1)), (norm**2)[:, None]
        left = np.hstack([shifted, squares, ones]).astype(np.float32)
        right = np.ascontiguousarray(np.hstack([-2 * shifted, ones, squares]).astype(np.float32).T)
        return cls(x, frame, norm, left, right)

    def slack(self, rows: np.ndarray, other_norm: np.ndarray | float, radius: np.ndarray | float) -> np.ndarray:
        """Bound on |float32 − exact| of a margin between `rows` and points of norm `other_norm`
        (frame units), for balls of squared radius `radius` (frame units)."""
        return _float32_slack(self.exact.shape[1], self.norm[rows] + other_norm, radius)


@dataclass(frozen=True)
class _Balls:
    """k-NN balls around the points of a cloud."""

    cloud: _Cloud
    radii: np.ndarray  # float64 squared radii, original units

    @classmethod
    def build(cls, cloud: _Cloud, k: int, block_size: int) -> _Balls:
        return cls(cloud, _radii(cloud, k, block_size))

    @property
    def scaled_radii(self) -> np.ndarray:
        return self.radii * self.cloud.frame.scale**2


def _prdc(gen: np.ndarray, real_balls: _Balls, k: int, strict: bool, block_size: int) -> dict[str, float]:
    gen_balls = _Balls.build(_Cloud.of(gen, real_balls.cloud.frame), k, block_size)
    per_gen, covered, recalled = _tally(gen_balls, real_balls, strict, block_size)
    return {
        PRECISION: float(np.mean(per_gen > 0)),
        RECALL: float(np.mean(recalled)),
        # (1/k)·mean, in this order, to match `prdc` to the last bit.
        DENSITY: (1.0 / float(k)) * float(per_gen.mean()),
        COVERAGE: float(np.mean(covered)),
    }


def _radii(cloud: _Cloud, k: int, block_size: int) -> np.ndarray:
    """(k+1)-th smallest canonical squared distance from each point to the cloud, itself included."""
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)) or block_size < 1:
        raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
    tiles = _SelfTiles(cloud, k, max(min(int(block_size), _SELF_TILE), 2 * (k + 1)))
    with _tile_pool() as pool:
        list(pool.map(tiles.diagonal, range(len(tiles.blocks))))
        list(pool.map(tiles.off_diagonal, tiles.upper_pairs()))
    return tiles.best[:, k].copy()


class _SelfTiles:
    """Exact k-NN radii of a set from square tiles of its float32 distance matrix, each unordered
    pair computed once (the upper triangle), both of its points served from the same tile.

    Each point keeps the k + 1 smallest exact (float64) squared distances offered to it so far,
    of distinct points; their largest, E ≥ the radius R, makes a pair a candidate when its
    float32 value is at most E + slack (so every point within R is offered, as float32 is within
    slack of exact), and candidates are recomputed in float64 and merged. A diagonal tile comes
    first and seeds E: there the float32 (k+1)-th smallest T of the row bounds R ≤ T + slack, so
    pairs up to T + 2·slack are candidates. Most tiles then offer a handful of pairs per row.
    """

    def __init__(self, cloud: _Cloud, k: int, size: int):
        n = len(cloud.norm)
        edges = np.linspace(0, n, -(-n // size) + 1).round().astype(int)  # blocks within 1 of each other, all ≥ k + 1
        self.blocks = [slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
        self.cloud, self.k = cloud, k
        self._product = _Products(cloud, cloud)
        self.slack = cloud.slack(np.arange(n), cloud.norm.max(), 0.0)  # frame units
        self.to_frame = cloud.frame.scale**2  # exact: a power of two
        self.best = np.full((n, k + 1), np.inf)
        self._lock = threading.Lock()

    def upper_pairs(self) -> list[tuple[int, int]]:
        """Off-diagonal tiles, nearest diagonals first: every point's bound E tightens early."""
        nb = len(self.blocks)
        return [(i, i + gap) for gap in range(1, nb) for i in range(nb - gap)]

    def diagonal(self, i: int) -> None:
        rows = self.blocks[i]
        tile = self._product(rows, rows)
        groups = max(self.k + 1, min(_SEED_GROUPS, tile.shape[1]))
        # The (k+1)-th smallest of column-group minima: distances of k + 1 distinct points, so at
        # least the row's (k+1)-th smallest, and nearly equal to it; a partition of the tile costs 7×.
        minima = tile[:, : groups * (tile.shape[1] // groups)].reshape(len(tile), -1, groups).min(axis=1)
        kth = np.partition(minima, self.k, axis=1)[:, self.k].astype(np.float64)
        r, c = _where(tile <= _up32(kth + 2 * self.slack[rows])[:, None])
        self._offer(r + rows.start, c + rows.start)

    def off_diagonal(self, pair: tuple[int, int]) -> None:
        rows, cols = self.blocks[pair[0]], self.blocks[pair[1]]
        tile = self._product(rows, cols)
        r, c = _where(tile <= self._bound(rows)[:, None])  # row points' candidates
        r2, c2 = _where(tile <= self._bound(cols)[None, :])  # column points'
        self._offer(np.concatenate([r + rows.start, c2 + cols.start]), np.concatenate([c + cols.start, r2 + rows.start]))

    def _bound(self, points: slice) -> np.ndarray:
        return _up32(self.best[points, self.k] * self.to_frame + self.slack[points])

    def _offer(self, points: np.ndarray, others: np.ndarray) -> None:
        """Merge the exact distances of (points[i], others[i]) into each point's k + 1 smallest."""
        if not len(points):
            return
        exact = _pair_sqdist(self.cloud.exact, self.cloud.exact, points, others)
        order = np.argsort(points, kind="stable")
        points, exact = points[order], exact[order]
        first = np.flatnonzero(np.r_[True, points[1:] != points[:-1]])
        counts = np.diff(np.r_[first, len(points)])
        group = np.repeat(np.arange(len(first)), counts)
        owners, k1 = points[first], self.k + 1
        merged = np.full((len(first), k1 + int(counts.max())), np.inf)
        merged[group, k1 + np.arange(len(points)) - first[group]] = exact
        with self._lock:  # one writer at a time: a row must hold distances of k + 1 distinct points
            merged[:, :k1] = self.best[owners]
            merged.sort(axis=1)
            self.best[owners] = merged[:, :k1]


class _Products:
    """Tiles of the float32 product left·right of two clouds (‖a − b‖², frame units), each thread
    writing into its own reused buffer: a fresh 4 MB array per tile costs its page faults again."""

    def __init__(self, left: _Cloud, right: _Cloud):
        self.left, self.right = left.left, right.right
        self._buffers = threading.local()

    def __call__(self, rows: slice, cols: slice) -> np.ndarray:
        shape = (rows.stop - rows.start, cols.stop - cols.start)
        buffer = getattr(self._buffers, "tile", None)
        if buffer is None or buffer.size < shape[0] * shape[1]:
            buffer = self._buffers.tile = np.empty(shape[0] * shape[1], np.float32)
        tile = buffer[: shape[0] * shape[1]].reshape(shape)
        return np.matmul(self.left[rows], self.right[:, cols], out=tile)


def _where(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of a sparse 2-d mask: flatnonzero is far faster than 2-d nonzero."""
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _up32(values: np.ndarray) -> np.ndarray:
    """float32 values at least as large as `values` (float64): comparisons against them never drop a pair."""
    return np.nextafter(values.astype(np.float32), np.float32(np.inf))


@contextmanager
def _tile_pool() -> Iterator[ThreadPoolExecutor]:
    """FAISS's OpenMP thread count of threads (the call's `num_threads`), each with one BLAS thread."""
    threads = max(1, faiss.omp_get_max_threads())  # read before the limit below sets OpenMP to 1 too
    with threadpool_limits(1, user_api="blas"), ThreadPoolExecutor(threads) as pool:
        yield pool


def _tally(gen: _Balls, real: _Balls, strict: bool, block_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per generated point, how many real balls hold it; per real point, whether its ball holds a
    generated point and whether it lies in a generated ball: all from one float32 product per tile.

    """
    tiles = _Tiles(gen, real, max(1, min(block_size, _TILE_ROWS)), strict)
    with _tile_pool() as pool:
        parts = list(pool.map(tiles.row_block, range(0, len(gen.radii), tiles.rows)))
    counts = np.concatenate([part[0] for part in parts])
    return counts, np.logical_or.reduce([part[1] for part in parts]), np.logical_or.reduce([part[2] for part in parts])


class _Tiles:
    """Tiles of the generated × real squared-distance matrix in float32 frame units, each one
    GEMM over augmented rows, ‖g − x‖² = ⟨[g, ‖g‖², 1], [−2x, 1, ‖x‖²]⟩, compared with both radii."""

    def __init__(self, gen: _Balls, real: _Balls, rows: int, strict: bool):
        self.gen, self.real, self.rows, self.strict = gen, real, rows, strict
        self._product = _Products(gen.cloud, real.cloud)

    def row_block(self, start: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(real balls holding each generated point of the block, real balls holding one of
        them, real points inside a generated ball of the block)."""
        gen, real = self.gen, self.real
        rows = slice(start, min(start + self.rows, len(gen.radii)))
        n_rows, n_real = rows.stop - rows.start, len(real.radii)
        counts, covered, recalled = np.zeros(n_rows, np.int64), np.zeros(n_real, bool), np.zeros(n_real, bool)
        g_radii, x_radii = gen.scaled_radii[rows], real.scaled_radii
        g_norm = float(gen.cloud.norm[rows].max())
        for c0 in range(0, n_real, _TILE_COLS):
            cols = slice(c0, min(c0 + _TILE_COLS, n_real))
            tile = self._product(rows, cols)
            # one slack for the tile: the largest of its per-pair bounds (see `_Cloud.slack`)
            radius = max(float(x_radii[cols].max()), float(g_radii.max()))
            slack = _float32_slack(real.cloud.exact.shape[1], g_norm + real.cloud.norm[cols].max(), radius)
            g, x = self._inside(*_close_pairs(tile, x_radii[cols], slack, per_column=True), start, c0, real.radii, 1)
            counts += np.bincount(g - start, minlength=n_rows)
            covered[x] = True
            g, x = self._inside(*_close_pairs(tile, g_radii, slack, per_column=False), start, c0, gen.radii, 0)
            recalled[x] = True
        return counts, covered, recalled

    def _inside(self, r, c, sure, row0: int, col0: int, radii: np.ndarray, axis: int):
        """(g, x) of the pairs inside the ball of x (axis 1) or g (axis 0): float32's sure ones, and
        of the near ones those that float64 puts inside."""
        g, x = r + row0, c + col0
        near = np.flatnonzero(~sure)
        exact = _pair_sqdist(self.gen.cloud.exact, self.real.cloud.exact, g[near], x[near])
        sure[near] = _within(exact, radii[(g, x)[axis][near]], self.strict)
        return g[sure], x[sure]


def _within(sqdist: np.ndarray, radii: np.ndarray, strict: bool) -> np.ndarray:
    return sqdist < radii if strict else sqdist <= radii


def _float32_slack(d: int, norm_sum, radius):
    """Bound on |float32 − exact| of ‖a − b‖² − r from a length-(d + 2) float32 dot product,
    for ‖a‖ + ‖b‖ = `norm_sum` and r = `radius` (frame units)."""
    relative = (d + 10) * 2.0**-24  # float32 inputs, products and sums; float64 rounding is far below
    absolute = 4 * (d + 10) * 2.0**-126  # subnormals, even if flushed to zero
    return relative * (norm_sum**2 + radius) + absolute


def _close_pairs(tile: np.ndarray, radii: np.ndarray, slack: float, per_column: bool):
    """(rows, columns, certainly inside) of the tile's pairs within `slack` of inside a ball.

    `radii` holds one float64 radius per column (`per_column`) or per row. The rest of the
    tile is certainly outside; pairs not certainly inside are for the float64 re-check.
    """
    lo = np.nextafter((radii - slack).astype(np.float32), np.float32(-np.inf))
    hi = _up32(radii + slack)
    r, c = _where(tile <= (hi[None, :] if per_column else hi[:, None]))  # sparse: a few per row
    return r, c, tile[r, c] < lo[c if per_column else r]


def _pair_sqdist(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """Canonical squared distances ‖a[ia] − b[ib]‖², Σ_j (a_j − b_j)² in float64.

    Every exact comparison goes through here, so a tie (a radius and a distance of the same
    pair of coordinates) is always computed by the same arithmetic.
    """
    out = np.empty(len(ia))
    buffer = np.empty((min(len(ia), _PAIR_CHUNK), a.shape[1]))
    for start in range(0, len(ia), _PAIR_CHUNK):
        part = slice(start, start + _PAIR_CHUNK)
        diff = buffer[: len(ia[part])]
        np.take(a, ia[part], axis=0, out=diff)
        diff -= np.take(b, ib[part], axis=0)
        np.square(diff, out=diff)
        diff.sum(axis=1, out=out[part])
    return out


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
