"""Shared helpers: real RunResult records (never mocks) and small input files."""

from __future__ import annotations

import pytest

from jouleflow.records import ComponentEnergy, ComponentKind, Method, RunResult

RUN_START = "2024-05-01T13:30:00.000+00:00"  # 1714570200 unix seconds
RUN_START_S = 1714570200.0


def make_result(
    energy_j: float = 3_600_000.0,
    duration_s: float = 3600.0,
    *,
    gpus: int = 0,
    started_at: str = RUN_START,
    uncertainty_j: float = 0.0,
) -> RunResult:
    """A finished run: one CPU package with all the energy, plus ``gpus`` idle GPUs."""
    components = [
        ComponentEnergy(
            id="rapl:package-0",
            kind=ComponentKind.CPU_PACKAGE,
            energy_j=energy_j,
            method=Method.COUNTER,
            source="powercap",
            uncertainty_j=uncertainty_j,
            label="CPU package-0",
        )
    ]
    components += [
        ComponentEnergy(
            id=f"nvml:{k}",
            kind=ComponentKind.GPU,
            energy_j=0.0,
            method=Method.COUNTER,
            source="nvml",
            uncertainty_j=0.0,
            label=f"GPU {k}",
            index=k,
        )
        for k in range(gpus)
    ]
    return RunResult(
        run_id="run0",
        name="train",
        command=("python", "train.py"),
        started_at=started_at,
        window_ns=(10**9, 10**9 + int(duration_s * 1e9)),
        exit_code=0,
        status="completed",
        components=tuple(components),
        phases=(),
        unattributed_j={},
        sensors=(),
        warnings=(),
        host={},
        sample_interval_s=0.1,
        samples=2,
    )


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A working directory with no config file above it and no region in the environment."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("JOULEFLOW_REGION", raising=False)
    monkeypatch.delenv("ELECTRICITYMAPS_TOKEN", raising=False)
    monkeypatch.delenv("JOULEFLOW_ELECTRICITYMAPS_URL", raising=False)
    return work


@pytest.fixture
def result_of():
    """``result_of(energy_j, duration_s, gpus=..)``: a real RunResult to assess."""
    return make_result
