"""`madray` command line: one module per subcommand, registered in COMMANDS."""

from __future__ import annotations

import argparse
import ast
import errno
import getpass
import importlib
import importlib.util
import os
import re
import sys

from madray.errors import MadrayError, clip

# Adding a subcommand is one module in madray/cli/ (with `add_arguments` and `run`) plus one line here.
COMMANDS = {
    "run": "madray.cli.run",
    "search": "madray.cli.search",
    "show": "madray.cli.show",
    "plot": "madray.cli.plot",
    "report": "madray.cli.report",
    "reproduce": "madray.cli.reproduce",
    "plan": "madray.cli.plan",
    "slurm": "madray.cli.slurm",
}


def summary(module_name: str) -> str:
    """A subcommand's one-line help: the first line of its module docstring, read without importing it
    (importing every subcommand pulls in Ray, pandas and matplotlib: seconds for `madray --help`)."""
    with open(importlib.util.find_spec(module_name).origin, encoding="utf-8") as f:
        doc = ast.get_docstring(ast.parse(f.read())) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `command`'s module is imported (every one when None, as for the tests)."""
    parser = argparse.ArgumentParser(prog="madray", description="Self-consuming generative-model loops on Ray.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        if command is not None and name != command:
            subparsers.add_parser(name, help=summary(module_name))
            continue
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=module.__doc__.strip().splitlines()[0], description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def chosen(argv: list[str]) -> str:
    """The subcommand named in argv ("" for none: `madray`, `madray --help`)."""
    return next((a for a in argv if not a.startswith("-")), "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(chosen(argv)).parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):  # a file or pipe (CI, `ray job` logs) sees each progress line as it comes
        sys.stdout.reconfigure(line_buffering=True)
    try:
        return int(args.handler(args) or 0)
    except (MadrayError, FileExistsError, FileNotFoundError) as e:
        print(f"madray: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in ACCESS_ERRORS:
            raise
        print(f"madray: error: {access_message(e)}", file=sys.stderr)
        return 2


# A folder or file madray may not read or write: the user can fix that, so a message, not a traceback.
ACCESS_ERRORS = {errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
                 errno.EROFS: "on a read-only file system"}


def access_message(e: OSError) -> str:
    """The path an OSError is about (pyarrow names it only in its message) and what to do."""
    found = re.search(r"'([^']+)'", str(e))
    path = e.filename or (found.group(1) if found else None)
    if path is None:
        return f"{clip(str(e))}; check the owner and mode of the folders involved, or choose another --out"
    path = str(path)
    folder = path  # what to look at: the path, or the nearest folder above it that exists
    while folder not in ("", "/") and not os.path.lexists(folder):
        folder = os.path.dirname(folder)
    look = f"ls -ld {clip(folder if folder not in ('', '/') else path)}"
    return (f"{clip(path)}: {ACCESS_ERRORS[e.errno]}: madray (user {getpass.getuser()}) cannot read or write "
            f"it; check the owner and mode ({look}), or choose another folder")


if __name__ == "__main__":
    sys.exit(main())
