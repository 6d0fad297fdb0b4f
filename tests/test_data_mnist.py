"""Real MNIST: the built-in 5k split is fixed and stratified; IDX files are read exactly."""

import gzip
import struct

import numpy as np
import pytest

from madray.data import mnist


def read_csv_independently():
    """The same file parsed by pandas' C reader (pixels, then the label, per row)."""
    import pandas as pd

    table = pd.read_csv(mnist.builtin_file(), header=None).to_numpy()
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1]


def test_builtin_split_is_the_csv_stratified_every_fifth():
    split = mnist.load_mnist()
    images, labels = read_csv_independently()
    assert split.pool_x.shape == (4000, 28, 28) and split.held_x.shape == (1000, 28, 28)
    assert split.pool_x.dtype == np.uint8 and split.pool_y.dtype == np.int64
    assert (split.pool_x.shape[0], split.held_x.shape[0]) == mnist.split_sizes(None)
    assert np.bincount(split.pool_y).tolist() == [400] * 10 and np.bincount(split.held_y).tolist() == [100] * 10
    # held out: the 5th, 10th, ... image of each digit in file order; the pool: the rest, in order
    rank = np.zeros(len(labels), dtype=int)
    for c in range(10):
        rank[labels == c] = np.arange(np.sum(labels == c))
    held = rank % 5 == 4
    np.testing.assert_array_equal(split.held_x, images[held])
    np.testing.assert_array_equal(split.held_y, labels[held])
    np.testing.assert_array_equal(split.pool_x, images[~held])
    np.testing.assert_array_equal(split.pool_y, labels[~held])
    assert not split.pool_x.flags.writeable  # shared between families in a worker


def idx_bytes(array: np.ndarray) -> bytes:
    """LeCun's IDX format written by hand: 0x00 0x00 0x08 ndim, big-endian uint32 dims, bytes."""
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_idx_folder(folder, rng, n_train=30, n_test=12, gz=False):
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, a in arrays.items():
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(idx_bytes(a))
        else:
            (folder / name).write_bytes(idx_bytes(a))
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder_read_exactly(tmp_path, gz):
    arrays = write_idx_folder(tmp_path, np.random.default_rng(3), gz=gz)
    split = mnist.load_mnist(str(tmp_path))
    np.testing.assert_array_equal(split.pool_x, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(split.pool_y, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(split.held_x, arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(split.held_y, arrays["t10k-labels-idx1-ubyte"])
    assert mnist.split_sizes(str(tmp_path)) == (30, 12)
    assert mnist.fingerprint(str(tmp_path)) != mnist.fingerprint(None)


def test_idx_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz exists"):
        mnist.load_mnist(str(tmp_path / "nowhere"))
    arrays = write_idx_folder(tmp_path, np.random.default_rng(4))
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x0d\x01" + struct.pack(">I", 12) + bytes(48))
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        mnist.read_idx(tmp_path / "t10k-labels-idx1-ubyte")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(arrays["t10k-labels-idx1-ubyte"])[:-3])
    with pytest.raises(ValueError, match="header says shape"):
        mnist.read_idx(tmp_path / "t10k-labels-idx1-ubyte")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(np.arange(11) % 10))
    with pytest.raises(ValueError, match="12 images but labels of shape"):
        mnist.load_mnist(str(tmp_path))
