"""Carbon of a measured run: grid intensity by place and time, PUE, embodied carbon, what-ifs.

Nothing in the measuring core imports this package; load it when a run's carbon is wanted::

    from jouleflow.carbon import assess
    carbon = assess(run.result, region="FR")
    print(carbon.co2e_g, carbon.intensity.source, carbon.pue.source)

Modules: ``intensity`` (zones and the shipped tables), ``series`` (time series and their
integration), ``live`` (Electricity Maps, opt-in), ``settings`` (where each setting comes from),
``convert`` (the arithmetic), ``assess`` (one run), ``whatif`` (other places and times),
``render`` (the terminal view). Data and its provenance: ``data/PROVENANCE.md``,
``data/ATTRIBUTION.md``.
"""

from __future__ import annotations

from jouleflow.carbon.assess import (
    CarbonAssessment,
    IntensityUsed,
    assess,
    energy_timeline,
)
from jouleflow.carbon.convert import (
    EmbodiedCarbon,
    Equivalent,
    format_co2e,
    operational_g,
)
from jouleflow.carbon.intensity import CarbonTables, Zone, load_tables, lookup_zone
from jouleflow.carbon.live import ElectricityMaps, LiveIntensity
from jouleflow.carbon.series import (
    EnergyInterval,
    IntensitySeries,
    integrate,
    load_series,
    parse_series,
)
from jouleflow.carbon.settings import (
    CarbonSettings,
    EmbodiedSpec,
    Pue,
    resolve_settings,
)
from jouleflow.carbon.whatif import (
    CAVEAT,
    WhatIf,
    compare_zones,
    flexible_start,
    pause_when_dirty,
    what_if,
)

__all__ = [
    "CAVEAT",
    "CarbonAssessment",
    "CarbonSettings",
    "CarbonTables",
    "ElectricityMaps",
    "EmbodiedCarbon",
    "EmbodiedSpec",
    "EnergyInterval",
    "Equivalent",
    "IntensitySeries",
    "IntensityUsed",
    "LiveIntensity",
    "Pue",
    "WhatIf",
    "Zone",
    "assess",
    "compare_zones",
    "energy_timeline",
    "flexible_start",
    "format_co2e",
    "integrate",
    "load_series",
    "load_tables",
    "lookup_zone",
    "operational_g",
    "parse_series",
    "pause_when_dirty",
    "resolve_settings",
    "what_if",
]
