"""`madray --help` imports no subcommand (nor Ray, pandas, matplotlib) and still lists each one's own help line."""

import importlib
import subprocess
import sys

import pytest

from madray.cli.main import COMMANDS, build_parser, chosen, summary

PROBE = """
import sys
from madray.cli.main import main
try:
    main(["--help"])
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("ray", "pandas", "matplotlib", "torch", "scipy")
               or m.startswith("madray.cli.") and m != "madray.cli.main")
print("HEAVY", heavy)
"""


def test_help_imports_no_subcommand():
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True)
    assert "HEAVY []" in done.stdout
    for name in COMMANDS:
        assert name in done.stdout


@pytest.mark.slow  # imports every subcommand: Ray, pandas, matplotlib, torch
def test_summaries_are_the_modules_own_first_lines():
    for module in COMMANDS.values():
        assert summary(module) == importlib.import_module(module).__doc__.strip().splitlines()[0]


def test_only_the_chosen_subcommand_is_built():
    assert chosen(["--verbose", "report", "x", "--html"]) == "report" and chosen(["--help"]) == ""
    parser = build_parser("report")
    args = parser.parse_args(["report", "somewhere", "--html"])
    assert args.html and args.path == "somewhere" and args.handler.__module__ == "madray.cli.report"
