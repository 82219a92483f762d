"""Errors raised by activelearn.

Every error derives from :class:`ActiveLearnError` and its message says what
was wrong and what to do about it.
"""

__all__ = [
    "ActiveLearnError",
    "InvalidDataError",
    "UnknownLabelError",
    "UnknownItemError",
    "TestItemError",
    "AlreadyLabeledError",
    "UnknownStrategyError",
    "StrategyError",
    "StoreMismatchError",
    "StoreVersionError",
    "TrainingError",
    "StoreUnavailableError",
    "LeasedError",
]


class ActiveLearnError(Exception):
    """Base class of every error activelearn raises on purpose."""


class InvalidDataError(ActiveLearnError, ValueError):
    """Features, labels or ids that cannot be used (NaN, wrong lengths, duplicates)."""


class UnknownLabelError(ActiveLearnError, ValueError):
    """A label that is not one of the dataset's classes."""


class UnknownItemError(ActiveLearnError, KeyError):
    """An item id that is not in the dataset."""

    def __str__(self):  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class TestItemError(ActiveLearnError, ValueError):
    """An item of the held-out test set was offered for labeling or querying."""


class AlreadyLabeledError(ActiveLearnError, ValueError):
    """An item that already carries a label was labeled again without ``overwrite=True``."""


class UnknownStrategyError(ActiveLearnError, KeyError):
    """A query strategy name that is not registered."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class StrategyError(ActiveLearnError, RuntimeError):
    """A query strategy returned something other than distinct in-range positions."""


class StoreMismatchError(ActiveLearnError, ValueError):
    """A label store was opened with a dataset or settings other than its own."""


class StoreVersionError(ActiveLearnError, RuntimeError):
    """A label store written by a newer activelearn than this one."""


class TrainingError(ActiveLearnError, RuntimeError):
    """Training the model failed; the previous model and every label are kept."""


class StoreUnavailableError(ActiveLearnError, ConnectionError):
    """The label store cannot be reached (database down, network gone); the write did not happen."""


class LeasedError(ActiveLearnError, ValueError):
    """The item is handed to another annotator right now (its lease has not expired)."""
