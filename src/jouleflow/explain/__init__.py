"""Explain energy from the bottom up: operations, data movement, and the hardware they run on.

    from jouleflow.explain import explain, estimate, work_from_sizes, costs_for, load_tables
    explanation = explain(run.result)   # arithmetic + data movement + static, vs measured
    h100 = load_tables().device("h100")
    print(estimate(work_from_sizes(124e6, 1e9), costs_for(h100, "bf16")).energy_j)

Every figure carries a label (measured, calibrated, measured-in-silicon, datasheet-bound,
estimate) and a source; the tables are in ``jouleflow/explain/data`` with PROVENANCE.md.
Importing this package does not import torch: only ``work_from_model`` and calibration probes do.
"""

from __future__ import annotations

from jouleflow.explain.calibrate import (
    Calibration,
    CalibrationError,
    CalibrationRun,
    Fit,
    ProbeSample,
    calibrate,
    default_calibration_path,
    fit_costs,
    load_calibration,
    load_calibrations,
    run_probes,
    save_calibration,
)
from jouleflow.explain.estimate import (
    Estimate,
    JobWork,
    estimate,
    parse_count,
    work_from_model,
    work_from_sizes,
)
from jouleflow.explain.model import Explanation, Part, explain
from jouleflow.explain.records import Figure, Interval, Work
from jouleflow.explain.tables import (
    Costs,
    DeviceSpec,
    Tables,
    costs_for,
    device_for,
    load_tables,
    precision_of,
)

__all__ = [
    "Calibration",
    "CalibrationError",
    "CalibrationRun",
    "Costs",
    "DeviceSpec",
    "Estimate",
    "Explanation",
    "Figure",
    "Fit",
    "Interval",
    "JobWork",
    "Part",
    "ProbeSample",
    "Tables",
    "Work",
    "calibrate",
    "costs_for",
    "default_calibration_path",
    "device_for",
    "estimate",
    "explain",
    "fit_costs",
    "load_calibration",
    "load_calibrations",
    "load_tables",
    "parse_count",
    "precision_of",
    "run_probes",
    "save_calibration",
    "work_from_model",
    "work_from_sizes",
]
