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
import threading
from collections.abc import Callable
from types import TracebackType

from jouleflow.attribution.journal import EdgeJournal, PhaseStream
from jouleflow.attribution.phases import OpenPhase, PhaseLedger
from jouleflow.config import MeterConfig
from jouleflow.domains import Domain, Method
from jouleflow.errors import RunStateError
from jouleflow.host import host_info, utc_now_iso
from jouleflow.sampling.meter import Meter
from jouleflow.sampling.sampler import SampleCallback, Sampler, sample_interval_ns
from jouleflow.sampling.timeline import Timeline
from jouleflow.sensors.discovery import Discovery, open_sensors

# The first start in a process pays for every module imported here: the result records (and
# dataclasses, typing) load when a run builds its result; annotations need them only for checks.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any, ParamSpec, TypeVar

    from jouleflow.records import ComponentEnergy, RunResult
    from jouleflow.saving import BackgroundSave

    P = ParamSpec("P")
    R = TypeVar("R")


# Where a run is saved: a path, None or True for the default store (JOULEFLOW_DB, else the user
# data folder), False for nowhere.
DbOption = str | os.PathLike[str] | bool | None


class Phase:
    """One occurrence of a named phase: a context manager, and afterwards its own figures."""

    __slots__ = ("_open", "name", "run")

    def __init__(self, run: Run, name: str) -> None:
        self.run = run
        self.name = name
        self._open: OpenPhase | None = None

    def __enter__(self) -> Phase:
        self.run._open_phase(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.run._close_phase(self)

    def close(self) -> None:
        self.run._close_phase(self)

    @property
    def closed(self) -> bool:
        return self._open is not None and self._open.end_ns is not None

    @property
    def duration_s(self) -> float:
        handle = self._open
        if handle is None or handle.end_ns is None:
            raise RunStateError(f"phase {self.name!r} has not closed yet")
        return (handle.end_ns - handle.start_ns) / 1e9

    @property
    def components_j(self) -> dict[str, float]:
        """Energy of this occurrence per component (all domains, parts included)."""
        handle = self._open
        if handle is None or handle.end_ns is None:
            raise RunStateError(f"phase {self.name!r} has not closed yet")
        if handle.end_cum is None or handle.start_cum is None:
            self.run._settle()  # its edges were read, not yet accounted
        assert handle.start_cum is not None and handle.end_cum is not None
        ids = (d.id for d in self.run.domains)
        return {k: (b - a) / 1e6 for k, a, b in zip(ids, handle.start_cum, handle.end_cum)}

    @property
    def energy_j(self) -> float:
        """Energy of this occurrence over the components that make up the total."""
        in_total = {d.id for d in self.run.domains if d.in_total}
        return sum(v for k, v in self.components_j.items() if k in in_total)


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
        db: DbOption = None,
    ) -> None:
        self.name = name
        self.db = db
        self.config = config or MeterConfig()
        self.tags = dict(tags or {})
        self.command = command
        self.run_id = os.urandom(16).hex()  # 128 random bits, like uuid4().hex
        self.timeline = Timeline()
        self._on_sample = on_sample
        self._lock = threading.Lock()  # counts
        self._journal: EdgeJournal | None = None  # phase edges, from the first reading to the last
        self._discovery: Discovery | None = None
        self._meter: Meter | None = None
        self._sampler: Sampler | None = None
        self._start_ns = 0
        self._started_at = ""
        self._result: RunResult | None = None
        self._counts: dict[str, int] = {}
        self._contributors: list[Callable[[RunResult], RunResult]] = []
        self._save: BackgroundSave | None = None

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> Run:
        if self._meter is not None or self._result is not None:
            raise RunStateError("this run was already started; create a new one with track()")
        self._discovery = open_sensors(self.config)
        self._meter = Meter(self._discovery.opened)
        self._started_at = utc_now_iso()
        t_ns, cum = self._meter.start()
        self._start_ns = t_ns
        self.timeline.append(t_ns, cum)
        self._journal = journal = EdgeJournal(self._meter, PhaseLedger(t_ns, cum))
        interval_ns = sample_interval_ns(self.config.interval_s, self._meter.domains)
        save = self._background_save()
        on_sample = self._on_sample
        if save is not None:
            on_sample = _both(save.add_sample, self._on_sample)
        self._sampler = Sampler(
            journal.sample, self.timeline, interval_ns, on_sample, prime=journal.prime
        )
        self._sampler.start()
        if save is not None:
            save.start()  # opens the store on its own thread: the start never waits for SQLite
            self._save = save
        return self

    def _background_save(self) -> BackgroundSave | None:
        if self.db is False or (self.db is None and os.environ.get(CHILD_RESULTS_ENV)):
            return None  # under `jouleflow run`, which saves this run's phases in its own
        from jouleflow.saving import BackgroundSave

        return BackgroundSave(
            None if self.db is None or self.db is True else self.db, self.partial_result
        )

    def stop(self, *, exit_code: int | None = None, status: str = "completed") -> RunResult:
        if self._result is not None:
            return self._result
        if self._meter is None or self._sampler is None or self._journal is None:
            raise RunStateError("stop() before start(): call run.start() or use `with track()`")
        if self._save is not None:
            self._save.stop_flushing()
        self._sampler.stop()
        t_ns, cum = self._journal.finish()
        self.timeline.append(t_ns, cum)
        self._meter.close()
        result = self._build_result(t_ns, cum, exit_code, status)
        for contribute in self._contributors:
            result = contribute(result)
        self._result = result
        _report_to_parent(result)
        if self._save is not None:
            warning = self._save.finish(self._result)
            if warning is not None:
                warnings = (*self._result.warnings, warning)
                from dataclasses import replace

                self._result = replace(self._result, warnings=warnings)
        return self._result

    def partial_result(self) -> RunResult:
        """What was measured so far, as if the run stopped now (status ``running``); it goes on.

        Phases still open count up to now, marked truncated. The run store flushes this.
        """
        if self._result is not None:
            return self._result
        if self._journal is None:
            raise RunStateError("partial_result() before start()")
        t_ns, cum, ledger = self._journal.copy_now()
        ledger.finish(t_ns, cum)
        return self._build_result(t_ns, cum, None, "running", ledger)

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
            run = Run(
                self.name or func.__qualname__, config=self.config, tags=self.tags, db=self.db
            )
            measured.jouleflow_run = run  # type: ignore[attr-defined]
            with run:
                return func(*args, **kwargs)

        return measured

    # -- phases -------------------------------------------------------------------------------
    def phase(self, name: str) -> Phase:
        """A named window inside the run; phases nest and may overlap, in any thread.

        Its edges read the exact counters (RAPL, NVML energy) synchronously, so a phase's energy
        is a counter difference, not an interpolation; other domains hold their last power.
        After it closes, the phase object knows its own energy (``energy_j``).
        """
        return Phase(self, name)

    def switch(self, current: Phase | None, name: str) -> Phase:
        """Close ``current`` and open ``name`` at one instant (one edge, no gap between them)."""
        closing = current._open if current is not None else None
        opened = Phase(self, name)
        opened._open = self._edges(name).switch(closing, name)
        return opened

    def stream(self) -> PhaseStream:
        """A new stream of phases for ``mark`` (one phase open at a time)."""
        return PhaseStream()

    def mark(self, stream: PhaseStream, name: str | None) -> None:
        """Close ``stream``'s phase and open ``name`` (None: open nothing) at one edge.

        It reads the counters and records them; the rest happens when the batch is accounted
        (attribution/journal.py). Marking the phase open already does nothing. After the run,
        closing is a no-op.
        """
        journal = self._journal
        if journal is None:
            if name is None:
                return
            raise RunStateError(f"phase {name!r} outside a running measurement")
        journal.mark(stream, name)

    def marker(self) -> Callable[[PhaseStream, str | None], None]:
        """``mark``, as cheap as this machine's sensors allow, once the run runs (``watch()``'s
        edges; attribution/journal.py says what it leaves out)."""
        return self._journal.marker() if self._journal is not None else self.mark

    def _edges(self, name: str) -> EdgeJournal:
        if self._journal is None:
            raise RunStateError(f"phase {name!r} outside a running measurement")
        return self._journal

    def _open_phase(self, phase: Phase) -> None:
        phase._open = self._edges(phase.name).open(phase.name)

    def _close_phase(self, phase: Phase) -> None:
        if self._journal is not None and phase._open is not None:
            self._journal.close(phase._open)

    def _settle(self) -> None:
        if self._journal is not None:
            self._journal.settle()

    # -- what integrations add ----------------------------------------------------------------
    def count(self, **units: int) -> None:
        """Count what the energy served: ``run.count(samples=32, tokens=4096)``.

        The result then gives J per sample, J per token and kWh per 1,000 inferences.
        """
        with self._lock:
            for unit, n in units.items():
                if n < 0:
                    raise ValueError(f"count {unit}={n}: counts cannot be negative")
                self._counts[unit] = self._counts.get(unit, 0) + int(n)

    def add_contributor(self, contribute: Callable[[RunResult], RunResult]) -> None:
        """Let an integration add its section (layers...) to the result when the run stops."""
        self._contributors.append(contribute)

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

    @property
    def store_path(self) -> Path | None:
        """The run store this run is saved in, None when it is not saved."""
        return self._save.path if self._save is not None else None

    def current_power_w(self) -> dict[str, float]:
        if self._meter is None:
            return {}
        return dict(zip((d.id for d in self._meter.domains), self._meter.current_power_w()))

    def to_dict(self) -> dict[str, Any]:
        return self.result.to_dict()

    def _build_result(
        self,
        end_ns: int,
        cum: tuple[float, ...],
        exit_code: int | None,
        status: str,
        ledger: PhaseLedger | None = None,
    ) -> RunResult:
        from jouleflow.records import PhaseEnergy, RunResult

        ledger = ledger or (self._journal.ledger if self._journal is not None else None)
        assert self._meter is not None and ledger is not None
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
            for t in ledger.totals.values()
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
            unattributed_j={k: v / 1e6 for k, v in zip(ids, ledger.unattributed_uj)},
            sensors=self._discovery.availability,
            warnings=tuple(warnings),
            host=host_info(self.config),
            sample_interval_s=interval_s,
            samples=len(self.timeline),
            tags=self.tags,
            counts=dict(self._counts),
        )


def _both(first: SampleCallback, then: SampleCallback | None) -> SampleCallback:
    if then is None:
        return first

    def both(t_ns: int, cum_uj: tuple[float, ...]) -> None:
        first(t_ns, cum_uj)
        then(t_ns, cum_uj)

    return both


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
    from jouleflow.records import ComponentEnergy

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


CHILD_RESULTS_ENV = "JOULEFLOW_CHILD_RESULTS"


def _report_to_parent(result: RunResult) -> None:
    """Under ``jouleflow run``, leave this run's phases and layers where the parent finds them.

    The parent measures the whole command; a ``track()`` inside it knows the phases. The file is
    written atomically, so the parent never reads half of one.
    """
    folder = os.environ.get(CHILD_RESULTS_ENV)
    if not folder:
        return
    import json

    target = os.path.join(folder, f"{result.run_id}.json")
    tmp = target + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result.to_dict(), f)
    os.replace(tmp, target)


def track(
    name: str | None = None,
    *,
    tags: dict[str, str] | None = None,
    config: MeterConfig | None = None,
    db: DbOption = None,
    **settings: Any,
) -> Run:
    """A new run; ``settings`` are ``MeterConfig`` fields (``powercap_root``, ``interval_s``...).

    The run is saved in the run store at ``db`` (a path; None: ``JOULEFLOW_DB``, else the user
    data folder; False: not saved), flushed while it runs, so a killed process leaves it readable.
    """
    if config is not None and settings:
        raise TypeError("pass either config= or individual settings, not both")
    return Run(name, config=config or MeterConfig(**settings), tags=tags, db=db)
