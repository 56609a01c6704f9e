"""Terminal rendering of explanations, estimates and calibrations (rich is imported here only).

Every figure is printed with its label and source: ``measured`` (this run's sensors),
``calibrated``, ``measured-in-silicon``, ``datasheet-bound`` or ``estimate``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jouleflow.explain.records import Figure
from jouleflow.units import J_PER_KWH, format_energy

if TYPE_CHECKING:
    from rich.console import Console

    from jouleflow.explain.calibrate import CalibrationRun
    from jouleflow.explain.estimate import Estimate
    from jouleflow.explain.model import Explanation, Part
    from jouleflow.explain.tables import Costs

_PREFIXES = ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""))
_SMALL = ((1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"))


def si(value: float, unit: str) -> str:
    """``7.5e-11, "J/FLOP"`` -> ``75 pJ/FLOP``; ``8e10, "FLOP/s"`` -> ``80 GFLOP/s``."""
    if value == 0:
        return f"0 {unit}"
    magnitude = abs(value)
    table = _PREFIXES if magnitude >= 1 else _SMALL
    for size, prefix in table:
        if magnitude >= size * 0.9995:
            return f"{value / size:.3g} {prefix}{unit}"
    size, prefix = table[-1]
    return f"{value / size:.3g} {prefix}{unit}"


def _unit(fig: Figure) -> str:
    return {"byte/s": "B/s", "J/byte": "J/byte"}.get(fig.unit, fig.unit)


def _range(fig: Figure) -> str:
    if fig.low is None or fig.high is None:
        return ""
    unit = _unit(fig)
    return f"{si(fig.low, unit)} – {si(fig.high, unit)}"


def render_costs(costs: Costs, console: Console, *, title: str | None = None) -> None:
    from rich.table import Table

    device = costs.device
    table = Table(
        title=title or f"costs on {device.name} ({costs.precision})", title_justify="left"
    )
    for column in ("figure", "value", "range", "label · source"):
        table.add_column(column, justify="right" if column in ("value", "range") else "left")
    rows: list[tuple[str, Figure | None]] = [
        (f"energy per FLOP ({costs.precision})", costs.j_per_flop),
        (f"energy per byte ({device.memory.upper()} ↔ chip)", costs.j_per_byte),
        ("idle (static) power", costs.idle_w),
        (f"peak ({costs.precision}, dense)", costs.peak_flops),
        ("memory bandwidth (peak)", costs.bandwidth),
        ("TDP", costs.tdp_w),
        ("best case: TDP / peak", costs.best_j_per_flop),
        ("the ALU alone at 45 nm (Horowitz)", costs.alu_j_per_flop),
    ]
    for name, fig in rows:
        if fig is not None:
            table.add_row(name, si(fig.value, _unit(fig)), _range(fig), fig.provenance)
    table.add_row(
        "ridge point (peak / bandwidth)",
        f"{costs.ridge_flop_per_byte:.3g} FLOP/B",
        "",
        "derived from the two above",
    )
    console.print(table)
    extra = [device.process_node, device.year, device.scale_note]
    facts = " · ".join(x for x in extra if x)
    if facts:
        console.print(f"device: {device.key} · {facts}", markup=False, style="dim")


def _gflop(part: Part) -> str:
    return f"{part.work.flops / 1e9:.3g}" if part.work is not None else "-"


def _energy(value: float | None) -> str:
    return format_energy(value) if value is not None else "not counted"


def render_explanation(explanation: Explanation, console: Console, *, top: int = 8) -> None:
    from rich.table import Table

    run = explanation.run
    name = explanation.run_name or "run"
    console.print(
        f"jouleflow explain · {name} ({explanation.run_id[:8]}) · {run.duration_s:.2f} s",
        markup=False,
        style="bold",
    )
    console.print(f"device: {explanation.device_reason}", markup=False)
    render_costs(explanation.costs, console)
    measured_label = "measured (est.)" if explanation.measured_is_estimate else "measured"
    console.print(
        f"'{measured_label}' = {explanation.measured_how}, components "
        f"{', '.join(explanation.components)}; arithmetic, data movement and static are the "
        "model (the costs above × counted work)",
        markup=False,
    )
    best = explanation.costs.best_j_per_flop.value
    table = Table(title="model vs measured, per phase (self energy)", title_justify="left")
    columns = (
        "part",
        "time s",
        measured_label,
        "arithmetic",
        "data movement",
        "static",
        "model",
        "unexplained",
        "GFLOP",
        "pJ/FLOP achieved",
    )
    for column in columns:
        table.add_column(column, justify="left" if column == "part" else "right")
    for part in (run, *explanation.phases):
        achieved = part.achieved_j_per_flop
        table.add_row(
            part.name,
            f"{part.duration_s:.3f}",
            format_energy(part.measured_j),
            _energy(part.arithmetic_j),
            _energy(part.data_j),
            format_energy(part.static_j),
            format_energy(part.modelled_j),
            format_energy(part.unexplained_j)
            + (f" ({part.unexplained_j / part.measured_j:.0%})" if part.measured_j > 0 else ""),
            _gflop(part),
            f"{achieved * 1e12:.3g}" if achieved else "-",
        )
        if part is run:
            table.add_section()
    console.print(table)
    if run.achieved_j_per_flop:
        ratio = run.achieved_j_per_flop / best
        console.print(
            f"achieved {si(run.achieved_j_per_flop, 'J/FLOP')} over the run's counted FLOPs "
            f"= {ratio:.3g} × the best case ({si(best, 'J/FLOP')}, "
            f"{explanation.costs.best_j_per_flop.label}); throughput "
            f"{si(run.achieved_flop_per_s or 0.0, 'FLOP/s')} = "
            f"{(run.achieved_flop_per_s or 0.0) / explanation.costs.peak_flops.value:.1%} of peak",
            markup=False,
        )
    if explanation.layers:
        _render_layers(explanation, console, measured_label, top)
    if explanation.rest_j:
        console.print(
            f"rest of the machine (not modelled): {format_energy(explanation.rest_j)}",
            markup=False,
        )
    for note in explanation.notes:
        console.print("note: " + note, markup=False, style="yellow")


def _render_layers(
    explanation: Explanation, console: Console, measured_label: str, top: int
) -> None:
    from rich.table import Table

    ridge = explanation.costs.ridge_flop_per_byte
    table = Table(
        title=f"layers (forward + backward; ridge point {ridge:.3g} FLOP/B)", title_justify="left"
    )
    columns = (
        "layer",
        "type",
        "GFLOP",
        "GB",
        "FLOP/B",
        "bound",
        measured_label,
        "model",
        "unexplained",
        "pJ/FLOP achieved",
    )
    for column in columns:
        table.add_column(
            column, justify="left" if column in ("layer", "type", "bound") else "right"
        )
    for part in explanation.layers[:top]:
        work = part.work
        intensity = work.intensity if work is not None else None
        achieved = part.achieved_j_per_flop
        table.add_row(
            part.name,
            part.type,
            _gflop(part),
            f"{work.bytes / 1e9:.3g}" if work is not None else "-",
            f"{intensity:.3g}" if intensity is not None else "-",
            part.bound or "-",
            format_energy(part.measured_j),
            format_energy(part.modelled_j),
            format_energy(part.unexplained_j),
            f"{achieved * 1e12:.3g}" if achieved else "-",
        )
    console.print(table)


def render_estimate(result: Estimate, console: Console) -> None:
    from rich.table import Table

    job = result.job
    console.print(f"jouleflow estimate · {job.description}", markup=False, style="bold")
    console.print(
        f"work: {job.work.flops:.4g} FLOP ({job.flops_method}) · {job.work.bytes:.4g} bytes "
        f"({job.bytes_method}) · {job.label}",
        markup=False,
    )
    render_costs(result.costs, console)
    table = Table(title="estimate (central: the model's parts)", title_justify="left")
    for column in ("part", "energy", "how"):
        table.add_column(column, justify="right" if column == "energy" else "left")
    costs = result.costs
    table.add_row(
        "arithmetic", format_energy(result.arithmetic_j), f"FLOPs × {costs.j_per_flop.provenance}"
    )
    table.add_row(
        "data movement", format_energy(result.data_j), f"bytes × {costs.j_per_byte.provenance}"
    )
    table.add_row(
        "static",
        format_energy(result.static_j),
        f"idle power ({costs.idle_w.provenance}) × {result.duration_s.central:.4g} s",
    )
    e = result.energy_j
    table.add_section()
    table.add_row(
        "total",
        format_energy(e.central),
        f"interval {format_energy(e.low)} – {format_energy(e.high)} · estimate",
        style="bold",
    )
    console.print(table)
    d = result.duration_s
    console.print(
        f"≈ {e.central / J_PER_KWH:.4g} kWh (interval {e.low / J_PER_KWH:.4g} – "
        f"{e.high / J_PER_KWH:.4g} kWh); time {_duration(d.central)} "
        f"({_duration(d.low)} – {_duration(d.high)}), {result.bound}-bound",
        markup=False,
    )
    for note in result.notes:
        console.print("note: " + note, markup=False, style="yellow")


def _duration(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.3g} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 60:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


def render_calibration(outcome: CalibrationRun, console: Console, path: str | None) -> None:
    from rich.table import Table

    cal = outcome.calibration
    table = Table(
        title=f"calibration of {cal.device_name} ({cal.precision}) on {cal.hostname}",
        title_justify="left",
    )
    for column in ("probe", "kind", "GFLOP", "MB", "time s", "energy", "W"):
        table.add_column(column, justify="left" if column in ("probe", "kind") else "right")
    for s in outcome.samples:
        table.add_row(
            s.probe,
            s.kind,
            f"{s.flops / 1e9:.3g}",
            f"{s.bytes / 1e6:.4g}",
            f"{s.duration_s:.3f}",
            format_energy(s.energy_j),
            f"{s.energy_j / s.duration_s:.1f}" if s.duration_s > 0 else "-",
        )
    console.print(table)
    for name, value, err, unit in (
        ("energy per FLOP", cal.j_per_flop, cal.stderr[0], "J/FLOP"),
        ("energy per byte", cal.j_per_byte, cal.stderr[1], "J/byte"),
        ("idle power", cal.idle_w, cal.stderr[2], "W"),
    ):
        console.print(
            f"{name}: {si(value, unit)} ± {si(err, unit)} (1 standard error) · calibrated · "
            f"measured on {', '.join(cal.components)}",
            markup=False,
        )
    console.print(
        f"fit: {cal.samples} probes, residual {cal.residual_rms_rel:.1%} rms; {cal.method}",
        markup=False,
        style="dim",
    )
    if path is not None:
        console.print(f"saved in {path}: explain and estimate use it for {cal.device}")
