"""Exact unit constants and conversions. Units live in names: ``_j``, ``_uj``, ``_w``, ``_ns``."""

from __future__ import annotations

J_PER_KWH = 3_600_000
J_PER_WH = 3_600


def format_energy(energy_j: float) -> str:
    """Human-readable energy with a unit that keeps 3-4 significant digits."""
    magnitude = abs(energy_j)
    if magnitude >= J_PER_KWH:
        return f"{energy_j / J_PER_KWH:.3f} kWh"
    if magnitude >= 10 * J_PER_WH:
        return f"{energy_j / J_PER_WH:.2f} Wh"
    if magnitude >= 1000:
        return f"{energy_j / 1000:.2f} kJ"
    if magnitude >= 1 or magnitude == 0:
        return f"{energy_j:.2f} J"
    return f"{energy_j * 1000:.2f} mJ"
