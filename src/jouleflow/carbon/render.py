"""The terminal view of a run's carbon: one line next to the energy, and the what-ifs."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from jouleflow.carbon.assess import CarbonAssessment
from jouleflow.carbon.convert import format_co2e
from jouleflow.carbon.intensity import INTENSITY_UNIT
from jouleflow.carbon.whatif import FlexibleStart, StartOption, WhatIf

if TYPE_CHECKING:
    from rich.console import Console


def _hhmm(t_s: float) -> str:
    return datetime.fromtimestamp(t_s, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def carbon_lines(a: CarbonAssessment) -> list[str]:
    """The plain-text lines of the summary (the terminal view prints these)."""
    i = a.intensity
    where = a.zone.label if a.zone else "world average (region not set)"
    cited = ", ".join(x for x in (i.source, str(i.year or ""), i.licence or "") if x)
    lines = [
        f"carbon  {format_co2e(a.co2e_g)} · {where} · {i.g_per_kwh:.2f} {INTENSITY_UNIT} "
        f"({cited}) · PUE {a.pue.value:.2f} ({a.pue.source})"
    ]
    if a.embodied is not None:
        e = a.embodied
        lines.append(
            f"        of which embodied {format_co2e(e.co2e_g)}: {e.gpus} GPU x {e.gpu_kg:g} kg + "
            f"{e.servers} server x {e.server_kg:g} kg over {e.life_years:g} years ({e.source})"
        )
    if a.equivalents:
        lines.append(
            "        ≈ "
            + " · ".join(f"{q.value:.3g} {q.what} ({q.source}: {q.basis})" for q in a.equivalents)
        )
    return lines


def render_carbon(a: CarbonAssessment, console: Console) -> None:
    """Print the carbon line(s) under the energy table, then any notes."""
    for k, line in enumerate(carbon_lines(a)):
        console.print(line, markup=False, highlight=False, style="bold" if k == 0 else "dim")
    for note in a.notes:
        console.print("note: " + note, markup=False, highlight=False, style="yellow")


def render_whatif(w: WhatIf, a: CarbonAssessment, console: Console) -> None:
    from rich.table import Table

    base = a.operational_g
    if w.zones:
        table = Table(title="the same energy elsewhere (operational carbon)", title_justify="left")
        for column in ("zone", "intensity", "year", "PUE", "CO2e", "vs this run"):
            table.add_column(column, justify="left" if column == "zone" else "right")
        for z in w.zones:
            ratio = f"{z.operational_g / base:.2f}x" if base > 0 else "-"
            table.add_row(
                z.zone.label,
                f"{z.zone.intensity_g_per_kwh:.1f}",
                str(z.zone.year or "-"),
                f"{z.pue.value:.2f}",
                format_co2e(z.operational_g),
                ratio,
            )
        console.print(table)
    f = w.flexible
    if f is not None:
        table = Table(
            title=f"flexible start: the same run started at another time (within {f.window_h:g} h)",
            title_justify="left",
        )
        for column in ("start", "intensity", "CO2e", "vs actual"):
            table.add_column(column, justify="left" if column == "start" else "right")
        reference = f.actual.operational_g if f.actual else None
        shown = f.options if len(f.options) <= 24 else _extremes(f)
        for o in shown:
            mark = " (actual)" if f.actual is not None and o.start_s == f.actual.start_s else ""
            versus = f"{o.operational_g / reference - 1:+.0%}" if reference else "-"
            table.add_row(
                _hhmm(o.start_s) + mark,
                f"{o.g_per_kwh:.1f}",
                format_co2e(o.operational_g),
                versus,
            )
        console.print(table)
        console.print(
            f"best start {_hhmm(f.best.start_s)}: {format_co2e(f.best.operational_g)}; worst "
            f"{_hhmm(f.worst.start_s)}: {format_co2e(f.worst.operational_g)}",
            markup=False,
            highlight=False,
        )
    p = w.pause
    if p is not None:
        saving = f" ({p.operational_g / p.baseline_g - 1:+.0%})" if p.baseline_g > 0 else ""
        console.print(
            f"pause when dirty (may take up to {1 + p.extra:g}x as long, at average power): "
            f"{format_co2e(p.operational_g)}{saving} vs {format_co2e(p.baseline_g)} without "
            f"pausing; {p.pauses} pause(s), done by {_hhmm(p.finish_s)}",
            markup=False,
            highlight=False,
        )
    if w.caveat:
        console.print("caveat: " + w.caveat, markup=False, highlight=False, style="dim")


def _extremes(f: FlexibleStart) -> tuple[StartOption, ...]:
    """The five best and five worst starts, and the actual one, in time order."""
    ordered = sorted(f.options, key=lambda o: o.operational_g)
    keep = {o.start_s for o in (*ordered[:5], *ordered[-5:])}
    if f.actual is not None:
        keep.add(f.actual.start_s)
    return tuple(o for o in f.options if o.start_s in keep)
