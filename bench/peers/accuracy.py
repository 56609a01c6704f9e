"""Accuracy of CodeCarbon and Zeus beside jouleflow: the same simulated sensors, the same windows.

Every tool runs as an agent in its own sandbox (``sandbox.py``) whose ``/sys/class/powercap`` is
one simulated tree, all at once, and the harness opens and closes everyone's window together
(``begin`` to all, sleep, ``end`` to all). Each tool's error is against the exact energy between
the instant its ``begin`` call returned and the instant its ``end`` call was made: the energy of the
code the user wrapped. (jouleflow's own figures in ``bench/accuracy.py`` use its run's reported
window instead; the two differ by the microseconds of a call.)

RAPL (one tree per case, package 0 only, so that CodeCarbon's CPU total is that one counter):
constant 40 W; 2/30 W square wave of period 0.11 s; 100 W with the counter wrapping five times
per window (its range a fifth of the window's energy). Windows of 0.1 s, 1 s, 10 s (and 60 s
with ``--long``). The constant tree's sandboxes also have a simulated H100 (energy counter), whose
power steps from 100 W to 300 W in the middle of every window.

Power-only GPU: a simulated Tesla P100 (no energy counter; instant power field and the 1 s
trailing average), 1 s windows at a steady 100 W and with a step to 300 W, and 2 s windows of a
50/250 W square wave whose period (0.022 s, 0.11 s, 1.1 s) is near each tool's power sampling
period (jouleflow 20 ms for such a GPU, 0.1 s otherwise; CodeCarbon 1 s; Zeus polls as fast as it
can). Zeus and Zeus (best) run alone,
one after the other: their power poller keeps a core busy, which would starve the others' samplers.
Also the CPU each tool's process tree spends per wall second with that GPU in an open window.

    .venv/bin/python bench/peers/accuracy.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import harness
import sandbox
from _common import Figure, finish, fmt, median, parse_args, running_simulator, scratch_dir
from harness import LABELS, compare, failed_figure, pct_error

from jouleflow.testing import (
    ConstantPower,
    FakeGpu,
    FakeZone,
    SimulatedNvml,
    SquareWave,
    build_powercap_tree,
)

RAPL_TOOLS = ("jouleflow", "codecarbon", "codecarbon-best", "zeus")
GPU_GROUPS = (("jouleflow", "codecarbon", "codecarbon-best"), ("zeus",), ("zeus-best",))
WINDOWS = {"quick": (0.1, 1.0), "default": (0.1, 1.0, 10.0), "long": (0.1, 1.0, 10.0, 60.0)}
REPS = {"quick": {0.1: 3, 1.0: 3}, "default": {0.1: 5, 1.0: 5, 10.0: 3}}
REPS["long"] = {**REPS["default"], 60.0: 2}
COUNTER_TARGET_PCT = {0.1: 2.0, 1.0: 0.3, 10.0: 0.05, 60.0: 0.05}
GPU_REPS = {"quick": 1, "default": 3, "long": 6}
SQUARE_REPS = {"quick": 1, "default": 2, "long": 3}
SQUARE_WINDOW_S = 2.0
# Near each tool's power sampling period: jouleflow samples a power-only GPU every 20 ms (0.1 s
# for everything else), CodeCarbon every 1 s; Zeus polls as fast as it can.
SQUARE_PERIODS_S = {
    "quick": (0.022, 1.1),
    "default": (0.022, 0.11, 1.1),
    "long": (0.022, 0.11, 1.1),
}
WRAPS = 5
SETTLE_S = 1.1  # NVML's 1 s trailing average settles before a window


def _wlabel(window_s: float) -> str:
    return f"{window_s:g} s"


CASES = {
    "constant": "RAPL counter, constant 40 W",
    "square": "RAPL counter, 2/30 W square wave (0.11 s period)",
    "wrap": f"RAPL counter wrapping {WRAPS}× per window",
}


def _tree(base: Path, case: str, window_s: float) -> tuple[Any, dict[str, Any], dict[str, int]]:
    if case == "wrap":
        range_uj = int(100.0 * window_s / WRAPS * 1e6)
        zone = FakeZone("intel-rapl:0", "package-0", max_energy_range_uj=range_uj - 1)
        traces: dict[str, Any] = {"intel-rapl:0": ConstantPower(100.0)}
        initial = {"intel-rapl:0": range_uj - 100_000}  # 1 ms of energy before the wrap
    else:
        zone = FakeZone("intel-rapl:0", "package-0")
        power = ConstantPower(40.0) if case == "constant" else SquareWave(2.0, 30.0, 0.11)
        traces = {"intel-rapl:0": power}
        initial = {"intel-rapl:0": 123_456_789_012}  # counters never start at zero
    tree = build_powercap_tree(base / case, [zone])
    sandbox.kernel_links(tree.base)
    return tree, traces, initial


class Windows:
    """Runs synchronized windows on a set of agents; keeps each one's errors per part."""

    def __init__(self, agents: Sequence[sandbox.Agent]) -> None:
        self.agents = list(agents)
        self.errors: dict[tuple[str, str], list[float]] = {}
        self.notes: dict[str, list[str]] = {}
        self.failures: dict[str, str] = {}

    def start(self) -> None:
        for agent in self.agents:
            if not agent.wait_ready():
                self.failures[agent.label] = agent.error

    def run(
        self, window_s: float, during: Any = None
    ) -> dict[str, tuple[int, int, dict[str, Any]]]:
        """One window for everyone; returns each agent's (start_ns, end_ns, answer)."""
        for label, answer in sandbox.broadcast(self.agents, "prepare").items():
            if "error" in answer:
                self.failures.setdefault(label, answer["error"])
        began = sandbox.one_by_one(self.agents, "begin")
        opened = time.monotonic()
        if during is not None:
            during(window_s)
        time.sleep(max(window_s - (time.monotonic() - opened), 0.0))
        ended = sandbox.one_by_one(self.agents, "end")
        out = {}
        for label, answer in ended.items():
            start = began.get(label, {})
            if "error" in answer or "error" in start:
                self.failures.setdefault(label, answer.get("error") or start.get("error", "?"))
                continue
            out[label] = (start["after"], answer["before"], answer)
        return out

    def record(self, key: str, label: str, measured: float | None, truth: float, why: str) -> None:
        if measured is None:
            self.failures.setdefault(f"{label}|{key}", why)
            return
        self.errors.setdefault((key, label), []).append(pct_error(measured, truth))

    def close(self) -> None:
        for agent in self.agents:
            agent.close()


def rapl_phase(mode: str, tmp: Path, nvml_dir: Path) -> list[Figure]:
    """Every RAPL case and window size; only the wrapping tree (its range) changes per size."""
    figures: list[Figure] = []
    with ExitStack() as stack:
        sims, steady = {}, []
        gpu = FakeGpu("NVIDIA H100 80GB HBM3", "GPU-0000000a-bench-peer-counter", watts=100.0)
        nvml = SimulatedNvml(tmp / "nvml-a", [gpu], library_path=nvml_dir / "libnvidia-ml.so.1")
        nvml.start()
        gpu_sensors = {"JOULEFLOW_FAKE_NVML_STATE": str(nvml.state_path)}
        for case in ("constant", "square"):
            tree, traces, initial = _tree(tmp / "rapl", case, 0.0)
            sims[case] = stack.enter_context(running_simulator(tree, traces, initial))
            sensors = (
                sandbox.Sensors(tree.root, nvml_dir, gpu_sensors)
                if case == "constant"
                else sandbox.Sensors(tree.root)
            )
            for tool in RAPL_TOOLS:
                steady.append(
                    sandbox.Agent(f"{tool}|{case}", sandbox.python_for(tool), tool, sensors, tmp)
                )
        started = Windows(steady)
        stack.callback(started.close)
        started.start()
        for window_s in WINDOWS[mode]:
            begin = time.monotonic()
            with ExitStack() as inner:
                tree, traces, initial = _tree(tmp / f"rapl-{window_s:g}", "wrap", window_s)
                sims["wrap"] = inner.enter_context(running_simulator(tree, traces, initial))
                wrap = Windows(
                    [
                        sandbox.Agent(
                            f"{t}|wrap", sandbox.python_for(t), t, sandbox.Sensors(tree.root), tmp
                        )
                        for t in RAPL_TOOLS
                    ]
                )
                inner.callback(wrap.close)
                wrap.start()
                windows = Windows([*steady, *wrap.agents])
                windows.failures.update({**started.failures, **wrap.failures})
                _rapl_windows(windows, window_s, REPS[mode][window_s], sims, nvml)
            figures += rapl_figures(windows, window_s)
            print(
                f"RAPL windows of {window_s:g} s: {time.monotonic() - begin:.0f} s", file=sys.stderr
            )
    return figures


def _rapl_windows(
    windows: Windows, window_s: float, reps: int, sims: dict[str, Any], nvml: SimulatedNvml
) -> None:
    windows.run(0.2)  # warm-up: Zeus starts its wraparound pollers at the first read
    time.sleep(1.0)
    rng = random.Random(3)

    def step(w: float) -> None:
        time.sleep(w * rng.uniform(0.4, 0.6))
        nvml.set_power(0, 300.0)

    for _ in range(reps):
        nvml.set_power(0, 100.0)
        for label, (a, b, answer) in windows.run(window_s, step).items():
            tool, case = label.split("|")
            parts = answer.get("parts", {})
            why = f"no CPU figure; said: {harness.describe_said(answer) or answer.get('labels')}"
            windows.record(
                case, tool, parts.get("cpu"), sims[case].energy_j("intel-rapl:0", a, b), why
            )
            if "window_ns" in answer and parts.get("cpu") is not None:
                w0, w1 = answer["window_ns"]
                truth = sims[case].energy_j("intel-rapl:0", w0, w1)
                windows.errors.setdefault((case, "jouleflow-own"), []).append(
                    pct_error(parts["cpu"], truth)
                )
                windows.errors.setdefault((case, "jouleflow-edges"), []).append((w0 - a) / 1e6)
                windows.errors.setdefault((case, "jouleflow-edges"), []).append((w1 - b) / 1e6)
            if case == "constant":
                why = f"no GPU figure (parts: {sorted(parts)})"
                windows.record("gpu", tool, parts.get("gpu0"), nvml.energy_j(0, a, b), why)


def rapl_figures(windows: Windows, window_s: float) -> list[Figure]:
    figures = []
    w = _wlabel(window_s)
    titles = {**CASES, "gpu": "GPU energy counter, 100→300 W step"}
    for case, title in titles.items():
        key = f"accuracy.{'gpu_counter.step' if case == 'gpu' else 'counter.' + case}.{window_s:g}s"
        jf = windows.errors.get((case, "jouleflow"), [])
        for tool in RAPL_TOOLS:
            if tool == "jouleflow" and case != "gpu":
                continue  # jouleflow's own figure comes from bench/accuracy.py
            values = windows.errors.get((case, tool))
            why = windows.failures.get(f"{tool}|{case}") or windows.failures.get(
                f"{tool}|{case}|{case}"
            )
            if not values:
                why = why or windows.failures.get(f"{tool}|constant|gpu", "no result")
                figures.append(failed_figure(key, f"{title}, {w} window", tool, "accuracy", why))
                continue
            details = [f"{len(values)} windows of {w}; truth over [begin returned, end called]"]
            own = windows.errors.get((case, "jouleflow-own"))
            if own:
                edges = windows.errors.get((case, "jouleflow-edges"), [])
                starts, ends = edges[0::2], edges[1::2]
                details.append(
                    "jouleflow in the same windows, against its own reported window "
                    f"(result.window_ns, as bench/accuracy.py counts): {harness.spread(own, '%')}; "
                    f"its first reading {fmt(-median(starts))} ms before start() returned, its "
                    f"last {fmt(median(ends))} ms after stop() was called (medians)"
                )
            if why:
                details.append(f"some windows failed: {why[:300]}")
            figures.append(
                compare(
                    key,
                    f"{title}, {w} window",
                    tool,
                    values,
                    jf,
                    details=details,
                    target=COUNTER_TARGET_PCT.get(window_s),
                )
            )
    return figures


# -- power-only GPUs -----------------------------------------------------------------------------
class Square(threading.Thread):
    """Toggles a simulated GPU between two powers every half period until stopped."""

    def __init__(self, nvml: SimulatedNvml, low: float, high: float, period_s: float) -> None:
        super().__init__(daemon=True)
        self.nvml, self.low, self.high, self.half = nvml, low, high, period_s / 2
        self.halt = threading.Event()

    def run(self) -> None:
        high = True
        nxt = time.monotonic()
        while not self.halt.is_set():
            self.nvml.set_power(0, self.high if high else self.low)  # in effect ~10 ms on
            high = not high
            nxt += self.half
            self.halt.wait(max(nxt - time.monotonic(), 0.0))


def gpu_group(
    tools: Sequence[str], mode: str, tmp: Path, nvml_dir: Path
) -> tuple[Windows, dict[str, Any]]:
    base = tmp / f"gpu-{'-'.join(tools)}"
    gpu = FakeGpu(
        "Tesla P100-PCIE-16GB",
        "GPU-1111111a-bench-peer-power",
        has_energy_counter=False,
        has_instant_power=True,
    )
    nvml = SimulatedNvml(base / "nvml", [gpu], library_path=nvml_dir / "libnvidia-ml.so.1")
    nvml.start()
    sensors = sandbox.Sensors(None, nvml_dir, {"JOULEFLOW_FAKE_NVML_STATE": str(nvml.state_path)})
    windows = Windows([sandbox.Agent(t, sandbox.python_for(t), t, sensors, base) for t in tools])
    cpu: dict[str, Any] = {}
    rng = random.Random(5)
    try:
        windows.start()
        windows.run(0.2)

        def step(w: float) -> None:
            time.sleep(w * rng.uniform(0.4, 0.6))
            nvml.set_power(0, 300.0)

        settle_s = SETTLE_S if any(t.startswith("codecarbon") for t in tools) else 0.2
        for case in ("steady", "step", "ripple"):
            for _ in range(GPU_REPS[mode]):
                ripple = None
                if case == "ripple":  # 99/101 W every 20 ms, like a real board's reading
                    ripple = Square(nvml, 99.0, 101.0, 0.04)
                    ripple.start()
                else:
                    nvml.set_power(0, 100.0)
                time.sleep(settle_s)
                for label, (a, b, answer) in windows.run(
                    1.0, step if case == "step" else None
                ).items():
                    gpu0 = answer.get("parts", {}).get("gpu0")
                    windows.record(
                        case, label, gpu0, nvml.energy_j(0, a, b), f"no GPU figure: {answer}"
                    )
                if ripple is not None:
                    ripple.halt.set()
                    ripple.join()
        for period in SQUARE_PERIODS_S[mode]:
            for _ in range(SQUARE_REPS[mode]):
                square = Square(nvml, 50.0, 250.0, period)
                square.start()
                time.sleep(settle_s)
                got = windows.run(SQUARE_WINDOW_S)
                square.halt.set()
                square.join()
                for label, (a, b, answer) in got.items():
                    gpu0 = answer.get("parts", {}).get("gpu0")
                    windows.record(
                        f"square{period:g}", label, gpu0, nvml.energy_j(0, a, b), "no GPU figure"
                    )
        nvml.set_power(0, 100.0)
        cpu = sandbox.broadcast(
            windows.agents, "cpu", seconds=2.0 if mode == "quick" else 4.0, warm_s=1.0
        )
    finally:
        windows.close()
    return windows, cpu


GPU_NOTE = (
    "simulated Tesla P100: instant power field and 1 s trailing average, no energy counter; its "
    "power is exactly flat between changes (real readings jitter at every update: the ripple case)"
)


def gpu_figures(mode: str, tmp: Path, nvml_dir: Path) -> list[Figure]:
    groups = GPU_GROUPS[:-1] if mode == "quick" else GPU_GROUPS  # Zeus (best): not with --quick
    results = [gpu_group(tools, mode, tmp, nvml_dir) for tools in groups]
    errors: dict[tuple[str, str], list[float]] = {}
    failures: dict[str, str] = {t: "not run with --quick" for t in GPU_GROUPS[-1]}
    cpu: dict[str, Any] = {}
    for windows, group_cpu in results:
        errors.update(windows.errors)
        failures.update(windows.failures)
        cpu.update(group_cpu)
    cases = {
        "steady": ("accuracy.gpu_power_only.steady.1s", "GPU power only, steady 100 W, 1 s window"),
        "step": ("accuracy.gpu_power_only.step.1s", "GPU power only, 100→300 W step, 1 s window"),
        "ripple": (
            "accuracy.gpu_power_only.ripple.1s",
            "GPU power only, 100 W ±1 % ripple (every 20 ms), 1 s window",
        ),
    }
    for period in SQUARE_PERIODS_S[mode]:
        cases[f"square{period:g}"] = (
            f"accuracy.gpu_power_only.square_{period:g}s.{SQUARE_WINDOW_S:g}s",
            f"GPU power only, 50/250 W square wave ({period:g} s period), "
            f"{SQUARE_WINDOW_S:g} s window",
        )
    figures = []
    tools = [t for group in GPU_GROUPS for t in group]
    for case, (key, title) in cases.items():
        jf = errors.get((case, "jouleflow"), [])
        for tool in tools:
            if tool == "jouleflow" and case in ("steady", "step"):
                continue  # from bench/accuracy.py
            values = errors.get((case, tool))
            if not values:
                why = failures.get(tool) or failures.get(f"{tool}|{case}", "no result")
                figures.append(failed_figure(key, title, tool, "accuracy", why))
                continue
            figures.append(
                compare(
                    key,
                    title,
                    tool,
                    values,
                    jf,
                    details=[GPU_NOTE],
                )
            )
    for tool in tools:
        answer = cpu.get(tool, {})
        if "cpu_s" not in answer:
            figures.append(
                failed_figure(
                    "cost.sampler_cpu.gpu_power_only",
                    "background CPU with a power-only GPU, % of one core",
                    tool,
                    "cost",
                    answer.get("error") or failures.get(tool, "no result"),
                )
            )
            continue
        pct = answer["cpu_s"] / answer["wall_s"] * 100
        jf_answer = cpu.get("jouleflow", {})
        jf_pct = jf_answer["cpu_s"] / jf_answer["wall_s"] * 100 if "cpu_s" in jf_answer else None
        figures.append(
            Figure(
                key="cost.sampler_cpu.gpu_power_only",
                title="background CPU with a power-only GPU, % of one core",
                unit="%",
                value=pct,
                baseline=jf_pct if tool != "jouleflow" else None,
                baseline_label="jouleflow, same GPU, same harness" if tool != "jouleflow" else "",
                ratio=pct / jf_pct if jf_pct and tool != "jouleflow" else None,
                ratio_label="this tool's CPU ÷ jouleflow's",
                details=[
                    "CPU of the process and its helper processes over "
                    f"{answer['wall_s']:.1f} s of an "
                    "open window at a steady 100 W (power read and integrated in the background)"
                ],
                group="cost",
                tool=LABELS[tool],
            )
        )
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    why = sandbox.available()
    if why:
        raise SystemExit(f"the peers' sandbox cannot be made here: {why}")
    from venvs import VENVS_DIR, ensure_all

    ensure_all(("codecarbon", "zeus"))
    nvml_dir = sandbox.peer_nvml(VENVS_DIR / "nvml")
    figures: list[Figure] = []
    with scratch_dir("jouleflow-peers-") as tmp:
        figures += rapl_phase(args.mode, Path(tmp), nvml_dir)
        begin = time.monotonic()
        figures += gpu_figures(args.mode, Path(tmp), nvml_dir)
        print(f"power-only GPU: {time.monotonic() - begin:.0f} s", file=sys.stderr)
    finish(figures, args)


if __name__ == "__main__":
    main()
