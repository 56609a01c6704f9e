"""Pure helpers for cumulative counters that wrap around."""

from __future__ import annotations


def counter_delta(previous: int, current: int, modulus: int | None) -> int:
    """Increase of a counter from ``previous`` to ``current`` that wraps to 0 at ``modulus``.

    Assumes at most one wrap between the two readings; the sampler polls often enough to make
    that true (see ``poll_interval_bound_ns``). ``modulus`` None means the counter never wraps
    (64-bit NVML millijoules), so a decrease is a reset and counts as zero progress.
    """
    if current >= previous:
        return current - previous
    if modulus is None:
        return 0
    return current + modulus - previous


def poll_interval_bound_ns(modulus_uj: int, max_power_w: float, safety: float = 4.0) -> int:
    """Longest poll interval that cannot miss a wrap at full power, with a safety factor.

    A counter of range R µJ at power P W wraps every R / P µs; polling ``safety`` times faster
    keeps every pair of readings within one wrap even if power spikes above the stated maximum.
    """
    if max_power_w <= 0:
        raise ValueError("max_power_w must be positive")
    wrap_period_ns = modulus_uj / max_power_w * 1_000  # µJ / W = µs -> ns
    return max(1_000_000, int(wrap_period_ns / safety))
