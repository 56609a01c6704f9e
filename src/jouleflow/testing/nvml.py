"""A simulated ``libnvidia-ml.so.1``, compiled from ``fake_nvml.c`` and loaded by the real bindings.

Faking NVML at the C boundary rather than patching ``pynvml`` means the code under test runs the
real nvidia-ml-py: its ctypes signatures, its struct layouts, its error classes. The library
reads its GPUs from a state file (named by ``JOULEFLOW_FAKE_NVML_STATE``) that
``SimulatedNvml`` writes, so a test changes the power of a GPU by writing a new segment, and the
library answers every call from the time it is called: no thread, no polling, exact energy.
A change of power is written to start a few milliseconds ahead, once the new file is in place,
so no reader sees the past rewritten; ``set_power`` returns when the change is in effect.

In the same process::

    with SimulatedNvml(tmp_path, [FakeGpu("NVIDIA H100 80GB HBM3", "GPU-1234...")]) as nvml:
        sensor = NvmlSensor(library_path=str(nvml.library_path))

In a child process (the CLI, a sampler under test), pass ``nvml.env`` in its environment: it
names the state file and sets ``JOULEFLOW_NVML_LIBRARY`` to the fake library.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import TracebackType

STATE_ENV = "JOULEFLOW_FAKE_NVML_STATE"
LIBRARY_ENV = "JOULEFLOW_NVML_LIBRARY"  # what the CLI reads for --nvml-library
LIBRARY_NAME = "libnvidia-ml.so.1"
TRAILING_WINDOW_NS = 1_000_000_000  # nvmlDeviceGetPowerUsage averages over 1 s on Ampere+
NVML_ERROR_DRIVER_NOT_LOADED = 9
SEGMENT_LEAD_NS = 10_000_000  # longer than writing the state file takes, GIL waits included
_CFLAGS = ("-shared", "-fPIC", "-O2", "-pthread")


class FakeNvmlBuildError(RuntimeError):
    """The simulated library could not be compiled (no C compiler, or it failed)."""


def compile_fake_nvml(dest_dir: str | os.PathLike[str]) -> Path:
    """Compile ``fake_nvml.c`` into ``dest_dir`` once per source version; returns the library.

    The output folder is named by a hash of the source and flags, so an edited source is rebuilt
    and an unchanged one is reused. The compiler is ``$CC``, else ``gcc``, else ``cc``.
    """
    source = resources.files("jouleflow.testing").joinpath("fake_nvml.c").read_bytes()
    digest = hashlib.sha256(source + " ".join(_CFLAGS).encode()).hexdigest()[:16]
    out_dir = Path(dest_dir) / f"fake-nvml-{digest}"
    library = out_dir / LIBRARY_NAME
    if library.is_file():
        return library
    compiler = _find_compiler()
    out_dir.mkdir(parents=True, exist_ok=True)
    source_path = out_dir / "fake_nvml.c"
    source_path.write_bytes(source)
    # Build under a temporary name and rename: concurrent test workers never see half a file.
    fd, partial = tempfile.mkstemp(prefix=".build-", suffix=".so", dir=out_dir)
    os.close(fd)
    command = [compiler, *_CFLAGS, "-o", partial, str(source_path)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise FakeNvmlBuildError(
                f"compiling the simulated {LIBRARY_NAME} failed ({' '.join(command)}):\n"
                f"{done.stderr.strip()}"
            )
        os.replace(partial, library)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return library


def _find_compiler() -> str:
    for candidate in (os.environ.get("CC"), "gcc", "cc"):
        if candidate and shutil.which(candidate):
            return candidate
    raise FakeNvmlBuildError(
        f"no C compiler found (tried $CC, gcc, cc): the simulated {LIBRARY_NAME} is compiled "
        "from jouleflow/testing/fake_nvml.c; install one, e.g. `apt-get install gcc`"
    )


@dataclass(frozen=True)
class FakeGpu:
    """One simulated GPU.

    ``has_energy_counter`` False is a pre-Volta board: jouleflow must integrate power.
    ``has_instant_power`` adds the NVML_FI_DEV_POWER_INSTANT field; without it the only power
    reading is nvmlDeviceGetPowerUsage, a 1 s trailing average.
    """

    name: str
    uuid: str
    has_energy_counter: bool = True
    watts: float = 100.0
    has_instant_power: bool = False
    power_limit_w: float | None = 700.0
    initial_energy_mj: int = 0  # real counters start from the driver's load, not from zero


class SimulatedNvml:
    """The state behind a simulated NVML, and the exact ground truth of what it reports."""

    def __init__(
        self,
        dest_dir: str | os.PathLike[str],
        gpus: Sequence[FakeGpu],
        *,
        driver_version: str = "550.54.15",
        driver_loaded: bool = True,
        library_path: str | os.PathLike[str] | None = None,
    ) -> None:
        for gpu in gpus:
            if gpu.watts < 0:
                raise ValueError(f"{gpu.name}: power must not be negative")
        self.dest_dir = Path(dest_dir)
        # A test suite compiles the library once and passes it to every simulation.
        self.library_path = (
            Path(library_path) if library_path is not None else compile_fake_nvml(self.dest_dir)
        )
        self.state_path = self.dest_dir / "fake-nvml-state.txt"
        self.gpus = list(gpus)
        self.driver_version = driver_version
        self.driver_loaded = driver_loaded
        self.t0_ns = 0
        self._segments: list[list[tuple[int, float]]] = [[] for _ in self.gpus]
        self._lost: set[int] = set()
        self._last_mtime_ns = 0
        self._saved_env: dict[str, str | None] = {}

    # -- driving it ---------------------------------------------------------------------------
    def start(self) -> SimulatedNvml:
        """Every GPU starts drawing its ``watts`` now (and is taken to have done so before)."""
        self.t0_ns = time.monotonic_ns()
        self._segments = [[(self.t0_ns, float(gpu.watts))] for gpu in self.gpus]
        self._write()
        return self

    def set_power(self, index: int, watts: float) -> int:
        """GPU ``index`` draws ``watts`` from now on; returns when it began (monotonic ns)."""
        if watts < 0:
            raise ValueError("power must not be negative")
        if not self._segments[index]:
            raise RuntimeError("call start() first")
        # The segment starts a little ahead, after the new state is in place: a reader between
        # the old and the new file must never see the past rewritten (its counter would go
        # backwards). Waiting for that instant makes the change in effect when this returns.
        t_ns = time.monotonic_ns() + SEGMENT_LEAD_NS
        self._segments[index].append((t_ns, float(watts)))
        self._write()
        while (left_ns := t_ns - time.monotonic_ns()) > 0:
            time.sleep(left_ns / 1e9)
        return t_ns

    def lose_gpu(self, index: int) -> None:
        """Every later call about GPU ``index`` fails with NVML_ERROR_GPU_IS_LOST."""
        self._lost.add(index)
        self._write()

    def set_driver_loaded(self, loaded: bool) -> None:
        """False makes nvmlInit fail with NVML_ERROR_DRIVER_NOT_LOADED."""
        self.driver_loaded = loaded
        self._write()

    # -- ground truth -------------------------------------------------------------------------
    def energy_j(self, index: int, start_ns: int, end_ns: int) -> float:
        """Exact energy GPU ``index`` drew between two CLOCK_MONOTONIC instants."""
        segments = self._segments[index]
        total = 0.0
        for i, (seg_start, watts) in enumerate(segments):
            lo = start_ns if i == 0 else max(seg_start, start_ns)
            hi = min(segments[i + 1][0], end_ns) if i + 1 < len(segments) else end_ns
            if hi > lo:
                total += watts * (hi - lo) / 1e9
        return total

    def power_w(self, index: int, t_ns: int) -> float:
        """The power at ``t_ns``: what NVML_FI_DEV_POWER_INSTANT reports."""
        segments = self._segments[index]
        held = [w for start, w in segments if start <= t_ns]
        return held[-1] if held else segments[0][1]

    def average_power_w(self, index: int, t_ns: int) -> float:
        """The 1 s trailing average at ``t_ns``: what nvmlDeviceGetPowerUsage reports."""
        return self.energy_j(index, t_ns - TRAILING_WINDOW_NS, t_ns) * 1e9 / TRAILING_WINDOW_NS

    # -- environment --------------------------------------------------------------------------
    @property
    def env(self) -> dict[str, str]:
        """Variables a child process needs to see these GPUs (add them to its environment)."""
        return {STATE_ENV: str(self.state_path), LIBRARY_ENV: str(self.library_path)}

    def install_env(self) -> None:
        """Point this process's fake NVML at this state (the library reads it with getenv)."""
        for key, value in self.env.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def restore_env(self) -> None:
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()

    def __enter__(self) -> SimulatedNvml:
        self.start()
        self.install_env()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore_env()

    # -- the state file -----------------------------------------------------------------------
    def _write(self) -> None:
        lines = [
            "jouleflow-fake-nvml 1",
            f"driver {self.driver_version}",
            f"init_error {0 if self.driver_loaded else NVML_ERROR_DRIVER_NOT_LOADED}",
        ]
        for index, gpu in enumerate(self.gpus):
            if any(c.isspace() for c in gpu.uuid) or "\n" in gpu.name:
                raise ValueError(f"GPU {index}: no spaces in the uuid, one line for the name")
            limit_mw = round(gpu.power_limit_w * 1000) if gpu.power_limit_w else 0
            lines.append(
                f"gpu {int(gpu.has_energy_counter)} {int(gpu.has_instant_power)} {limit_mw} "
                f"{gpu.initial_energy_mj} {int(index in self._lost)} {gpu.uuid} {gpu.name}"
            )
        for index, segments in enumerate(self._segments):
            lines.extend(f"seg {index} {start} {watts!r}" for start, watts in segments)
        self.dest_dir.mkdir(parents=True, exist_ok=True)
        fd, partial = tempfile.mkstemp(prefix=".state-", dir=self.dest_dir)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        # The library reloads when the file's identity changes; an mtime at least 1 ms past the
        # previous one makes every version distinct even when two writes fall within one
        # timestamp tick of the filesystem (or the inode number is reused).
        self._last_mtime_ns = max(self._last_mtime_ns + 1_000_000, time.time_ns())
        os.utime(partial, ns=(self._last_mtime_ns, self._last_mtime_ns))
        os.replace(partial, self.state_path)
