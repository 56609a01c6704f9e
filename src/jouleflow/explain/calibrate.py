"""Fit this machine's energy per FLOP, per byte and idle power from short measured probes.

    samples = run_probes(probes, run)      # each probe in its own phase of a running track()
    fit = fit_costs(samples)               # energy = J/FLOP x FLOPs + J/byte x bytes + W x s
    save_calibration(Calibration.from_fit(fit, ...))

Probes are compute-bound (matrix products), memory-bound (large copies) and idle (sleep), so the
three costs can be told apart: idle pins the watts, copies the joules per byte, products the
joules per FLOP. The fit is weighted least squares on relative errors, with the standard error
of each coefficient. ``calibrate()`` does it all on the available device with torch probes
(jouleflow.explain.probes); the result is stored as JSON in the user's data folder
(``JOULEFLOW_CALIBRATION`` overrides the path) and used by explain and estimate from then on.
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from jouleflow.errors import ConfigError, JouleflowError
from jouleflow.explain.records import CALIBRATED, Figure, Work
from jouleflow.records import ComponentKind, Method

if TYPE_CHECKING:
    from jouleflow.config import MeterConfig
    from jouleflow.records import Domain
    from jouleflow.tracker import Run

CALIBRATION_ENV = "JOULEFLOW_CALIBRATION"
SCHEMA_VERSION = 1
METHOD = (
    "weighted least squares (relative errors) of each probe's measured energy on its FLOPs, "
    "bytes and seconds: E = J/FLOP x FLOPs + J/byte x bytes + idle W x s; probes: matrix "
    "products (compute-bound), copies (memory-bound), sleep (idle)"
)
CPU_KINDS = frozenset(
    {
        ComponentKind.CPU_PACKAGE,
        ComponentKind.DRAM,
        ComponentKind.PSYS,
        ComponentKind.CPU_ESTIMATE,
        ComponentKind.MEMORY_ESTIMATE,
    }
)
GPU_KINDS = frozenset({ComponentKind.GPU})


class CalibrationError(JouleflowError):
    """Calibration cannot be done here (no sensor measures the device), or the fit failed."""


class Probe(Protocol):
    """A short piece of work: ``run()`` does it once (synchronised) and says how much it did.

    A probe may also have ``prepare()`` (sizing, warm-up), called once before any measurement.
    """

    name: str
    kind: str  # compute | memory | idle

    def run(self) -> Work: ...


@dataclass(frozen=True, slots=True)
class ProbeSample:
    probe: str
    kind: str
    flops: float
    bytes: float
    duration_s: float
    energy_j: float


@dataclass(frozen=True, slots=True)
class Fit:
    j_per_flop: float
    j_per_byte: float
    idle_w: float
    stderr: tuple[float, float, float]  # of the three, in the same order
    residual_rms_rel: float  # root mean square of (measured - fitted) / measured
    samples: int


def run_probes(
    probes: Sequence[Probe],
    run: Run,
    *,
    rounds: int = 3,
    components: Callable[[Domain], bool] | None = None,
) -> list[ProbeSample]:
    """Run every probe ``rounds`` times, interleaved, each in its own phase of ``run``.

    The energy of a probe is its phase's energy over the components ``components`` selects
    (default: those in the run's total), so the meter is whatever sensors ``run`` has.
    """
    chosen = {d.id for d in run.domains if (components or _in_total)(d)}
    if not chosen:
        raise CalibrationError("no component of this run measures the probed device")
    for probe in probes:
        prepare = getattr(probe, "prepare", None)
        if prepare is not None:
            prepare()  # sizing and warm-up are not measured
    samples = []
    for _ in range(rounds):
        for probe in probes:
            with run.phase(f"probe:{probe.name}") as phase:
                work = probe.run()
            energy_j = sum(v for k, v in phase.components_j.items() if k in chosen)
            samples.append(
                ProbeSample(
                    probe.name, probe.kind, work.flops, work.bytes, phase.duration_s, energy_j
                )
            )
    return samples


def _in_total(domain: Domain) -> bool:
    return domain.in_total


def fit_costs(samples: Sequence[ProbeSample]) -> Fit:
    """Least squares of E on (FLOPs, bytes, seconds), weighted by 1/E², coefficients >= 0."""
    rows = [(s.flops, s.bytes, s.duration_s) for s in samples if s.energy_j > 0]
    energies = [s.energy_j for s in samples if s.energy_j > 0]
    if len(rows) < 4:
        raise CalibrationError(f"{len(rows)} probes with energy: the fit needs at least 4")
    active = [i for i in range(3) if any(r[i] > 0 for r in rows)]
    while True:
        coef, cov, rms = _wls(rows, energies, active)
        negative = [i for i in active if coef[i] < 0]
        if not negative:
            break
        active.remove(min(negative, key=lambda i: coef[i]))  # clamp the worst to 0 and refit
        if not active:
            raise CalibrationError("the fit found no positive cost: are the sensors live?")
    stderr = tuple(math.sqrt(max(cov[i], 0.0)) for i in range(3))
    return Fit(coef[0], coef[1], coef[2], (stderr[0], stderr[1], stderr[2]), rms, len(rows))


def _wls(
    rows: list[tuple[float, float, float]], energies: list[float], active: list[int]
) -> tuple[list[float], list[float], float]:
    """Solve the weighted normal equations on the ``active`` columns (scaled for conditioning)."""
    scale = [max(r[i] for r in rows) or 1.0 for i in range(3)]
    x = [[r[i] / scale[i] / e for i in active] for r, e in zip(rows, energies)]
    y = [1.0] * len(rows)  # E/E: every probe weighs the same, whatever its size
    k = len(active)
    xtx = [[sum(row[a] * row[b] for row in x) for b in range(k)] for a in range(k)]
    xty = [sum(row[a] * yi for row, yi in zip(x, y)) for a in range(k)]
    inverse = _invert(xtx)
    beta = [sum(inverse[a][b] * xty[b] for b in range(k)) for a in range(k)]
    residuals = [yi - sum(row[a] * beta[a] for a in range(k)) for row, yi in zip(x, y)]
    dof = max(len(rows) - k, 1)
    sigma2 = sum(r * r for r in residuals) / dof
    coef, var = [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]
    for a, i in enumerate(active):
        coef[i] = beta[a] / scale[i]
        var[i] = sigma2 * inverse[a][a] / scale[i] ** 2
    rms = math.sqrt(sum(r * r for r in residuals) / len(residuals))
    return coef, var, rms


def _invert(matrix: list[list[float]]) -> list[list[float]]:
    """Gauss-Jordan with partial pivoting; small (3x3) and exact enough in float64."""
    n = len(matrix)
    aug = [list(row) + [float(i == j) for j in range(n)] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(aug[r][col]))
        if abs(aug[pivot][col]) < 1e-300:
            raise CalibrationError("the probes cannot tell the costs apart (singular fit)")
        aug[col], aug[pivot] = aug[pivot], aug[col]
        p = aug[col][col]
        aug[col] = [v / p for v in aug[col]]
        for r in range(n):
            if r != col and aug[r][col] != 0.0:
                f = aug[r][col]
                aug[r] = [v - f * w for v, w in zip(aug[r], aug[col])]
    return [row[n:] for row in aug]


@dataclass(frozen=True, slots=True)
class Calibration:
    """One device's fitted costs, as stored in the calibration file."""

    device: str  # device table key
    device_name: str
    precision: str
    j_per_flop: float
    j_per_byte: float
    idle_w: float
    stderr: tuple[float, float, float]
    residual_rms_rel: float
    samples: int
    hostname: str
    created_at: str
    components: tuple[str, ...]
    method: str = METHOD

    @classmethod
    def from_fit(
        cls,
        fit: Fit,
        *,
        device: str,
        device_name: str,
        precision: str,
        components: Iterable[str],
        hostname: str | None = None,
        created_at: str | None = None,
    ) -> Calibration:
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        return cls(
            device=device,
            device_name=device_name,
            precision=precision,
            j_per_flop=fit.j_per_flop,
            j_per_byte=fit.j_per_byte,
            idle_w=fit.idle_w,
            stderr=fit.stderr,
            residual_rms_rel=fit.residual_rms_rel,
            samples=fit.samples,
            hostname=hostname or socket.gethostname(),
            created_at=created_at or now,
            components=tuple(components),
        )

    def figure(self, name: str, source: str) -> Figure:
        """``j_per_flop`` / ``j_per_byte`` / ``idle_w`` with a ±2 standard-error range."""
        index = {"j_per_flop": 0, "j_per_byte": 1, "idle_w": 2}[name]
        value = float(getattr(self, name))
        spread = 2 * self.stderr[index]
        unit = {"j_per_flop": "J/FLOP", "j_per_byte": "J/byte", "idle_w": "W"}[name]
        return Figure(
            value,
            unit,
            CALIBRATED,
            source,
            low=max(value - spread, 0.0),
            high=value + spread,
            note=f"fitted from {self.samples} probes ({self.precision}); range ±2 standard errors",
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["stderr"] = list(self.stderr)
        data["components"] = list(self.components)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        fields["stderr"] = tuple(float(v) for v in fields["stderr"])
        fields["components"] = tuple(fields.get("components", ()))
        return cls(**fields)


def default_calibration_path() -> Path:
    """``JOULEFLOW_CALIBRATION`` if set, else ``calibration.json`` in the user's data folder."""
    env = os.environ.get(CALIBRATION_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("jouleflow", appauthor=False) / "calibration.json"


def load_calibrations(path: str | os.PathLike[str] | None = None) -> dict[str, Calibration]:
    """Every stored calibration by device key; empty when there is no file."""
    target = Path(path) if path is not None else default_calibration_path()
    if not target.is_file():
        return {}
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
        if data.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {data.get('schema_version')!r}")
        return {k: Calibration.from_dict(v) for k, v in data["devices"].items()}
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ConfigError(
            f"unreadable calibration file {target}: {err}",
            fix="run `jouleflow calibrate` again, or remove the file",
        ) from err


def load_calibration(device: str, path: str | os.PathLike[str] | None = None) -> Calibration | None:
    return load_calibrations(path).get(device)


def save_calibration(calibration: Calibration, path: str | os.PathLike[str] | None = None) -> Path:
    """Store ``calibration`` (replacing the device's previous one), atomically."""
    target = Path(path) if path is not None else default_calibration_path()
    stored = load_calibrations(target)
    stored[calibration.device] = calibration
    document = {
        "schema_version": SCHEMA_VERSION,
        "devices": {k: v.to_dict() for k, v in sorted(stored.items())},
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


@dataclass(frozen=True, slots=True)
class CalibrationRun:
    calibration: Calibration
    samples: tuple[ProbeSample, ...]


def calibrate(
    *,
    hardware: str | None = None,
    precision: str = "fp32",
    torch_device: str | None = None,
    config: MeterConfig | None = None,
    rounds: int = 3,
    seconds: float = 0.2,
    probes: Sequence[Probe] | None = None,
) -> CalibrationRun:
    """Probe this machine's ``torch_device`` (default: cuda if available, else cpu) and fit.

    Needs a sensor that measures the device (RAPL for a CPU, NVML or amdsmi for a GPU): fitting
    an estimator's output would only return the estimator's own model, so that is refused. On
    a GPU, the GPU whose sensor index is the torch device's index is the one measured. ``probes``
    replace the standard torch probes (then torch is imported only for a cuda device).
    """
    from jouleflow.explain.tables import device_for, load_tables
    from jouleflow.tracker import track

    if torch_device is None and probes is None:
        from jouleflow.explain.probes import default_device

        torch_device = default_device()
    target = torch_device or "cpu"
    gpu_index: int | None = None
    gpu_name: str | None = None
    if target.startswith("cuda"):
        from jouleflow.explain.probes import device_name

        gpu_index = int(target.partition(":")[2] or 0)
        gpu_name = device_name(target)
    kinds = GPU_KINDS if gpu_index is not None else CPU_KINDS
    if hardware is not None:
        spec = load_tables().device(hardware)
    else:
        spec, _ = device_for(
            gpu_names=(gpu_name,) if gpu_name else (),
            cpu_model=_cpu_model(config),
            logical_cpus=os.cpu_count() or 1,
        )
    if probes is None:
        from jouleflow.explain.probes import standard_probes

        probes = standard_probes(target, precision, seconds)
    with track("calibrate", config=config, db=False) as run:
        measured = [
            d
            for d in run.domains
            if d.in_total
            and d.kind in kinds
            and d.method is not Method.ESTIMATE
            and (gpu_index is None or d.index in (None, gpu_index))
        ]
        if not measured:
            raise CalibrationError(
                f"no sensor measures the {'GPU' if kinds is GPU_KINDS else 'CPU'} here: a "
                "calibration fitted to estimates would only return the estimator's model",
                fix="run `jouleflow doctor` to see why and how to enable the sensors",
            )
        ids = {d.id for d in measured}
        samples = run_probes(probes, run, rounds=rounds, components=lambda d: d.id in ids)
    fit = fit_costs(samples)
    calibration = Calibration.from_fit(
        fit, device=spec.key, device_name=spec.name, precision=precision, components=sorted(ids)
    )
    return CalibrationRun(calibration, tuple(samples))


def _cpu_model(config: MeterConfig | None) -> str | None:
    from jouleflow.sensors.cpu_table import read_cpu_model

    return read_cpu_model(config.proc_root if config is not None else "/proc")
