"""Where the run happened, its PUE, its intensity and embodied share: resolved once, up front.

Each setting comes from the first of these that gives it, and the result says which:

- region: the explicit option (``--region``), the region recorded in a result document (for
  ``jouleflow carbon``), ``JOULEFLOW_REGION``, then ``region`` in the config file; otherwise the
  world average, with a "region not set" note saying how to set it;
- PUE: ``--pue``, then ``pue`` in the config file, then the provider's figure for a cloud
  region, then 1.0 (a local machine: no data-center overhead counted);
- intensity: ``--intensity`` (a number, a CSV time series, ``live`` or ``live:ZONE``), then
  ``intensity`` in the config file, then the zone's table value;
- embodied carbon: off unless ``--embodied`` or ``embodied`` in the config file.

The config file is ``jouleflow.toml`` (top-level keys) or ``pyproject.toml`` (under
``[tool.jouleflow]``), the first found from the working directory upward; in one folder
``jouleflow.toml`` wins. The environment variable beats the file, as a job's setting beats a
project's default.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jouleflow.carbon.intensity import CarbonTables, Zone, load_tables
from jouleflow.carbon.live import TOKEN_ENV, URL_ENV, ElectricityMaps
from jouleflow.carbon.series import IntensitySeries, load_series
from jouleflow.errors import ConfigError

REGION_ENV = "JOULEFLOW_REGION"
EMBODIED_KEYS = {
    "gpu": "gpu_kg",
    "gpu_kg": "gpu_kg",
    "server": "server_kg",
    "server_kg": "server_kg",
    "life": "life_years",
    "life_years": "life_years",
    "gpus": "gpus",
    "servers": "servers",
}


def region_fix() -> str:
    return (
        'set it with --region FR, JOULEFLOW_REGION=FR, or `region = "FR"` under '
        "[tool.jouleflow] in pyproject.toml (or in jouleflow.toml)"
    )


@dataclass(frozen=True, slots=True)
class ConfigFile:
    path: Path
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Pue:
    """Power usage effectiveness: facility energy / IT energy, and where the figure is from."""

    value: float
    source: str
    year: int | None = None
    source_id: str | None = None


@dataclass(frozen=True, slots=True)
class IntensityChoice:
    """How intensity is chosen: ``table`` (the zone's), ``constant``, ``series`` or ``live``."""

    kind: str
    origin: str
    constant: float | None = None
    series: IntensitySeries | None = None
    live_zone: str | None = None


@dataclass(frozen=True, slots=True)
class EmbodiedSpec:
    """Manufacturing emissions amortised over a service life; defaults from factors.csv."""

    gpu_kg: float
    server_kg: float
    life_years: float
    gpus: int | None = None  # None: the number of GPUs the run measured
    servers: int = 1
    origin: str = "defaults"


@dataclass(frozen=True, slots=True)
class CarbonSettings:
    """Everything ``assess`` needs besides the run, checked before any run starts."""

    zone: Zone | None
    region_origin: str
    pue_override: Pue | None
    intensity: IntensityChoice
    embodied: EmbodiedSpec | None
    tables: CarbonTables = field(compare=False, repr=False)
    live: ElectricityMaps | None = field(default=None, compare=False, repr=False)

    def pue_for(self, zone: Zone | None) -> Pue:
        """The override if any, else the provider's figure for a cloud region, else 1.0."""
        if self.pue_override is not None:
            return self.pue_override
        if zone is not None and zone.provider is not None:
            factor = self.tables.provider_pue(zone.provider)
            if factor is not None:
                year = f" {factor.year}" if factor.year else ""
                publisher = self.tables.source_name(factor.source_id)
                return Pue(
                    factor.value,
                    f"{publisher} fleet figure{year}, for {zone.code}",
                    factor.year,
                    factor.source_id,
                )
        return Pue(1.0, "default for a local machine: no data-center overhead")


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python 3.10 only
        try:
            import tomli as tomllib  # type: ignore[import-not-found, no-redef, unused-ignore]
        except ImportError as err:
            raise ConfigError(
                f"reading {path} needs a TOML parser", fix="use Python 3.11+ or pip install tomli"
            ) from err
    try:
        with path.open("rb") as f:
            data: dict[str, Any] = tomllib.load(f)
            return data
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from err


def find_config(cwd: Path) -> ConfigFile | None:
    """The first ``jouleflow.toml`` or ``pyproject.toml`` with ``[tool.jouleflow]``, upward."""
    for folder in (cwd, *cwd.parents):
        own = folder / "jouleflow.toml"
        if own.is_file():
            return ConfigFile(own, _load_toml(own))
        project = folder / "pyproject.toml"
        if project.is_file():
            table = _load_toml(project).get("tool", {}).get("jouleflow")
            if isinstance(table, dict):
                return ConfigFile(project, table)
    return None


def parse_pue(value: object, origin: str) -> Pue:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ConfigError(f"PUE {value!r} from {origin} is not a number") from None
    if not math.isfinite(number) or not 1.0 <= number <= 10.0:
        raise ConfigError(
            f"PUE {value!r} from {origin} is out of range",
            fix="PUE is facility energy / IT energy: 1.0 (no overhead) to about 3",
        )
    return Pue(number, origin)


def parse_embodied(value: object, origin: str, tables: CarbonTables) -> EmbodiedSpec | None:
    """``True``/``"default"`` for the defaults, ``"gpu=318,life=5"`` or a mapping to override."""
    if value is None or value is False:
        return None
    items: dict[str, object] = {}
    if isinstance(value, Mapping):
        items = dict(value)
    elif isinstance(value, str) and value.strip().lower() not in ("", "default", "defaults", "on"):
        for part in value.split(","):
            key, sep, val = part.partition("=")
            if not sep:
                raise ConfigError(
                    f"bad embodied setting {part.strip()!r} from {origin}",
                    fix="write key=value pairs: gpu=150,server=1000,life=4,gpus=8,servers=1",
                )
            items[key.strip().lower()] = val.strip()
    elif value is not True and not isinstance(value, str):
        raise ConfigError(f"bad embodied setting {value!r} from {origin}")
    spec: dict[str, float | int] = {
        "gpu_kg": tables.factor("embodied:gpu").value,
        "server_kg": tables.factor("embodied:server").value,
        "life_years": tables.factor("embodied:life").value,
        "servers": 1,
    }
    for key, raw in items.items():
        name = EMBODIED_KEYS.get(str(key).lower())
        if name is None:
            raise ConfigError(
                f"unknown embodied setting {key!r} from {origin}",
                fix="known: gpu (kgCO2e), server (kgCO2e), life (years), gpus, servers",
            )
        try:
            number = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConfigError(f"embodied {key}={raw!r} from {origin} is not a number") from None
        if not math.isfinite(number) or number < 0 or (name == "life_years" and number == 0):
            raise ConfigError(f"embodied {key}={raw!r} from {origin} is out of range")
        if name in ("gpus", "servers"):
            if not number.is_integer():
                raise ConfigError(f"embodied {key}={raw!r} from {origin} is not a whole number")
            spec[name] = int(number)
        else:
            spec[name] = number
    gpus = spec.pop("gpus", None)
    return EmbodiedSpec(
        gpu_kg=float(spec["gpu_kg"]),
        server_kg=float(spec["server_kg"]),
        life_years=float(spec["life_years"]),
        gpus=None if gpus is None else int(gpus),
        servers=int(spec["servers"]),
        origin=f"{origin} ({', '.join(f'{k}={v}' for k, v in items.items())})"
        if items
        else f"{origin} (defaults)",
    )


def parse_intensity(value: object, origin: str, base: Path) -> IntensityChoice:
    """A number (gCO2e/kWh), ``live``/``live:ZONE``, or a CSV path (relative to ``base``)."""
    if isinstance(value, bool):
        raise ConfigError(f"intensity {value!r} from {origin} is not a number or a file")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() == "live" or text.lower().startswith("live:"):
            zone = text[5:].strip() or None
            return IntensityChoice("live", origin, live_zone=zone)
        try:
            number = float(text)
        except ValueError:
            path = Path(text).expanduser()
            return IntensityChoice("series", origin, series=load_series(base / path))
    else:
        raise ConfigError(f"intensity {value!r} from {origin} is not a number or a file")
    if not math.isfinite(number) or number < 0:
        raise ConfigError(
            f"intensity {value!r} from {origin} must be a number of gCO2e/kWh, 0 or more"
        )
    return IntensityChoice("constant", origin, constant=number)


def resolve_settings(
    *,
    region: str | None = None,
    pue: float | str | None = None,
    intensity: float | str | None = None,
    embodied: object = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
    recorded_region: tuple[str, str] | None = None,
    tables: CarbonTables | None = None,
    cli: bool = False,
) -> CarbonSettings:
    """Resolve every setting (see the module docstring); raises ConfigError on bad input.

    ``recorded_region`` is (zone code, where it was recorded) from a result document;
    ``cli`` names explicit values as options (``--region``) rather than arguments.
    """
    tables = tables or load_tables()
    cwd = cwd or Path.cwd()
    env = os.environ if environ is None else environ
    config = find_config(cwd)
    conf: Mapping[str, Any] = config.values if config else {}
    conf_origin = f"{config.path}" if config else ""
    conf_base = config.path.parent if config else cwd

    def said(name: str) -> str:
        return f"--{name}" if cli else f"the {name} argument"

    # -- region --------------------------------------------------------------------------
    zone: Zone | None = None
    region_origin = "not set"
    candidates: list[tuple[object, str]] = [
        (region, said("region")),
        (
            recorded_region[0] if recorded_region else None,
            recorded_region[1] if recorded_region else "",
        ),
        (env.get(REGION_ENV) or None, REGION_ENV),
        (conf.get("region"), f"region in {conf_origin}"),
    ]
    for value, origin in candidates:
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"region {value!r} from {origin} is not a zone code")
        try:
            zone = tables.zone(value)
        except ConfigError as err:
            raise ConfigError(f"{err.args[0]} (from {origin})", fix=err.fix) from None
        region_origin = origin
        break

    # -- PUE -----------------------------------------------------------------------------
    pue_override = None
    if pue is not None:
        pue_override = parse_pue(pue, said("pue"))
    elif conf.get("pue") is not None:
        pue_override = parse_pue(conf["pue"], f"pue in {conf_origin}")

    # -- intensity -----------------------------------------------------------------------
    if intensity is not None:
        choice = parse_intensity(intensity, said("intensity"), cwd)
    elif conf.get("intensity") is not None:
        choice = parse_intensity(conf["intensity"], f"intensity in {conf_origin}", conf_base)
    else:
        choice = IntensityChoice("table", "the zone's table value")

    live = None
    if choice.kind == "live":
        live_zone = choice.live_zone or _live_zone(zone)
        token = env.get(TOKEN_ENV) or conf.get("electricitymaps_token")
        if not token:
            raise ConfigError(
                f"--intensity live needs an Electricity Maps API token ({choice.origin})",
                fix=f"set {TOKEN_ENV} (tokens from the Electricity Maps portal), or use the "
                "shipped tables: leave --intensity out",
            )
        url = env.get(URL_ENV) or conf.get("electricitymaps_url")
        live = (
            ElectricityMaps(str(token), base_url=str(url)) if url else ElectricityMaps(str(token))
        )
        choice = IntensityChoice("live", choice.origin, live_zone=live_zone)

    # -- embodied ------------------------------------------------------------------------
    if embodied is not None and embodied is not False:
        spec = parse_embodied(embodied, said("embodied"), tables)
    else:
        spec = parse_embodied(conf.get("embodied"), f"embodied in {conf_origin}", tables)

    return CarbonSettings(
        zone=zone,
        region_origin=region_origin,
        pue_override=pue_override,
        intensity=choice,
        embodied=spec,
        tables=tables,
        live=live,
    )


def _live_zone(zone: Zone | None) -> str:
    if zone is None:
        raise ConfigError(
            "--intensity live needs to know where: no region is set",
            fix=region_fix() + "; or name an Electricity Maps zone: --intensity live:DE",
        )
    if zone.kind == "country":
        return zone.code
    raise ConfigError(
        f"Electricity Maps has no zone named {zone.code}",
        fix="name its zone explicitly, e.g. --intensity live:US-CAL-CISO",
    )
