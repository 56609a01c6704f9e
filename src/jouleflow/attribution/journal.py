"""Phase edges: read at the edge, accounted in batches, in the order they were read.

An edge must read the energy counters at its instant, but unwrapping the readings and folding the
edge into the phase ledger (several µs of Python each) can wait. A training loop marks thousands
of edges a second, inside steps whose working set has pushed the interpreter out of the CPU's
caches, so an edge here only reads and records; the next periodic sample accounts the backlog on
the sampler's thread, off the measured code's path (so do the end of the run and a phase's figures
being asked for). A backlog of ``SETTLE_BACKLOG`` edges is accounted where it arises.

Two locks, always taken in this order: ``_fold_lock`` while edges are accounted (the meter's
running totals, the ledger), ``_lock`` while an edge is read and recorded. A reading that accounts
the backlog is taken under ``_lock`` together with it, so no edge falls between them and the
meter sees every reading in time order; an edge never waits for a fold.
"""

from __future__ import annotations

import threading
import time

from jouleflow.attribution.phases import OpenPhase, PhaseLedger
from jouleflow.errors import RunStateError, SensorError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
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

        One specialised read and an append. After the run's last reading, closing is a no-op.
        ``marker()`` gives a cheaper one where the meter allows it.
        """
        with self._lock:
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
        """Account every edge recorded so far."""
        with self._fold_lock:
            with self._lock:
                pending = self._take()
            self._fold(pending)

    def sample(self) -> tuple[int, tuple[float, ...]]:
        """The sampler's periodic reading, after the edges recorded before it."""
        with self._fold_lock:
            return self._fold_until_now(edge=False)

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
            t_ns, cum = self._fold_until_now(edge=True)
            return t_ns, cum, _copy_ledger(self.ledger)

    def finish(self) -> tuple[int, tuple[float, ...]]:
        """The run's last reading: every sensor read, every edge accounted, phases closed."""
        with self._fold_lock:
            t_ns, cum = self._fold_until_now(edge=False, last=True)
            self.ledger.finish(t_ns, cum)
        return t_ns, cum

    def _fold_until_now(self, *, edge: bool, last: bool = False) -> tuple[int, tuple[float, ...]]:
        """Account the backlog, then a reading taken with it (the caller holds the fold lock)."""
        with self._lock:
            pending = self._take()
            t_ns, readings = self.meter.read(edge=edge, force=last)
            if last:
                self._accepting = False
        self._fold(pending)
        return t_ns, self.meter.advance(t_ns, readings, periodic=not edge, final=last)

    def _take(self) -> list[_Edge]:
        """The edges recorded so far, leaving the list empty (the caller holds ``_lock``)."""
        pending = self._pending.copy()
        self._pending.clear()
        return pending

    def _fold(self, pending: list[_Edge]) -> None:
        """Account edges in the order they were read: meter first, then the phase ledger."""
        advance, ledger = self.meter.advance, self.ledger
        decode = self._split[1] if self._split is not None else None
        for t_ns, after_ns, readings, closing, opening in pending:
            if after_ns is not None:  # a raw read: its instant is the middle of its bracket
                assert decode is not None
                t_ns, readings = (t_ns + after_ns) // 2, decode(readings)
            cum = advance(t_ns, readings)
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


def _copy_ledger(ledger: PhaseLedger) -> PhaseLedger:
    """A copy to ``finish()`` without touching the original, in about a millisecond.

    The exact-window lists (up to 1000 per phase) are copied shallowly, their tuples being
    immutable; a plain deep copy of them would hold the fold lock for tens of milliseconds.
    """
    import copy

    memo: dict[int, Any] = {id(t.windows_ns): list(t.windows_ns) for t in ledger.totals.values()}
    return copy.deepcopy(ledger, memo)
