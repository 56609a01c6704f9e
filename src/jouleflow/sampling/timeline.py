"""The sampled history of a run, in bounded memory however long the run lasts.

Samples are cumulative energies, so dropping one loses no energy: the totals at the samples that
remain stay exact, only the time resolution between them coarsens. When the buffer is full the
older three quarters are thinned to every other sample; the most recent quarter always keeps full
resolution, and the first and last samples are never dropped.

Values live in flat typed arrays (8 bytes a number) rather than tuples of floats (~30 bytes a
number), which keeps a full buffer around 1 MB.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence

DEFAULT_MAX_SAMPLES = 20_000


class Timeline:
    def __init__(self, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        if max_samples < 8:
            raise ValueError("max_samples must be at least 8")
        self.max_samples = max_samples
        self.t_ns: array[int] = array("q")
        self._values: array[float] = array("d")
        self._width = 0
        self.thinned = 0  # how many times older samples were halved

    def __len__(self) -> int:
        return len(self.t_ns)

    def cum_at(self, k: int) -> tuple[float, ...]:
        """Cumulative µJ per domain at sample ``k``."""
        if k < 0:
            k += len(self.t_ns)
        w = self._width
        return tuple(self._values[k * w : (k + 1) * w])

    @property
    def cum_uj(self) -> list[tuple[float, ...]]:
        return [self.cum_at(k) for k in range(len(self.t_ns))]

    def __iter__(self) -> Iterator[tuple[int, tuple[float, ...]]]:
        return ((t, self.cum_at(k)) for k, t in enumerate(self.t_ns))

    def append(self, t_ns: int, cum_uj: Sequence[float]) -> None:
        if self.t_ns and t_ns < self.t_ns[-1]:
            raise ValueError("samples must arrive in time order")
        if not self.t_ns:
            self._width = len(cum_uj)
        elif len(cum_uj) != self._width:
            raise ValueError(f"expected {self._width} values, got {len(cum_uj)}")
        self.t_ns.append(t_ns)
        self._values.extend(cum_uj)
        if len(self.t_ns) > self.max_samples:
            self._thin()

    def _thin(self) -> None:
        split = len(self.t_ns) - self.max_samples // 4
        keep = [0, *range(2, split, 2), *range(split, len(self.t_ns))]
        w = self._width
        values = array("d")
        for k in keep:
            values.extend(self._values[k * w : (k + 1) * w])
        self.t_ns = array("q", (self.t_ns[k] for k in keep))
        self._values = values
        self.thinned += 1

    def energy_at(self, t_ns: int) -> tuple[float, ...]:
        """Cumulative energy at ``t_ns``, linear between the two samples around it."""
        if not self.t_ns:
            raise ValueError("empty timeline")
        i = bisect_left(self.t_ns, t_ns)
        if i < len(self.t_ns) and self.t_ns[i] == t_ns:
            return self.cum_at(i)
        if i == 0:
            return self.cum_at(0)
        if i == len(self.t_ns):
            return self.cum_at(-1)
        t0, t1 = self.t_ns[i - 1], self.t_ns[i]
        frac = (t_ns - t0) / (t1 - t0)
        c0, c1 = self.cum_at(i - 1), self.cum_at(i)
        return tuple(a + (b - a) * frac for a, b in zip(c0, c1))

    def power_w(self) -> tuple[list[int], list[tuple[float, ...]]]:
        """Mean power per domain over each interval between samples, stamped at its midpoint."""
        times: list[int] = []
        powers: list[tuple[float, ...]] = []
        previous = None
        for t, cum in self:
            if previous is not None and t > previous[0]:
                dt_ns = t - previous[0]
                times.append((t + previous[0]) // 2)
                powers.append(tuple((b - a) / dt_ns * 1e3 for a, b in zip(previous[1], cum)))
            previous = (t, cum)
        return times, powers
