"""The errors madray raises on purpose: each message says what is wrong and how to fix it.

The command line prints these as `madray: error: ...` and exits 2; anything else is a bug and
keeps its traceback.
"""

import reprlib


class MadrayError(Exception):
    """Base of the errors a user can act on."""


class ConfigError(MadrayError, ValueError):
    """A sweep specification that cannot be run; the message says how to fix it."""


class DataError(MadrayError, ValueError):
    """Results or options that a figure, report or analysis cannot use."""


class BusyError(MadrayError, RuntimeError):
    """A sweep folder that another run is using; the message names that run's host and pid."""


class IncompleteWarning(UserWarning):
    """Results of a sweep whose run has not finished every trial (load_results still returns them)."""


class DiskFullError(MadrayError, OSError):
    """The disk holding a sweep folder filled up; the message says how much more space the sweep needs."""
# A value echoed in a message is cut to this size: a 50 MB name or a list of a million values would
# otherwise be printed whole (and formatting it can cost more than the check that refused it).
# Strings keep up to 200 characters: a path in a message must stay whole.
_BRIEF = reprlib.Repr()
_BRIEF.maxstring = 200
_BRIEF.maxother = 60
_BRIEF.maxlong = 40
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = _BRIEF.maxset = 6
_BRIEF.maxlevel = 3
BRIEF_LIMIT = 240


def brief(value: object) -> str:
    """`repr(value)` cut to at most BRIEF_LIMIT characters, without building the whole repr first."""
    try:
        text = _BRIEF.repr(value)
    except ValueError:  # an int with more digits than Python will convert to text
        text = f"<an integer of {value.bit_length():,} bits>" if isinstance(value, int) else "<a value>"
    return clip(text)


def clip(text: str, limit: int = BRIEF_LIMIT) -> str:
    """`text` cut to at most `limit` characters (a key or path echoed without quotes)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
