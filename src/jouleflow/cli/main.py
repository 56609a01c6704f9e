"""The ``jouleflow`` command: one subcommand per job."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from jouleflow.cli.carbon import LoadedRun, carbon_options, load_result_file
from jouleflow.cli.carbon import register as register_carbon
from jouleflow.cli.explain import register as register_explain
from jouleflow.cli.history import register_history
from jouleflow.cli.report import register as register_report
from jouleflow.config import MeterConfig
from jouleflow.errors import ConfigError
from jouleflow.records import RunResult

F = TypeVar("F", bound=Callable[..., Any])


def meter_options(func: F) -> F:
    """The options that say where the sensors are; shared by every measuring command."""
    options = [
        click.option(
            "--powercap-root",
            envvar="JOULEFLOW_POWERCAP_ROOT",
            default="/sys/class/powercap",
            show_default=True,
            help="Where the Linux powercap (RAPL) tree is.",
        ),
        click.option(
            "--nvml-library",
            envvar="JOULEFLOW_NVML_LIBRARY",
            default=None,
            help="Path of libnvidia-ml.so.1 (default: the system's).",
        ),
        click.option(
            "--cpu-tdp",
            type=click.FloatRange(min=1.0),
            default=None,
            help="CPU TDP per socket in W, for the estimate when RAPL is unreadable.",
        ),
        click.option(
            "--interval",
            type=click.FloatRange(min=0.001, max=60.0),
            default=None,
            help="Seconds between background samples [default: 0.02 with power-only sensors "
            "(integration), else 1: counters are read exactly at every edge anyway].",
        ),
        click.option("--no-gpu", is_flag=True, help="Do not look for GPUs."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _config(
    powercap_root: str,
    nvml_library: str | None,
    cpu_tdp: float | None,
    interval: float | None,
    no_gpu: bool,
) -> MeterConfig:
    return MeterConfig(
        powercap_root=powercap_root,
        nvml_library=nvml_library,
        cpu_tdp_w=cpu_tdp,
        interval_s=interval,
        gpus=not no_gpu,
    )


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def _write_json(path: Path, document: dict[str, Any]) -> None:
    """Write atomically, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(tmp, path)


def _parse_tags(values: tuple[str, ...]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise ConfigError(f"bad --tag {value!r}", fix="write tags as key=value")
        tags[key] = val
    return tags


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="jouleflow")
def cli() -> None:
    """Where does the energy go? Measure, attribute and explain energy use."""


register_history(cli)  # runs, show, export, compare, rm, gc


def _load_for_carbon(ref: str) -> LoadedRun:
    """``jouleflow carbon RUN``: a result file, or a run in the store (id, prefix, ``last``).

    From the store the samples come too, so a time series weighs energy by when it was used.
    """
    if Path(ref).is_file():
        return load_result_file(ref)
    from jouleflow.carbon import energy_timeline
    from jouleflow.store import RunStore

    with RunStore.open(None) as store:
        stored = store.resolve(ref)
        result = store.result(stored)
        domain_ids, samples = store.samples(stored)
    timeline = energy_timeline(samples, result, domain_ids)
    return LoadedRun(result, result.to_dict(), timeline)


register_carbon(cli, load_run=_load_for_carbon)
register_report(cli)  # report RUN [RUN_B] --html
register_explain(cli)  # explain, estimate, calibrate


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the result document to this file.",
)
@click.option("--name", default=None, help="A name for the run (default: the command).")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="Label the run.")
@click.option("--quiet", "-q", is_flag=True, help="Print no summary.")
@click.option(
    "--live",
    is_flag=True,
    help="Show elapsed time, power and energy so far on stderr's last line (terminals only).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="JOULEFLOW_DB",
    help="Save the run in this run store [default: runs.db in the user data folder].",
)
@click.option("--no-store", is_flag=True, help="Do not save the run in the run store.")
@meter_options
@carbon_options
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(
    command: tuple[str, ...],
    json_path: Path | None,
    name: str | None,
    tags: tuple[str, ...],
    quiet: bool,
    live: bool,
    db: Path | None,
    no_store: bool,
    carbon: Any,
    **meter: Any,
) -> None:
    """Measure COMMAND from start to end: jouleflow run -- python train.py

    The command's exit code becomes jouleflow's; its streams pass through untouched; the summary
    goes to stderr.
    """
    import tempfile

    from jouleflow.attribution.merge import merge_child_results
    from jouleflow.carbon import assess, energy_timeline
    from jouleflow.cli.child import read_child_results, run_child
    from jouleflow.tracker import CHILD_RESULTS_ENV, Run

    config = _config(**meter)
    measurement = Run(
        name or Path(command[0]).name,
        config=config,
        tags=_parse_tags(tags),
        command=command,
        db=False if no_store else db,
    )
    # A track() inside the command reports its phases and layers here; they join this run.
    child_results = tempfile.mkdtemp(prefix="jouleflow-phases-")
    measurement.add_contributor(
        lambda result: merge_child_results(result, read_child_results(child_results))
    )
    assessments: list[Any] = []

    def add_carbon(result: RunResult) -> RunResult:
        """Weigh the energy by when it was used (the timeline), not by its average."""
        timeline = energy_timeline(measurement.timeline, result)
        assessments.append(assess(result, carbon, energy_timeline=timeline))
        return dataclasses.replace(result, carbon=assessments[-1].to_dict())

    measurement.add_contributor(add_carbon)
    child_env = {**os.environ, **config.to_env(), CHILD_RESULTS_ENV: child_results}
    if not no_store:
        # The run opens its store in the background (a Python run goes on unsaved when it
        # cannot); here a bad store is refused before anything runs (StoreError: exit 2).
        from jouleflow.store import RunStore

        RunStore.open(db).close()
    measurement.start()
    try:
        from jouleflow.report.live import LiveLine

        with LiveLine(measurement, enabled=None if live else False):
            exit_code, ended_by = run_child(command, env=child_env)
    except OSError as err:
        measurement.stop(exit_code=127, status="failed")
        raise ConfigError(
            f"cannot start {command[0]!r}: {err.strerror}", fix="check the command name and PATH"
        ) from err
    if ended_by in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        status = "interrupted"
    else:
        status = "completed" if exit_code == 0 else "failed"
    result = measurement.stop(exit_code=exit_code, status=status)
    shutil.rmtree(child_results, ignore_errors=True)
    _finish(
        result,
        json_path,
        quiet,
        store_path=measurement.store_path,
        carbon=assessments[-1] if assessments else None,
    )
    sys.exit(exit_code)


def _finish(
    result: RunResult,
    json_path: Path | None,
    quiet: bool,
    *,
    store_path: Path | None = None,
    carbon: Any = None,
) -> None:
    if json_path is not None:
        _write_json(json_path, result.to_dict())
    if not quiet:
        from jouleflow.report.terminal import render_run

        console = _stderr_console()
        render_run(result, console)
        if carbon is not None:
            from jouleflow.carbon.render import render_carbon

            render_carbon(carbon, console)
        if store_path is not None:
            console.print(
                f"saved as run {result.run_id[:8]} in {store_path}"
                f" (jouleflow show {result.run_id[:8]})",
                markup=False,
                highlight=False,
            )


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the findings as JSON.")
@meter_options
def doctor(as_json: bool, **meter: Any) -> None:
    """List every sensor looked for, whether it works, and if not why and how to fix it.

    Exits 0 when at least one measuring sensor works, 1 when only estimates are possible.
    """
    from jouleflow.sensors.discovery import probe_all

    availability = probe_all(_config(**meter))
    measured = any(a.available and a.measured for a in availability)
    if as_json:
        click.echo(
            json.dumps(
                [
                    {
                        "sensor": a.sensor,
                        "available": a.available,
                        "measured": a.measured,
                        "reason": a.reason,
                        "fix": a.fix,
                        "domains": list(a.domains),
                    }
                    for a in availability
                ],
                indent=2,
            )
        )
    else:
        from rich.console import Console

        from jouleflow.report.terminal import render_doctor

        console = Console()
        render_doctor(availability, console)
        console.print(
            "at least one sensor measures"
            if measured
            else "no sensor measures here: every figure will be an estimate"
        )
    sys.exit(0 if measured else 1)


def main() -> None:
    from jouleflow.cli.exits import invoke

    invoke(cli)
