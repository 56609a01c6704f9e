"""The terminal summary of a run: per component, per phase, with each figure's source."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jouleflow.records import Availability, RunResult
from jouleflow.units import J_PER_KWH, format_energy

if TYPE_CHECKING:
    from rich.console import Console


def _source(method: str, source: str) -> str:
    return {
        "counter": f"measured ({source} energy counter)",
        "power_integration": f"measured ({source} power, integrated)",
        "estimate": f"estimated ({source})",
    }.get(method, method)


def render_run(result: RunResult, console: Console) -> None:
    from rich.table import Table

    total_j = result.total_j
    table = Table(
        title=f"jouleflow · {result.name or 'run'} · {result.duration_s:.2f} s · {result.status}",
        title_justify="left",
    )
    table.add_column("component")
    table.add_column("energy", justify="right")
    table.add_column("kWh", justify="right")
    table.add_column("± ", justify="right")
    table.add_column("avg W", justify="right")
    table.add_column("share", justify="right")
    table.add_column("source")
    for c in result.components:
        share = f"{c.energy_j / total_j:.0%}" if c.in_total and total_j > 0 else "(part)"
        label = c.label if c.in_total else f"  └ {c.label}"
        table.add_row(
            label,
            format_energy(c.energy_j),
            f"{c.energy_j / J_PER_KWH:.3g}",
            format_energy(c.uncertainty_j),
            f"{c.energy_j / result.duration_s:.1f}" if result.duration_s > 0 else "-",
            share,
            _source(c.method.value, c.source),
        )
    table.add_section()
    table.add_row(
        "total",
        format_energy(total_j),
        f"{total_j / J_PER_KWH:.3g}",
        format_energy(result.total_uncertainty_j),
        f"{result.average_power_w:.1f}",
        "100%" if total_j > 0 else "-",
        f"measured {format_energy(result.measured_j)} · estimated "
        f"{format_energy(result.estimated_j)}",
        style="bold",
    )
    console.print(table)
    if result.phases:
        render_phases(result, console)
    if result.layers is not None and result.layers.layers:
        render_layers(result, console)
    if result.forecast:
        render_forecast(result, console)
    per_unit = result.per_unit()
    if per_unit:
        parts = [
            f"{v:.4g} kWh per 1,000 samples"
            if k == "kwh_per_1000_samples"
            else f"{v:.4g} J per {k.removeprefix('j_per_')}"
            for k, v in per_unit.items()
        ]
        counted = ", ".join(f"{n:,} {unit}" for unit, n in result.counts.items())
        console.print(f"per unit ({counted}): " + " · ".join(parts), markup=False)
    for warning in result.warnings:
        console.print("note: " + warning, markup=False, style="yellow")


def render_phases(result: RunResult, console: Console) -> None:
    from rich.table import Table

    ids = result.total_ids
    total_j = result.total_j
    table = Table(title="phases (self = each instant counted once)", title_justify="left")
    for column in ("phase", "count", "time s", "energy", "self", "self share"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    for p in result.phases:
        self_j = p.self_total_j(ids)
        table.add_row(
            p.name,
            str(p.count),
            f"{p.duration_s:.3f}",
            format_energy(p.total_j(ids)),
            format_energy(self_j),
            f"{self_j / total_j:.1%}" if total_j > 0 else "-",
        )
    unattributed = sum(v for k, v in result.unattributed_j.items() if k in ids)
    table.add_row(
        "unattributed",
        "",
        "",
        "",
        format_energy(unattributed),
        f"{unattributed / total_j:.1%}" if total_j > 0 else "-",
    )
    console.print(table)


def render_layers(result: RunResult, console: Console, top: int = 8) -> None:
    from rich.table import Table

    breakdown = result.layers
    assert breakdown is not None
    table = Table(
        title=f"top layers (forward + backward, {len(breakdown.layers)} timed)",
        title_justify="left",
    )
    for column in ("layer", "type", "energy", "time share", "GFLOP/call", "J/GFLOP"):
        table.add_column(column, justify="left" if column in ("layer", "type") else "right")
    for layer in breakdown.layers[:top]:
        j_per_flop = layer.j_per_flop
        table.add_row(
            layer.name,
            layer.type,
            format_energy(layer.energy_j),
            f"{layer.time_share:.1%}",
            f"{layer.flops / 1e9:.3f}" if layer.flops else "-",
            f"{j_per_flop * 1e9:.3g}" if j_per_flop else "-",
        )
    table.add_row(
        "(not in any listed layer)", "", format_energy(breakdown.unattributed_j), "", "", ""
    )
    console.print(table)
    console.print("method: " + breakdown.method, markup=False, style="dim")


def render_forecast(result: RunResult, console: Console) -> None:
    """One line: the latest forecast of the whole run, and how the run turned out."""
    f = result.forecast or {}
    predicted = float(f.get("predicted_total_energy_j") or 0.0)
    low, high = (float(v) for v in (f.get("energy_interval_j") or (predicted, predicted)))
    line = (
        f"forecast after {f.get('units_done', '?')} of {f.get('units_total', '?')} "
        f"{f.get('unit', 'unit')}(s): {format_energy(predicted)} ({format_energy(low)} to "
        f"{format_energy(high)}, {float(f.get('confidence', 0.0)):.0%})"
    )
    if result.status != "running" and predicted > 0:
        line += f" · actual {format_energy(result.total_j)} ({result.total_j / predicted - 1:+.1%})"
    budget = f.get("budget")
    if isinstance(budget, dict) and budget.get("message"):
        line += f" · budget: {budget['message']}"
    console.print(line, markup=False, highlight=False)


def render_carbon_summary(result: RunResult, console: Console) -> None:
    """The carbon line from the result document's ``carbon`` object (``jouleflow.carbon``'s
    ``render_carbon`` draws the same from a live assessment)."""
    carbon = result.carbon
    if not carbon:
        return
    grams = float(carbon.get("co2e_g") or 0.0)
    shown = f"{grams:.3g} g" if grams >= 1 else f"{grams * 1000:.3g} mg"
    where = carbon.get("zone_name") or carbon.get("zone") or "world average (region not set)"
    console.print(
        f"carbon  {shown} CO2e · {where} · {float(carbon.get('intensity_g_per_kwh') or 0):.4g} "
        f"{carbon.get('intensity_unit', 'gCO2e/kWh')} ({carbon.get('intensity_source', '?')}) · "
        f"PUE {float(carbon.get('pue') or 1.0):.2f}",
        markup=False,
        highlight=False,
        style="bold",
    )
    for note in carbon.get("notes") or []:
        console.print(f"note: {note}", markup=False, highlight=False, style="yellow")


def render_doctor(availability: tuple[Availability, ...], console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="jouleflow doctor", title_justify="left", show_lines=True)
    table.add_column("sensor")
    table.add_column("status")
    table.add_column("why / how to fix")
    for a in availability:
        if a.available and a.measured:
            status = "[green]measures[/]"
        elif a.available and a.domains:
            status = "[yellow]estimates[/]"
        elif a.available:
            status = "standby"
        else:
            status = "[red]unavailable[/]"
        detail = a.reason + (f"\nfix: {a.fix}" if a.fix else "")
        table.add_row(a.sensor, status, escape(detail))
    console.print(table)
