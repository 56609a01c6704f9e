"""The HTML report's plotly figures. plotly is imported inside each function, never at import.

Measured energy is drawn solid; estimated energy is hatched (``/``) and its label says
``estimated``; the Sankey, which has no hatching, draws estimated boxes and flows paler and names
them. Uncertainty is an error bar wherever a figure has one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from jouleflow.records import RunResult
from jouleflow.report.model import (
    EnergyFlows,
    PhaseBands,
    PowerSeries,
    display_label,
    method_text,
    shaded,
    uncertainty_text,
)
from jouleflow.units import format_energy

COMPONENT_COLOURS = (
    "#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#EECA3B", "#9D755D",
    "#FF9DA6", "#BAB0AC",
)  # fmt: skip
PHASE_COLOURS = (
    "#8DD3C7", "#BEBADA", "#FB8072", "#80B1D3", "#FDB462", "#B3DE69", "#FCCDE5", "#BC80BD",
    "#CCEBC5", "#FFED6F",
)  # fmt: skip
GREY = "#B8B8B8"
LAYER_COLOUR = "#9467BD"
HATCH = "/"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
SHADE_MAX_BANDS = 24  # phases drawn with this many bands or fewer also shade the power chart


def rgba(colour: str, alpha: float) -> str:
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def component_colours(results: Sequence[RunResult]) -> dict[str, str]:
    """One colour per component id, the same in every figure (and for both compared runs)."""
    colours: dict[str, str] = {}
    for result in results:
        for c in result.components:
            if c.id not in colours:
                colours[c.id] = COMPONENT_COLOURS[len(colours) % len(COMPONENT_COLOURS)]
    return colours


def phase_colours(results: Sequence[RunResult]) -> dict[str, str]:
    colours: dict[str, str] = {}
    for result in results:
        for p in result.phases:
            if p.name not in colours:
                colours[p.name] = PHASE_COLOURS[len(colours) % len(PHASE_COLOURS)]
    return colours


def _layout(fig: Any, *, height: int, title: str | None = None, **extra: Any) -> Any:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin={"l": 10, "r": 10, "t": 40 if title else 20, "b": 30},
        font={"family": FONT, "size": 12},
        title={"text": title, "x": 0.0, "font": {"size": 14}} if title else None,
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0.0},
        **extra,
    )
    return fig


def _when(result: RunResult, offset_s: float) -> str:
    """A wall-clock label (UTC) for an offset into the run, as plotly parses dates."""
    try:
        start = datetime.fromisoformat(result.started_at.replace("Z", "+00:00"))
    except ValueError:
        start = datetime(1970, 1, 1, tzinfo=timezone.utc)
    if start.tzinfo is not None:
        start = start.astimezone(timezone.utc).replace(tzinfo=None)
    return (start + timedelta(seconds=offset_s)).isoformat(sep=" ", timespec="milliseconds")


# -- Sankey ---------------------------------------------------------------------------------------
def sankey_figure(
    flows: EnergyFlows,
    result: RunResult,
    colours: dict[str, str],
    phases: dict[str, str],
    *,
    carbon: str | None = None,
    height: int = 520,
) -> Any:
    import plotly.graph_objects as go

    node_colours, labels, details = [], [], []
    for node in flows.nodes:
        if node.kind == "component":
            base = colours.get(node.key.removeprefix("component:"), GREY)
            colour = base if node.measured else rgba(base, 0.45)
        elif node.kind == "phase":
            colour = phases.get(node.key.removeprefix("phase:"), GREY)
        elif node.kind == "total":
            colour = "#444444"
        elif node.kind == "layer":
            colour = LAYER_COLOUR
        else:
            colour = GREY
        node_colours.append(colour)
        suffix = f" · {carbon}" if node.kind == "total" and carbon else ""
        labels.append(f"{node.label} {format_energy(node.energy_j)}{suffix}")
        details.append(node.detail or node.kind)
    link_colours = []
    for link in flows.links:
        source = flows.nodes[link.source]
        target = flows.nodes[link.target]
        if source.kind == "total":
            key = target.key.removeprefix("component:")
            alpha = 0.4 if target.measured else 0.18
            link_colours.append(rgba(colours.get(key, GREY), alpha))
        elif source.kind == "component":
            key = source.key.removeprefix("component:")
            alpha = 0.35 if link.measured else 0.15
            link_colours.append(rgba(colours.get(key, GREY), alpha))
        else:
            link_colours.append(rgba(phases.get(source.key.removeprefix("phase:"), GREY), 0.35))
    link_text = [
        "measured" if link.measured else "estimated" if link.measured is False else "derived"
        for link in flows.links
    ]
    figure = go.Figure(
        go.Sankey(
            arrangement="snap",
            valueformat=".4~g",
            valuesuffix=" J",
            node={
                "label": labels,
                "color": node_colours,
                "customdata": details,
                "align": "left",  # each box at its level: a phase never drifts right
                "pad": 14,
                "thickness": 16,
                "line": {"color": "#ffffff", "width": 0.5},
                "hovertemplate": "%{label}<br>%{customdata}<extra></extra>",
            },
            link={
                "source": [link.source for link in flows.links],
                "target": [link.target for link in flows.links],
                "value": [link.energy_j for link in flows.links],
                "color": link_colours,
                "customdata": link_text,
                "hovertemplate": "%{source.label} → %{target.label}<br>%{value} "
                "(%{customdata})<extra></extra>",
            },
        )
    )
    return _layout(figure, height=height)


# -- power over time ------------------------------------------------------------------------------
def timeline_figure(
    result: RunResult,
    series: PowerSeries,
    bands: Sequence[PhaseBands],
    colours: dict[str, str],
    phases: dict[str, str],
    *,
    height: int = 420,
) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    lane = [b for b in bands if b.bands_s]
    rows = 2 if lane else 1
    lane_px = 22 * len(lane) + 10
    height = height + lane_px
    figure = make_subplots(
        rows=rows,
        cols=1,
        shared_xaxes=True,
        row_heights=[height - lane_px, lane_px] if rows == 2 else [1.0],
        vertical_spacing=0.03,
    )
    x = [_when(result, t) for t in series.edges_s]
    for c in result.components:
        values = series.power_w.get(c.id)
        if values is None:
            continue
        y = [*values, values[-1] if values else 0.0]
        name = f"{display_label(c)} {uncertainty_text(c)}".strip()
        colour = colours.get(c.id, GREY)
        if c.in_total:
            trace = go.Scatter(
                x=x,
                y=y,
                name=name,
                mode="lines",
                line={"shape": "hv", "width": 0.8, "color": colour},
                stackgroup="power",
                fillcolor=rgba(colour, 0.75 if c.measured else 0.35),
                fillpattern={"shape": HATCH, "fgcolor": colour, "solidity": 0.3}
                if not c.measured
                else None,
                hovertemplate=f"{method_text(c)}<br>%{{y:.4g}} W<extra>{name}</extra>",
            )
        else:
            trace = go.Scatter(
                x=x,
                y=y,
                name=f"{name} (part, not stacked)",
                mode="lines",
                line={"shape": "hv", "width": 1, "color": colour, "dash": "dot"},
                visible="legendonly",
                hovertemplate="%{y:.4g} W<extra>" + name + "</extra>",
            )
        figure.add_trace(trace, row=1, col=1)
    for band in lane:
        colour = phases.get(band.name, GREY)
        figure.add_trace(
            go.Bar(
                orientation="h",
                base=[_when(result, a) for a, _ in band.bands_s],
                x=[max((b - a) * 1000.0, 0.001) for a, b in band.bands_s],  # ms on a date axis
                y=[band.name] * len(band.bands_s),
                marker={"color": colour, "line": {"width": 0}},
                name=band.name,
                showlegend=False,
                hovertemplate=f"{band.name}: {band.count} time(s)<extra></extra>",
            ),
            row=2,
            col=1,
        )
    shapes, notes = [], []
    for band in shaded(lane, SHADE_MAX_BANDS):
        colour = phases.get(band.name, GREY)
        for k, (start, end) in enumerate(band.bands_s):
            x0, x1 = _when(result, start), _when(result, end)
            shapes.append(
                {"type": "rect", "xref": "x", "yref": "y domain", "x0": x0, "x1": x1, "y0": 0,
                 "y1": 1, "fillcolor": colour, "opacity": 0.15, "line": {"width": 0},
                 "layer": "below"}
            )  # fmt: skip
            if k == 0:
                notes.append(
                    {"xref": "x", "yref": "y domain", "x": x0, "y": 1, "text": band.name,
                     "showarrow": False, "xanchor": "left", "yanchor": "top",
                     "font": {"size": 10, "color": "#555555"}}
                )  # fmt: skip
    figure.update_layout(shapes=shapes, annotations=[*figure.layout.annotations, *notes])
    figure.update_yaxes(title_text="power (W)", row=1, col=1, rangemode="tozero")
    if rows == 2:
        figure.update_yaxes(autorange="reversed", row=2, col=1, dtick=1, fixedrange=True)
    figure.update_xaxes(type="date", row=rows, col=1, title_text="time (UTC)")
    return _layout(figure, height=height, barmode="overlay", hovermode="x unified")


# -- bars -----------------------------------------------------------------------------------------
def _split(result: RunResult, energies: dict[str, float]) -> tuple[float, float, float, float]:
    """(measured J, estimated J, ± measured, ± estimated) of per-component energies, each
    component's relative uncertainty applied to its part (added linearly: it is systematic)."""
    measured = estimated = u_measured = u_estimated = 0.0
    for c in result.components:
        if not c.in_total or c.id not in energies:
            continue
        value = max(energies[c.id], 0.0)
        relative = c.uncertainty_j / c.energy_j if c.energy_j > 0 else 0.0
        if c.measured:
            measured += value
            u_measured += value * relative
        else:
            estimated += value
            u_estimated += value * relative
    return measured, estimated, u_measured, u_estimated


def _measured_estimated_bars(
    go: Any, names: list[str], parts: list[tuple[float, float, float, float]], **common: Any
) -> list[Any]:
    bars = []
    for k, (label, colour, pattern) in enumerate(
        (("measured", "#4C78A8", ""), ("estimated", "#F58518", HATCH))
    ):
        bars.append(
            go.Bar(
                y=names,
                x=[p[k] for p in parts],
                orientation="h",
                name=label,
                legendgroup=label,
                marker={"color": rgba(colour, 0.8), "pattern": {"shape": pattern}},
                error_x={"type": "data", "array": [p[k + 2] for p in parts], "thickness": 1},
                hovertemplate=f"{label} %{{x:.4g}} J<extra>%{{y}}</extra>",
                **common,
            )
        )
    return bars


def phase_figure(result: RunResult, phases: dict[str, str]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    ids = result.total_ids
    names = [p.name for p in result.phases] + ["unattributed"]
    parts = [_split(result, p.self_energy_j) for p in result.phases]
    parts.append(_split(result, result.unattributed_j))
    figure = make_subplots(
        rows=1,
        cols=3,
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=("self energy (J) and inclusive ◆", "time (s)", "average power (W)"),
    )
    for bar in _measured_estimated_bars(go, names, parts):
        figure.add_trace(bar, row=1, col=1)
    figure.add_trace(
        go.Scatter(
            y=[p.name for p in result.phases],
            x=[p.total_j(ids) for p in result.phases],
            mode="markers",
            marker={"symbol": "diamond", "color": "#333333", "size": 8},
            name="inclusive (nested phases too)",
            hovertemplate="inclusive %{x:.4g} J<extra>%{y}</extra>",
        ),
        row=1,
        col=1,
    )
    colours = [phases.get(p.name, GREY) for p in result.phases]
    figure.add_trace(
        go.Bar(
            y=[p.name for p in result.phases],
            x=[p.duration_s for p in result.phases],
            orientation="h",
            marker={"color": colours},
            showlegend=False,
            hovertemplate="%{x:.4g} s<extra>%{y}</extra>",
        ),
        row=1,
        col=2,
    )
    figure.add_trace(
        go.Bar(
            y=[p.name for p in result.phases],
            x=[p.total_j(ids) / p.duration_s if p.duration_s > 0 else 0 for p in result.phases],
            orientation="h",
            marker={"color": colours},
            showlegend=False,
            hovertemplate="%{x:.4g} W<extra>%{y}</extra>",
        ),
        row=1,
        col=3,
    )
    figure.update_yaxes(autorange="reversed", row=1, col=1)
    _layout(figure, height=130 + 34 * len(names), barmode="stack")
    figure.update_layout(margin={"t": 70}, legend={"y": 1.12})  # above the subplot titles
    return figure


def layer_figure(result: RunResult, top: int = 12) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    breakdown = result.layers
    assert breakdown is not None
    ids = result.total_ids
    sources = [p for p in result.phases if p.name in ("forward", "backward")]
    measured, estimated, _, _ = _split(
        result, {cid: sum(p.self_energy_j.get(cid, 0.0) for p in sources) for cid in ids}
    )
    share = measured / (measured + estimated) if measured + estimated > 0 else 1.0
    shown = breakdown.layers[:top]
    names = [f"{x.name} ({x.type})" for x in shown] + ["not in any listed layer"]
    energies = [x.energy_j for x in shown] + [breakdown.unattributed_j]
    parts = [(e * share, e * (1 - share), 0.0, 0.0) for e in energies]
    figure = make_subplots(
        rows=1,
        cols=3,
        shared_yaxes=True,
        horizontal_spacing=0.03,
        subplot_titles=("energy, forward + backward (J)", "forward time (s)", "J per GFLOP"),
    )
    for bar in _measured_estimated_bars(go, names, parts, showlegend=False):
        figure.add_trace(bar, row=1, col=1)
    figure.add_trace(
        go.Bar(
            y=names[:-1],
            x=[x.forward_time_s for x in shown],
            orientation="h",
            marker={"color": LAYER_COLOUR},
            showlegend=False,
            hovertemplate="%{x:.4g} s<extra>%{y}</extra>",
        ),
        row=1,
        col=2,
    )
    figure.add_trace(
        go.Bar(
            y=names[:-1],
            x=[x.j_per_flop * 1e9 if x.j_per_flop else None for x in shown],
            orientation="h",
            marker={"color": rgba(LAYER_COLOUR, 0.6)},
            showlegend=False,
            hovertemplate="%{x:.4g} J/GFLOP<extra>%{y}</extra>",
        ),
        row=1,
        col=3,
    )
    figure.update_yaxes(autorange="reversed", row=1, col=1)
    return _layout(figure, height=110 + 30 * len(names), barmode="stack")


def forecast_figure(result: RunResult, forecast: dict[str, Any]) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(rows=1, cols=2, subplot_titles=("energy (J)", "duration (s)"))
    pairs = (
        ("predicted_total_energy_j", "energy_interval_j", result.total_j),
        ("predicted_total_duration_s", "duration_interval_s", result.duration_s),
    )
    for col, (key, interval_key, actual) in enumerate(pairs, start=1):
        predicted = float(forecast.get(key) or 0.0)
        low, high = (float(v) for v in (forecast.get(interval_key) or (predicted, predicted)))
        figure.add_trace(
            go.Bar(
                x=["forecast", "actual"],
                y=[predicted, actual],
                marker={
                    "color": [rgba("#F58518", 0.6), "#4C78A8"],
                    "pattern": {"shape": [HATCH, ""]},
                },
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [max(high - predicted, 0.0), 0.0],
                    "arrayminus": [max(predicted - low, 0.0), 0.0],
                },
                showlegend=False,
                hovertemplate="%{x}: %{y:.4g}<extra></extra>",
            ),
            row=1,
            col=col,
        )
    return _layout(figure, height=300)


def whatif_figure(what_if: dict[str, Any], operational_g: float | None) -> Any | None:
    import plotly.graph_objects as go

    zones = what_if.get("zones") or []
    if not zones:
        return None
    names = ["this run", *(str(z.get("label") or z.get("zone")) for z in zones)]
    values = [operational_g, *(z.get("operational_co2e_g") for z in zones)]
    figure = go.Figure(
        go.Bar(
            x=names,
            y=values,
            marker={"color": ["#444444", *([rgba("#54A24B", 0.8)] * len(zones))]},
            hovertemplate="%{x}: %{y:.4g} g CO2e<extra></extra>",
        )
    )
    figure.update_yaxes(title_text="operational g CO2e")
    return _layout(figure, height=300, title="the same energy elsewhere")


# -- comparison -----------------------------------------------------------------------------------
def comparison_figure(a: RunResult, b: RunResult, labels: tuple[str, str]) -> Any:
    """Per component (energy ± uncertainty, estimated hatched) and per phase (self energy)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    figure = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=("components (J)", "phases, self energy (J)"),
    )
    ids: list[str] = []
    names: dict[str, str] = {}
    for result in (a, b):
        for c in result.components:
            if c.in_total and c.id not in ids:
                ids.append(c.id)
                names[c.id] = display_label(c)
    phase_names: list[str] = []
    for result in (a, b):
        phase_names += [p.name for p in result.phases if p.name not in phase_names]
    for result, label, colour in ((a, labels[0], "#4C78A8"), (b, labels[1], "#E45756")):
        by_id = {c.id: c for c in result.components}
        present = [by_id.get(cid) for cid in ids]
        figure.add_trace(
            go.Bar(
                y=[names[cid] for cid in ids],
                x=[c.energy_j if c else None for c in present],
                orientation="h",
                name=label,
                legendgroup=label,
                marker={
                    "color": colour,
                    "pattern": {"shape": [HATCH if c and not c.measured else "" for c in present]},
                },
                error_x={"type": "data", "array": [c.uncertainty_j if c else 0 for c in present]},
                hovertemplate="%{x:.4g} J<extra>" + label + " %{y}</extra>",
            ),
            row=1,
            col=1,
        )
        phases = {p.name: p.self_total_j(result.total_ids) for p in result.phases}
        figure.add_trace(
            go.Bar(
                y=phase_names,
                x=[phases.get(n) for n in phase_names],
                orientation="h",
                name=label,
                legendgroup=label,
                showlegend=False,
                marker={"color": colour},
                hovertemplate="%{x:.4g} J<extra>" + label + " %{y}</extra>",
            ),
            row=1,
            col=2,
        )
    figure.update_yaxes(autorange="reversed")
    rows = max(len(ids), len(phase_names), 1)
    _layout(figure, height=160 + 44 * rows, barmode="group")
    figure.update_layout(margin={"t": 70}, legend={"y": 1.12})  # above the subplot titles
    return figure
