"""Calibration probes in torch: matrix products, copies and sleep, each reporting its work.

Only ``jouleflow calibrate`` imports this module (it imports torch). Each probe sizes itself on
first use so that one ``run()`` lasts about ``seconds``, and synchronises the device before it
returns, so the phase around it holds the work.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from jouleflow.errors import ConfigError
from jouleflow.explain.records import Work
from jouleflow.explain.tables import precision_of

_DTYPES = {
    "fp64": torch.float64,
    "fp32": torch.float32,
    "tf32": torch.float32,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def device_name(device: str) -> str | None:
    if device.startswith("cuda") and torch.cuda.is_available():
        return str(torch.cuda.get_device_name(torch.device(device)))
    return None


def dtype_for(precision: str) -> torch.dtype:
    key = precision_of(precision)
    if key not in _DTYPES:
        raise ConfigError(
            f"no calibration probe for {precision}", fix=f"use one of {', '.join(_DTYPES)}"
        )
    return _DTYPES[key]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class _Sized:
    """Repeats a step enough times to last about ``seconds`` (measured on the first run)."""

    name: str
    kind: str

    def __init__(self, device: str, seconds: float) -> None:
        self.device = torch.device(device)
        self.seconds = seconds
        self.repeats = 0

    def step(self) -> Work:  # pragma: no cover - overridden
        raise NotImplementedError

    def prepare(self) -> None:
        """Size the probe (warm-up included) before any measurement."""
        if self.repeats == 0:
            self._size()

    def _size(self) -> None:
        self.step()  # warm-up: allocation, kernel selection
        _sync(self.device)
        started = time.perf_counter()
        n = 0
        while n < 3 or time.perf_counter() - started < self.seconds / 10:
            self.step()
            n += 1
        _sync(self.device)
        per_step = (time.perf_counter() - started) / n
        self.repeats = max(1, round(self.seconds / max(per_step, 1e-9)))

    def run(self) -> Work:
        self.prepare()
        total = Work(0.0, 0.0)
        for _ in range(self.repeats):
            total = total + self.step()
        _sync(self.device)
        return total


class MatmulProbe(_Sized):
    """``c = a @ b`` on n x n matrices: 2n³ FLOPs; 3n² elements read or written at least."""

    kind = "compute"

    def __init__(self, device: str, precision: str, n: int, seconds: float) -> None:
        super().__init__(device, seconds)
        self.name = f"matmul-{n}"
        dtype = dtype_for(precision)
        self.tf32 = precision_of(precision) == "tf32"
        self.a = torch.randn(n, n, device=self.device, dtype=dtype)
        self.b = torch.randn(n, n, device=self.device, dtype=dtype)
        self.c = torch.empty(n, n, device=self.device, dtype=dtype)
        self.work = Work(2.0 * n**3, 3.0 * n * n * self.a.element_size())

    def step(self) -> Work:
        torch.mm(self.a, self.b, out=self.c)
        return self.work

    def run(self) -> Work:
        previous = torch.backends.cuda.matmul.allow_tf32
        torch.backends.cuda.matmul.allow_tf32 = self.tf32
        try:
            return super().run()
        finally:
            torch.backends.cuda.matmul.allow_tf32 = previous


class CopyProbe(_Sized):
    """``dst.copy_(src)`` of ``numel`` elements: no FLOP; each element read once, written once."""

    kind = "memory"

    def __init__(self, device: str, precision: str, numel: int, seconds: float) -> None:
        super().__init__(device, seconds)
        dtype = dtype_for(precision)
        self.src = torch.randn(numel, device=self.device, dtype=torch.float32).to(dtype)
        self.dst = torch.empty_like(self.src)
        self.name = f"copy-{numel * self.src.element_size() >> 20}MiB"
        self.work = Work(0.0, 2.0 * numel * self.src.element_size())

    def step(self) -> Work:
        self.dst.copy_(self.src)
        return self.work


class IdleProbe:
    """Sleep: the device does nothing, so the energy is the idle power x time."""

    kind = "idle"

    def __init__(self, seconds: float) -> None:
        self.name = "idle"
        self.seconds = seconds

    def run(self) -> Work:
        time.sleep(self.seconds)
        return Work(0.0, 0.0)


def standard_probes(device: str, precision: str, seconds: float) -> list[Any]:
    """Two matrix sizes, two copy sizes (past the caches), and idle."""
    gpu = device.startswith("cuda")
    sizes = (4096, 8192) if gpu else (256, 512)
    numels = (1 << 27, 1 << 28) if gpu else (1 << 22, 1 << 24)
    return [
        MatmulProbe(device, precision, sizes[0], seconds),
        MatmulProbe(device, precision, sizes[1], seconds),
        CopyProbe(device, precision, numels[0], seconds),
        CopyProbe(device, precision, numels[1], seconds),
        IdleProbe(seconds),
    ]
