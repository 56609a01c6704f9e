"""The few exceptions jouleflow raises, each carrying what the user can do about it.

    JouleflowError
     ├── SensorError            a sensor that was available stopped working
     │    └── SensorPermissionError   a counter exists but this user may not read it
     ├── ConfigError            a bad option or input value (CLI exit code 2)
     └── RunStateError          start/stop/phase called in the wrong order

Foreign errors (OSError, NVMLError, ...) are translated into these at the sensor boundary with
``raise ... from err`` so the cause is never lost.
"""

from __future__ import annotations


class JouleflowError(Exception):
    """Base class. ``fix`` says what the user can do; it is printed after the message."""

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix

    def __str__(self) -> str:
        base = super().__str__()
        return f"{base}\n  fix: {self.fix}" if self.fix else base


class SensorError(JouleflowError):
    """A sensor failed while reading."""


class SensorPermissionError(SensorError):
    """A sensor's files or device exist but this process may not read them."""


class ConfigError(JouleflowError):
    """A bad option, argument or input file."""


class RunStateError(JouleflowError):
    """A run or phase used in the wrong order (stop before start, phase after stop)."""
