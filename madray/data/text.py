"""Real text, offline: documents from .txt files, a word-level tokenizer, and fixed-width token rows.

Documents. `path` is a .txt file or a folder (every *.txt below it, in sorted order). A file whose
first MiB contains "<|endoftext|>" is split at that marker (TinyStories' released .txt files
separate stories with it); any other file is split at blank lines (paragraphs). Empty documents
are dropped; at most `limit` documents are read, so a 2 GB file costs only what is used.

Tokens. Words (letters, digits, underscores, with inner apostrophes: "don't", "Lily's") and single
punctuation marks, case kept. A model row holds a document's first `width` tokens followed by the
end token if it fits, then −1 padding: a document longer than `width` tokens is truncated and the
model learns "the first `width` tokens of a document".
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from madray.data.language import EOS

UNK = "<unk>"
STORY_MARK = "<|endoftext|>"
PAD = -1
HOLD_OUT_EVERY = 10  # every 10th document is held out (never trained on)
_TOKEN = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_BLANK_LINE = re.compile(r"\n[ \t\r]*\n")
_CHUNK = 1 << 20


def text_files(path: str | Path) -> list[Path]:
    """The .txt files of `path` (a file, or a folder searched recursively); OSError if there are none."""
    path = Path(path).expanduser()
    if path.is_file():
        return [path]
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.txt") if p.is_file())
        if not files:
            raise OSError("the folder has no .txt files")
        return files
    raise OSError("no such file or folder")


def _file_documents(path: Path) -> Iterator[str]:
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        buffer = f.read(_CHUNK)
        split = (lambda s: s.split(STORY_MARK)) if STORY_MARK in buffer else _BLANK_LINE.split
        while True:
            chunk = f.read(_CHUNK)
            parts = split(buffer + chunk) if chunk else split(buffer)
            yield from (p.strip() for p in (parts[:-1] if chunk else parts))
            if not chunk:
                return
            buffer = parts[-1]


def read_documents(path: str | Path, limit: int) -> list[str]:
    """The first `limit` non-empty documents of `path`."""
    docs = (d for f in text_files(path) for d in _file_documents(f))
    return list(itertools.islice((d for d in docs if d), limit))


def tokenize(text: str, limit: int | None = None) -> list[str]:
    """Word and punctuation tokens of `text` (the first `limit` of them)."""
    return [m.group() for m in itertools.islice(_TOKEN.finditer(text), limit)]


def detokenize(tokens: Iterable[str]) -> str:
    """Tokens -> readable text: words separated by spaces, no space before . , ! ? ; :"""
    return re.sub(r" ([.,!?;:])", r"\1", " ".join(tokens))


def split_documents(docs: list[str]) -> tuple[list[str], list[str]]:
    """(pool, held-out): every HOLD_OUT_EVERY-th document (the 10th, 20th, ...) is held out."""
    held = set(range(HOLD_OUT_EVERY - 1, len(docs), HOLD_OUT_EVERY))
    return [d for i, d in enumerate(docs) if i not in held], [docs[i] for i in sorted(held)]


@functools.lru_cache(maxsize=16)
def describe(path: str, limit: int, width: int) -> tuple[int, int, int]:
    """(pool documents, held-out documents, tokens counted up to `width`), for validating a config
    before any work; cached because every grid point of a sweep asks again."""
    docs = read_documents(path, limit)
    tokens = 0
    for d in docs:
        tokens += len(tokenize(d, width - tokens))
        if tokens >= width:
            break
    pool, held = split_documents(docs)
    return len(pool), len(held), tokens


def build_vocabulary(docs: list[list[str]], size: int) -> tuple[str, ...]:
    """EOS, UNK, then the `size` most frequent tokens of `docs` (ties in alphabetical order)."""
    counts = Counter(t for d in docs for t in d)
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:size]
    return (EOS, UNK) + tuple(t for t, _ in ranked)


def pad_rows(sequences: Iterable[Iterable[int]], width: int) -> np.ndarray:
    """Token-id sequences -> int32 rows (n, width): the first `width` ids, then PAD."""
    sequences = [np.fromiter(s, dtype=np.int32)[:width] for s in sequences]
    rows = np.full((len(sequences), width), PAD, dtype=np.int32)
    for r, ids in enumerate(sequences):
        rows[r, : len(ids)] = ids
    return rows


def encode(docs: list[list[str]], vocabulary: tuple[str, ...], width: int) -> np.ndarray:
    """Token lists -> int32 rows (len(docs), width): ids, the end token if it fits, then PAD.
    Tokens outside the vocabulary become UNK."""
    index = {t: i for i, t in enumerate(vocabulary)}
    return pad_rows(([index.get(t, index[UNK]) for t in doc] + [index[EOS]] for doc in docs), width)


def decode(row: np.ndarray, vocabulary: tuple[str, ...]) -> str:
    """One row -> text, up to its end token."""
    words = []
    for i in row:
        if i < 0 or vocabulary[i] == EOS:
            break
        words.append(vocabulary[i])
    return detokenize(words)
