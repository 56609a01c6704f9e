"""Real-hardware check: run on a machine with an NVIDIA GPU, as root, in under 5 minutes.

    sudo python scripts/hardware_check.py --out docs/hardware/<card>.json

Records, as JSON:
- ``jouleflow doctor``'s findings;
- the RAPL zones, and their energy over 10 s idle and 10 s with every core busy;
- per GPU, while a torch matmul loop runs at a few sizes: the NVML energy counter, NVML power
  integrated over the same window, and ``nvidia-smi``'s power.draw sampled alongside, with
  J per FLOP at each size;
- phase attribution of a small CUDA training loop with and without ``sync=True``.

Nothing here is simulated: it is the counterpart of the simulators the test suite uses.
``tests/hardware/test_hardware_check.py`` (marker ``hardware``, off by default) wraps it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import jouleflow
from jouleflow.sensors.discovery import probe_all
from jouleflow.sensors.nvml import NvmlSensor
from jouleflow.sensors.powercap import PowercapSensor

MATMUL_SIZES = (1024, 4096, 8192)


def doctor() -> list[dict[str, Any]]:
    return [
        {
            "sensor": a.sensor,
            "available": a.available,
            "measured": a.measured,
            "reason": a.reason,
            "fix": a.fix,
            "domains": list(a.domains),
        }
        for a in probe_all(jouleflow.MeterConfig())
    ]


def _spin(seconds: float) -> None:
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        x += 1


def rapl(seconds: float) -> dict[str, Any]:
    """Zones, then energy per zone over an idle window and a loaded one."""
    sensor = PowercapSensor()
    found = sensor.probe()
    if not found.available:
        return {"available": False, "reason": found.reason, "fix": found.fix}
    domains = sensor.open()
    sensor.close()
    out: dict[str, Any] = {
        "available": True,
        "zones": [
            {
                "id": d.id,
                "kind": d.kind.value,
                "in_total": d.in_total,
                "wrap_uj": d.wrap_uj,
                "max_power_w": d.max_power_w,
            }
            for d in domains
        ],
    }
    for label in ("idle", "loaded"):
        with jouleflow.track(label, gpus=False, db=False) as run:
            if label == "idle":
                time.sleep(seconds)
            else:
                workers = [
                    multiprocessing.Process(target=_spin, args=(seconds,))
                    for _ in range(os.cpu_count() or 1)
                ]
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
        result = run.result
        out[label] = {
            "duration_s": result.duration_s,
            "components": {
                c.id: {
                    "energy_j": c.energy_j,
                    "power_w": c.energy_j / result.duration_s,
                    "method": c.method.value,
                }
                for c in result.components
            },
        }
    return out


class _SmiSampler:
    """nvidia-smi's power.draw every 100 ms, integrated (trapezoid) over the window."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.samples: list[tuple[float, float]] = []
        self._proc: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if shutil.which("nvidia-smi") is None:
            return
        self._proc = subprocess.Popen(
            [
                "nvidia-smi",
                "-i",
                str(self.index),
                "--query-gpu=power.draw",
                "--format=csv,noheader,nounits",
                "-lms",
                "100",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self.samples.append((time.monotonic(), float(line.strip())))
            except ValueError:
                continue

    def stop(self) -> float | None:
        if self._proc is None:
            return None
        self._proc.terminate()
        self._proc.wait()
        pts = self.samples
        return sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in itertools.pairwise(pts)) or None


def gpus(seconds_per_size: float) -> dict[str, Any]:
    import torch

    found = NvmlSensor().probe()
    if not found.available or not torch.cuda.is_available():
        return {"available": False, "reason": found.reason}
    out: dict[str, Any] = {"available": True, "devices": []}
    for index in range(torch.cuda.device_count()):
        device = torch.device("cuda", index)
        name = torch.cuda.get_device_name(index)
        sizes = []
        for n in MATMUL_SIZES:
            a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
            b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
            torch.cuda.synchronize(device)
            smi = _SmiSampler(index)
            smi.start()
            with jouleflow.track(f"matmul-{n}", db=False) as run:
                iterations = 0
                end = time.monotonic() + seconds_per_size
                while time.monotonic() < end:
                    for _ in range(10):
                        a @ b
                    iterations += 10
                torch.cuda.synchronize(device)
            smi_j = smi.stop()
            result = run.result
            gpu = next(
                (c for c in result.components if c.kind.value == "gpu" and c.index == index), None
            )
            flops = 2 * n**3 * iterations
            sizes.append(
                {
                    "n": n,
                    "dtype": "bfloat16",
                    "iterations": iterations,
                    "duration_s": result.duration_s,
                    "flops": flops,
                    "jouleflow_gpu_j": gpu.energy_j if gpu else None,
                    "jouleflow_method": gpu.method.value if gpu else None,
                    "nvidia_smi_j": smi_j,
                    "j_per_flop": gpu.energy_j / flops if gpu else None,
                    "tflops_per_s": flops / result.duration_s / 1e12,
                }
            )
        out["devices"].append(
            {
                "index": index,
                "name": name,
                "matmul": sizes,
                "power_vs_counter": _power_vs_counter(index, seconds_per_size),
            }
        )
    return out


def _power_vs_counter(index: int, seconds: float) -> dict[str, Any]:
    """The same window read two ways: the energy counter, and instant power integrated."""
    import pynvml
    import torch

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)
    a = torch.randn(4096, 4096, device=f"cuda:{index}")
    samples: list[tuple[float, float]] = []
    start_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        a @ a
        samples.append((time.monotonic(), pynvml.nvmlDeviceGetPowerUsage(handle) / 1000))
    torch.cuda.synchronize()
    end_mj = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    pynvml.nvmlShutdown()
    integrated = sum((b[0] - a_[0]) * a_[1] for a_, b in itertools.pairwise(samples))
    counter_j = (end_mj - start_mj) / 1000
    return {
        "counter_j": counter_j,
        "power_integrated_j": integrated,
        "ratio": integrated / counter_j if counter_j else None,
        "power_samples": len(samples),
    }


def phases(steps: int) -> dict[str, Any]:
    import torch

    import jouleflow.torch as jt

    if not torch.cuda.is_available():
        return {"available": False}
    out: dict[str, Any] = {}
    for sync in (False, True):
        model = torch.nn.Sequential(
            torch.nn.Linear(2048, 4096), torch.nn.ReLU(), torch.nn.Linear(4096, 1000)
        ).cuda()
        optimizer = torch.optim.AdamW(model.parameters())
        x = torch.randn(256, 2048, device="cuda")
        y = torch.randint(0, 1000, (256,), device="cuda")
        with jouleflow.track(f"phases-sync-{sync}", db=False) as run:
            watcher = jt.watch(model, optimizer, run=run, sync=sync)
            started = time.monotonic()
            for _ in range(steps):
                loss = torch.nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            torch.cuda.synchronize()
            elapsed = time.monotonic() - started
            watcher.close()
        result = run.result
        ids = result.total_ids
        out[f"sync={sync}"] = {
            "step_time_ms": elapsed / steps * 1000,
            "phases": {
                p.name: {"self_j": p.self_total_j(ids), "time_s": p.duration_s}
                for p in result.phases
            },
            "unattributed_j": sum(v for k, v in result.unattributed_j.items() if k in ids),
            "total_j": result.total_j,
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("hardware_check.json"))
    parser.add_argument("--seconds", type=float, default=10.0, help="idle/loaded window (s)")
    parser.add_argument("--matmul-seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {
        "when": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "jouleflow": jouleflow.__version__,
        "root": os.geteuid() == 0,
    }
    for key, step in (
        ("doctor", doctor),
        ("rapl", lambda: rapl(args.seconds)),
        ("gpus", lambda: gpus(args.matmul_seconds)),
        ("phases", lambda: phases(args.steps)),
    ):
        started = time.monotonic()
        try:
            report[key] = step()
        except Exception as err:  # recorded, not hidden: the JSON says which part failed and why
            report[key] = {"error": f"{type(err).__name__}: {err}"}
        print(f"{key}: {time.monotonic() - started:.1f} s", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
