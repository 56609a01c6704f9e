"""The history commands: runs, show, export, compare, rm, gc. They read the run store.

Importing this module is cheap (click only); the store, sqlite3 and rich load inside commands.
Every failure a user can cause (unknown run, ambiguous prefix, bad value, a file that is not a
run store) exits with code 2 and a message that says what to do.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from rich.console import Console

    from jouleflow.records import RunResult
    from jouleflow.store import RunStore, StoredRun

STATUSES = ("running", "completed", "failed", "interrupted", "incomplete")
_UNITS_S = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$")


def parse_duration_s(text: str) -> float | None:
    """``90m``, ``12h``, ``7d``, ``2w`` in seconds; None if ``text`` is not a duration."""
    match = _DURATION.match(text.lower())
    return float(match.group(1)) * _UNITS_S[match.group(2)] if match else None


def older_than_s(text: str) -> float:
    seconds = parse_duration_s(text)
    if seconds is None:
        raise click.BadParameter(
            f"{text!r} is not a duration: write e.g. 90m, 12h, 7d or 2w",
            param_hint="--older-than",
        )
    return seconds


def since_unix(text: str) -> float:
    """A duration back from now (``7d``), or a date / date-time (``2024-05-01``, local time)."""
    seconds = parse_duration_s(text)
    if seconds is not None:
        return time.time() - seconds
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (7d, 12h) nor a date (2024-05-01)",
            param_hint="--since",
        ) from None


db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="JOULEFLOW_DB",
    help="The run store [default: runs.db in the user data folder].",
)


def _store_path(db: Path | None) -> Path:
    from jouleflow.store import default_db_path

    return db if db is not None else default_db_path()


def _open(db: Path | None, *, required: bool) -> RunStore | None:
    """The store, or None when there is none yet (an error if ``required``)."""
    from jouleflow.store import RunStore, StoreError

    path = _store_path(db)
    if not path.exists():
        if required:
            raise StoreError(
                f"no run store at {path}: no run was saved there yet",
                path=path,
                fix="measure something with `jouleflow run`, or pass --db / JOULEFLOW_DB",
            )
        return None
    return RunStore.open(path)


def _console() -> Console:
    from rich.console import Console

    return Console(width=None if sys.stdout.isatty() else 160)


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f} s"
    minutes, s = divmod(round(seconds), 60)
    hours, m = divmod(minutes, 60)
    days, h = divmod(hours, 24)
    if days:
        return f"{days} d {h} h"
    if hours:
        return f"{hours} h {m:02d} min"
    return f"{m} min {s:02d} s"


def _local(unix: float) -> str:
    return datetime.fromtimestamp(unix).strftime("%Y-%m-%d %H:%M:%S")


def _status_text(status: str, exit_code: int | None) -> str:
    colour = {"completed": "green", "failed": "red", "incomplete": "yellow"}.get(status, "cyan")
    code = f" ({exit_code})" if exit_code not in (None, 0) else ""
    return f"[{colour}]{status}{code}[/]"


def _parse_tag_filters(values: Sequence[str]) -> dict[str, str | None]:
    filters: dict[str, str | None] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise click.BadParameter(f"{value!r}: write KEY=VALUE or KEY", param_hint="--tag")
        filters[key] = val if sep else None
    return filters


# -- runs ---------------------------------------------------------------------------------------
@click.command("runs")
@click.option(
    "--since", metavar="DURATION|DATE", help="Only runs started since: 7d, 12h, or a date."
)
@click.option("--name", help="Only runs whose name contains this (or matches a glob: 'train-*').")
@click.option("--status", type=click.Choice(STATUSES), help="Only runs with this status.")
@click.option("--tag", "tags", multiple=True, metavar="KEY[=VALUE]", help="Only runs with a tag.")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=20,
    show_default=True,
    help="Show at most this many (0: all).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@db_option
def runs_command(
    since: str | None,
    name: str | None,
    status: str | None,
    tags: tuple[str, ...],
    limit: int,
    as_json: bool,
    db: Path | None,
) -> None:
    """List saved runs, newest first."""
    tag_filters = _parse_tag_filters(tags)
    if since is not None:
        since_unix(since)  # a bad value fails before the store is opened
    store = _open(db, required=False)
    found: list[StoredRun] = []
    if store is not None:
        with store:
            found = store.runs(
                since_unix=since_unix(since) if since is not None else None,
                name=name,
                status=status,
                tags=tag_filters,
                limit=limit + 1 if limit else None,
            )
    more = bool(limit) and len(found) > limit
    found = found[:limit] if limit else found
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in found], indent=2))
        return
    if not found:
        click.echo(f"no runs{' match' if store is not None else ' yet'} in {_store_path(db)}")
        return
    from rich.markup import escape
    from rich.table import Table

    from jouleflow.units import format_energy

    table = Table(title=f"runs in {escape(str(_store_path(db)))}", title_justify="left")
    for column in ("id", "name", "started", "duration", "energy", "carbon", "status"):
        right = column in ("duration", "energy", "carbon")
        table.add_column(column, justify="right" if right else "left", no_wrap=column != "name")
    if any(r.tags for r in found):
        table.add_column("tags")
    table.add_column("command", overflow="ellipsis", no_wrap=True, max_width=60)
    for r in found:
        cells = [
            r.short_id,
            escape(r.name or ""),
            _local(r.started_unix),
            format_duration(r.duration_s),
            format_energy(r.total_j),
            "—",  # carbon: issue 4
            _status_text(r.status, r.exit_code),
        ]
        if any(x.tags for x in found):
            cells.append(escape(" ".join(f"{k}={v}" for k, v in r.tags.items())))
        cells.append(escape(" ".join(r.command) if r.command else ""))
        table.add_row(*cells)
    console = _console()
    console.print(table)
    if more:
        console.print(f"(more runs match: --limit {limit * 5} or --limit 0 shows them)")


# -- show ---------------------------------------------------------------------------------------
@click.command("show")
@click.argument("run_ref", metavar="RUN")
@click.option("--json", "as_json", is_flag=True, help="Print the result document as JSON.")
@db_option
def show_command(run_ref: str, as_json: bool, db: Path | None) -> None:
    """Show one run: RUN is an id, a unique id prefix, or 'last'."""
    store = _open(db, required=True)
    assert store is not None
    with store:
        stored = store.resolve(run_ref)
        result = store.result(stored)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    render_details(stored, result, store.path, _console())


def render_details(stored: StoredRun, result: RunResult, path: Path, console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    from jouleflow.report.terminal import render_run
    from jouleflow.store.export import carbon_fields

    about = Table.grid(padding=(0, 2))
    about.add_column(style="bold")
    about.add_column()
    about.add_row("run", f"{result.run_id}  ({escape(result.name or 'unnamed')})")
    about.add_row("status", _status_text(result.status, result.exit_code))
    about.add_row("started", f"{_local(stored.started_unix)} ({escape(result.started_at)})")
    about.add_row("duration", format_duration(result.duration_s))
    if result.command:
        about.add_row("command", escape(" ".join(result.command)))
    if result.tags:
        about.add_row("tags", escape(" ".join(f"{k}={v}" for k, v in result.tags.items())))
    carbon = carbon_fields(result).get("carbon_g")
    about.add_row("carbon", f"{carbon:.3g} g CO2e" if carbon is not None else "— (not computed)")
    about.add_row("store", escape(str(path)))
    console.print(about)
    if result.status in ("running", "incomplete"):
        console.print(
            f"[yellow]{result.status}: figures up to the last flush,"
            f" {format_duration(result.duration_s)} into the run[/]"
        )
    render_run(result, console)
    host = Table(title="host and hardware", title_justify="left", show_header=False)
    host.add_column(style="bold")
    host.add_column()
    for key, value in result.host.items():
        host.add_row(escape(key), escape(value))
    for c in result.components:
        if c.uuid is not None or c.name is not None:
            host.add_row(f"gpu {c.index}", escape(f"{c.name or c.label} {c.uuid or ''}".strip()))
    console.print(host)
    sensors = Table(title="sensors", title_justify="left")
    for column in ("sensor", "used", "why"):
        sensors.add_column(column)
    for s in result.sensors:
        used = ("measures" if s.measured else "estimates") if s.available else "unavailable"
        sensors.add_row(escape(s.sensor), used, escape(s.reason))
    console.print(sensors)


# -- export -------------------------------------------------------------------------------------
@click.command("export")
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("json", "csv", "parquet")),
    default="json",
    show_default=True,
    help="Output format.",
)
@click.option(
    "--codecarbon", is_flag=True, help="CSV with the columns of CodeCarbon's emissions.csv."
)
@click.option("--samples", is_flag=True, help="Export the stored samples, one row each.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write here instead of stdout (required for parquet).",
)
@db_option
def export_command(
    run_refs: tuple[str, ...],
    fmt: str,
    codecarbon: bool,
    samples: bool,
    output: Path | None,
    db: Path | None,
) -> None:
    """Export runs (ids, unique prefixes, or 'last') as JSON, CSV or Parquet."""
    from jouleflow.store import export

    if codecarbon and fmt != "csv":
        raise click.UsageError("--codecarbon is a CSV layout: add --format csv")
    if codecarbon and samples:
        raise click.UsageError("--codecarbon and --samples do not go together")
    if fmt == "parquet" and output is None:
        raise click.UsageError("parquet is binary: pass --output FILE.parquet")
    store = _open(db, required=True)
    assert store is not None
    with store:
        stored = _unique(store.resolve(ref) for ref in run_refs)
        results = [store.result(s) for s in stored]
        rows: list[dict[str, Any]] = []
        columns: list[str] = []
        if samples:
            for s, result in zip(stored, results):
                domains, points = store.samples(s)
                rows += export.sample_rows(s.id, result.window_ns[0], domains, points)
            for row in rows:
                columns += [k for k in row if k not in columns]
    if codecarbon:
        rows, columns = export.codecarbon_rows(results), list(export.CODECARBON_COLUMNS)
    elif not samples:
        columns, rows = export.summary_rows(results)
    if fmt == "parquet":
        assert output is not None
        export.write_parquet(columns, rows, output)
        return
    with ExitStack() as stack:
        stream = (
            stack.enter_context(open(output, "w", newline="")) if output is not None else sys.stdout
        )
        if fmt == "csv":
            export.write_csv(columns, rows, stream)
        elif samples:
            export.write_json(rows, stream)
        else:
            documents = [r.to_dict() for r in results]
            export.write_json(documents[0] if len(documents) == 1 else documents, stream)


def _unique(runs: Any) -> list[StoredRun]:
    seen: dict[str, StoredRun] = {}
    for run in runs:
        seen.setdefault(run.id, run)
    return list(seen.values())


# -- compare ------------------------------------------------------------------------------------
@click.command("compare")
@click.argument("run_a", metavar="RUN_A")
@click.argument("run_b", metavar="RUN_B")
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON.")
@db_option
def compare_command(run_a: str, run_b: str, as_json: bool, db: Path | None) -> None:
    """Per-component and per-phase differences of RUN_B against RUN_A (J and %)."""
    from jouleflow.store.compare import compare_results

    store = _open(db, required=True)
    assert store is not None
    with store:
        a, b = store.result(store.resolve(run_a)), store.result(store.resolve(run_b))
    diff = compare_results(a, b)
    if as_json:
        click.echo(json.dumps(diff, indent=2))
        return
    from rich.markup import escape
    from rich.table import Table

    from jouleflow.units import format_energy

    def fmt_j(v: float | None) -> str:
        return "—" if v is None else format_energy(v)

    def fmt_delta(row: dict[str, Any]) -> tuple[str, str]:
        d, pct = row["delta_j"], row["delta_pct"]
        sign = "+" if d is not None and d > 0 else ""
        return (
            "—" if d is None else sign + format_energy(d),
            "—" if pct is None else f"{pct:+.1f}%",
        )

    console = _console()
    title = f"B {b.run_id[:8]} ({b.name or 'run'}) against A {a.run_id[:8]} ({a.name or 'run'})"
    for heading, rows in (("component", diff["components"]), ("phase", diff["phases"])):
        if not rows:
            continue
        table = Table(title=escape(title) if heading == "component" else None, title_justify="left")
        for column in (heading, "A", "B", "B - A", "%"):
            table.add_column(column, justify="left" if column == heading else "right")
        for row in rows:
            table.add_row(
                escape(row["name"]), fmt_j(row["a_j"]), fmt_j(row["b_j"]), *fmt_delta(row)
            )
        if heading == "component":
            table.add_section()
            total = diff["total"]
            table.add_row(
                "total", fmt_j(total["a_j"]), fmt_j(total["b_j"]), *fmt_delta(total), style="bold"
            )
            dur = diff["duration_s"]
            d_pct = "—" if dur["delta_pct"] is None else f"{dur['delta_pct']:+.1f}%"
            table.add_row(
                "duration",
                format_duration(a.duration_s),
                format_duration(b.duration_s),
                f"{dur['delta_j']:+.2f} s",
                d_pct,
            )
        console.print(table)


# -- rm and gc ----------------------------------------------------------------------------------
@click.command("rm")
@click.argument("run_refs", metavar="RUN...", nargs=-1, required=True)
@click.option("--force", is_flag=True, help="Also remove runs that are still running.")
@db_option
def rm_command(run_refs: tuple[str, ...], force: bool, db: Path | None) -> None:
    """Remove runs (ids, unique prefixes, or 'last') from the store."""
    store = _open(db, required=True)
    assert store is not None
    with store:
        doomed = _unique(store.resolve(ref) for ref in run_refs)
        live = [r.short_id for r in doomed if r.status == "running"]
        if live and not force:
            raise click.UsageError(
                f"run {', '.join(live)} is still running: stop it first, or pass --force"
            )
        removed = store.delete(doomed)
    click.echo(f"removed {removed} run{'s' if removed != 1 else ''}")


@click.command("gc")
@click.option(
    "--older-than",
    "older_than",
    metavar="DURATION",
    required=True,
    help="Remove runs started longer ago than this: 90d, 12w, 36h.",
)
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@db_option
def gc_command(older_than: str, dry_run: bool, db: Path | None) -> None:
    """Remove old runs (never one that is still running)."""
    age_s = older_than_s(older_than)
    store = _open(db, required=False)
    if store is None:
        click.echo(f"nothing to remove: no run store at {_store_path(db)}")
        return
    cutoff = time.time() - age_s
    with store:
        doomed = [r for r in store.runs(before_unix=cutoff) if r.status != "running"]
        removed = len(doomed) if dry_run else store.delete(doomed)
    verb = "would remove" if dry_run else "removed"
    click.echo(f"{verb} {removed} run{'s' if removed != 1 else ''} started before {_local(cutoff)}")


def register_history(group: click.Group) -> None:
    for command in (
        runs_command,
        show_command,
        export_command,
        compare_command,
        rm_command,
        gc_command,
    ):
        group.add_command(command)
