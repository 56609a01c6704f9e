"""What each tool does when it cannot measure: crash, silent zero, or a labelled estimate.

Each tool (jouleflow, CodeCarbon with its defaults and its best settings, Zeus) measures one 1 s
window in a fresh sandboxed process (``sandbox.py``), under three conditions:

- no sensor: no ``/sys/class/powercap`` and no NVIDIA library (a laptop VM, a CI runner);
- unreadable RAPL: the tree is there but ``energy_uj`` is readable by its owner only, and the
  process lacks CAP_DAC_OVERRIDE (as any user but root on current kernels);
- no network: every run here is in a network namespace with no interface up, so a connection
  attempt fails at once; on this condition the tree is readable, and the figure is what each tool
  tried to reach (Python's audit hooks ``socket.getaddrinfo`` / ``socket.connect``) and how long
  its start took.

The outcome is read from what the tool returned (its CPU figure, and any label it puts on it) and
what it said (log records at WARNING or above, Python warnings), in this order: crash; CPU figure
missing; zero; an estimate (labelled in the result, or only warned about in the log, or silent);
measured.

    .venv/bin/python bench/peers/robustness.py [--quick | --long] [--json PATH]
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import harness
import sandbox
from _common import Figure, finish, fmt, parse_args, scratch_dir
from harness import LABELS
from venvs import ensure_all

TOOLS = ("jouleflow", "codecarbon", "codecarbon-best", "zeus")
ESTIMATE_MODES = ("cpu_load", "constant", "tdp")


def outcome(tool: str, answer: dict[str, Any]) -> str:
    """The outcome in a few words, from the tool's answer."""
    if "error" in answer:
        return f"harness error: {answer['error'][:60]}"
    if "crash" in answer:
        return f"crash ({answer['crash'].split(':')[0]} at {answer.get('stage', '?')})"
    said = [s for s in answer.get("said", []) if "amdsmi" not in s and "Deprecat" not in s]
    told = "log warning" if said else "silent"
    cpu = answer.get("parts", {}).get("cpu")
    label = str(answer.get("labels", {}).get("cpu", ""))
    if cpu is None:
        return f"CPU left out, {told}"
    if cpu == 0:
        return f"zero, {told}"
    if tool == "jouleflow" and label.startswith("estimate"):
        return "labelled estimate"
    if any(f"CPU:{m}" in label for m in ESTIMATE_MODES):
        return f"unlabelled estimate, {told}"
    return "measured"


def _hosts(attempts: Sequence[str]) -> list[str]:
    hosts = []
    for attempt in attempts:
        host = attempt.split(" ", 1)[1].strip("()").split(",")[0].strip("'\"")
        if host not in hosts:
            hosts.append(host)
    return hosts


def run_all(
    tmp: Path, scenarios: dict[str, sandbox.Sensors]
) -> dict[tuple[str, str], dict[str, Any]]:
    jobs = [(s, t) for s in scenarios for t in TOOLS]
    with ThreadPoolExecutor(4) as pool:
        futures = {
            job: pool.submit(
                sandbox.run_once,
                sandbox.python_for(job[1]),
                ["robust", job[1]],
                scenarios[job[0]],
                tmp,
            )
            for job in jobs
        }
        return {job: f.result() for job, f in futures.items()}


TITLES = {
    "no_sensor": "no sensor (no powercap, no GPU library)",
    "unreadable_rapl": "RAPL present but unreadable (not root)",
    "no_network": "no network",
}


def figures_from(answers: dict[tuple[str, str], dict[str, Any]]) -> list[Figure]:
    figures = []
    for (scenario, tool), answer in answers.items():
        cpu = answer.get("parts", {}).get("cpu")
        if scenario == "no_network":
            hosts = _hosts(answer.get("network", []))
            text = f"tried {', '.join(hosts)}" if hosts else "no network use"
            text += f"; {outcome(tool, answer)}"
        else:
            text = outcome(tool, answer)
        said = harness.describe_said(answer, 3)
        details = [
            f"CPU figure: {fmt(cpu, 'J') if cpu is not None else 'none'} over ~1 s; label: "
            f"{answer.get('labels', {}).get('cpu', '—')}; "
            f"start took {fmt(answer.get('start_s'), 's')}",
        ]
        if said:
            details.append(f"said: {said[:500]}")
        if answer.get("crash"):
            details.append(f"crash: {answer['crash']}")
        if answer.get("network"):
            details.append(
                "network attempts (all failed at once, no interface): "
                + "; ".join(answer["network"])
            )
        if answer.get("error"):
            details.append(f"harness: {answer['error'][:400]}")
        figures.append(
            Figure(
                key=f"robustness.{scenario}",
                title=TITLES[scenario],
                unit="J",
                value=cpu if isinstance(cpu, float) else float("nan"),
                text=text,
                details=details,
                group="robustness",
                tool=LABELS[tool],
            )
        )
    return figures


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    why = sandbox.available()
    if why:
        raise SystemExit(f"the peers' sandbox cannot be made here: {why}")
    ensure_all(("codecarbon", "zeus"))
    with scratch_dir("jouleflow-peers-") as tmp:
        tmp_path = Path(tmp)
        locked = harness.one_socket(tmp_path / "locked")
        with harness.one_socket(tmp_path / "open") as tree, locked as locked_tree:
            sandbox.lock_counters(locked_tree.base)
            scenarios = {
                "no_sensor": sandbox.Sensors(),
                "unreadable_rapl": sandbox.Sensors(powercap=locked_tree.root, drop_privileges=True),
                "no_network": sandbox.Sensors(powercap=tree.root),
            }
            answers = run_all(tmp_path, scenarios)
    finish(figures_from(answers), args)


if __name__ == "__main__":
    main()
