"""What sensors can read and whether they work: the records a run's start needs.

They are kept apart from the result records (``jouleflow.records``) and written without
``dataclasses``, which imports ``inspect`` and ``re``: the first ``track()`` in a process loads
this module, and its start should cost milliseconds, not the tens that those imports take.
"""

from __future__ import annotations

import enum

from jouleflow._frozen import Frozen


class ComponentKind(str, enum.Enum):
    """What a domain measures; the values are the stable strings of the result document."""

    CPU_PACKAGE = "cpu_package"
    CPU_CORE = "cpu_core"
    CPU_UNCORE = "cpu_uncore"
    DRAM = "dram"
    PSYS = "psys"
    GPU = "gpu"
    MEMORY_ESTIMATE = "memory_estimate"
    CPU_ESTIMATE = "cpu_estimate"
    DISK_ESTIMATE = "disk_estimate"
    NETWORK_ESTIMATE = "network_estimate"


class Method(str, enum.Enum):
    """How a figure was obtained."""

    COUNTER = "counter"  # difference of a cumulative hardware energy counter: exact up to its tick
    POWER_INTEGRATION = "power_integration"  # power samples integrated over time (hold last value)
    ESTIMATE = "estimate"  # a model, not a sensor


class ReadingKind(str, enum.Enum):
    """What ``Sensor.read()`` returns for a domain."""

    ENERGY_UJ = "energy_uj"  # a cumulative counter in microjoules (may wrap at ``wrap_uj``)
    POWER_MW = "power_mw"  # an instantaneous (or device-averaged) power in milliwatts


class Domain(Frozen):
    """One thing a sensor can read: a RAPL zone, a GPU, an estimated component.

    ``in_total`` is False for domains that are already contained in another one (RAPL core and
    uncore are parts of their package); they are shown as a breakdown, never added twice.
    ``edge_read`` says whether reading it at a phase edge is cheap enough to do synchronously;
    otherwise the edge value is extended from the last sample with its last power.
    """

    __slots__ = (  # noqa: RUF023 (the constructor's order: __reduce__ passes them positionally)
        "id",
        "kind",
        "source",
        "method",
        "reading",
        "label",
        "in_total",
        "wrap_uj",
        "max_power_w",
        "edge_read",
        "uncertainty_rel",
        "tick_ns",
        "model",
        "parent",
        "index",
        "uuid",
        "name",
    )
    id: str
    kind: ComponentKind
    source: str
    method: Method
    reading: ReadingKind
    label: str
    in_total: bool
    wrap_uj: int | None  # counter modulus in µJ, None if it never wraps in practice
    max_power_w: float | None  # bound used to poll faster than the counter can wrap
    edge_read: bool
    uncertainty_rel: float  # the sensor's own relative accuracy (0 when not documented)
    tick_ns: int  # how often the hardware updates the value
    model: str | None  # for estimates: the model and its parameters, in words
    parent: str | None  # id of the domain this one is part of
    index: int | None
    uuid: str | None
    name: str | None

    def __init__(
        self,
        id: str,
        kind: ComponentKind,
        source: str,
        method: Method,
        reading: ReadingKind,
        label: str,
        in_total: bool = True,
        wrap_uj: int | None = None,
        max_power_w: float | None = None,
        edge_read: bool = True,
        uncertainty_rel: float = 0.0,
        tick_ns: int = 1_000_000,
        model: str | None = None,
        parent: str | None = None,
        index: int | None = None,
        uuid: str | None = None,
        name: str | None = None,
    ) -> None:
        self._init(locals())


class Availability(Frozen):
    """The result of probing one sensor: never an exception, always a reason and a fix."""

    __slots__ = ("sensor", "available", "reason", "fix", "domains", "measured")  # noqa: RUF023
    sensor: str
    available: bool
    reason: str
    fix: str | None
    domains: tuple[str, ...]
    measured: bool  # False for estimators

    def __init__(
        self,
        sensor: str,
        available: bool,
        reason: str,
        fix: str | None = None,
        domains: tuple[str, ...] = (),
        measured: bool = True,
    ) -> None:
        self._init(locals())
