"""Immutable records without ``dataclasses``, for the modules a run's start imports.

``dataclasses`` imports ``inspect`` (and with it ``ast``, ``dis``, ``re``...): tens of ms on a slow
machine, which the first ``track()`` in a process would pay. A subclass lists its fields in
``__slots__`` (in its constructor's order), annotates them, and calls ``self._init(locals())``.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class Frozen:
    """An immutable record whose fields are its ``__slots__``: equal, hashed and shown by value."""

    __slots__: tuple[str, ...] = ()  # in each subclass: its fields, in the constructor's order

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable; use .replace({name}=...)")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())

    def replace(self, **changes: Any) -> Any:
        """A copy with ``changes``, like ``dataclasses.replace``."""
        values: dict[str, Any] = {name: getattr(self, name) for name in self.__slots__}
        values.update(changes)
        return type(self)(**values)

    def _init(self, values: dict[str, Any]) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])
