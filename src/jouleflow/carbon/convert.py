"""Energy to carbon: E (J) / 3,600,000 (J per kWh) x intensity (gCO2e/kWh) x PUE.

Plus, opt-in, the run's share of the hardware's manufacturing emissions (embodied carbon,
amortised linearly over a service life), and everyday equivalents for a secondary line.
"""

from __future__ import annotations

from dataclasses import dataclass

from jouleflow.carbon.intensity import CarbonTables
from jouleflow.carbon.settings import EmbodiedSpec
from jouleflow.units import J_PER_KWH, J_PER_WH

SECONDS_PER_YEAR = 31_557_600  # 365.25 days: the Julian year, so leap years average out
KM_PER_MILE = 1.609344  # exact, by the international mile


def operational_g(energy_j: float, intensity_g_per_kwh: float, pue: float) -> float:
    """Grams CO2e of ``energy_j`` drawn by the IT equipment, at the facility's PUE."""
    return energy_j / J_PER_KWH * intensity_g_per_kwh * pue


@dataclass(frozen=True, slots=True)
class EmbodiedCarbon:
    """The run's share of manufacturing emissions: (GPUs x kg + servers x kg) x duration / life."""

    co2e_g: float
    gpus: int
    gpus_from: str
    servers: int
    gpu_kg: float
    server_kg: float
    life_years: float
    duration_s: float
    origin: str
    source: str

    def to_dict(self) -> dict[str, object]:
        return {
            "co2e_g": self.co2e_g,
            "gpus": self.gpus,
            "gpus_from": self.gpus_from,
            "servers": self.servers,
            "gpu_kgco2e": self.gpu_kg,
            "server_kgco2e": self.server_kg,
            "life_years": self.life_years,
            "duration_s": self.duration_s,
            "settings": self.origin,
            "source": self.source,
            "method": "(gpus x gpu_kgco2e + servers x server_kgco2e) x 1000 x duration_s / "
            "(life_years x 31,557,600 s)",
        }


def embodied_carbon(
    spec: EmbodiedSpec, duration_s: float, measured_gpus: int, tables: CarbonTables
) -> EmbodiedCarbon:
    gpus = spec.gpus if spec.gpus is not None else measured_gpus
    gpus_from = "embodied setting" if spec.gpus is not None else "GPUs the run measured"
    total_kg = gpus * spec.gpu_kg + spec.servers * spec.server_kg
    share = duration_s / (spec.life_years * SECONDS_PER_YEAR)
    return EmbodiedCarbon(
        co2e_g=total_kg * 1000.0 * share,
        gpus=gpus,
        gpus_from=gpus_from,
        servers=spec.servers,
        gpu_kg=spec.gpu_kg,
        server_kg=spec.server_kg,
        life_years=spec.life_years,
        duration_s=duration_s,
        origin=spec.origin,
        source=tables.source_name(tables.factor("embodied:gpu").source_id),
    )


@dataclass(frozen=True, slots=True)
class Equivalent:
    """An everyday comparison, always with its basis and source."""

    what: str
    value: float
    basis: str
    source: str

    def to_dict(self) -> dict[str, object]:
        return {"what": self.what, "value": self.value, "basis": self.basis, "source": self.source}


def equivalents(
    co2e_g: float, facility_energy_j: float, tables: CarbonTables
) -> tuple[Equivalent, ...]:
    """Kilometres by car for the carbon; smartphone charges for the energy (PUE included)."""
    car = tables.factor("equivalent:car")  # gCO2 per mile
    phone = tables.factor("equivalent:phone")  # Wh per charge
    car_year = f" {car.year}" if car.year else ""
    return (
        Equivalent(
            "km by car",
            co2e_g / (car.value / KM_PER_MILE),
            f"{car.value:g} gCO2/mile, typical US passenger car{car_year}",
            tables.source_name(car.source_id),
        ),
        Equivalent(
            "phone charges of energy",
            facility_energy_j / (phone.value * J_PER_WH),
            f"{phone.value:g} Wh per smartphone charge",
            tables.source_name(phone.source_id),
        ),
    )


def format_co2e(grams: float) -> str:
    """Grams CO2e with a unit that keeps 3-4 significant digits."""
    magnitude = abs(grams)
    if magnitude >= 1_000_000:
        return f"{grams / 1_000_000:.3f} t CO2e"
    if magnitude >= 1000:
        return f"{grams / 1000:.3f} kg CO2e"
    if magnitude >= 1 or magnitude == 0:
        return f"{grams:.3f} g CO2e" if magnitude < 10 else f"{grams:.2f} g CO2e"
    if magnitude >= 0.001:
        return f"{grams * 1000:.3f} mg CO2e"
    return f"{grams * 1_000_000:.3f} µg CO2e"
