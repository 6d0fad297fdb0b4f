"""`madray` command line: one module per subcommand, registered in COMMANDS."""

from __future__ import annotations

import argparse
import importlib
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
    "slurm": "madray.cli.slurm",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="madray", description="Self-consuming generative-model loops on Ray.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = subparsers.add_parser(name, help=module.__doc__.strip().splitlines()[0], description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if hasattr(sys.stdout, "reconfigure"):  # a file or pipe (CI, `ray job` logs) sees each progress line as it comes
        sys.stdout.reconfigure(line_buffering=True)
    try:
        return int(args.handler(args) or 0)
    except (MadrayError, FileExistsError, FileNotFoundError) as e:
        print(f"madray: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
