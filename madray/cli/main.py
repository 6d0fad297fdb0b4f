"""`madray` command line: one module per subcommand, registered in COMMANDS."""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import sys

from madray.errors import MadrayError

# Adding a subcommand is one module in madray/cli/ (with `add_arguments` and `run`) plus one line here.
COMMANDS = {
    "run": "madray.cli.run",
    "search": "madray.cli.search",
    "show": "madray.cli.show",
    "plot": "madray.cli.plot",
    "report": "madray.cli.report",
    "reproduce": "madray.cli.reproduce",
    "plan": "madray.cli.plan",
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


if __name__ == "__main__":
    sys.exit(main())
