"""The one small interface every sensor implements.

A sensor is created cheaply, ``probe()``d (which never raises: it says whether it works, and if
not why and how to fix it), then ``open()``ed to get its domains, ``read()`` many times by the
sampler, and ``close()``d. ``read`` returns one integer per domain, in the domain's
``ReadingKind`` unit, and is the only method on the hot path.

Optional, for sensors that need them (the disk and network estimators have all three):

- ``prime()``: the first reading is zero power by definition; the meter records that without
  calling ``read``, and the sampler's thread calls ``prime()`` right after the start, to take the
  baseline off the caller's path;
- ``read_every_s``: read at most this often (the meter holds the last reading in between);
- ``reports_mean_power = True``: each reading is the mean power since the previous one, which the
  meter books whole (see ``Meter.advance``);
- ``read_raw()`` and ``decode_raw(raw)``: ``read_edges`` split in two, the system calls now and
  the parsing later. A phase edge runs inside a training step, where every Python frame it
  enters is cold; it only calls ``read_raw`` and the edge's accounting, on the sampler's thread,
  decodes (``sampling/meter.py``). ``read_raw`` raises ``OSError`` or ``SensorError``;
  ``decode_raw`` raises ``SensorError``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from jouleflow.records import Availability, Domain


@runtime_checkable
class Sensor(Protocol):
    """Hardware (or a model of it) behind one small interface."""

    name: str

    def probe(self) -> Availability:
        """Whether this sensor works here; never raises."""
        ...

    def open(self) -> tuple[Domain, ...]:
        """Acquire handles and return the domains ``read()`` will report, in order."""
        ...

    def read(self) -> tuple[int, ...]:
        """One value per domain (µJ cumulative or mW), aligned with ``open()``'s domains."""
        ...

    def read_edges(self) -> tuple[int | None, ...]:
        """Values for domains with ``edge_read``; None for the others (cheap, synchronous)."""
        ...

    def close(self) -> None:
        """Release handles; safe to call twice."""
        ...
