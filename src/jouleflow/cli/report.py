"""``jouleflow report RUN [RUN_B] --html [FILE]``: a run (or two, side by side) as one HTML file.

Wiring (in ``cli/main.py``)::

    from jouleflow.cli.report import register as register_report
    register_report(cli)

RUN is a run in the store (an id, a unique id prefix, or ``last``) or a result file written by
``jouleflow run --json FILE``. Without ``--html`` the report is printed on the terminal. Every
failure a user can cause (unknown run, no store, plotly missing) exits with code 2 and says what
to do. Importing this module imports click only; the store, plotly and rich load in the command.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from jouleflow.cli.history import db_option
from jouleflow.errors import ConfigError

if TYPE_CHECKING:
    from jouleflow.report.html import ReportRun

DEFAULT_MAX_POINTS = 1500  # jouleflow.report.model.MAX_POINTS (not imported: it is not needed)


class ReportError(click.ClickException):
    """A run that cannot be reported on, printed like every jouleflow error, exit code 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"jouleflow: error: {self.format_message()}", err=True, file=file)


def load_run(ref: str, db: Path | None) -> ReportRun:
    """A run from the store (with its samples), or from a result file (without)."""
    from jouleflow.report.html import ReportRun
    from jouleflow.store import RunStore, StoreError, default_db_path

    if ref.endswith(".json") and Path(ref).is_file():
        return _load_file(Path(ref))
    path = db if db is not None else default_db_path()
    if not path.exists():
        raise StoreError(
            f"no run store at {path}, so no run {ref!r}: no run was saved there yet",
            path=path,
            fix="measure something with `jouleflow run`, or pass --db / JOULEFLOW_DB",
        )
    with RunStore.open(path) as store:
        stored = store.resolve(ref)
        result = store.result(stored)
        domain_ids, samples = store.samples(stored)
    return ReportRun(result, samples, domain_ids, origin=f"run store {path}")


def _load_file(path: Path) -> ReportRun:
    import json

    from jouleflow.report.html import ReportRun
    from jouleflow.store.codec import result_from_document

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        result = result_from_document(document)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ConfigError(
            f"{path} is not a jouleflow result document ({type(err).__name__}: {err})",
            fix="give a run id, 'last', or the file written by `jouleflow run --json FILE`",
        ) from None
    return ReportRun(result, origin=f"result file {path} (no samples: no timeline)")


def with_carbon(run: ReportRun, zones: list[str]) -> ReportRun:
    """Assess the run's carbon when it has none, and the what-if in ``zones`` when asked."""
    recorded = _recorded_region(run.result.carbon)
    if run.result.carbon is not None and not zones:
        return run
    from jouleflow.carbon import assess, energy_timeline, resolve_settings, what_if

    settings = resolve_settings(recorded_region=recorded)
    timeline = (
        energy_timeline(run.samples, run.result, run.domain_ids) if len(run.samples) > 1 else None
    )
    assessment = assess(run.result, settings, energy_timeline=timeline)
    result = run.result
    if result.carbon is None:
        result = dataclasses.replace(result, carbon=assessment.to_dict())
    found = None
    if zones:
        found = what_if(assessment, settings, [settings.tables.zone(z) for z in zones]).to_dict()
    return dataclasses.replace(run, result=result, what_if=found)


def _recorded_region(carbon: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """The zone the run's carbon was assessed in, unless that was the world-average fallback."""
    if not carbon or not isinstance(carbon.get("zone"), str):
        return None
    if carbon.get("zone_kind") == "world" or carbon.get("region_source") == "not set":
        return None
    return carbon["zone"], f"the run (set by {carbon.get('region_source')})"


def default_html_path(runs: list[ReportRun]) -> Path:
    ids = "-vs-".join(run.result.run_id[:8] for run in runs)
    return Path(f"jouleflow-report-{ids}.html")


@click.command("report")
@click.argument("run_ref", metavar="RUN")
@click.argument("run_b", metavar="[RUN_B]", required=False)
@click.option(
    "--html",
    "html_path",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[FILE]",
    help="Write the HTML report (one self-contained file) [FILE default: "
    "jouleflow-report-<id>.html]. Needs the report extra: pip install 'jouleflow[report]'.",
)
@click.option(
    "--compare",
    "zones",
    metavar="ZONE,ZONE,...",
    default=None,
    help="Add what the same energy would emit in other zones, e.g. FR,DE,US-CA.",
)
@click.option(
    "--max-points",
    type=click.IntRange(min=100, max=100_000),
    default=DEFAULT_MAX_POINTS,
    show_default=True,
    help="Power points per component in the timeline: longer runs are averaged into this many.",
)
@db_option
def report_command(
    run_ref: str,
    run_b: str | None,
    html_path: str | None,
    zones: str | None,
    max_points: int,
    db: Path | None,
) -> None:
    """Show where a run's energy went: RUN is an id, a unique id prefix, 'last', or a result
    JSON file; with RUN_B, the two runs side by side (B against A).

    \b
    jouleflow report last --html                 # writes jouleflow-report-<id>.html
    jouleflow report 3f2a 9c41 --html diff.html  # two runs side by side
    """
    try:
        if html_path is not None:
            from jouleflow.report.html import require_plotly

            require_plotly()  # before reading anything: say what to install first
        zone_list = [z.strip() for z in (zones or "").split(",") if z.strip()]
        runs = [with_carbon(load_run(ref, db), zone_list) for ref in (run_ref, run_b) if ref]
        if html_path is None:
            _print(runs)
            return
        from jouleflow.report.html import render_comparison_html, render_html, write_html

        if len(runs) == 2:
            html = render_comparison_html(runs[0], runs[1], max_points=max_points)
        else:
            html = render_html(runs[0], max_points=max_points)
        target = write_html(Path(html_path) if html_path else default_html_path(runs), html)
    except ConfigError as err:  # StoreError, UnknownRunError, a missing plotly, a bad zone
        raise ReportError(str(err)) from err
    size_mb = target.stat().st_size / 1e6
    click.echo(
        f"wrote {target} ({size_mb:.1f} MB, self-contained: open it in any browser, offline)",
        err=True,
    )


def _print(runs: list[ReportRun]) -> None:
    from rich.console import Console

    from jouleflow.report.terminal import render_carbon_summary, render_run

    console = Console(width=None if sys.stdout.isatty() else 120)
    for run in runs:
        render_run(run.result, console)
        render_carbon_summary(run.result, console)
    console.print("add --html to write the HTML report (Sankey, timeline, carbon)", style="dim")


def register(group: click.Group) -> None:
    """Add ``report`` to ``group`` (the ``jouleflow`` command group)."""
    group.add_command(report_command)
