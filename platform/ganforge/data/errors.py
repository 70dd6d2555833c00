"""The data layer's one error type, and its warning for files it skipped.

Every problem with a data set's input (a missing root, an empty folder, a damaged IDX, CIFAR or
.npz file, too many unreadable images) is a ``DataError`` whose message names the problem, the
file or folder looked at and the fix, in one or two lines: the driver prints it as it is.
"""
from __future__ import annotations


class DataError(ValueError):
    """A data set cannot be loaded from what is on disk; the message says what to change."""


class DataFilesMissing(DataError, FileNotFoundError):
    """A data set's files or folder are not where they were looked for (also a FileNotFoundError)."""


class DataWarning(UserWarning):
    """Something in the data was skipped; the run goes on."""
