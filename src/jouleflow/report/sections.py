"""The HTML report's text: cards, tables, the carbon panel and the run's metadata.

Plain strings, every value from the run escaped; no plotting library involved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from html import escape
from typing import Any

from jouleflow.records import ComponentEnergy, RunResult
from jouleflow.report.model import PowerSeries, display_label, method_text
from jouleflow.units import J_PER_KWH, format_energy

CSS = """
:root { --ink: #222; --muted: #666; --line: #e3e3e3; --measured: #4C78A8; --estimated: #F58518; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: var(--ink);
  margin: 0 auto; padding: 16px 24px; max-width: 1400px; line-height: 1.4; }
header h1 { margin: 0 0 2px; font-size: 22px; }
header p, footer, .note { color: var(--muted); font-size: 13px; }
footer { margin-top: 32px; border-top: 1px solid var(--line); padding-top: 8px; }
section { margin: 22px 0; }
h2 { font-size: 17px; margin: 0 0 6px; border-bottom: 1px solid var(--line); padding-bottom: 3px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 150px; }
.card .value { font-size: 20px; font-weight: 600; }
.card .label { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; margin: 6px 0; }
th, td { padding: 3px 10px 3px 0; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--line); }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.badge { display: inline-block; padding: 0 6px; border-radius: 3px; font-size: 12px;
  font-weight: 600; }
.badge.measured { background: #dbe6f2; color: #1f4e79; }
.badge.estimated { color: #8a4b00; background: repeating-linear-gradient(45deg, #fde3c8,
  #fde3c8 4px, #fff6ec 4px, #fff6ec 8px); border: 1px solid #f5b06b; }
tr.part td:first-child { padding-left: 18px; color: var(--muted); }
tr.total td { font-weight: 600; }
.warnings li { color: #8a4b00; }
.side-by-side { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
.side-by-side .column { min-width: 0; }
.run-label { font-size: 19px; }
.figure { width: 100%; }
code { font-size: 12px; background: #f4f4f4; padding: 1px 4px; border-radius: 3px; }
"""


def section(key: str, title: str, body: str, note: str | None = None) -> str:
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return f'<section id="{escape(key)}"><h2>{escape(title)}</h2>{body}{note_html}</section>'


def badge(measured: bool) -> str:
    kind = "measured" if measured else "estimated"
    return f'<span class="badge {kind}">{kind}</span>'


class Row(list[str]):
    """A table row (cells are HTML already) with a CSS class: ``total``, ``part``."""

    def __init__(self, css: str, cells: Iterable[str]) -> None:
        super().__init__(cells)
        self.css = css


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric: set[int]) -> str:
    """Cells are HTML already (escape values before); ``numeric`` columns align right."""
    head = "".join(
        f'<th class="num">{escape(h)}</th>' if k in numeric else f"<th>{escape(h)}</th>"
        for k, h in enumerate(headers)
    )
    body = []
    for row in rows:
        css = f' class="{row.css}"' if isinstance(row, Row) and row.css else ""
        cells = "".join(
            f'<td class="num">{cell}</td>' if k in numeric else f"<td>{cell}</td>"
            for k, cell in enumerate(row)
        )
        body.append(f"<tr{css}>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _card(value: str, label: str) -> str:
    return (
        f'<div class="card"><div class="value">{escape(value)}</div>'
        f'<div class="label">{escape(label)}</div></div>'
    )


def carbon_text(result: RunResult) -> str | None:
    carbon = result.carbon or {}
    grams = carbon.get("co2e_g")
    return format_co2e(grams) if isinstance(grams, (int, float)) else None


def format_co2e(grams: float) -> str:
    if abs(grams) >= 1e6:
        return f"{grams / 1e6:.3g} t CO2e"
    if abs(grams) >= 1e3:
        return f"{grams / 1e3:.3g} kg CO2e"
    if abs(grams) >= 1:
        return f"{grams:.3g} g CO2e"
    return f"{grams * 1e3:.3g} mg CO2e"


def cards(result: RunResult) -> str:
    total = result.total_j
    measured_share = result.measured_j / total if total > 0 else 0.0
    items = [
        _card(
            f"{format_energy(total)} ± {format_energy(result.total_uncertainty_j)}",
            f"total energy ({total / J_PER_KWH:.3g} kWh)",
        ),
        _card(
            f"{measured_share:.0%} measured",
            f"measured {format_energy(result.measured_j)} · estimated "
            f"{format_energy(result.estimated_j)}",
        ),
        _card(f"{result.average_power_w:.1f} W", "average power"),
        _card(_duration(result.duration_s), "duration"),
    ]
    co2e = carbon_text(result)
    if co2e is not None:
        items.append(_card(co2e, "carbon (see the carbon panel)"))
    for key, value in result.per_unit().items():
        if key == "kwh_per_1000_samples":
            items.append(_card(f"{value:.4g} kWh", "per 1,000 samples"))
        else:
            unit = key.removeprefix("j_per_")
            items.append(_card(f"{value:.4g} J", f"per {unit} ({_count(result, unit)})"))
    return f'<div class="cards">{"".join(items)}</div>'


def _count(result: RunResult, unit: str) -> str:
    for name, n in result.counts.items():
        if name.removesuffix("s") == unit:
            return f"{n:,} {name}"
    return unit


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours} h {m:02d} min" if hours else f"{m} min {s:02d} s"


def component_table(result: RunResult) -> str:
    total = result.total_j
    duration = result.duration_s
    rows: list[Sequence[str]] = [_component_row(c, total, duration) for c in result.components]
    totals = [
        "total",
        escape(format_energy(total)),
        escape(format_energy(result.total_uncertainty_j)),
        f"{result.average_power_w:.1f}",
        "100%" if total > 0 else "-",
        f"measured {escape(format_energy(result.measured_j))} · estimated "
        f"{escape(format_energy(result.estimated_j))}",
        "",
    ]
    rows.append(Row("total", totals))
    headers = ("component", "energy", "±", "avg W", "share", "how", "model")
    return _table(headers, rows, {1, 2, 3, 4})


def _component_row(c: ComponentEnergy, total: float, duration: float) -> Row:
    share = f"{c.energy_j / total:.0%}" if c.in_total and total > 0 else "(part)"
    label = escape(display_label(c))
    cells = [
        label if c.in_total else f"└ {label}",
        escape(format_energy(c.energy_j)),
        escape(format_energy(c.uncertainty_j)),
        f"{c.energy_j / duration:.1f}" if duration > 0 else "-",
        share,
        f"{badge(c.measured)} {escape(method_text(c))}",
        escape(c.model or ""),
    ]
    return Row("" if c.in_total else "part", cells)


def phase_table(result: RunResult) -> str:
    ids = result.total_ids
    total = result.total_j

    def share(energy_j: float) -> str:
        return f"{energy_j / total:.1%}" if total > 0 else "-"

    rows: list[Sequence[str]] = []
    for p in result.phases:
        self_j = p.self_total_j(ids)
        inclusive = escape(format_energy(p.total_j(ids)))
        rows.append(
            [escape(p.name), str(p.count), f"{p.duration_s:.3f}", inclusive,
             escape(format_energy(self_j)), share(self_j)]
        )  # fmt: skip
    unattributed = sum(v for k, v in result.unattributed_j.items() if k in ids)
    cells = ["unattributed", "", "", "", escape(format_energy(unattributed)), share(unattributed)]
    rows.append(Row("total", cells))
    headers = ("phase", "count", "time s", "inclusive", "self", "self share")
    return _table(headers, rows, {1, 2, 3, 4, 5})


def layer_table(result: RunResult, top: int = 20) -> str:
    breakdown = result.layers
    assert breakdown is not None
    rows: list[Sequence[str]] = []
    for layer in breakdown.layers[:top]:
        j_per_flop = layer.j_per_flop
        rows.append(
            [
                escape(layer.name),
                escape(layer.type),
                str(layer.calls),
                escape(format_energy(layer.energy_j)),
                f"{layer.forward_time_s:.4g}",
                f"{layer.time_share:.1%}",
                f"{layer.flops / 1e9:.4g}" if layer.flops else "-",
                f"{j_per_flop * 1e9:.4g}" if j_per_flop else "-",
            ]
        )
    rest = breakdown.layers[top:]
    if rest:
        rest_j = escape(format_energy(sum(x.energy_j for x in rest)))
        rows.append([f"{len(rest)} more layers", "", "", rest_j, "", "", "", ""])
    unattributed = escape(format_energy(breakdown.unattributed_j))
    rows.append(Row("total", ["not in any listed layer", "", "", unattributed, "", "", "", ""]))
    headers = ("layer", "type", "calls", "energy", "forward s", "time share", "GFLOP", "J/GFLOP")
    return _table(headers, rows, {2, 3, 4, 5, 6, 7})


def forecast_text(result: RunResult) -> str:
    f = result.forecast or {}
    predicted = float(f.get("predicted_total_energy_j") or 0.0)
    low, high = f.get("energy_interval_j") or (predicted, predicted)
    unit = f.get("unit", "unit")
    error = f" ({result.total_j / predicted - 1:+.1%} off)" if predicted > 0 else ""
    text = (
        f"Forecast after {f.get('units_done', '?')} of {f.get('units_total', '?')} {unit}(s): "
        f"{format_energy(predicted)} ({format_energy(float(low))} to "
        f"{format_energy(float(high))}, {float(f.get('confidence', 0)):.0%} interval) against "
        f"{format_energy(result.total_j)} measured for the whole run{error}. "
        f"{f.get('method', '')}"
    )
    budget = f.get("budget")
    if isinstance(budget, Mapping) and budget.get("message"):
        text += f" Budget: {budget['message']}"
    return text


def carbon_panel(result: RunResult, what_if: Mapping[str, Any] | None) -> str:
    carbon = result.carbon
    if not carbon:
        return (
            "<p>No carbon figure was computed for this run. "
            "<code>jouleflow carbon RUN --region FR</code> computes one.</p>"
        )
    zone = carbon.get("zone_name") or carbon.get("zone") or "world average (region not set)"
    rows = [
        ("CO2e", _co2e(carbon)),
        ("zone", f"{zone} (region from: {carbon.get('region_source', '?')})"),
        (
            "intensity",
            f"{carbon.get('intensity_g_per_kwh', 0):.4g} {carbon.get('intensity_unit', '')} "
            f"({carbon.get('intensity_kind', '')})",
        ),
        ("source", _joined(carbon, "intensity_source", "intensity_year", "intensity_licence")),
        ("citation", str(carbon.get("intensity_citation") or "")),
        ("PUE", f"{carbon.get('pue', 1.0):.2f} ({carbon.get('pue_source', '')})"),
        ("energy profile", str(carbon.get("energy_profile") or "")),
        ("method", str(carbon.get("method") or "")),
    ]
    embodied = carbon.get("embodied")
    if isinstance(embodied, Mapping):
        rows.insert(1, ("embodied", _embodied(carbon, embodied)))
    for e in carbon.get("equivalents") or []:
        rows.append(("≈", f"{e.get('value', 0):.3g} {e.get('what')} ({e.get('source')}: "
                          f"{e.get('basis')})"))  # fmt: skip
    html = _table(("", ""), ([escape(k), escape(v)] for k, v in rows if v), set())
    notes = carbon.get("notes") or []
    if notes:
        html += '<ul class="warnings">' + "".join(f"<li>{escape(str(n))}</li>" for n in notes)
        html += "</ul>"
    if what_if is not None:
        html += _what_if_html(what_if)
    else:
        html += (
            '<p class="note">No what-if was computed: <code>jouleflow report RUN --html '
            "--compare FR,DE,US-CA</code> adds the same energy in other zones.</p>"
        )
    return html


def _joined(carbon: Mapping[str, Any], *keys: str) -> str:
    return ", ".join(str(carbon[k]) for k in keys if carbon.get(k))


def _co2e(carbon: Mapping[str, Any]) -> str:
    grams = float(carbon.get("co2e_g") or 0.0)
    spread = carbon.get("operational_uncertainty_g")
    plus = f" ± {format_co2e(float(spread))}" if isinstance(spread, (int, float)) else ""
    return f"{format_co2e(grams)}{plus} (operational {format_co2e(carbon['operational_co2e_g'])})"


def _embodied(carbon: Mapping[str, Any], embodied: Mapping[str, Any]) -> str:
    grams = carbon.get("embodied_co2e_g") or 0.0
    details = ", ".join(f"{k} {v}" for k, v in embodied.items() if k != "co2e_g")
    return f"{format_co2e(float(grams))} ({details})"


def _what_if_html(what_if: Mapping[str, Any]) -> str:
    parts = ["<h3>What if</h3>"]
    zones = what_if.get("zones") or []
    if zones:
        rows = [
            [
                escape(str(z.get("label") or z.get("zone"))),
                f"{float(z.get('intensity_g_per_kwh') or 0):.4g}",
                f"{float(z.get('pue') or 1):.2f}",
                escape(format_co2e(float(z.get("operational_co2e_g") or 0))),
            ]
            for z in zones
        ]
        parts.append(_table(("zone", "gCO2e/kWh", "PUE", "operational CO2e"), rows, {1, 2, 3}))
    flexible = what_if.get("flexible_start")
    if isinstance(flexible, Mapping) and flexible.get("best"):
        best, worst = flexible["best"], flexible["worst"]
        parts.append(
            f"<p>Started at another time within {flexible.get('window_h')} h: best "
            f"{_utc(best['start_s'])} {escape(format_co2e(best['operational_co2e_g']))}, worst "
            f"{_utc(worst['start_s'])} {escape(format_co2e(worst['operational_co2e_g']))}.</p>"
        )
    pause = what_if.get("pause_when_dirty")
    if isinstance(pause, Mapping):
        parts.append(
            f"<p>Pausing when the grid is dirty: "
            f"{escape(format_co2e(pause['operational_co2e_g']))} against "
            f"{escape(format_co2e(pause['baseline_operational_co2e_g']))} ({pause.get('pauses')}"
            f" pause(s); assumes {escape(str(pause.get('assumes', '')))}).</p>"
        )
    if what_if.get("caveat"):
        parts.append(f'<p class="note">{escape(str(what_if["caveat"]))}</p>')
    return "".join(parts)


def _utc(unix_s: float) -> str:
    return datetime.fromtimestamp(unix_s, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def timeline_note(series: PowerSeries) -> str:
    if series.bin_s is None:
        shown = f"Every stored sample is shown ({series.samples:,})."
    else:
        shown = (
            f"Downsampled for display: {series.samples:,} stored samples averaged into "
            f"{series.points:,} intervals of about {series.bin_s:.3g} s each (each interval's "
            "power is its energy over its length, so no energy is lost; spikes shorter than an "
            "interval are smoothed)."
        )
    return (
        f"{shown} Stacked: each component's average power between samples; hatched = estimated. "
        "Parts of another component (CPU core...) are dotted, off until clicked in the legend. "
        "Below: when each phase was open (windows closer than a pixel drawn as one). Drag to "
        "zoom, double-click to reset."
    )


def metadata(result: RunResult, origin: str | None) -> str:
    status = result.status + (
        f" (exit code {result.exit_code})" if result.exit_code not in (None, 0) else ""
    )
    rows = [
        ("run id", result.run_id),
        ("name", result.name or ""),
        ("status", status),
        ("started", result.started_at),
        ("duration", f"{result.duration_s:.3f} s"),
        ("command", " ".join(result.command) if result.command else "(a block of Python)"),
        ("tags", " ".join(f"{k}={v}" for k, v in result.tags.items())),
        ("sampling", f"every {result.sample_interval_s:g} s, {result.samples:,} samples"),
        ("read from", origin or ""),
    ]
    rows += [(k, v) for k, v in result.host.items()]
    rows += [
        (f"gpu {c.index}", f"{c.name or c.label} {c.uuid or ''}".strip())
        for c in result.components
        if c.uuid is not None or c.name is not None
    ]
    html = _table(("", ""), ([escape(k), escape(str(v))] for k, v in rows if v), set())
    sensors = [
        [
            escape(s.sensor),
            ("measures" if s.measured else "estimates") if s.available else "unavailable",
            escape(s.reason + (f" — fix: {s.fix}" if s.fix and not s.available else "")),
        ]
        for s in result.sensors
    ]
    if sensors:
        html += "<h3>Sensors</h3>" + _table(("sensor", "used", "why"), sensors, set())
    if result.warnings:
        items = "".join(f"<li>{escape(w)}</li>" for w in result.warnings)
        html += f'<h3>Notes</h3><ul class="warnings">{items}</ul>'
    return html


def comparison_table(a: RunResult, b: RunResult) -> str:
    from jouleflow.store.compare import compare_results

    diff = compare_results(a, b)

    def row(entry: Mapping[str, Any], css: str = "", unit: str = "J") -> Row:
        def fmt(v: float | None) -> str:
            if v is None:
                return "-"
            return escape(format_energy(v)) if unit == "J" else f"{v:.3f} s"

        pct = entry.get("delta_pct")
        cells = [
            escape(str(entry["name"])),
            fmt(entry.get("a_j")),
            fmt(entry.get("b_j")),
            fmt(entry.get("delta_j")),
            f"{pct:+.1f}%" if pct is not None else "-",
        ]
        return Row(css, cells)

    rows = [row(diff["duration_s"], unit="s"), row(diff["total"], "total")]
    in_total = {c.id for r in (a, b) for c in r.components if c.in_total}
    rows += [row(c) if c["id"] in in_total else row(c, "part") for c in diff["components"]]
    rows += [row({**p, "name": f"phase {p['name']}"}) for p in diff["phases"]]
    return _table(("", "A", "B", "B − A", "B vs A"), rows, {1, 2, 3, 4})
