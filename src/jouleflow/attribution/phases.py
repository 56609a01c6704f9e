"""Energy per named phase, as a fold over the ordered stream of phase edges.

Each edge arrives with the meter's cumulative energy vector at that instant. Between two
consecutive edges the energy goes, once, to the innermost open phase (the most recently opened one
still open), or to ``unattributed`` when none is open: that is each phase's *self* energy, and
self energies plus ``unattributed`` equal the run's total exactly (the deltas telescope).
Each phase's *inclusive* energy is simply its closing vector minus its opening vector, so nested
and overlapping phases are both well defined.

The ledger is a pure function of that stream: no clocks, no sensors, no threads.
"""

from __future__ import annotations

MAX_WINDOWS_KEPT = 1000  # occurrences whose exact windows are kept per phase name


class OpenPhase:
    """One occurrence of a phase; ``end_ns``/``end_cum`` are set when it closes.

    Compared by identity: two occurrences of one phase are different. A caller that records
    edges first and folds them later (``jouleflow.tracker``) creates the handle at the edge and
    may set ``end_ns`` when it records the closing edge; the cumulative vectors come with the fold.
    """

    __slots__ = ("end_cum", "end_ns", "name", "start_cum", "start_ns")

    def __init__(self, name: str, start_ns: int) -> None:
        self.name = name
        self.start_ns = start_ns
        self.start_cum: tuple[float, ...] | None = None
        self.end_ns: int | None = None
        self.end_cum: tuple[float, ...] | None = None

    def __repr__(self) -> str:
        return f"OpenPhase({self.name!r}, start_ns={self.start_ns}, end_ns={self.end_ns})"


class PhaseTotals:
    """Everything known about one phase name; energies in µJ per domain."""

    __slots__ = (
        "count",
        "duration_ns",
        "inclusive_uj",
        "name",
        "self_uj",
        "truncated",
        "windows_ns",
    )

    def __init__(self, name: str, width: int) -> None:
        self.name = name
        self.count = 0
        self.duration_ns = 0
        self.inclusive_uj = [0.0] * width
        self.self_uj = [0.0] * width
        self.windows_ns: list[tuple[int, int]] = []
        self.truncated = 0  # occurrences still open when the run stopped


class PhaseLedger:
    """Folds phase edges into per-phase energies; all energies are µJ vectors."""

    def __init__(self, t_ns: int, cum: tuple[float, ...]) -> None:
        self._n = len(cum)
        self._last_t = t_ns
        self._last_cum = cum
        self._open: list[OpenPhase] = []
        self.unattributed_uj = [0.0] * self._n
        self.totals: dict[str, PhaseTotals] = {}

    def _advance(self, t_ns: int, cum: tuple[float, ...]) -> None:
        if cum is self._last_cum:  # a switch: the close already accounted this instant
            return
        if t_ns < self._last_t:
            raise ValueError("phase edges must arrive in time order")
        target = self._open[-1].name if self._open else None
        bucket = self.totals[target].self_uj if target else self.unattributed_uj
        bucket[:] = [b + c - last for b, c, last in zip(bucket, cum, self._last_cum)]
        self._last_t, self._last_cum = t_ns, cum

    def open(
        self, name: str, t_ns: int, cum: tuple[float, ...], handle: OpenPhase | None = None
    ) -> OpenPhase:
        """Open ``name`` at ``t_ns``; ``handle``: the one made when the edge was seen, if any."""
        self._advance(t_ns, cum)
        if name not in self.totals:
            self.totals[name] = PhaseTotals(name, self._n)
        if handle is None:
            handle = OpenPhase(name, t_ns)
        handle.start_cum = cum
        self._open.append(handle)
        return handle

    def switch(
        self, handle: OpenPhase | None, name: str, t_ns: int, cum: tuple[float, ...]
    ) -> OpenPhase:
        """Close ``handle`` and open ``name`` at the same instant: no gap between them."""
        if handle is not None:
            self.close(handle, t_ns, cum)
        return self.open(name, t_ns, cum)

    def close(
        self, handle: OpenPhase, t_ns: int, cum: tuple[float, ...], *, truncated: bool = False
    ) -> None:
        self._advance(t_ns, cum)
        self._open.remove(handle)
        handle.end_ns, handle.end_cum = t_ns, cum
        totals = self.totals[handle.name]
        totals.count += 1
        totals.duration_ns += t_ns - handle.start_ns
        start_cum = handle.start_cum
        assert start_cum is not None, "closed before it was opened"
        inclusive = totals.inclusive_uj
        for i in range(self._n):
            inclusive[i] += cum[i] - start_cum[i]
        if len(totals.windows_ns) < MAX_WINDOWS_KEPT:
            totals.windows_ns.append((handle.start_ns, t_ns))
        if truncated:
            totals.truncated += 1

    def finish(self, t_ns: int, cum: tuple[float, ...]) -> None:
        """Close whatever is still open at the end of the run, then account the tail."""
        for handle in reversed(list(self._open)):
            self.close(handle, t_ns, cum, truncated=True)
        self._advance(t_ns, cum)

    @property
    def open_count(self) -> int:
        return len(self._open)
