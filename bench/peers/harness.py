"""What the peer scripts share: the tools, their names in the report, and the figures they make.

The peer scripts run under jouleflow's interpreter (they drive the simulators and know the exact
truth) and start each tool's agent (``agent.py``) under that tool's own interpreter, in a sandbox
(``sandbox.py``). Every figure is reported under the key jouleflow's own scripts use, with
``tool`` set to the peer's name, so that it lands in the peer's column of jouleflow's row; its
baseline is jouleflow measured by the same harness in the same windows, and its ratio is the
peer's value over jouleflow's.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PEERS_DIR = Path(__file__).resolve().parent
if str(PEERS_DIR.parent) not in sys.path:
    sys.path.insert(1, str(PEERS_DIR.parent))  # bench/, for _common

from _common import Figure, fmt, median  # noqa: E402

# Agent names (agent.py) and the names the report gives them.
LABELS = {
    "jouleflow": "jouleflow",
    "codecarbon": "CodeCarbon",
    "codecarbon-best": "CodeCarbon (best)",
    "zeus": "Zeus",
    "zeus-best": "Zeus (best)",
}
PEER_TOOLS = ("codecarbon", "codecarbon-best", "zeus", "zeus-best")
SETTINGS = {
    "jouleflow": "`jouleflow.track()`, defaults (run store off in accuracy runs)",
    "codecarbon": "`EmissionsTracker()`, defaults (measure_power_secs=15, CSV output, location "
    "looked up online)",
    "codecarbon-best": "`OfflineEmissionsTracker(country_iso_code='FRA', measure_power_secs=1, "
    "output_methods=[])`: no network, a measurement every second (the rate of its own power "
    "monitor), nothing written",
    "zeus": "`ZeusMonitor()`, defaults; windows with `begin_window`/`end_window(sync_execution="
    "False)` (no CUDA work to wait for)",
    "zeus-best": "`ZeusMonitor(approx_instant_energy=True)`: the documented fix for windows "
    "shorter than the GPU's counter update; it changes nothing for CPUs",
}


def pct_error(measured: float, truth: float) -> float:
    return abs(measured - truth) / truth * 100


def spread(values: Sequence[float], unit: str = "") -> str:
    """Median, min–max and the values, for a details line."""
    if not values:
        return "no values"
    return (
        f"median {fmt(median(values), unit)}, range {fmt(min(values), unit)}–"
        f"{fmt(max(values), unit)}: " + ", ".join(fmt(v) for v in values)
    )


def failed_figure(key: str, title: str, tool: str, group: str, why: str, unit: str = "%") -> Figure:
    """A case the tool could not run, with why: shown instead of a number."""
    return Figure(
        key=key,
        title=title,
        unit=unit,
        value=float("nan"),
        tool=LABELS.get(tool, tool),
        group=group,
        text=f"n/a: {why.splitlines()[0][:80] if why else 'failed'}",
        details=[f"{LABELS.get(tool, tool)} could not run this case: {why[:600]}"],
    )


def compare(
    key: str,
    title: str,
    tool: str,
    values: Sequence[float],
    jouleflow: Sequence[float] | None,
    *,
    unit: str = "%",
    group: str = "accuracy",
    worst: bool = True,
    details: Sequence[str] = (),
    target: float | None = None,
    baseline_label: str = "jouleflow, measured by the same harness in the same windows",
) -> Figure:
    """A tool's figure: its median (and worst), against jouleflow's median in the same run."""
    value = median(values)
    base = median(jouleflow) if jouleflow else None
    ratio = value / base if base and tool != "jouleflow" else None
    lines = [f"{LABELS.get(tool, tool)}: {spread(values, unit)}"]
    if jouleflow and tool != "jouleflow":
        lines.append(f"jouleflow in the same windows: {spread(jouleflow, unit)}")
    return Figure(
        key=key,
        title=title,
        unit=unit,
        value=value,
        worst=max(values) if worst else None,
        baseline=base if tool != "jouleflow" else None,
        baseline_label=baseline_label if tool != "jouleflow" else "",
        ratio=ratio,
        ratio_label="this tool's median ÷ jouleflow's median",
        target=target if tool == "jouleflow" else None,
        details=[*lines, *details],
        group=group,
        tool=LABELS.get(tool, tool),
    )


def describe_said(answer: dict[str, Any], limit: int = 2) -> str:
    said = [s for s in answer.get("said", []) if "amdsmi" not in s and "Deprecat" not in s]
    return "; ".join(said[:limit])


def one_socket(base: Path) -> Any:
    """A simulated one-socket tree (package 40 W, core 25 W, DRAM 6 W) with the kernel's links,
    its simulator running: a context manager yielding the tree."""
    from contextlib import contextmanager

    import sandbox
    from _common import SOCKET_WATTS, running_simulator

    from jouleflow.testing import ConstantPower, single_socket

    @contextmanager
    def running() -> Any:
        tree = single_socket(base)
        sandbox.kernel_links(tree.base)
        traces = {link: ConstantPower(w) for link, w in SOCKET_WATTS.items()}
        with running_simulator(tree, traces, {link: 987_654_321 for link in traces}):
            yield tree

    return running()
