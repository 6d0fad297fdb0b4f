"""Plain file operations on a local path, NFS or an object store (pyarrow.fs), for the sweep folder.

Every file is written under a hidden temporary name and renamed, so a reader never sees half of it
(an S3 object appears whole); every delete is checked to lie inside the folder that owns it.
"""

from __future__ import annotations

import os
import uuid

import pyarrow.fs as pafs

TMP_PREFIX = ".tmp-"  # hidden: pyarrow datasets skip names starting with "." or "_"


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path for a local path or a URI (s3://, file://, ...)."""
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(uri)


def join(*parts: str) -> str:
    return "/".join(p.rstrip("/") for p in parts)


def atomic_write(fs: pafs.FileSystem, final: str, content: bytes) -> str:
    """Write `content` under a temporary name in the same folder, then rename it to `final`."""
    folder = final.rsplit("/", 1)[0]
    fs.create_dir(folder, recursive=True)
    tmp = join(folder, f"{TMP_PREFIX}{uuid.uuid4().hex}")
    try:
        with fs.open_output_stream(tmp) as f:
            f.write(content)
        fs.move(tmp, final)
    except BaseException:
        _discard(fs, tmp)  # a full disk or an interrupt leaves no temporary behind
        raise
    return final


def _discard(fs: pafs.FileSystem, path: str) -> None:
    try:
        fs.delete_file(path)
    except (OSError, FileNotFoundError):
        pass


def list_folder(fs: pafs.FileSystem, folder: str) -> list[pafs.FileInfo]:
    """The entries of a folder; none if it does not exist."""
    return fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes | None:
    """A file's content, or None if there is no file at `path`."""
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read()


def is_within(root: str, path: str) -> bool:
    """Whether `path` is `root` or below it, after resolving "." and ".." (never by string prefix alone)."""
    root, path = os.path.normpath(root), os.path.normpath(path)
    return path == root or path.startswith(root.rstrip("/") + "/")


def delete_within(fs: pafs.FileSystem, root: str, path: str) -> None:
    """Delete the file or folder `path`, which must lie inside the sweep folder `root`."""
    if not is_within(root, path) or os.path.normpath(path) == os.path.normpath(root):
        raise ValueError(f"refusing to delete {path!r}: it is not inside the sweep folder {root!r}")
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir(path)
    else:
        fs.delete_file(path)


def remove_temporaries(fs: pafs.FileSystem, root: str, folder: str) -> None:
    """Delete the temporary files a killed writer left in `folder` (inside the sweep folder `root`)."""
    for info in list_folder(fs, folder):
        if info.base_name.startswith(TMP_PREFIX):
            delete_within(fs, root, info.path)
