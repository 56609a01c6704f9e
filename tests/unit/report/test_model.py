"""What the report draws, checked without plotly: flows add up, downsampling keeps the energy."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from jouleflow.report.model import (
    energy_flows,
    phase_bands,
    power_series,
    shaded,
)


def test_importing_the_report_and_its_command_does_not_import_plotly():
    code = (
        "import sys, jouleflow.report.html, jouleflow.report.figures, jouleflow.report.live, "
        "jouleflow.cli.report; print(sorted(m for m in sys.modules if m.startswith('plotly')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_flows_conserve_energy_at_every_level(make_result):
    result = make_result()
    flows = energy_flows(result)
    total = result.total_j
    assert flows.out_of("total") == pytest.approx(total)
    for c in result.components:
        if c.in_total:
            key = f"component:{c.id}"
            assert flows.into(key) == pytest.approx(c.energy_j)
            assert flows.out_of(key) == pytest.approx(c.energy_j)
    phases = sum(flows.into(f"phase:{p.name}") for p in result.phases)
    assert phases + flows.into("unattributed") == pytest.approx(total)
    ids = result.total_ids
    into_layers = sum(
        flows.into(n.key) for n in flows.nodes if n.kind.startswith(("layer", "other-layers"))
    )
    assert into_layers == pytest.approx(
        result.phase("forward").self_total_j(ids) + result.phase("backward").self_total_j(ids)
    )


def test_unattributed_energy_is_its_own_node_at_each_level(make_result):
    result = make_result()
    flows = energy_flows(result, top_layers=8)
    kinds = {n.key: n.kind for n in flows.nodes}
    assert kinds["unattributed"] == "unattributed"
    assert kinds["layers:unattributed"] == "layers-unattributed"
    assert kinds["layers:other"] == "other-layers"  # 11 layers, 8 shown: the rest is grouped
    unattributed = sum(v for k, v in result.unattributed_j.items() if k in result.total_ids)
    assert flows.into("unattributed") == pytest.approx(unattributed)
    # the breakdown's own remainder, scaled like every layer, is not spread over the layers
    breakdown = result.layers
    whole = sum(x.energy_j for x in breakdown.layers) + breakdown.unattributed_j
    share = breakdown.unattributed_j / whole
    assert flows.into("layers:unattributed") == pytest.approx(
        share * (flows.into("phase:forward") + flows.into("phase:backward"))
    )


def test_estimated_components_are_marked_and_parts_left_out(make_result):
    flows = energy_flows(make_result())
    by_key = {n.key: n for n in flows.nodes}
    assert "component:rapl:package-0:core" not in by_key  # a part of the package: never twice
    disk = by_key["component:estimate:disk"]
    assert disk.measured is False and "estimated" in disk.detail
    assert by_key["component:nvml:0"].measured is True
    assert "measured (nvml power, integrated)" in by_key["component:nvml:0"].detail


def test_without_phases_everything_is_unattributed_and_no_layer_appears(make_result):
    result = dataclasses.replace(make_result(layers=False), phases=())
    result = dataclasses.replace(
        result, unattributed_j={c.id: c.energy_j for c in result.components}
    )
    flows = energy_flows(result)
    assert flows.into("unattributed") == pytest.approx(result.total_j)
    assert not [n for n in flows.nodes if n.kind.startswith("layer")]


def test_power_series_shows_every_sample_when_few(make_result, make_samples):
    result = make_result(seconds=10.0)
    ids, samples = make_samples(result, every_s=0.1)
    series = power_series(samples, ids, result, max_points=1500)
    assert series is not None and series.bin_s is None and series.points == 100
    assert series.power_w["rapl:package-0"][0] == pytest.approx(40.0)


def test_downsampling_keeps_the_energy_and_bounds_the_points(make_result, make_samples):
    result = make_result(seconds=3600.0)
    ids, samples = make_samples(result, every_s=0.1)  # 36,000 intervals
    series = power_series(samples, ids, result, max_points=500)
    assert series is not None and series.points <= 500 and series.bin_s == pytest.approx(7.2)
    for c in result.components:
        widths = [b - a for a, b in zip(series.edges_s, series.edges_s[1:])]
        energy = sum(w * p for w, p in zip(widths, series.power_w[c.id]))
        assert energy == pytest.approx(c.energy_j, rel=1e-9)


def test_power_series_needs_two_samples(make_result):
    result = make_result()
    assert power_series([(result.window_ns[0], (0.0,) * 5)], ("x",), result) is None


def test_phase_windows_merge_below_the_resolution(make_result):
    result = make_result()
    bands = {b.name: b for b in phase_bands(result, resolution_s=0.01)}
    assert len(bands["forward"].bands_s) == 100  # 0.6 s gaps: kept apart
    coarse = {b.name: b for b in phase_bands(result, resolution_s=1.0)}
    assert len(coarse["forward"].bands_s) == 1  # closer than the resolution: one band
    capped = {b.name: b for b in phase_bands(result, resolution_s=0.01, max_bands=10)}
    assert len(capped["forward"].bands_s) <= 10 and capped["forward"].merge_gap_s > 0.01


def test_only_outer_phases_shade_the_power_chart(make_result):
    result = make_result()
    names = [b.name for b in shaded(phase_bands(result, resolution_s=1.0))]
    assert names == ["epoch"]  # forward / backward / optimizer sit inside it
