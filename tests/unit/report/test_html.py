"""The HTML report as a file: self-contained, escaped, every section there, small enough."""

from __future__ import annotations

import re
import sys
import time

import pytest

from jouleflow.errors import ConfigError
from jouleflow.report.html import ReportRun, render_comparison_html, render_html, write_html

pytest.importorskip("plotly", reason="the HTML report needs the report extra (plotly)")

PLOTLY_BANNER = re.compile(r"plotly\.js v\d+\.\d+\.\d+")


def scripts_with_src(html: str) -> list[str]:
    return re.findall(r"<script[^>]*\bsrc=", html)


def test_one_file_with_plotly_embedded_once_and_nothing_fetched(make_result, make_samples):
    result = make_result(seconds=10.0)
    ids, samples = make_samples(result)
    html = render_html(ReportRun(result, samples, ids))
    assert html.startswith("<!DOCTYPE html>")
    assert len(PLOTLY_BANNER.findall(html)) == 1  # the bundle's licence banner, once
    assert scripts_with_src(html) == []  # nothing loaded from elsewhere: no CDN
    assert "<link " not in html
    for div in ("jf-sankey", "jf-timeline", "jf-phases-bars", "jf-layers-bars", "jf-forecast"):
        assert f'id="{div}"' in html


def test_every_section_is_there(make_result, make_samples):
    result = make_result(seconds=10.0)
    ids, samples = make_samples(result)
    html = render_html(ReportRun(result, samples, ids, origin="run store /tmp/runs.db"))
    for text in (
        "Where the energy went",
        "Power over time",
        "Every stored sample is shown (101)",
        "Forecast vs actual",
        "per token (819,200 tokens)",  # J/token: the run counted tokens
        "France",  # carbon: zone, intensity, its source, PUE
        "56 gCO2e/kWh",
        "Ember, 2023, CC BY 4.0",
        "default for a local machine",
        "python train.py",  # metadata: the command, the host, where it was read from
        "run store /tmp/runs.db",
        "not in any listed layer",
        "unattributed",
    ):
        assert text in html, text


def test_measured_and_estimated_are_told_apart(make_result):
    html = render_html(ReportRun(make_result()))
    assert '<span class="badge estimated">estimated</span> estimated (j-per-byte-model)' in html
    assert '<span class="badge measured">measured</span> measured (powercap energy counter)' in html
    assert '"shape":"\\u002f"' in html  # hatched bars ("/", as plotly writes it)
    assert "disk I/O (estimated)" in html
    assert "\\u00b1100%" in html  # the estimate's band ("±100%"), in the Sankey's hover text


def test_no_samples_means_no_timeline_said_plainly(make_result):
    html = render_html(ReportRun(make_result()))
    assert 'id="jf-timeline"' not in html
    assert "No samples are stored for this run" in html


def test_names_from_the_run_are_escaped(make_result):
    import dataclasses

    evil = "</script><script>alert(1)</script>"
    result = dataclasses.replace(make_result(), name=evil, command=("python", evil))
    html = render_html(ReportRun(result))
    assert evil not in html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_day_long_run_stays_under_10_mb(make_result):
    """24 h at the store's default downsampling: 0.1 s for an hour, then one sample a second."""
    day = 86_400.0
    result = make_result(seconds=day)
    powers = [c.energy_j / day for c in result.components]
    times = [k * 0.1 for k in range(36_000)] + [3600.0 + k for k in range(82_801)]
    t0 = result.window_ns[0]
    samples = [(t0 + int(t * 1e9), tuple(w * t * 1e6 for w in powers)) for t in times]
    ids = tuple(c.id for c in result.components)
    started = time.perf_counter()
    html = render_html(ReportRun(result, samples, ids))
    elapsed = time.perf_counter() - started
    size = len(html.encode())
    assert size < 10_000_000, size
    assert "118,801 stored samples averaged into" in html
    assert elapsed < 10.0


def test_two_runs_side_by_side(make_result, make_samples):
    a = make_result(seconds=10.0)
    b = make_result(seconds=12.0, run_id="9c41" + "1" * 28, name="tuned")
    ids, samples = make_samples(a)
    html = render_comparison_html(ReportRun(a, samples, ids), ReportRun(b))
    assert len(PLOTLY_BANNER.findall(html)) == 1
    assert "fine-tune vs tuned" in html
    assert 'id="jf-compare-bars"' in html and 'id="a-sankey"' in html and 'id="b-sankey"' in html
    assert "+20.0%" in html  # B's total against A's: 12 s against 10 s at the same power
    assert 'class="side-by-side"' in html


def test_a_missing_plotly_names_the_extra(make_result, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # as if it were not installed
    with pytest.raises(ConfigError) as raised:
        render_html(ReportRun(make_result()))
    assert "pip install 'jouleflow[report]'" in str(raised.value)


def test_write_html_replaces_atomically(tmp_path):
    target = write_html(tmp_path / "sub" / "r.html", "<html></html>")
    assert target.read_text() == "<html></html>"
    assert [p.name for p in target.parent.iterdir()] == ["r.html"]
