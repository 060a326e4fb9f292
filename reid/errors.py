"""Expected failures, each with a message a user can act on.

Every failure that bad input can cause (a missing file, a wrong dataset layout, an unknown config key,
weights that cannot be downloaded offline) raises a :class:`ReidError` subclass. The CLI prints the message
as one red line and exits with code 2; anything else escaping the library is a bug and shows a traceback.
A message says what was wrong, which file or key, and what to do about it.
"""

from __future__ import annotations


class ReidError(Exception):
    """Base class of every expected failure. ``hint`` says what to do, when there is something to do."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(ReidError):
    """A config file or ``--set`` override is unreadable, unknown or of the wrong type."""


class InputError(ReidError):
    """An input (file, folder, video, image, flag value) is missing, corrupt or not what was expected."""


class DatasetError(InputError):
    """A dataset root does not have the expected layout, or a listed image is missing."""


class OutputError(ReidError):
    """An output location exists and is not empty, or cannot be written."""


class WeightsError(ReidError):
    """Model weights or a checkpoint are missing, foreign, of an unknown format, or cannot be downloaded."""


class GalleryError(ReidError):
    """A gallery is corrupt, foreign, or was built with a different embedding network."""


class TrainingError(ReidError):
    """Training cannot go on (too many non-finite losses, out of memory, too few identities for a batch)."""
