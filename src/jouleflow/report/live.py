"""A live status line during a long run: elapsed, current W per component, energy so far, forecast.

    with LiveLine(run):          # run: a started jouleflow Run
        subprocess.run(command)

It never disturbs the measured command's own output: the line lives on the terminal's last row,
which is taken out of the scrolling region (``ESC [ 1 ; rows-1 r``, as apt's progress bar does),
so whatever the command prints scrolls above it; each update is one write that saves the cursor,
draws the row and restores the cursor. It is off when the stream is not a terminal (a log file,
CI), and the scrolling region is restored when it stops.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from jouleflow.units import format_energy

if TYPE_CHECKING:
    from jouleflow.tracker import Run

SAVE, RESTORE, CLEAR_LINE = "\x1b7", "\x1b8", "\x1b[2K"


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02d}:{s:02d}" if hours else f"{m}:{s:02d}"


def live_text(
    elapsed_s: float,
    power_w: Mapping[str, float],
    energy_j: float,
    forecast: Mapping[str, Any] | None = None,
    width: int = 120,
) -> str:
    """The line itself, cut to ``width`` characters (the per-component list goes first)::

    jouleflow 1:05 · 3.52 kJ so far · forecast 12.1 kJ in 1:02:05 · 46.0 W (CPU 40.0 W, ...)
    """
    text = f"jouleflow {_duration(elapsed_s)} · {format_energy(energy_j)} so far"
    if forecast and forecast.get("predicted_total_energy_j"):
        text += f" · forecast {format_energy(float(forecast['predicted_total_energy_j']))}"
        if forecast.get("predicted_total_duration_s"):
            text += f" in {_duration(float(forecast['predicted_total_duration_s']))}"
    shown = ", ".join(f"{label} {w:.1f} W" for label, w in power_w.items() if w >= 0.05)
    text += f" · {sum(power_w.values()):.1f} W" + (f" ({shown})" if shown else "")
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


class LiveLine:
    """Draws ``live_text`` for a running ``Run`` every ``interval_s`` on ``stream``'s last row.

    ``enabled`` defaults to whether ``stream`` (default: stderr) is a terminal. ``forecast``
    returns the latest forecast, if the caller has one.
    """

    def __init__(
        self,
        run: Run,
        *,
        stream: IO[str] | None = None,
        interval_s: float = 1.0,
        enabled: bool | None = None,
        forecast: Callable[[], Mapping[str, Any] | None] | None = None,
    ) -> None:
        self.run = run
        self.stream = stream if stream is not None else sys.stderr
        self.interval_s = interval_s
        self.enabled = _is_tty(self.stream) if enabled is None else enabled
        self.forecast = forecast
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._rows = 0

    def start(self) -> LiveLine:
        if not self.enabled or self._thread is not None:
            return self
        _, self._rows = _size(self.stream)
        if self._rows < 3:
            self.enabled = False
            return self
        # make room for the line, then keep the last row out of the scrolling region
        self._write(f"\n{SAVE}\x1b[1;{self._rows - 1}r{RESTORE}\x1b[1A")
        self._thread = threading.Thread(target=self._loop, name="jouleflow-live", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        self._thread = None
        self._write(f"{SAVE}\x1b[{self._rows};1H{CLEAR_LINE}\x1b[r{RESTORE}")

    def draw(self) -> None:
        """Draw the line once, now."""
        columns, _ = _size(self.stream)
        text = self.text(columns - 1)
        self._write(f"{SAVE}\x1b[{self._rows};1H{CLEAR_LINE}\x1b[2m{text}\x1b[0m{RESTORE}")

    def text(self, width: int = 120) -> str:
        result = self.run.partial_result()
        labels = {c.id: c.label for c in result.components if c.in_total}
        power = {labels[k]: w for k, w in self.run.current_power_w().items() if k in labels}
        forecast = self.forecast() if self.forecast is not None else result.forecast
        return live_text(result.duration_s, power, result.total_j, forecast, width)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.draw()
            except Exception:  # the run stopped, the terminal went away: the line just stops
                return
            self._stop.wait(self.interval_s)

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):
            self.enabled = False

    def __enter__(self) -> LiveLine:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _size(stream: IO[str]) -> tuple[int, int]:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return 80, 0
    return size.columns, size.lines
