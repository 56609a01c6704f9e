"""Snapshots of the terminal report on a fixed-width console.

A change to the output fails here with a diff; when the change is wanted, regenerate with
``JOULEFLOW_UPDATE_SNAPSHOTS=1 python -m pytest tests/unit/report/test_terminal.py`` and review
the files under ``snapshots/`` like any other diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rich.console import Console

from jouleflow.report.terminal import render_carbon_summary, render_run

SNAPSHOTS = Path(__file__).parent / "snapshots"


def rendered(draw) -> str:
    with open(os.devnull, "w") as sink:
        console = Console(record=True, width=100, color_system=None, file=sink)
        draw(console)
        return console.export_text()


def check(name: str, text: str) -> None:
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("JOULEFLOW_UPDATE_SNAPSHOTS"):
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    if not path.exists():
        pytest.fail(f"no snapshot {path}: run with JOULEFLOW_UPDATE_SNAPSHOTS=1 to write it")
    assert text == path.read_text()


def test_full_run(make_result):
    result = make_result()
    check("full_run", rendered(lambda c: (render_run(result, c), render_carbon_summary(result, c))))


def test_run_without_layers_counts_forecast_or_carbon(make_result):
    result = make_result(layers=False, extras=False)
    check("plain_run", rendered(lambda c: render_run(result, c)))


def test_the_snapshot_shows_what_the_issue_asks_for(make_result):
    text = rendered(lambda c: render_run(make_result(), c))
    for needle in (
        "kWh",
        "avg W",
        "measured (powercap",
        "estimated",
        "(j-per-byte-model)",
        "unattributed",
        "(not in any listed layer)",
        "forecast after 2 of 3 epoch(s)",
        "J per token",
    ):
        assert needle in text, needle
