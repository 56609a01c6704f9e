"""What the HTML report draws, computed from a finished run without any plotting library.

Pure functions of a ``RunResult`` and its stored samples, so they are tested on their own and the
figures (``report/figures.py``) only lay them out:

- ``energy_flows``: the Sankey's nodes and links, total → components → phases (self energy) →
  top layers, with ``unattributed`` energy as its own node at each level, never folded in;
- ``power_series``: power per component over time from cumulative energies, averaged over bins
  when there are more samples than a screen shows (energy is conserved exactly: each bin's
  average power is the energy difference across it over its length);
- ``phase_bands``: each phase's windows, merged where the gap between two is below the display
  resolution.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from jouleflow.records import ComponentEnergy, RunResult

TOP_LAYERS = 8
MAX_POINTS = 1500  # power points per component: more than a screen's width shows
MAX_BANDS = 400  # per phase, after merging
_EPSILON = 1e-12


def method_text(c: ComponentEnergy) -> str:
    """``measured (powercap energy counter)``, ``estimated (tdp-model)``..."""
    return {
        "counter": f"measured ({c.source} energy counter)",
        "power_integration": f"measured ({c.source} power, integrated)",
        "estimate": f"estimated ({c.source})",
    }.get(c.method.value, c.method.value)


def display_label(c: ComponentEnergy) -> str:
    """The component's label, saying ``estimated`` once (estimate labels often already do)."""
    if c.measured:
        return c.label
    return c.label if "estimated" in c.label or "est." in c.label else f"{c.label} (estimated)"


def uncertainty_text(c: ComponentEnergy) -> str:
    if c.energy_j <= 0:
        return ""
    return f"±{c.uncertainty_j / c.energy_j:.0%}" if c.uncertainty_j > 0 else "±0%"


# -- the Sankey -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FlowNode:
    """One box of the Sankey. ``kind``: total, component, phase, unattributed, layer,
    other-layers, layers-unattributed. ``measured`` is None where it does not apply."""

    key: str
    label: str
    kind: str
    energy_j: float
    measured: bool | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class FlowLink:
    source: int
    target: int
    energy_j: float
    measured: bool | None = None  # the component the energy came from, where one does


@dataclass(frozen=True, slots=True)
class EnergyFlows:
    nodes: tuple[FlowNode, ...]
    links: tuple[FlowLink, ...]
    layers_note: str | None = None

    def into(self, key: str) -> float:
        index = self.index(key)
        return sum(link.energy_j for link in self.links if link.target == index)

    def out_of(self, key: str) -> float:
        index = self.index(key)
        return sum(link.energy_j for link in self.links if link.source == index)

    def index(self, key: str) -> int:
        for i, node in enumerate(self.nodes):
            if node.key == key:
                return i
        raise KeyError(key)


class _Flows:
    def __init__(self, floor_j: float) -> None:
        self.floor_j = floor_j
        self.nodes: list[FlowNode] = []
        self.links: list[FlowLink] = []

    def add(self, node: FlowNode) -> int:
        self.nodes.append(node)
        return len(self.nodes) - 1

    def link(self, source: int, target: int, energy_j: float, measured: bool | None = None) -> None:
        if energy_j > self.floor_j:
            self.links.append(FlowLink(source, target, energy_j, measured))


def energy_flows(result: RunResult, top_layers: int = TOP_LAYERS) -> EnergyFlows:
    """Total → components → phases (self energy) and unattributed → top layers.

    Every flow is an energy in J; what enters a node leaves it (up to float rounding), so the
    widths add up. Layers split the forward and backward phases' self energy by each layer's
    share of the layer breakdown (its energy over the breakdown's total, unattributed included).
    """
    ids = result.total_ids
    total_j = result.total_j
    flows = _Flows(max(total_j, 0.0) * 1e-9 + _EPSILON)
    measured_share = result.measured_j / total_j if total_j > 0 else 0.0
    total = flows.add(
        FlowNode(
            "total",
            "total",
            "total",
            total_j,
            detail=f"measured {measured_share:.0%}, estimated {1 - measured_share:.0%}",
        )
    )
    components: dict[str, int] = {}
    measured: dict[str, bool] = {}
    for c in result.components:
        if not c.in_total:
            continue
        measured[c.id] = c.measured
        components[c.id] = flows.add(
            FlowNode(
                f"component:{c.id}",
                display_label(c),
                "component",
                c.energy_j,
                c.measured,
                f"{method_text(c)}, {uncertainty_text(c)}",
            )
        )
        flows.link(total, components[c.id], c.energy_j, c.measured)
    phase_nodes: dict[str, int] = {}
    for p in result.phases:
        phase_nodes[p.name] = flows.add(
            FlowNode(
                f"phase:{p.name}",
                p.name,
                "phase",
                p.self_total_j(ids),
                detail=f"self energy; {p.count} time(s), {p.duration_s:.3g} s",
            )
        )
        for cid, index in components.items():
            energy_j = max(p.self_energy_j.get(cid, 0.0), 0.0)
            flows.link(index, phase_nodes[p.name], energy_j, measured[cid])
    unattributed_j = sum(max(v, 0.0) for k, v in result.unattributed_j.items() if k in ids)
    if result.phases or unattributed_j > flows.floor_j:
        rest = flows.add(
            FlowNode(
                "unattributed",
                "unattributed (no phase open)",
                "unattributed",
                unattributed_j,
                detail="energy while no phase was open",
            )
        )
        for cid, index in components.items():
            energy_j = max(result.unattributed_j.get(cid, 0.0), 0.0)
            flows.link(index, rest, energy_j, measured[cid])
    note = _layer_flows(result, phase_nodes, top_layers, flows)
    return EnergyFlows(tuple(flows.nodes), tuple(flows.links), note)


def _layer_flows(
    result: RunResult, phase_nodes: dict[str, int], top: int, flows: _Flows
) -> str | None:
    """Forward and backward self energy → the top layers, the others, and what no layer has."""
    breakdown = result.layers
    if breakdown is None or not breakdown.layers:
        return None
    sources = {name: phase_nodes[name] for name in ("forward", "backward") if name in phase_nodes}
    if not sources:
        return "the layers are not in the diagram: the run has no forward or backward phase"
    ids = result.total_ids
    whole = sum(max(x.energy_j, 0.0) for x in breakdown.layers) + max(breakdown.unattributed_j, 0)
    if whole <= 0:
        return None
    phase_j = {name: result.phase(name).self_total_j(ids) for name in sources}
    scale = sum(phase_j.values()) / whole  # the breakdown's J -> this diagram's J
    targets: list[tuple[int, float]] = []
    for layer in breakdown.layers[:top]:
        node = flows.add(
            FlowNode(
                f"layer:{layer.name}",
                f"{layer.name} ({layer.type})",
                "layer",
                max(layer.energy_j, 0.0) * scale,
                detail=f"{layer.time_share:.1%} of the forward time",
            )
        )
        targets.append((node, max(layer.energy_j, 0.0)))
    others = breakdown.layers[top:]
    if others:
        rest_j = sum(max(x.energy_j, 0.0) for x in others)
        label = f"{len(others)} other layers"
        other = FlowNode("layers:other", label, "other-layers", rest_j * scale)
        targets.append((flows.add(other), rest_j))
    node = flows.add(
        FlowNode(
            "layers:unattributed",
            "not in any listed layer",
            "layers-unattributed",
            max(breakdown.unattributed_j, 0.0) * scale,
            detail="forward / backward time outside the timed modules",
        )
    )
    targets.append((node, max(breakdown.unattributed_j, 0.0)))
    for name, source in sources.items():
        for target, energy_j in targets:
            flows.link(source, target, phase_j[name] * energy_j / whole)
    return None


# -- power over time ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PowerSeries:
    """Average power per component over consecutive intervals.

    ``edges_s`` (seconds since the run's start) has one more entry than each ``power_w`` list:
    interval k runs from ``edges_s[k]`` to ``edges_s[k + 1]``. ``bin_s`` is None when every stored
    sample is shown, else the bin length used to average them.
    """

    edges_s: tuple[float, ...]
    power_w: dict[str, tuple[float, ...]]
    samples: int
    bin_s: float | None

    @property
    def points(self) -> int:
        return max(len(self.edges_s) - 1, 0)


def power_series(
    samples: Sequence[tuple[int, Sequence[float]]],
    domain_ids: Sequence[str],
    result: RunResult,
    max_points: int = MAX_POINTS,
) -> PowerSeries | None:
    """Power per component from (t_ns, cumulative µJ per domain) samples; None if under two.

    With more than ``max_points`` intervals, the kept samples are those nearest before
    ``max_points`` evenly spaced instants, and each interval's power is the energy between two
    kept samples over the time between them: no energy is lost, only time resolution.
    """
    if len(samples) < 2:
        return None
    known = {c.id for c in result.components}
    columns = [(k, cid) for k, cid in enumerate(domain_ids) if cid in known]
    times = [t for t, _ in samples]
    picked = list(range(len(samples)))
    bin_s: float | None = None
    if len(samples) - 1 > max_points:
        first, last = times[0], times[-1]
        step = (last - first) / max_points
        chosen = {0, len(samples) - 1}
        for k in range(1, max_points):
            chosen.add(max(bisect.bisect_right(times, first + k * step) - 1, 0))
        picked = sorted(chosen)
        bin_s = step / 1e9
    t0 = result.window_ns[0]
    edges = tuple((times[i] - t0) / 1e9 for i in picked)
    power: dict[str, tuple[float, ...]] = {}
    for k, cid in columns:
        values = []
        for a, b in itertools.pairwise(picked):
            dt_s = (times[b] - times[a]) / 1e9
            delta_j = (samples[b][1][k] - samples[a][1][k]) / 1e6
            values.append(max(delta_j, 0.0) / dt_s if dt_s > 0 else 0.0)
        power[cid] = tuple(values)
    return PowerSeries(edges, power, len(samples), bin_s)


# -- phase bands ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PhaseBands:
    """When a phase was open, in seconds since the run's start, merged for display."""

    name: str
    bands_s: tuple[tuple[float, float], ...]
    windows: int  # windows the result keeps (it may keep fewer than ``count``)
    count: int
    merge_gap_s: float  # windows closer than this were drawn as one band


def phase_bands(
    result: RunResult, resolution_s: float | None = None, max_bands: int = MAX_BANDS
) -> tuple[PhaseBands, ...]:
    """Each phase's windows, merged where the gap is under ``resolution_s`` (default: the run's
    duration / ``MAX_POINTS``, about a pixel), coarsened further until at most ``max_bands``."""
    t0 = result.window_ns[0]
    gap = resolution_s if resolution_s is not None else result.duration_s / MAX_POINTS
    out = []
    for p in result.phases:
        windows = sorted(((a - t0) / 1e9, (b - t0) / 1e9) for a, b in p.windows_ns)
        used = gap
        bands = _merge(windows, used)
        while len(bands) > max_bands and used > 0:
            used *= 2
            bands = _merge(bands, used)
        out.append(PhaseBands(p.name, tuple(bands), len(p.windows_ns), p.count, used))
    return tuple(out)


def _merge(windows: Sequence[tuple[float, float]], gap_s: float) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in windows:
        if merged and start - merged[-1][1] <= gap_s:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def shaded(bands: Sequence[PhaseBands], max_bands: int = 24) -> tuple[PhaseBands, ...]:
    """The phases worth shading behind the power chart: few bands, not nested in another phase,
    not overlapping one already chosen (longest first), so the shading stays readable."""

    def inside(band: tuple[float, float], others: Sequence[tuple[float, float]]) -> bool:
        return any(a <= band[0] and band[1] <= b for a, b in others)

    def overlaps(x: Sequence[tuple[float, float]], y: Sequence[tuple[float, float]]) -> bool:
        return any(a < d and c < b for a, b in x for c, d in y)

    def length(p: PhaseBands) -> float:
        return sum(b - a for a, b in p.bands_s)

    chosen: list[PhaseBands] = []
    for p in sorted(bands, key=length, reverse=True):
        if not p.bands_s or len(p.bands_s) > max_bands:
            continue
        nested = any(
            q is not p and length(q) > length(p) and all(inside(b, q.bands_s) for b in p.bands_s)
            for q in bands
        )
        if not nested and not any(overlaps(p.bands_s, q.bands_s) for q in chosen):
            chosen.append(p)
    return tuple(chosen)
