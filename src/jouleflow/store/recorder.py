"""Keeps a live run in the store, so that a killed process leaves a readable, partial run.

The run's row is written when it starts (status ``running``). A background thread then flushes,
every ``flush_interval_s`` (4 s; the promise is at most 5 s), the samples taken since the last
flush and the running totals: the result document as if the run stopped at that instant. If the
process dies, the row keeps the last flush and readers see it as ``incomplete``.

Samples are downsampled as they are recorded (:class:`Downsampling`). They are cumulative
energies, so a dropped sample loses no energy: only the time resolution between the samples kept
coarsens, and only for the parts of a run long after its start.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from jouleflow.errors import JouleflowError
from jouleflow.records import RunResult
from jouleflow.store._checks import process_started_unix
from jouleflow.store.codec import pack_cum
from jouleflow.store.sqlite import Flush, RunStore

if TYPE_CHECKING:
    from jouleflow.sampling.sampler import SampleCallback

FLUSH_INTERVAL_S = 4.0  # within the 5 s promise; each flush costs ~0.5 ms of CPU
_FOREVER_NS = 2**62


@dataclass(frozen=True, slots=True)
class Downsampling:
    """The least time between two stored samples, by how far into the run they were taken.

    ``tiers`` are ``(until_s, spacing_s)`` in increasing ``until_s``: the default keeps every
    sample for the first hour, one a second until a day, then one a minute. A 30-day run sampled
    every 0.1 s keeps 36,000 + 82,800 + 41,760 samples instead of 25.9 million.
    """

    tiers: tuple[tuple[float, float], ...] = ((3600.0, 0.0), (86400.0, 1.0), (math.inf, 60.0))

    def spacing_ns(self, elapsed_ns: int) -> int:
        elapsed_s = elapsed_ns / 1e9
        for until_s, spacing_s in self.tiers:
            if elapsed_s < until_s:
                return int(spacing_s * 1e9)
        return int(self.tiers[-1][1] * 1e9)

    def tier_end_ns(self, elapsed_ns: int) -> int:
        """Where the tier that ``elapsed_ns`` falls in ends (a huge number for the last one)."""
        elapsed_s = elapsed_ns / 1e9
        for until_s, _ in self.tiers:
            if elapsed_s < until_s:
                return int(until_s * 1e9) if math.isfinite(until_s) else _FOREVER_NS
        return _FOREVER_NS


DEFAULT_DOWNSAMPLING = Downsampling()


class Recorder:
    """Writes one run to a :class:`RunStore` while it is measured, then its final result."""

    def __init__(
        self,
        store: RunStore,
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        downsampling: Downsampling = DEFAULT_DOWNSAMPLING,
    ) -> None:
        self.store = store
        self.flush_interval_s = flush_interval_s
        self.downsampling = downsampling
        self.error: str | None = None  # the last flush's failure, None once one succeeds
        self.key: int | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._pending: list[tuple[int, bytes]] = []
        self._start_ns = 0
        self._last_kept_ns = 0
        self._spacing_ns = 0
        self._tier_end_ns = 0  # look the spacing up on the first sample
        self._progress: Callable[[], RunResult] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._removed = False
        self._finished = False

    @classmethod
    def open(
        cls,
        db: str | os.PathLike[str] | None = None,
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        downsampling: Downsampling = DEFAULT_DOWNSAMPLING,
    ) -> Recorder:
        """A recorder on the store at ``db`` (default location if None); raises StoreError."""
        return cls(RunStore.open(db), flush_interval_s=flush_interval_s, downsampling=downsampling)

    # -- the sampler's side -----------------------------------------------------------------
    def sample_callback(self, then: SampleCallback | None = None) -> SampleCallback:
        """The sampler callback that records each sample (then calls ``then``)."""

        def on_sample(t_ns: int, cum_uj: tuple[float, ...]) -> None:
            self.add_sample(t_ns, cum_uj)
            if then is not None:
                then(t_ns, cum_uj)

        return on_sample

    def add_sample(self, t_ns: int, cum_uj: tuple[float, ...]) -> None:
        """Keep the sample for the next flush unless the downsampling policy drops it."""
        if t_ns >= self._tier_end_ns:  # into the next tier: look its spacing up once
            elapsed_ns = t_ns - self._start_ns
            self._spacing_ns = self.downsampling.spacing_ns(elapsed_ns)
            self._tier_end_ns = self._start_ns + self.downsampling.tier_end_ns(elapsed_ns)
        if self._spacing_ns and t_ns - self._last_kept_ns < self._spacing_ns:
            return
        self._last_kept_ns = t_ns
        blob = pack_cum(cum_uj)
        with self._lock:
            self._pending.append((t_ns, blob))

    # -- lifecycle --------------------------------------------------------------------------
    def begin(self, progress: Callable[[], RunResult], *, flush_thread: bool = True) -> int:
        """Insert the run as ``running`` and start flushing ``progress()`` in the background."""
        first = progress()
        self._progress = progress
        self._start_ns = self._last_kept_ns = first.window_ns[0]
        self._tier_end_ns = 0
        zero = tuple(0.0 for _ in first.components)
        self._pending.insert(0, (first.window_ns[0], pack_cum(zero)))
        self.key = self.store.create_run(
            run_id=first.run_id,
            name=first.name,
            command=first.command,
            started_at=first.started_at,
            start_ns=first.window_ns[0],
            domains=[c.id for c in first.components],
            tags=first.tags,
            document=_document(first),
            process_started_unix=process_started_unix(),
        )
        if flush_thread:
            self._thread = threading.Thread(target=self._loop, name="jouleflow-store", daemon=True)
            self._thread.start()
        return self.key

    def flush(self, result: RunResult | None = None) -> None:
        """Write what is pending, with ``result`` (default: the progress so far) as totals."""
        if self.key is None or self._removed:
            return
        if result is None:
            assert self._progress is not None
            result = self._progress()
        with self._lock:
            samples, self._pending = self._pending, []
        final = result.status != "running"
        if final:
            end_cum = tuple(c.energy_j * 1e6 for c in result.components)
            samples.append((result.window_ns[1], pack_cum(end_cum)))
        try:
            kept = self.store.flush(
                self.key,
                Flush(
                    samples=samples,
                    end_ns=result.window_ns[1],
                    total_j=result.total_j,
                    measured_j=result.measured_j,
                    estimated_j=result.estimated_j,
                    sample_count=result.samples,
                    document=_document(result),
                    status=result.status,
                    exit_code=result.exit_code,
                ),
            )
        except JouleflowError:
            if not final:  # keep them for the next try
                with self._lock:
                    self._pending[:0] = samples
            raise
        self._removed = not kept
        self.error = None

    def stop_flushing(self) -> None:
        """Stop the background flushes (before the run's sensors close)."""
        self._stop.set()
        if self._thread is not None and self._thread.ident != threading.get_ident():
            self._thread.join()
        self._thread = None

    def finish(self, result: RunResult) -> str | None:
        """Write the final result; returns a warning for the result if the store failed."""
        if os.getpid() != self._pid or self._finished:
            return None  # a forked child: the run belongs to the parent process
        self._finished = True
        self.stop_flushing()
        try:
            self.flush(result)
        except JouleflowError as err:
            self.error = str(err).splitlines()[0]
        finally:
            self.store.close()
        if self.error is not None:
            return f"not saved to the run store {self.store.path}: {self.error}"
        return None

    def _loop(self) -> None:
        while not self._stop.wait(self.flush_interval_s):
            try:
                self.flush()
            except Exception as err:  # keep measuring; the next flush retries
                self.error = str(err).splitlines()[0] if str(err) else repr(err)
            if self._removed:
                return


def _document(result: RunResult) -> str:
    return json.dumps(result.to_dict(), separators=(",", ":"))
