"""Simulated hardware for tests, yours and ours: fake powercap trees and a fake libnvidia-ml.

Everything here works at the OS boundary (real files, a real shared library), so the code under
test runs exactly as it would on hardware.
"""

from __future__ import annotations

from jouleflow.testing.powercap import (
    FakePowercapTree,
    FakeZone,
    PowercapSimulator,
    amd_zen,
    build_powercap_tree,
    laptop_with_psys,
    single_socket,
    two_socket_with_dram,
)
from jouleflow.testing.traces import ConstantPower, PowerTrace, SquareWave

__all__ = [
    "ConstantPower",
    "FakePowercapTree",
    "FakeZone",
    "PowerTrace",
    "PowercapSimulator",
    "SquareWave",
    "amd_zen",
    "build_powercap_tree",
    "laptop_with_psys",
    "single_socket",
    "two_socket_with_dram",
]
