"""Phase edges: read at the edge, accounted in batches, in the order they were read.

An edge must read the energy counters at its instant, but decoding and unwrapping the readings
and folding the edge into the phase ledger (several µs of Python each) can wait. A training loop
marks thousands of edges a second, inside steps whose working set has pushed the interpreter out
of the CPU's caches, so an edge here only reads and records (``marker()``: the counters' raw
text); the next periodic sample accounts the backlog on the sampler's thread, off the measured
code's path (so do the end of the run and a phase's figures being asked for). A backlog of
``SETTLE_BACKLOG`` edges is accounted where it arises.

Every batch ends with a reading of every domain. Counters that edges do not read (a package's
core and uncore, inside their package) are split over the batch's edges as their package's
energy went (``_split_parts``).

Two locks, always taken in this order: ``_fold_lock`` while edges are accounted (the meter's
running totals, the ledger), ``_lock`` while an edge is read and recorded. A reading that accounts
the backlog is taken under ``_lock`` together with it, so no edge falls between them and the
meter sees every reading in time order; an edge never waits for a fold.
"""

from __future__ import annotations

import threading
import time

from jouleflow.attribution.phases import OpenPhase, PhaseLedger
from jouleflow.domains import ReadingKind
from jouleflow.errors import RunStateError, SensorError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any, TypeAlias

    from jouleflow.sampling.meter import Meter

    # A recorded edge: when it was read, what was read, then either the occurrence it closes and
    # the one it opens, or a stream and the name it switches to (None: it closes the stream's
    # phase). When: the instant and None, with readings as ``Meter.read`` gives them; or the
    # clock before and after a raw read (``Meter.raw_edge_reader``), decoded when accounted.
    _Edge: TypeAlias = tuple[
        int, int | None, Any, "OpenPhase | PhaseStream | None", "OpenPhase | str | None"
    ]


class PhaseStream:
    """A sequence of phases with one open at a time, switched by ``mark`` at a high rate.

    What a training loop's state machine needs (``jouleflow.torch.watch``): each mark closes the
    stream's phase and opens the next at one edge, without an object per occurrence.
    ``current`` is the name of the open phase, None when none is.
    """

    __slots__ = ("_handle", "current")

    def __init__(self) -> None:
        self.current: str | None = None
        self._handle: OpenPhase | None = None  # the ledger's occurrence, once accounted


class EdgeJournal:
    """The edges of one run between its first and its last reading."""

    SETTLE_BACKLOG = 8192

    def __init__(self, meter: Meter, ledger: PhaseLedger) -> None:
        self.meter = meter
        self.ledger = ledger
        self._fold_lock = threading.Lock()
        self._lock = threading.Lock()
        self._pending: list[_Edge] = []  # one list for the run: ``marker()`` binds it
        self._accepting = True  # until the run's last reading
        self._split = meter.raw_edge_reader()
        # Counters edges do not read (package parts), each with the domain that contains it.
        index = {d.id: i for i, d in enumerate(meter.domains)}
        self._parts = [
            (i, index[d.parent])
            for i, d in enumerate(meter.domains)
            if not d.edge_read
            and d.reading is ReadingKind.ENERGY_UJ
            and d.parent in index
            and meter.domains[index[d.parent]].edge_read
        ]
        self._last_full = meter.last_reading()  # where the next batch's parts start

    # -- edges, from any thread ---------------------------------------------------------------
    def open(self, name: str) -> OpenPhase:
        with self._lock:
            self._check(name)
            t_ns, readings = self.meter.read(edge=True)
            handle = OpenPhase(name, t_ns)
            self._pending.append((t_ns, None, readings, None, handle))
        return handle

    def close(self, handle: OpenPhase) -> None:
        """Close ``handle``; nothing if it is closed already or the run has stopped."""
        with self._lock:
            if not self._accepting or handle.end_ns is not None:
                return
            t_ns, readings = self.meter.read(edge=True)
            handle.end_ns = t_ns
            self._pending.append((t_ns, None, readings, handle, None))

    def switch(self, closing: OpenPhase | None, name: str) -> OpenPhase:
        """Close ``closing`` (unless closed already) and open ``name`` at one instant."""
        with self._lock:
            self._check(name)
            t_ns, readings = self.meter.read(edge=True)
            if closing is not None:
                if closing.end_ns is None:
                    closing.end_ns = t_ns
                else:
                    closing = None  # already closed (e.g. by the run's end)
            handle = OpenPhase(name, t_ns)
            self._pending.append((t_ns, None, readings, closing, handle))
            backlog = len(self._pending)
        if backlog >= self.SETTLE_BACKLOG:
            self.settle()
        return handle

    def mark(self, stream: PhaseStream, name: str | None) -> None:
        """Close ``stream``'s phase and open ``name`` (None: nothing) at one edge.

        One specialised read and an append; nothing when ``name`` is the phase open already
        (a state machine can mark every transition it sees). After the run's last reading,
        closing is a no-op. ``marker()`` gives a cheaper one where the meter allows it.
        """
        with self._lock:
            if name == stream.current:
                return
            if not self._accepting:
                if name is None:
                    return
                self._check(name)
            t_ns, readings = self.meter.read_edge()
            pending = self._pending
            pending.append((t_ns, None, readings, stream, name))
            stream.current = name
            backlog = len(pending)
        if backlog >= self.SETTLE_BACKLOG:
            self.settle()

    def marker(self) -> Callable[[PhaseStream, str | None], None]:
        """``mark``, as cheap as it gets: the clock, the system calls, an append.

        Where the meter can split its edge read (``Meter.raw_edge_reader``), the readings are
        decoded when the edge is accounted, and everything the edge touches is bound here
        once: inside a training step every frame and attribute an edge visits is cold, and
        that, more than the system calls, is what an edge costs there. Anything unusual (a
        failed sensor, the run over, a read that raises) takes ``mark``'s way.
        """
        if self._split is None:
            return self.mark
        read_raw = self._split[0]
        lock, pending, clock = self._lock, self._pending, time.monotonic_ns
        failed = self.meter.failed
        settle_at, journal, slow = self.SETTLE_BACKLOG, self, self.mark

        def mark(stream: PhaseStream, name: str | None) -> None:
            backlog = -1  # not recorded here: ``mark`` does it
            if not failed:
                with lock:
                    if name == stream.current:
                        return
                    if journal._accepting:
                        before = clock()
                        try:
                            raw = read_raw()
                        except (OSError, SensorError):
                            raw = None  # ``mark`` reads again and reports the failing sensor
                        if raw is not None:
                            pending.append((before, clock(), raw, stream, name))
                            stream.current = name
                            backlog = len(pending)
            if backlog < 0:
                slow(stream, name)
            elif backlog >= settle_at:
                journal.settle()

        return mark

    def _check(self, name: str) -> None:
        if not self._accepting:
            raise RunStateError(f"phase {name!r} outside a running measurement")

    # -- accounting ---------------------------------------------------------------------------
    def settle(self) -> None:
        """Account every edge recorded so far (with a reading of every sensor after them)."""
        with self._fold_lock:
            self._fold_until_now(periodic=False)

    def sample(self) -> tuple[int, tuple[float, ...]]:
        """The sampler's periodic reading, after the edges recorded before it."""
        with self._fold_lock:
            return self._fold_until_now(periodic=True)

    def prime(self) -> None:
        """Let sensors take their deferred baselines (the sampler's thread, after the start).

        Under the fold lock, not the edges' one: priming may import psutil (tens of ms), and
        edges in the measured code must not wait for it. Edges never read those sensors.
        """
        with self._fold_lock:
            self.meter.prime()

    def copy_now(self) -> tuple[int, tuple[float, ...], PhaseLedger]:
        """A reading taken now, and a copy of the ledger with every edge before it accounted."""
        with self._fold_lock:
            t_ns, cum = self._fold_until_now(periodic=False)
            return t_ns, cum, _copy_ledger(self.ledger)

    def finish(self) -> tuple[int, tuple[float, ...]]:
        """The run's last reading: every sensor read, every edge accounted, phases closed."""
        with self._fold_lock:
            t_ns, cum = self._fold_until_now(periodic=True, last=True)
            self.ledger.finish(t_ns, cum)
        return t_ns, cum

    def _fold_until_now(
        self, *, periodic: bool, last: bool = False
    ) -> tuple[int, tuple[float, ...]]:
        """Account the backlog, then a full reading taken with it (the caller holds the fold lock).

        Every batch ends with a reading of every domain, so that what edges do not read (package
        parts) can be split over the batch's edges (``_split_parts``).
        """
        with self._lock:
            pending = self._take()
            t_ns, readings = self.meter.read(force=last)
            if last:
                self._accepting = False
        return t_ns, self._fold(pending, t_ns, readings, periodic, last)

    def _take(self) -> list[_Edge]:
        """The edges recorded so far, leaving the list empty (the caller holds ``_lock``)."""
        pending = self._pending.copy()
        self._pending.clear()
        return pending

    def _fold(
        self,
        pending: list[_Edge],
        t_end: int,
        end_readings: Sequence[int | None],
        periodic: bool,
        last: bool,
    ) -> tuple[float, ...]:
        """Account edges in the order they were read, then the full reading after them: meter
        first, then the phase ledger. Returns the full reading's cumulative energy."""
        advance = self.meter.advance
        decode = self._split[1] if self._split is not None else None
        steps: list[tuple[int, tuple[float, ...], Any, Any]] = []
        for t_ns, after_ns, readings, closing, opening in pending:
            if after_ns is not None:  # a raw read: its instant is the middle of its bracket
                assert decode is not None
                t_ns, readings = (t_ns + after_ns) // 2, decode(readings)
            steps.append((t_ns, advance(t_ns, readings), closing, opening))
        end = advance(t_end, end_readings, periodic=periodic, final=last)
        if self._parts and steps:
            steps = self._split_parts(steps, t_end, end)
        self._last_full = (t_end, end)
        ledger = self.ledger
        for t_ns, cum, closing, opening in steps:
            if isinstance(closing, PhaseStream):
                if closing._handle is not None:
                    ledger.close(closing._handle, t_ns, cum)
                closing._handle = (
                    ledger.open(opening, t_ns, cum) if isinstance(opening, str) else None
                )
                continue
            if closing is not None:
                ledger.close(closing, t_ns, cum)
            if isinstance(opening, OpenPhase):
                ledger.open(opening.name, t_ns, cum, opening)
        return end

    def _split_parts(
        self, steps: list[tuple[int, tuple[float, ...], Any, Any]], t_end: int, end: Sequence[float]
    ) -> list[tuple[int, tuple[float, ...], Any, Any]]:
        """Give each edge its package parts' energy, in proportion to their package's.

        A part (core, uncore) is not read at edges; between two full readings it is split over
        the edges as its package's energy was. Exact over each batch, so every phase's parts
        plus unattributed still add up to each part's total; within a batch it assumes the
        part's share of its package stayed constant (a batch is a sampling interval, 1 s).
        """
        t_start, start = self._last_full
        span_ns = max(t_end - t_start, 1)
        gains = [
            (part, parent, end[part] - start[part], end[parent] - start[parent])
            for part, parent in self._parts
        ]
        result = []
        for t_ns, cum, closing, opening in steps:
            patched = list(cum)
            for part, parent, part_j, parent_j in gains:
                if parent_j > 0:
                    share = (cum[parent] - start[parent]) / parent_j
                else:  # nothing measured on the package: split by time
                    share = (t_ns - t_start) / span_ns
                patched[part] = start[part] + part_j * min(max(share, 0.0), 1.0)
            result.append((t_ns, tuple(patched), closing, opening))
        return result


def _copy_ledger(ledger: PhaseLedger) -> PhaseLedger:
    """A copy to ``finish()`` without touching the original, in about a millisecond.

    The exact-window lists (up to 1000 per phase) are copied shallowly, their tuples being
    immutable; a plain deep copy of them would hold the fold lock for tens of milliseconds.
    """
    import copy

    memo: dict[int, Any] = {id(t.windows_ns): list(t.windows_ns) for t in ledger.totals.values()}
    return copy.deepcopy(ledger, memo)
