"""The errors madray raises on purpose: each message says what is wrong and how to fix it.

The command line prints these as `madray: error: ...` and exits 2; anything else is a bug and
keeps its traceback.
"""


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
