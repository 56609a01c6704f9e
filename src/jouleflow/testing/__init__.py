"""Simulated hardware for tests, yours and ours: fake powercap trees and a fake libnvidia-ml.

Everything here works at the OS boundary (real files, a real shared library), so the code under
test runs exactly as it would on hardware.
"""

from __future__ import annotations

from jouleflow.testing.nvml import FakeGpu, FakeNvmlBuildError, SimulatedNvml, compile_fake_nvml
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
    "FakeGpu",
    "FakeNvmlBuildError",
    "FakePowercapTree",
    "FakeZone",
    "PowerTrace",
    "PowercapSimulator",
    "SimulatedNvml",
    "SquareWave",
    "amd_zen",
    "build_powercap_tree",
    "compile_fake_nvml",
    "laptop_with_psys",
    "single_socket",
    "two_socket_with_dram",
]
