"""Saves a run in the run store from a thread of its own, so that ``start()`` never waits for it.

Opening the store (SQLite, the schema check) and writing the run's first row take tens of
milliseconds, most of it importing the store's modules: more than the whole start of a run is
allowed. The measurement starts at once; this thread opens the store, writes the row, then hands
over to the store's ``Recorder``, which flushes every few seconds. Samples taken meanwhile wait
here and are recorded first, in order.

A store that cannot be opened (a foreign or newer file, a folder, no permission) does not stop the
measurement: the result says why it was not saved, as it does when the store fails mid-run.
``jouleflow run`` checks the store before it runs the command, so that there a bad store is
refused (exit 2) with nothing run.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from jouleflow.records import RunResult
    from jouleflow.store.recorder import Recorder


_ATTACHING: weakref.WeakSet[BackgroundSave] = weakref.WeakSet()


def _settle_before_fork() -> None:
    """Let every store finish attaching before this process forks.

    The attaching thread imports the store's modules and holds their import locks; a child forked
    meanwhile would inherit those locks held, and hang at its own first import of them.
    """
    for save in list(_ATTACHING):
        save.wait()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_settle_before_fork)


class BackgroundSave:
    """One run's link to the run store at ``db`` (None: the default store)."""

    def __init__(
        self, db: str | os.PathLike[str] | None, progress: Callable[[], RunResult]
    ) -> None:
        self.db = db
        self.error: str | None = None  # why the store could not be opened
        self.recorder: Recorder | None = None
        self._progress = progress
        self._lock = threading.Lock()
        self._early: list[tuple[int, tuple[float, ...]]] = []
        self._thread = threading.Thread(target=self._attach, name="jouleflow-store", daemon=True)

    def start(self) -> None:
        _ATTACHING.add(self)
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Until the store is attached or has failed; False if ``timeout_s`` passed first."""
        if self._thread.ident is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def add_sample(self, t_ns: int, cum_uj: tuple[float, ...]) -> None:
        """The sampler's callback: to the recorder, or kept until it is there."""
        recorder = self.recorder
        if recorder is None:
            with self._lock:
                recorder = self.recorder
                if recorder is None:
                    if self.error is None:
                        self._early.append((t_ns, cum_uj))
                    return
        recorder.add_sample(t_ns, cum_uj)

    def _attach(self) -> None:
        try:
            self._open()
        finally:
            _ATTACHING.discard(self)

    def _open(self) -> None:
        try:
            from jouleflow.store.recorder import Recorder

            recorder = Recorder.open(self.db)
        except Exception as err:  # reported in the result's warnings, never hidden
            with self._lock:
                self.error = str(err).splitlines()[0] if str(err) else repr(err)
                self._early.clear()
            return
        try:
            with self._lock:  # samples arriving now wait on the lock: none is lost or reordered
                recorder.begin(self._progress)
                for t_ns, cum_uj in self._early:
                    recorder.add_sample(t_ns, cum_uj)
                self._early.clear()
                self.recorder = recorder
        except Exception as err:
            recorder.store.close()
            self.error = str(err).splitlines()[0] if str(err) else repr(err)

    def stop_flushing(self) -> None:
        """Wait for the store to be attached (or to fail), then stop the periodic flushes."""
        self.wait()
        if self.recorder is not None:
            self.recorder.stop_flushing()

    def finish(self, result: RunResult) -> str | None:
        """Write the final result; a warning for the result when the run could not be saved."""
        self.wait()
        if self.recorder is None:
            where = f" {self.db}" if self.db is not None else ""
            return f"not saved to the run store{where}: {self.error}" if self.error else None
        return self.recorder.finish(result)

    @property
    def path(self) -> Path | None:
        """The store this run is saved in; None when it is not (yet, or at all)."""
        recorder = self.recorder
        return recorder.store.path if recorder is not None and recorder.error is None else None
