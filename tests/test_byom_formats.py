"""Data as files for outside programs: each format read back as written, every malformed output named."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from madray.data import formats
from madray.errors import DataError


def test_images_with_labels_read_back_as_written(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5])
    formats.write({"x": pixels / 255.0, "y": labels}, tmp_path / "imgs", "images")
    back = formats.read(tmp_path / "imgs", "images", 5, labelled=True)
    np.testing.assert_array_equal(np.round(back["x"] * 255).astype(np.uint8), pixels)
    np.testing.assert_array_equal(back["y"], labels)
    assert np.asarray(Image.open(tmp_path / "imgs" / "000002.png")).tolist() == pixels[2].tolist()  # plain PNG files


@pytest.mark.parametrize("fmt, batch", [
    ("array", {"x": np.arange(12.0).reshape(4, 3)}),
    ("text", {"text": np.array(["a story.", "ünïcode \"quoted\"", "", "two\nlines"])}),
])
def test_arrays_and_text_read_back_as_written(tmp_path, fmt, batch):
    path = tmp_path / f"out{formats.SUFFIX[fmt]}"
    formats.write(batch, path, fmt)
    back = formats.read(path, fmt, 4)
    np.testing.assert_array_equal(back[next(iter(batch))], next(iter(batch.values())))


def write_bad(tmp_path, kind):
    path = tmp_path / "bad.npy"
    if kind == "object":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "nan":
        np.save(path, np.array([[1.0], [np.nan]]))
    elif kind == "text":
        path.write_text("not numpy")
    return path


@pytest.mark.parametrize("kind, message", [
    ("object", "not a readable .npy array without pickle"),
    ("nan", "holds NaN or infinite values"),
    ("text", "not a readable .npy array"),
    ("missing", "missing: the program wrote no array output"),
])
def test_a_malformed_array_is_named(tmp_path, kind, message):
    with pytest.raises(DataError, match=message):
        formats.read(write_bad(tmp_path, kind), "array", 2)


def test_malformed_images_and_labels_are_named(tmp_path):
    formats.write({"x": np.zeros((2, 4, 4))}, tmp_path / "a", "images")
    with pytest.raises(DataError, match="labelled images need labels.csv"):
        formats.read(tmp_path / "a", "images", 2, labelled=True)
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(tmp_path / "a" / "000009.png")
    with pytest.raises(DataError, match="PNG files of different sizes"):
        formats.read(tmp_path / "a", "images", 3)
    (tmp_path / "t.jsonl").write_text('{"text": "ok"}\n[1, 2]\n')
    with pytest.raises(DataError, match="line 2 is not a JSON object"):
        formats.read(tmp_path / "t.jsonl", "text", 2)


def test_checksum_of_a_folder_changes_with_a_name_or_a_byte(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "w.bin").write_bytes(b"abc")
    first = formats.checksum(tmp_path / "m")
    (tmp_path / "m" / "w.bin").rename(tmp_path / "m" / "v.bin")
    second = formats.checksum(tmp_path / "m")
    (tmp_path / "m" / "v.bin").write_bytes(b"abd")
    assert len({first, second, formats.checksum(tmp_path / "m")}) == 3
