"""What can go wrong with the run store; each error names the database file.

ConfigError                  (jouleflow.errors: CLI exit code 2)
 └── StoreError              the file is not a usable jouleflow store (corrupt, foreign,
      │                      newer, unwritable), or a database error while using it
      └── UnknownRunError    no run, or more than one, matches what the user typed
"""

from __future__ import annotations

from pathlib import Path

from jouleflow.errors import ConfigError


class StoreError(ConfigError):
    """The run store at ``path`` cannot be used as asked."""

    def __init__(self, message: str, *, path: Path, fix: str | None = None) -> None:
        super().__init__(message, fix=fix)
        self.path = path


class UnknownRunError(StoreError):
    """A run reference (id, prefix, ``last``) that matches no run, or several."""
