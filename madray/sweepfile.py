"""Reading a sweep file: a safe YAML loader that refuses what would cost before it is refused.

`UniqueKeyLoader` is `yaml.SafeLoader` (no Python tags) that also refuses duplicate keys and alias
bombs ("billion laughs": aliases that would repeat more than ALIAS_BUDGET nodes, counted on the
composed node graph before any value is built); `read_sweep_file` reads at most a size limit,
refuses devices, and never quotes a file that turns out not to be a sweep file. Validating the
document against TrialConfig and the registries is `madray.spec`'s job.
"""

from __future__ import annotations

import math
import os
import stat
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from madray.errors import ConfigError, brief, clip

ALIAS_BUDGET = 10_000  # nodes that YAML aliases may repeat in one document (a `<<: *base` merge or two)
DEFAULT_MAX_SWEEP_BYTES = 1 << 20  # a sweep file is a few kilobytes; MADRAY_MAX_SWEEP_BYTES or --max-sweep-bytes raise it
MAX_BYTES_ENV = "MADRAY_MAX_SWEEP_BYTES"


class UniqueKeyLoader(yaml.SafeLoader):
    """`yaml.safe_load` semantics (no Python tags), but a key given twice in one mapping is an error
    instead of silently keeping the last value, and a document whose aliases would repeat more than
    ALIAS_BUDGET nodes ("billion laughs") or that refers to itself is refused before it is built."""

    def compose_document(self) -> yaml.Node:
        node = super().compose_document()
        repeated = expanded_size(node) - _distinct_nodes(node)
        if math.isinf(repeated):
            raise yaml.composer.ComposerError(None, None, "an alias (*name) inside the node it names "
                                              "would repeat it without end")
        if repeated > ALIAS_BUDGET:
            raise yaml.composer.ComposerError(
                None, None, f"its aliases (*name) would repeat {repeated:,.0f} nodes, more than the "
                f"{ALIAS_BUDGET:,} a sweep may repeat; write the values out or use fewer aliases")
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` may be overridden on purpose
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:  # a list or mapping as a key
                raise yaml.constructor.ConstructorError(
                    None, None, f"unhashable key {brief(key)}", key_node.start_mark) from None
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {brief(key)} (first on line {first})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value) if isinstance(node, yaml.SequenceNode) else []


def expanded_size(root: yaml.Node) -> float:
    """Nodes of the document with every alias written out in full (inf if an alias refers to a node
    that contains it). Each distinct node is visited once, so a billion laughs costs microseconds."""
    sizes: dict[int, float] = {}
    open_nodes: set[int] = set()  # the nodes on the path from the root, to detect recursion
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        if finished:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in _children(node))
        elif id(node) in open_nodes:
            return math.inf
        elif id(node) not in sizes:
            open_nodes.add(id(node))
            stack.append((node, True))
            stack.extend((c, False) for c in _children(node))
    return sizes[id(root)]


def _distinct_nodes(root: yaml.Node) -> int:
    seen, stack = {id(root)}, [root]
    while stack:
        for child in _children(stack.pop()):
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    return len(seen)


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in words with its line and column, without the snippet of the file PyYAML adds
    (the file may not be a sweep file at all: /etc/shadow behind a symbolic link)."""
    if not isinstance(e, yaml.MarkedYAMLError):
        return clip(str(e))
    mark = e.problem_mark or e.context_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return clip("; ".join(p for p in (e.context, e.problem) if p)) + where


def read_yaml(text: str) -> Any:
    """One YAML document (UniqueKeyLoader); every way of failing is a yaml.YAMLError."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except RecursionError:
        raise yaml.YAMLError(f"nested deeper than Python's recursion limit ({sys.getrecursionlimit():,})") from None
    except ValueError as e:  # an integer of more than 4,300 digits
        raise yaml.YAMLError(f"a value cannot be read: {clip(str(e))}") from None


def max_sweep_bytes(value: int | None = None) -> int:
    """The most bytes a sweep file may have: `value`, else $MADRAY_MAX_SWEEP_BYTES, else 1 MiB."""
    if value is None:
        raw = os.environ.get(MAX_BYTES_ENV)
        if raw is None:
            return DEFAULT_MAX_SWEEP_BYTES
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{MAX_BYTES_ENV} = {brief(raw)}: expected a number of bytes") from None
    if value < 1:
        raise ConfigError(f"the sweep file size limit = {value}: expected a number of bytes >= 1")
    return value


_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISFIFO, "a pipe"), (stat.S_ISREG, "a regular file"))


def describe_file(path: Path) -> str:
    """What `path` is, for a message that must not quote it: "a symbolic link to /etc/shadow, a regular
    file of 1,234 bytes"."""
    info = path.stat()
    kind = next((name for test, name in _KINDS if test(info.st_mode)), "a special file")
    what = f"{kind} of {info.st_size:,} bytes" if stat.S_ISREG(info.st_mode) else kind
    return f"a symbolic link to {os.path.realpath(path)}, {what}" if path.is_symlink() else what


def _named(path: Path) -> str:
    """The path, and where it leads if it is a symbolic link."""
    return f"{path} (a symbolic link to {os.path.realpath(path)})" if path.is_symlink() else str(path)


def _read_capped(path: Path, limit: int) -> bytes:
    """The file's bytes, refused unread if it is a device or larger than `limit` (a pipe: read to limit + 1)."""
    mode = path.stat().st_mode
    if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
        raise ConfigError(f"{path} is {describe_file(path)}, not a sweep file; give the path of a .yaml file")
    if stat.S_ISREG(mode) and path.stat().st_size > limit:
        raise _too_big(path, limit)
    with path.open("rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise _too_big(path, limit)
    return data


def _too_big(path: Path, limit: int) -> ConfigError:
    return ConfigError(f"{path} ({describe_file(path)}) is larger than {limit:,} bytes, the most a sweep file may "
                       f"have (one is a few kilobytes); if it really is a sweep file, raise the limit with "
                       f"--max-sweep-bytes or {MAX_BYTES_ENV}")


def _shape(doc: Any) -> str:
    if doc is None:
        return "an empty document"
    if isinstance(doc, Mapping):
        return f"a mapping of {len(doc):,} keys, none of them a sweep key"
    if isinstance(doc, list):
        return f"a list of {len(doc):,} items"
    if isinstance(doc, str):
        return f"one string of {len(doc):,} characters"
    return f"one {type(doc).__name__}"


def read_sweep_file(path: Path, max_bytes: int | None = None) -> Any:
    """The YAML document in `path` (at most `max_bytes`, see max_sweep_bytes); every way of not being a
    readable YAML file is a ConfigError."""
    limit = max_sweep_bytes(max_bytes)
    if path.is_dir():
        raise ConfigError(f"sweep file {str(path)!r} is a directory; give the path of a .yaml file")
    if not path.exists():
        raise ConfigError(f"sweep file {str(path)!r} does not exist")
    try:
        text = _read_capped(path, limit).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{_named(path)}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
                          f"save the sweep file as UTF-8") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot be read: {e.strerror}") from None
    try:
        doc = read_yaml(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{_named(path)}: not valid YAML: {yaml_problem(e)}") from None
    return doc


def check_is_sweep(doc: Any, path: Path, known: set[str], examples: str) -> None:
    """A file that is not a mapping with at least one `known` key is not a sweep with a typo: say what it
    is and never echo its content (it may be a system file behind a symbolic link)."""
    if isinstance(doc, Mapping) and any(isinstance(k, str) and k in known for k in doc):
        return
    raise ConfigError(f"{path} is not a sweep file ({describe_file(path)}): its YAML is {_shape(doc)}; a sweep "
                      f"file is a YAML mapping of sweep keys ({examples}, ...)")
