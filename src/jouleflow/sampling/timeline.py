"""The sampled history of a run, in bounded memory however long the run lasts.

Samples are cumulative energies, so dropping one loses no energy: the totals at the samples that
remain stay exact, only the time resolution between them coarsens. When the buffer is full the
older three quarters are thinned to every other sample; the most recent quarter always keeps full
resolution, and the first and last samples are never dropped.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

DEFAULT_MAX_SAMPLES = 20_000


class Timeline:
    def __init__(self, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        if max_samples < 8:
            raise ValueError("max_samples must be at least 8")
        self.max_samples = max_samples
        self.t_ns: list[int] = []
        self.cum_uj: list[tuple[float, ...]] = []
        self.thinned = 0  # how many times older samples were halved

    def __len__(self) -> int:
        return len(self.t_ns)

    def __iter__(self) -> Iterator[tuple[int, tuple[float, ...]]]:
        return iter(zip(self.t_ns, self.cum_uj))

    def append(self, t_ns: int, cum_uj: tuple[float, ...]) -> None:
        if self.t_ns and t_ns < self.t_ns[-1]:
            raise ValueError("samples must arrive in time order")
        self.t_ns.append(t_ns)
        self.cum_uj.append(cum_uj)
        if len(self.t_ns) > self.max_samples:
            self._thin()

    def _thin(self) -> None:
        keep_recent = self.max_samples // 4
        split = len(self.t_ns) - keep_recent
        old_t = self.t_ns[:split]
        old_c = self.cum_uj[:split]
        self.t_ns = old_t[0:1] + old_t[2::2] + self.t_ns[split:]
        self.cum_uj = old_c[0:1] + old_c[2::2] + self.cum_uj[split:]
        self.thinned += 1

    def energy_at(self, t_ns: int) -> tuple[float, ...]:
        """Cumulative energy at ``t_ns``, linear between the two samples around it."""
        if not self.t_ns:
            raise ValueError("empty timeline")
        i = bisect_left(self.t_ns, t_ns)
        if i < len(self.t_ns) and self.t_ns[i] == t_ns:
            return self.cum_uj[i]
        if i == 0:
            return self.cum_uj[0]
        if i == len(self.t_ns):
            return self.cum_uj[-1]
        t0, t1 = self.t_ns[i - 1], self.t_ns[i]
        frac = (t_ns - t0) / (t1 - t0)
        c0, c1 = self.cum_uj[i - 1], self.cum_uj[i]
        return tuple(a + (b - a) * frac for a, b in zip(c0, c1))

    def power_w(self) -> tuple[list[int], list[tuple[float, ...]]]:
        """Mean power per domain over each interval between samples, stamped at its midpoint."""
        times: list[int] = []
        powers: list[tuple[float, ...]] = []
        for k in range(1, len(self.t_ns)):
            dt_ns = self.t_ns[k] - self.t_ns[k - 1]
            if dt_ns <= 0:
                continue
            times.append((self.t_ns[k] + self.t_ns[k - 1]) // 2)
            powers.append(
                tuple((b - a) / dt_ns * 1e3 for a, b in zip(self.cum_uj[k - 1], self.cum_uj[k]))
            )
        return times, powers
