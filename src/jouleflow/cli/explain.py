"""``jouleflow explain RUN``, ``jouleflow estimate`` and ``jouleflow calibrate``.

Wiring (in ``cli/main.py``)::

    from jouleflow.cli.explain import register as register_explain
    register_explain(cli)             # adds explain, estimate, calibrate

``python -m jouleflow.cli.explain explain last`` runs the commands on their own. Nothing here
imports torch unless a command needs it (``estimate --model MODULE:FACTORY``, ``calibrate``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from jouleflow.errors import ConfigError
from jouleflow.records import RunResult


def _console() -> Any:
    from rich.console import Console

    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "160") or 160)
    return Console(width=width, highlight=False)


def _load_run(ref: str, db: Path | None) -> RunResult:
    """RUN is a result file (``jouleflow run --json FILE``) or a run in the store."""
    if ref.endswith(".json") or Path(ref).is_file():
        from jouleflow.store.codec import result_from_document

        try:
            document = json.loads(Path(ref).read_text(encoding="utf-8"))
            return result_from_document(document)
        except FileNotFoundError:
            raise ConfigError(f"no result file {ref!r}") from None
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ConfigError(f"{ref} is not a jouleflow result document: {err}") from None
    from jouleflow.store import RunStore, StoreError, default_db_path

    path = db if db is not None else default_db_path()
    if not path.exists():
        raise StoreError(
            f"no run store at {path}: no run was saved there yet",
            path=path,
            fix="measure something with `jouleflow run`, or pass --db / JOULEFLOW_DB",
        )
    with RunStore.open(path) as store:
        return store.result(store.resolve(ref))


def _calibration(device: str, path: Path | None, use: bool) -> Any:
    if not use:
        return None
    from jouleflow.explain.calibrate import load_calibration

    return load_calibration(device, path)


def _precision(value: str | None) -> str | None:
    if value is None:
        return None
    from jouleflow.explain.tables import precision_of

    return precision_of(value)


F = TypeVar("F", bound=Callable[..., Any])


def calibration_options(func: F) -> F:
    """--calibration PATH and --no-calibration, shared by explain and estimate."""
    options = [
        click.option(
            "--calibration",
            "calibration_path",
            type=click.Path(dir_okay=False, path_type=Path),
            envvar="JOULEFLOW_CALIBRATION",
            help="The calibration file [default: calibration.json in the user data folder].",
        ),
        click.option(
            "--no-calibration", is_flag=True, help="Use the shipped tables even if calibrated."
        ),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("explain")
@click.argument("run_ref", metavar="RUN")
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="JOULEFLOW_DB",
    help="The run store [default: runs.db in the user data folder].",
)
@click.option("--hardware", default=None, help="Device key (h100, a100, xeon-spr...) to use.")
@click.option("--precision", default=None, help="fp32, tf32, bf16, fp16, fp8, int8, fp64.")
@calibration_options
@click.option("--top", type=click.IntRange(min=1), default=8, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
def explain_command(
    run_ref: str,
    db: Path | None,
    hardware: str | None,
    precision: str | None,
    calibration_path: Path | None,
    no_calibration: bool,
    top: int,
    as_json: bool,
) -> None:
    """Why a run used its energy: arithmetic, data movement and static power, per phase and layer.

    RUN is a run id, a unique id prefix or 'last' in the run store, or a result file.
    """
    from jouleflow.explain.calibrate import load_calibrations
    from jouleflow.explain.model import explain

    result = _load_run(run_ref, db)
    explanation = explain(
        result,
        hardware=hardware,
        precision=_precision(precision),
        calibrations=None if no_calibration else load_calibrations(calibration_path),
    )
    if as_json:
        click.echo(json.dumps(explanation.to_dict(), indent=2))
        return
    from jouleflow.explain.render import render_explanation

    render_explanation(explanation, _console(), top=top)


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(x) for x in text.lower().replace(",", "x").split("x") if x)
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: write it as 128x64", param_hint="--input-shape"
        ) from None
    if not shape or min(shape) <= 0:
        raise click.BadParameter(f"{text!r}: sizes must be positive", param_hint="--input-shape")
    return shape


def _interval(text: str | None) -> Any:
    if text is None:
        return None
    from jouleflow.explain.records import Interval

    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        values = []
    if len(values) == 1:
        values = [values[0] * 0.6, values[0], min(values[0] * 1.4, 1.0)]
    if len(values) != 3 or not 0 < values[0] <= values[1] <= values[2] <= 1:
        raise click.BadParameter(
            f"{text!r}: give LOW,CENTRAL,HIGH (0 < low <= central <= high <= 1) or one value",
            param_hint="--utilisation",
        )
    return Interval(*values)


@click.command("estimate")
@click.option(
    "--model",
    "model_spec",
    required=True,
    metavar="SPEC",
    help="A parameter count (124M, 7B) for the 6·N·D rule, or MODULE:FACTORY(ARGS) / "
    "FILE.py:FACTORY(ARGS) building a torch module, counted on meta tensors.",
)
@click.option("--tokens", default=None, help="Tokens to train on (or generate), e.g. 1B.")
@click.option("--samples", default=None, help="Samples (with --input-shape: steps = samples/B).")
@click.option("--steps", default=None, help="Steps of --input-shape.")
@click.option("--input-shape", default=None, metavar="BxL...", help="One step's input: 128x64.")
@click.option(
    "--input-dtype",
    type=click.Choice(["float", "long"]),
    default="float",
    show_default=True,
    help="long for token ids.",
)
@click.option("--inference", is_flag=True, help="Forward only (2·N·D), not training (6·N·D).")
@click.option(
    "--batch",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Inference with a parameter count: tokens decoded per step.",
)
@click.option("--hardware", default=None, help="Device key (h100, a100, l4...) [default: here].")
@click.option("--precision", default=None, help="Default bf16 on a GPU, fp32 on a CPU.")
@click.option(
    "--utilisation",
    default=None,
    metavar="LOW,CENTRAL,HIGH",
    help="Achieved / peak FLOP/s [default 0.25,0.4,0.55 training].",
)
@calibration_options
@click.option("--json", "as_json", is_flag=True, help="Print the estimate as JSON.")
def estimate_command(
    model_spec: str,
    tokens: str | None,
    samples: str | None,
    steps: str | None,
    input_shape: str | None,
    input_dtype: str,
    inference: bool,
    batch: int,
    hardware: str | None,
    precision: str | None,
    utilisation: str | None,
    calibration_path: Path | None,
    no_calibration: bool,
    as_json: bool,
) -> None:
    """Estimate a training or inference job's energy before running it, with an interval."""
    from jouleflow.explain.estimate import estimate, parse_count, work_from_model, work_from_sizes
    from jouleflow.explain.tables import costs_for, device_for, load_tables

    tables = load_tables()
    if hardware is not None:
        device = tables.device(hardware).scaled_to(os.cpu_count() or 1)
    else:
        from jouleflow.sensors.cpu_table import read_cpu_model

        device = device_for(cpu_model=read_cpu_model(), logical_cpus=os.cpu_count() or 1)[0]
    prec = _precision(precision) or ("bf16" if device.kind == "gpu" else "fp32")
    shape = _shape(input_shape)
    if ":" not in model_spec:
        if tokens is None:
            raise click.UsageError("--model N (a parameter count) needs --tokens")
        job = work_from_sizes(
            parse_count(model_spec),
            parse_count(tokens),
            training=not inference,
            precision=prec,
            batch=batch,
        )
    else:
        if shape is None:
            raise click.UsageError("--model MODULE:FACTORY needs --input-shape (one step's input)")
        if steps is not None:
            n_steps = parse_count(steps)
        elif samples is not None:
            n_steps = parse_count(samples) / shape[0]
        elif tokens is not None:
            n_steps = parse_count(tokens) / (shape[0] * (shape[1] if len(shape) > 1 else 1))
        else:
            raise click.UsageError("give --steps, --samples or --tokens")
        job = work_from_model(
            model_spec,
            shape,
            steps=n_steps,
            training=not inference,
            precision=prec,
            input_dtype=input_dtype,
        )
    calibration = _calibration(device.key, calibration_path, not no_calibration)
    result = estimate(
        job, costs_for(device, prec, calibration, tables=tables), utilisation=_interval(utilisation)
    )
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
        return
    from jouleflow.explain.render import render_estimate

    render_estimate(result, _console())


@click.command("calibrate")
@click.option("--hardware", default=None, help="Device key to store it under [default: detected].")
@click.option("--precision", default="fp32", show_default=True, help="Of the matrix products.")
@click.option(
    "--device", "torch_device", default=None, help="torch device [default: cuda, else cpu]."
)
@click.option("--rounds", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--seconds",
    type=click.FloatRange(min=0.01),
    default=0.2,
    show_default=True,
    help="Length of one probe.",
)
@click.option(
    "--powercap-root",
    envvar="JOULEFLOW_POWERCAP_ROOT",
    default="/sys/class/powercap",
    show_default=True,
    help="Where the Linux powercap (RAPL) tree is.",
)
@click.option(
    "--nvml-library",
    envvar="JOULEFLOW_NVML_LIBRARY",
    default=None,
    help="Path of libnvidia-ml.so.1 (default: the system's).",
)
@click.option(
    "--calibration",
    "calibration_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="JOULEFLOW_CALIBRATION",
    help="Where to store it [default: user data folder].",
)
@click.option("--no-save", is_flag=True, help="Fit and print, but do not store.")
@click.option("--show", is_flag=True, help="Print the stored calibrations and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the calibration as JSON.")
def calibrate_command(
    hardware: str | None,
    precision: str,
    torch_device: str | None,
    rounds: int,
    seconds: float,
    powercap_root: str,
    nvml_library: str | None,
    calibration_path: Path | None,
    no_save: bool,
    show: bool,
    as_json: bool,
) -> None:
    """Fit this machine's energy per FLOP, per byte and idle power from short measured probes.

    Needs a sensor on the device (RAPL for the CPU, NVML/amdsmi for a GPU); explain and estimate
    use the stored result from then on.
    """
    from jouleflow.explain.calibrate import (
        calibrate,
        default_calibration_path,
        load_calibrations,
        save_calibration,
    )

    path = calibration_path or default_calibration_path()
    if show:
        stored = {k: v.to_dict() for k, v in load_calibrations(path).items()}
        click.echo(json.dumps({"path": str(path), "devices": stored}, indent=2))
        return
    from jouleflow.config import MeterConfig

    config = MeterConfig(powercap_root=powercap_root, nvml_library=nvml_library, estimates=False)
    outcome = calibrate(
        hardware=hardware,
        precision=_precision(precision) or "fp32",
        torch_device=torch_device,
        config=config,
        rounds=rounds,
        seconds=seconds,
    )
    saved = None if no_save else save_calibration(outcome.calibration, path)
    if as_json:
        document = outcome.calibration.to_dict()
        document["saved_to"] = str(saved) if saved else None
        click.echo(json.dumps(document, indent=2))
        return
    from jouleflow.explain.render import render_calibration

    render_calibration(outcome, _console(), str(saved) if saved else None)


def register(group: click.Group) -> None:
    """Add ``explain``, ``estimate`` and ``calibrate`` to ``group`` (the ``jouleflow`` group)."""
    for command in (explain_command, estimate_command, calibrate_command):
        group.add_command(command)


@click.group()
def _standalone() -> None:
    """jouleflow explain / estimate / calibrate."""


register(_standalone)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m jouleflow.cli.explain COMMAND ...``: the commands on their own."""
    from jouleflow.cli.exits import invoke

    invoke(_standalone, argv, "jouleflow")


if __name__ == "__main__":
    main()
