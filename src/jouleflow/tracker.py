"""``jouleflow.track()``: measure a block of Python code, with named phases inside it.

    with jouleflow.track("train") as run:
        with run.phase("forward"):
            ...
    print(run.result.total_j)

Also ``run.start()`` / ``run.stop()``, and ``@jouleflow.track()`` on a function (each call is its
own run; the last one is ``function.jouleflow_run``).
"""

from __future__ import annotations

import functools
import os
import platform
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from jouleflow.attribution.phases import PhaseLedger
from jouleflow.config import MeterConfig
from jouleflow.errors import RunStateError
from jouleflow.records import (
    ComponentEnergy,
    Domain,
    Method,
    PhaseEnergy,
    RunResult,
)
from jouleflow.sampling.meter import Meter
from jouleflow.sampling.sampler import SampleCallback, Sampler, sample_interval_ns
from jouleflow.sampling.timeline import Timeline
from jouleflow.sensors.discovery import Discovery, open_sensors

P = ParamSpec("P")
R = TypeVar("R")


class Run:
    """One measurement window over the whole machine, with phases inside it."""

    def __init__(
        self,
        name: str | None = None,
        *,
        config: MeterConfig | None = None,
        tags: dict[str, str] | None = None,
        command: tuple[str, ...] | None = None,
        on_sample: SampleCallback | None = None,
    ) -> None:
        self.name = name
        self.config = config or MeterConfig()
        self.tags = dict(tags or {})
        self.command = command
        self.run_id = uuid.uuid4().hex
        self.timeline = Timeline()
        self._on_sample = on_sample
        self._lock = threading.Lock()
        self._discovery: Discovery | None = None
        self._meter: Meter | None = None
        self._sampler: Sampler | None = None
        self._ledger: PhaseLedger | None = None
        self._start_ns = 0
        self._started_at = ""
        self._result: RunResult | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Run:
        if self._meter is not None or self._result is not None:
            raise RunStateError("this run was already started; create a new one with track()")
        self._discovery = open_sensors(self.config)
        self._meter = Meter(self._discovery.opened)
        self._started_at = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
        t_ns, cum = self._meter.start()
        self._start_ns = t_ns
        self.timeline.append(t_ns, cum)
        self._ledger = PhaseLedger(t_ns, cum)
        interval_ns = sample_interval_ns(self.config.interval_s, self._meter.domains)
        self._sampler = Sampler(self._meter, self.timeline, interval_ns, self._on_sample)
        self._sampler.start()
        return self

    def stop(self, *, exit_code: int | None = None, status: str = "completed") -> RunResult:
        if self._result is not None:
            return self._result
        if self._meter is None or self._sampler is None or self._ledger is None:
            raise RunStateError("stop() before start(): call run.start() or use `with track()`")
        self._sampler.stop()
        with self._lock:
            t_ns, cum = self._meter.snapshot()
            self.timeline.append(t_ns, cum)
            self._ledger.finish(t_ns, cum)
        self._meter.close()
        self._result = self._build_result(t_ns, cum, exit_code, status)
        return self._result

    def __enter__(self) -> Run:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.stop()
        elif issubclass(exc_type, KeyboardInterrupt):
            self.stop(status="interrupted")
        else:
            self.stop(status="failed")

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """Use as a decorator: every call of ``func`` is measured as a new run."""

        @functools.wraps(func)
        def measured(*args: P.args, **kwargs: P.kwargs) -> R:
            run = Run(self.name or func.__qualname__, config=self.config, tags=self.tags)
            measured.jouleflow_run = run  # type: ignore[attr-defined]
            with run:
                return func(*args, **kwargs)

        return measured

    # -- phases -------------------------------------------------------------------------------
    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """A named window inside the run; phases nest and may overlap, in any thread.

        Its edges read the exact counters (RAPL, NVML energy) synchronously, so a phase's energy
        is a counter difference, not an interpolation; other domains hold their last power.
        """
        meter, ledger = self._meter, self._ledger
        if meter is None or ledger is None or self._result is not None:
            raise RunStateError(f"phase {name!r} outside a running measurement")
        with self._lock:
            t_ns, cum = meter.snapshot(edge=True)
            handle = ledger.open(name, t_ns, cum)
        try:
            yield
        finally:
            with self._lock:
                if self._result is None:
                    t_ns, cum = meter.snapshot(edge=True)
                    ledger.close(handle, t_ns, cum)

    # -- results ------------------------------------------------------------------------------
    @property
    def result(self) -> RunResult:
        if self._result is None:
            raise RunStateError("the run has not stopped yet: its result exists after stop()")
        return self._result

    @property
    def running(self) -> bool:
        return self._meter is not None and self._result is None

    @property
    def domains(self) -> tuple[Domain, ...]:
        return self._meter.domains if self._meter is not None else ()

    def current_power_w(self) -> dict[str, float]:
        if self._meter is None:
            return {}
        return dict(zip((d.id for d in self._meter.domains), self._meter.current_power_w()))

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()

    def _build_result(
        self, end_ns: int, cum: tuple[float, ...], exit_code: int | None, status: str
    ) -> RunResult:
        assert self._meter is not None and self._ledger is not None
        assert self._discovery is not None and self._sampler is not None
        domains = self._meter.domains
        duration_s = max((end_ns - self._start_ns) / 1e9, 1e-9)
        interval_s = self._sampler.interval_ns / 1e9
        components = tuple(
            _component(d, cum[i] / 1e6, duration_s, interval_s) for i, d in enumerate(domains)
        )
        ids = [d.id for d in domains]
        phases = tuple(
            PhaseEnergy(
                name=t.name,
                count=t.count,
                duration_s=t.duration_ns / 1e9,
                energy_j={k: v / 1e6 for k, v in zip(ids, t.inclusive_uj)},
                self_energy_j={k: v / 1e6 for k, v in zip(ids, t.self_uj)},
                windows_ns=tuple(t.windows_ns),
                truncated=t.truncated,
            )
            for t in self._ledger.totals.values()
        )
        warnings = list(self._meter.errors)
        if not self._discovery.measured:
            warnings.append(
                "no power sensor is readable here: every figure is an estimate "
                "(run `jouleflow doctor` to see why and how to enable the sensors)"
            )
        return RunResult(
            run_id=self.run_id,
            name=self.name,
            command=self.command,
            started_at=self._started_at,
            window_ns=(self._start_ns, end_ns),
            exit_code=exit_code,
            status=status,
            components=components,
            phases=phases,
            unattributed_j={k: v / 1e6 for k, v in zip(ids, self._ledger.unattributed_uj)},
            sensors=self._discovery.availability,
            warnings=tuple(warnings),
            host=host_info(self.config),
            sample_interval_s=interval_s,
            samples=len(self.timeline),
            tags=self.tags,
        )


def _component(
    domain: Domain, energy_j: float, duration_s: float, interval_s: float
) -> ComponentEnergy:
    """Attach the uncertainty that belongs to how the figure was obtained."""
    average_w = energy_j / duration_s
    if domain.method is Method.COUNTER:
        # The counter ticks every tick_ns: each of the two edges can be off by one tick's energy.
        edge_j = 2 * average_w * domain.tick_ns / 1e9
    elif domain.method is Method.POWER_INTEGRATION:
        # Holding each power reading for one interval can misplace up to one interval per edge.
        edge_j = 2 * average_w * interval_s
    else:
        edge_j = 0.0
    uncertainty_j = abs(energy_j) * domain.uncertainty_rel + edge_j
    return ComponentEnergy(
        id=domain.id,
        kind=domain.kind,
        energy_j=energy_j,
        method=domain.method,
        source=domain.source,
        uncertainty_j=uncertainty_j,
        label=domain.label,
        in_total=domain.in_total,
        model=domain.model,
        parent=domain.parent,
        index=domain.index,
        uuid=domain.uuid,
        name=domain.name,
    )


def host_info(config: MeterConfig) -> dict[str, str]:
    from jouleflow import __version__
    from jouleflow.sensors.estimate import read_cpu_model

    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "jouleflow": __version__,
        "cpu_model": read_cpu_model(config.proc_root) or "unknown",
        "cpu_count": str(os.cpu_count() or 0),
        "pid": str(os.getpid()),
    }


def track(
    name: str | None = None,
    *,
    tags: dict[str, str] | None = None,
    config: MeterConfig | None = None,
    **settings: Any,
) -> Run:
    """A new run; ``settings`` are ``MeterConfig`` fields (``powercap_root``, ``interval_s``...)."""
    if config is not None and settings:
        raise TypeError("pass either config= or individual settings, not both")
    return Run(name, config=config or MeterConfig(**settings), tags=tags)
