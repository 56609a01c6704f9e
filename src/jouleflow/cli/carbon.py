"""``jouleflow carbon RESULT.json``, and the carbon options that ``jouleflow run`` shares.

Wiring (done in ``cli/main.py``)::

    from jouleflow.cli.carbon import carbon_options, register
    register(cli)                     # adds `jouleflow carbon`

    @cli.command(...)
    @carbon_options                   # adds --region --pue --intensity --embodied, resolved
    def run(..., carbon, **meter):    # `carbon` is a jouleflow.carbon.CarbonSettings
        ...
        from jouleflow.carbon import assess, energy_timeline
        assessment = assess(result, carbon, energy_timeline=energy_timeline(run.timeline, result))

The options are resolved (zone known, file readable, PUE in range, token present) before the
command body runs, so bad input exits 2 before anything is measured. ``jouleflow.carbon`` is
imported only when a command runs, never at ``import jouleflow``.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from jouleflow.errors import ConfigError
from jouleflow.records import ComponentEnergy, ComponentKind, Method, RunResult

if TYPE_CHECKING:
    from jouleflow.carbon.settings import CarbonSettings

F = TypeVar("F", bound=Callable[..., Any])
OPTION_NAMES = ("region", "pue", "intensity", "embodied")


class CarbonUsageError(click.ClickException):
    """Bad carbon input: printed like every jouleflow error, exit code 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"jouleflow: error: {self.format_message()}", err=True, file=file)


def _usage_error(err: ConfigError) -> CarbonUsageError:
    return CarbonUsageError(str(err))


def _raw_options(func: F) -> F:
    options = [
        click.option(
            "--region",
            default=None,
            metavar="ZONE",
            help="Where the electricity came from: FR or FRA, US-CA, aws:us-east-1, "
            "gcp:europe-west1, azure:westeurope (default: JOULEFLOW_REGION, then "
            "[tool.jouleflow] region; else the world average, and the result says so).",
        ),
        click.option(
            "--pue",
            type=float,
            default=None,
            help="Power usage effectiveness of the facility (default: the provider's figure for "
            "a cloud region, 1.0 for a local machine).",
        ),
        click.option(
            "--intensity",
            default=None,
            metavar="G_PER_KWH|CSV|live[:ZONE]",
            help="Grid intensity instead of the shipped table: a constant in gCO2e/kWh, a CSV "
            "time series (timestamp, gCO2e/kWh), or live from Electricity Maps "
            "(needs ELECTRICITYMAPS_TOKEN).",
        ),
        click.option(
            "--embodied",
            is_flag=False,
            flag_value="default",
            default=None,
            metavar="[gpu=KG,server=KG,life=YEARS,gpus=N,servers=N]",
            help="Add the hardware's manufacturing emissions, amortised over its life "
            "(defaults: 150 kgCO2e per GPU, 1,000 kgCO2e per server, 4 years).",
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def carbon_settings(
    region: str | None = None,
    pue: float | None = None,
    intensity: str | None = None,
    embodied: str | None = None,
    *,
    recorded_region: tuple[str, str] | None = None,
) -> CarbonSettings:
    """Resolve the options (and env, config) into settings; bad input -> exit 2."""
    from jouleflow.carbon.settings import resolve_settings

    try:
        return resolve_settings(
            region=region,
            pue=pue,
            intensity=intensity,
            embodied=embodied,
            recorded_region=recorded_region,
            cli=True,
        )
    except ConfigError as err:
        raise _usage_error(err) from err


def carbon_options(func: F) -> F:
    """Add --region/--pue/--intensity/--embodied; the command gets them resolved, as one
    keyword argument ``carbon`` (a ``jouleflow.carbon.CarbonSettings``)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        values = {name: kwargs.pop(name) for name in OPTION_NAMES}
        kwargs["carbon"] = carbon_settings(**values)
        return func(*args, **kwargs)

    return _raw_options(wrapper)  # type: ignore[return-value]


def _result_from_document(document: Any, where: str) -> RunResult:
    """The parts of a result document (``jouleflow run --json``) that carbon needs."""
    try:
        components = tuple(
            ComponentEnergy(
                id=str(c["id"]),
                kind=ComponentKind(c["kind"]),
                energy_j=float(c["energy_j"]),
                method=Method(c["method"]),
                source=str(c["source"]),
                uncertainty_j=float(c.get("uncertainty_j", 0.0)),
                label=str(c.get("label", c["id"])),
                in_total=bool(c.get("in_total", True)),
                model=c.get("model"),
                parent=c.get("parent"),
                index=c.get("index"),
                uuid=c.get("uuid"),
                name=c.get("name"),
            )
            for c in document["components"]
        )
        start_ns, end_ns = (int(v) for v in document["window_ns"])
        sampling = document.get("sampling") or {}
        return RunResult(
            run_id=str(document.get("run_id", "")),
            name=document.get("name"),
            command=tuple(document["command"]) if document.get("command") else None,
            started_at=str(document["started_at"]),
            window_ns=(start_ns, end_ns),
            exit_code=document.get("exit_code"),
            status=str(document.get("status", "completed")),
            components=components,
            phases=(),
            unattributed_j={},
            sensors=(),
            warnings=tuple(document.get("warnings", ())),
            host=dict(document.get("host") or {}),
            sample_interval_s=float(sampling.get("interval_s", 0.0)),
            samples=int(sampling.get("samples", 0)),
            tags=dict(document.get("tags") or {}),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise ConfigError(
            f"{where} is not a jouleflow result document ({type(err).__name__}: {err})",
            fix="give the file written by `jouleflow run --json FILE -- CMD`",
        ) from None


def _recorded_region(document: Any) -> tuple[str, str] | None:
    carbon = document.get("carbon") if isinstance(document, dict) else None
    if isinstance(carbon, dict) and isinstance(carbon.get("zone"), str):
        if carbon.get("zone_kind") == "world" or carbon.get("region_source") == "not set":
            return None
        return carbon["zone"], f"the result document (set by {carbon.get('region_source')})"
    return None


def _read_document(path: str) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no result file {path!r}", fix="write one with `jouleflow run --json FILE -- CMD`"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}:{err.lineno}: not JSON ({err.msg})") from None


def _zones(text: str | None) -> list[str]:
    return [z.strip() for z in (text or "").split(",") if z.strip()]


@dataclass(frozen=True, slots=True)
class LoadedRun:
    """What ``jouleflow carbon`` assesses: the result, its document, and (when known) the
    energy timeline, as (unix seconds at the end of an interval, J in it)."""

    result: RunResult
    document: Mapping[str, Any]
    energy_timeline: Sequence[tuple[float, float]] | None = None


RunLoader = Callable[[str], LoadedRun]


def load_result_file(run: str) -> LoadedRun:
    """The default loader: ``run`` is a file written by ``jouleflow run --json FILE``."""
    document = _read_document(run)
    return LoadedRun(_result_from_document(document, run), document)


def make_carbon_command(load_run: RunLoader = load_result_file) -> click.Command:
    """The ``carbon`` command; ``load_run`` turns its RUN argument into a run (a file by
    default; the run store can answer for run ids)."""

    @click.command("carbon")
    @click.argument("run", metavar="RUN")
    @_raw_options
    @click.option(
        "--compare",
        metavar="ZONE,ZONE,...",
        default=None,
        help="The same energy in other zones, e.g. FR,DE,US-CA,gcp:europe-north1.",
    )
    @click.option(
        "--window",
        "window_h",
        type=click.FloatRange(min=1.0, max=24 * 366),
        default=24.0,
        show_default=True,
        help="With a time series: hours after the start to try other start times in.",
    )
    @click.option(
        "--pause-extra",
        type=click.FloatRange(min=0.0, max=100.0),
        default=1.0,
        show_default=True,
        help="With a time series: extra time pause-when-dirty may take (1.0: twice as long).",
    )
    @click.option("--json", "as_json", is_flag=True, help="Print the assessment as JSON.")
    def carbon(
        run: str,
        region: str | None,
        pue: float | None,
        intensity: str | None,
        embodied: str | None,
        compare: str | None,
        window_h: float,
        pause_extra: float,
        as_json: bool,
    ) -> None:
        """The carbon of a measured run, and what it would be elsewhere or at other times.

        RUN is the file written by `jouleflow run --json FILE -- CMD`.
        """
        from jouleflow.carbon.assess import assess
        from jouleflow.carbon.whatif import what_if

        try:
            loaded = load_run(run)
            result = loaded.result
            settings = carbon_settings(
                region, pue, intensity, embodied, recorded_region=_recorded_region(loaded.document)
            )
            zones = [settings.tables.zone(code) for code in _zones(compare)]
            assessment = assess(result, settings, energy_timeline=loaded.energy_timeline)
            whatif = (
                what_if(assessment, settings, zones, window_h=window_h, pause_extra=pause_extra)
                if zones or assessment.series is not None
                else None
            )
        except ConfigError as err:
            raise _usage_error(err) from err
        if as_json:
            output = {
                "run_id": result.run_id,
                "name": result.name,
                "carbon": assessment.to_dict(),
                "what_if": whatif.to_dict() if whatif else None,
            }
            click.echo(json.dumps(output, indent=2))
            return
        from rich.console import Console

        from jouleflow.carbon.render import render_carbon, render_whatif
        from jouleflow.units import format_energy

        console = Console(width=None if sys.stdout.isatty() else 120)
        console.print(
            f"jouleflow carbon · {result.name or 'run'} · {result.run_id[:12]} · "
            f"{result.duration_s:.2f} s · {format_energy(result.total_j)}",
            markup=False,
            highlight=False,
        )
        render_carbon(assessment, console)
        if whatif is not None:
            render_whatif(whatif, assessment, console)

    return carbon


carbon = make_carbon_command()


def register(group: click.Group, load_run: RunLoader | None = None) -> None:
    """Add ``carbon`` to ``group`` (the ``jouleflow`` command group); ``load_run`` replaces
    the file loader (e.g. to look RUN up in the run store, falling back to a file)."""
    group.add_command(make_carbon_command(load_run) if load_run else carbon)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m jouleflow.cli.carbon RESULT_JSON ...``: the command on its own."""
    from jouleflow.cli.exits import invoke

    invoke(carbon, argv, "jouleflow carbon")


if __name__ == "__main__":
    main()
