"""Accuracy of ``jouleflow.track()`` against the exact ground truth of simulated sensors.

Counter sensors (RAPL): a fake powercap tree whose ``energy_uj`` files a simulator process
rewrites every 1 ms tick from a known power trace, so the energy of any window is known exactly
(``PowercapSimulator.energy_j``). Each repetition measures one window with ``track()`` and
compares ``component(...).energy_j`` with the truth over ``result.window_ns``. Cases:

- constant power (package-0, 40 W);
- square-wave power (DRAM zone, 2 W / 30 W, period 0.11 s: near the default sampling interval,
  0.1 s, where a sampling integrator aliases; a counter should not care);
- a counter that wraps five times inside every window (package-1 at 100 W, its
  ``max_energy_range_uj`` sized to a fifth of the window's energy, starting 1 ms before a wrap).

Baseline, the floor: what the counter alone costs, its ~1 ms update tick. Before the windows, the
counter is read directly (open, read, close, stamped by its own clock reading) at 400 random
instants, and its error at each (value minus the exact energy so far) recorded; a window whose
edges fall at two such instants has the difference as its error. The floor is the median of that
over random pairs, as a fraction of the window's energy; ratio = jouleflow's median |error| ÷
the floor. Each repetition also reads the counter directly just outside jouleflow's edges
(details), which shows when a repetition was unlucky for any reader.

Power-only GPUs: the simulated libnvidia-ml (through the real nvidia-ml-py) with two boards at
the same power in the same window: one with the energy counter (the baseline) and one that
reports only power (``NVML_FI_DEV_POWER_INSTANT``), which jouleflow samples and integrates. Steady
power, and a step from 100 W to 300 W in the middle of the window. A third board that reports
only ``nvmlDeviceGetPowerUsage`` (a 1 s trailing average on Ampere and later) is shown in the
details.

The run store is off (``db=False``): it does not change what is measured.

    .venv/bin/python bench/accuracy.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import (
    Figure,
    finish,
    fmt,
    median,
    parse_args,
    running_simulator,
    scratch_dir,
    store_option,
    use_scratch_store,
)

import jouleflow
from jouleflow.testing import (
    ConstantPower,
    FakeGpu,
    FakeZone,
    PowercapSimulator,
    PowerTrace,
    SimulatedNvml,
    SquareWave,
    build_powercap_tree,
    compile_fake_nvml,
)

TARGET_PCT = {0.1: 2.0, 1.0: 0.3, 10.0: 0.05, 60.0: 0.05}
WINDOWS = {"quick": (0.1, 1.0), "default": (0.1, 1.0, 10.0), "long": (0.1, 1.0, 10.0, 60.0)}
REPS = {"quick": {0.1: 3, 1.0: 3}, "default": {0.1: 5, 1.0: 5, 10.0: 3}}
REPS["long"] = {**REPS["default"], 60.0: 2}
GPU_TARGET_PCT = 2.0
GPU_WINDOW_S = 1.0
WRAPS_PER_WINDOW = 5
WRAP_W = 100.0
SETTLE_S = 0.2  # let the simulator tick a while before the first window


@dataclass(frozen=True)
class Case:
    key: str  # accuracy.counter.<key>.<window>
    title: str
    link: str  # the fake zone
    component: str  # jouleflow's id for it


SQUARE_PERIOD_S = 0.11  # near the default sampling interval, 0.1 s
CONSTANT = Case("constant", "RAPL counter, constant 40 W", "intel-rapl:0", "rapl:package-0")
SQUARE = Case(
    "square",
    "RAPL counter, 2/30 W square wave (0.11 s period)",
    "intel-rapl:0:0",
    "rapl:package-0:dram",
)
WRAP = Case(
    "wrap",
    f"RAPL counter wrapping {WRAPS_PER_WINDOW}× per window",
    "intel-rapl:1",
    "rapl:package-1",
)


def _window_label(window_s: float) -> str:
    return f"{window_s:g} s"


def _read_direct(path: bytes) -> tuple[int, int]:
    """One counter read as a minimal reader does it: (midpoint stamp, value)."""
    before = time.monotonic_ns()
    fd = os.open(path, os.O_RDONLY)
    try:
        value = int(os.read(fd, 32))
    finally:
        os.close(fd)
    return (before + time.monotonic_ns()) // 2, value


@dataclass
class Errors:
    jouleflow_pct: list[float]
    edge_floor_pct: list[float]  # the counter read directly at the same edges
    instant_uj: list[float]  # the counter's own error at random instants (value - truth)
    sampler_ms: float = 0.0


FLOOR_SAMPLES = 400
FLOOR_PAIRS = 4000


def _instant_errors(
    sim: PowercapSimulator, path: bytes, link: str, initial_uj: int, modulus: int
) -> list[float]:
    """The counter's error at many random instants: its value minus the exact energy so far.

    The difference of two of them is the error any reader gets from the counter alone over a
    window with those edges, whatever its length.
    """
    rng = random.Random(11)
    errors = []
    for _ in range(FLOOR_SAMPLES):
        time.sleep(rng.uniform(0, 0.002))
        t_ns, value = _read_direct(path)
        truth_uj = sim.energy_j(link, sim.t0_ns, t_ns) * 1e6
        error = (value - initial_uj - truth_uj) % modulus
        errors.append(error - modulus if error > modulus / 2 else error)
    return errors


def _floor_pct(instant_uj: Sequence[float], window_j: float) -> tuple[float, float]:
    """Median and max |error| of a window whose edges fall at random instants."""
    rng = random.Random(13)
    diffs = [
        abs(a - b) / 1e6 / window_j * 100
        for a, b in (rng.sample(list(instant_uj), 2) for _ in range(FLOOR_PAIRS))
    ]
    return median(diffs), max(diffs)


def _measure_tree(
    base: Path,
    zones: list[FakeZone],
    traces: dict[str, PowerTrace],
    initial_uj: dict[str, int],
    cases: Sequence[Case],
    window_s: float,
    reps: int,
) -> dict[str, Errors]:
    tree = build_powercap_tree(base, zones)
    moduli = {z.link: z.max_energy_range_uj + 1 for z in zones}
    paths = {c.link: os.fsencode(tree.energy_file(c.link)) for c in cases}
    errors = {c.key: Errors([], [], []) for c in cases}
    with running_simulator(tree, traces, initial_uj) as sim:
        time.sleep(SETTLE_S)
        for case in cases:
            errors[case.key].instant_uj = _instant_errors(
                sim, paths[case.link], case.link, initial_uj.get(case.link, 0), moduli[case.link]
            )
        for _ in range(reps):
            before = {c.key: _read_direct(paths[c.link]) for c in cases}
            run = jouleflow.track(
                powercap_root=str(tree.root), gpus=False, **store_option(False)
            ).start()
            time.sleep(window_s)
            result = run.stop()
            after = {c.key: _read_direct(paths[c.link]) for c in cases}
            start_ns, end_ns = result.window_ns
            for case in cases:
                truth_j = sim.energy_j(case.link, start_ns, end_ns)
                measured_j = result.component(case.component).energy_j
                errors[case.key].jouleflow_pct.append(abs(measured_j - truth_j) / truth_j * 100)
                # The same counter read directly at (nearly) the same edges.
                (t0, v0), (t1, v1) = before[case.key], after[case.key]
                modulus = moduli[case.link]
                edge_truth_uj = sim.energy_j(case.link, t0, t1) * 1e6
                seen_uj = (v1 - v0) % modulus
                seen_uj += round((edge_truth_uj - seen_uj) / modulus) * modulus
                errors[case.key].edge_floor_pct.append(
                    abs(seen_uj - edge_truth_uj) / edge_truth_uj * 100
                )
                errors[case.key].sampler_ms = result.sample_interval_s * 1e3
    return errors


MEAN_W = {"constant": 40.0, "square": 16.0, "wrap": WRAP_W}


def counter_figures(window_s: float, reps: int, tmp: Path) -> list[Figure]:
    base = tmp / f"window-{window_s:g}"
    # Constant and square wave share one tree and one window (the default sampling rate).
    steady = _measure_tree(
        base / "steady",
        [
            FakeZone("intel-rapl:0", "package-0"),
            FakeZone("intel-rapl:0:0", "dram", max_power_uw=60_000_000),
        ],
        {
            "intel-rapl:0": ConstantPower(40.0),
            "intel-rapl:0:0": SquareWave(2.0, 30.0, SQUARE_PERIOD_S),
        },
        {},
        (CONSTANT, SQUARE),
        window_s,
        reps,
    )
    # The wrapping counter gets its own run: the sampler must poll it faster than it wraps.
    range_uj = int(WRAP_W * window_s / WRAPS_PER_WINDOW * 1e6)
    wrapping = _measure_tree(
        base / "wrap",
        [FakeZone("intel-rapl:1", "package-1", max_energy_range_uj=range_uj - 1)],
        {"intel-rapl:1": ConstantPower(WRAP_W)},
        {"intel-rapl:1": range_uj - int(WRAP_W * 1e3)},  # 1 ms of energy before the wrap
        (WRAP,),
        window_s,
        reps,
    )
    figures = []
    for case, errors in ((CONSTANT, steady), (SQUARE, steady), (WRAP, wrapping)):
        e = errors[case.key]
        jf = median(e.jouleflow_pct)
        floor, floor_max = _floor_pct(e.instant_uj, MEAN_W[case.key] * window_s)
        details = [
            f"{reps} windows of {_window_label(window_s)}; sampler interval {e.sampler_ms:g} ms",
            "jouleflow |error| %: " + ", ".join(fmt(x) for x in e.jouleflow_pct),
            "the counter read directly at the same edges, |error| %: "
            + ", ".join(fmt(x) for x in e.edge_floor_pct),
            f"floor: median {fmt(floor)} %, max {fmt(floor_max)} % over {FLOOR_PAIRS} windows "
            f"whose edges are {FLOOR_SAMPLES} random direct reads of the counter",
        ]
        if case is WRAP:
            details.insert(
                1,
                f"counter range {range_uj / 1e6:g} J at {WRAP_W:g} W: wraps every "
                f"{range_uj / WRAP_W / 1e3:g} ms, {WRAPS_PER_WINDOW} times per window",
            )
        figures.append(
            Figure(
                key=f"accuracy.counter.{case.key}.{window_s:g}s",
                title=f"{case.title}, {_window_label(window_s)} window",
                unit="%",
                value=jf,
                worst=max(e.jouleflow_pct),
                baseline=floor,
                baseline_label="the counter read directly (its own ~1 ms update tick: the "
                "floor), median over random edges",
                ratio=jf / floor if floor > 0 else None,
                ratio_label="median |error| ÷ the floor's median |error|",
                target=TARGET_PCT[window_s],
                details=details,
                group="accuracy",
            )
        )
    return figures


# -- GPUs that only report power ----------------------------------------------------------------
COUNTER_GPU = FakeGpu("NVIDIA H100 80GB HBM3", "GPU-00000000-bench-counter", watts=100.0)
INSTANT_GPU = FakeGpu(
    "Tesla P100-PCIE-16GB",
    "GPU-11111111-bench-instant",
    has_energy_counter=False,
    has_instant_power=True,
    watts=100.0,
)
AVERAGE_GPU = FakeGpu(
    "Tesla K80", "GPU-22222222-bench-average", has_energy_counter=False, watts=100.0
)
GPUS = (COUNTER_GPU, INSTANT_GPU, AVERAGE_GPU)
TRAILING_SETTLE_S = 1.1  # the 1 s trailing average of nvmlDeviceGetPowerUsage


def _set_all(sim: SimulatedNvml, watts: float) -> None:
    for index in range(len(GPUS)):
        sim.set_power(index, watts)


def gpu_figures(reps: int, tmp: Path, library: Path) -> list[Figure]:
    no_rapl = str(tmp / "no-powercap")
    errors: dict[str, dict[int, list[float]]] = {
        "steady": {i: [] for i in range(len(GPUS))},
        "step": {i: [] for i in range(len(GPUS))},
    }
    interval_ms = 0.0
    os.environ.pop("CUDA_VISIBLE_DEVICES", None)
    rng = random.Random(7)
    with SimulatedNvml(tmp / "nvml", GPUS, library_path=library) as sim:
        for case in ("steady", "step"):
            for _ in range(reps):
                _set_all(sim, 100.0)
                time.sleep(TRAILING_SETTLE_S)
                run = jouleflow.track(
                    powercap_root=no_rapl, nvml_library=str(library), **store_option(False)
                ).start()
                started_ns = time.monotonic_ns()
                if case == "step":
                    # The step falls anywhere in the middle fifth of the window.
                    time.sleep(GPU_WINDOW_S * rng.uniform(0.4, 0.6))
                    _set_all(sim, 300.0)
                    left_s = GPU_WINDOW_S - (time.monotonic_ns() - started_ns) / 1e9
                    time.sleep(max(left_s, 0.0))
                else:
                    time.sleep(GPU_WINDOW_S)
                result = run.stop()
                interval_ms = result.sample_interval_s * 1e3
                start_ns, end_ns = result.window_ns
                for index in range(len(GPUS)):
                    truth_j = sim.energy_j(index, start_ns, end_ns)
                    got_j = result.component(f"nvml:{index}").energy_j
                    errors[case][index].append(abs(got_j - truth_j) / truth_j * 100)
    figures = []
    titles = {
        "steady": "GPU power only, steady 100 W, 1 s window",
        "step": "GPU power only, 100→300 W step, 1 s window",
    }
    for case, per_gpu in errors.items():
        power, floor = per_gpu[1], per_gpu[0]
        figures.append(
            Figure(
                key=f"accuracy.gpu_power_only.{case}.1s",
                title=titles[case],
                unit="%",
                value=median(power),
                worst=max(power),
                baseline=median(floor),
                baseline_label="a GPU with the energy counter at the same power, same window",
                ratio=median(power) / median(floor) if median(floor) > 0 else None,
                ratio_label="median |error| ÷ the counter GPU's median |error|",
                target=GPU_TARGET_PCT,
                details=[
                    f"{reps} windows of 1 s; sampler interval {interval_ms:g} ms; power read "
                    "through NVML_FI_DEV_POWER_INSTANT and integrated holding each reading"
                    + (
                        "; the step falls at a random instant in the middle fifth of the window"
                        if case == "step"
                        else ""
                    ),
                    "jouleflow |error| %: " + ", ".join(fmt(x) for x in power),
                    "counter GPU |error| %: " + ", ".join(fmt(x) for x in floor),
                    "board with only nvmlDeviceGetPowerUsage (1 s trailing average) |error| %: "
                    + ", ".join(fmt(x) for x in per_gpu[2]),
                ],
                group="accuracy",
            )
        )
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    figures: list[Figure] = []
    with scratch_dir() as tmp, tempfile.TemporaryDirectory() as build:
        use_scratch_store(Path(tmp))
        for window_s in WINDOWS[args.mode]:
            figures += counter_figures(window_s, REPS[args.mode][window_s], Path(tmp))
        # The library is built outside /dev/shm, which may forbid loading code from it.
        library = compile_fake_nvml(build)
        figures += gpu_figures(3 if args.mode == "quick" else 5, Path(tmp), library)
    # Each case with its windows in order: constant, wrap, square, then the GPUs.
    order = ["constant", "wrap", "square", "steady", "step"]
    figures.sort(key=lambda f: order.index(f.key.split(".")[2]))
    finish(figures, args)


if __name__ == "__main__":
    main()
