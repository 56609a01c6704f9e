"""Results built from jouleflow's own records, to store and read back without any sensor."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from jouleflow.records import (
    Availability,
    ComponentEnergy,
    ComponentKind,
    Method,
    PhaseEnergy,
    RunResult,
)
from jouleflow.store import RunStore

T0_NS = 5_000_000_000_000


def make_result(
    *,
    name: str = "train",
    seconds: float = 10.0,
    watts: tuple[float, float, float] = (40.0, 6.0, 300.0),
    status: str = "completed",
    exit_code: int | None = 0,
    tags: dict[str, str] | None = None,
    run_id: str | None = None,
) -> RunResult:
    package, dram, gpu = (w * seconds for w in watts)
    components = (
        ComponentEnergy(
            "rapl:package-0",
            ComponentKind.CPU_PACKAGE,
            package,
            Method.COUNTER,
            "powercap",
            0.01 * package,
            "CPU package-0",
        ),
        ComponentEnergy(
            "rapl:package-0:core",
            ComponentKind.CPU_CORE,
            0.6 * package,
            Method.COUNTER,
            "powercap",
            0.0,
            "package-0 core",
            in_total=False,
            parent="rapl:package-0",
        ),
        ComponentEnergy(
            "rapl:package-0:dram",
            ComponentKind.DRAM,
            dram,
            Method.COUNTER,
            "powercap",
            0.0,
            "package-0 dram",
            parent="rapl:package-0",
        ),
        ComponentEnergy(
            "nvml:0",
            ComponentKind.GPU,
            gpu,
            Method.COUNTER,
            "nvml",
            0.05 * gpu,
            "GPU 0 NVIDIA H100",
            index=0,
            uuid="GPU-1234",
            name="NVIDIA H100",
        ),
        ComponentEnergy(
            "estimate:disk",
            ComponentKind.DISK_ESTIMATE,
            0.5,
            Method.ESTIMATE,
            "j-per-byte-model",
            0.5,
            "disk I/O (estimated)",
            model="10 nJ/B",
        ),
    )
    fwd = {c.id: c.energy_j * 0.25 for c in components}
    return RunResult(
        run_id=run_id or uuid.uuid4().hex,
        name=name,
        command=("python", "train.py", "--lr", "0.1"),
        started_at="2024-05-01T12:00:00.000+00:00",
        window_ns=(T0_NS, T0_NS + int(seconds * 1e9)),
        exit_code=exit_code,
        status=status,
        components=components,
        phases=(PhaseEnergy("forward", 3, seconds / 4, fwd, fwd, ((T0_NS, T0_NS + 1000),), 0),),
        unattributed_j={c.id: c.energy_j * 0.75 for c in components},
        sensors=(
            Availability("powercap", True, "RAPL readable"),
            Availability("cpu-estimate", True, "not used", measured=False),
        ),
        warnings=("a note",),
        host={
            "hostname": "box",
            "platform": "Linux-6",
            "python": "3.11.7",
            "jouleflow": "0.1.0",
            "cpu_model": "Xeon",
            "cpu_count": "8",
        },
        sample_interval_s=0.1,
        samples=int(seconds * 10),
        tags=dict(tags or {}),
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "runs.db"


@pytest.fixture
def store(db_path: Path):
    with RunStore.open(db_path) as opened:
        yield opened


@pytest.fixture
def save(store: RunStore) -> Callable[..., RunResult]:
    """Saves a finished result as the recorder would; returns it."""
    from jouleflow.store import Recorder

    def save_result(result: RunResult | None = None, **kwargs: object) -> RunResult:
        result = result or make_result(**kwargs)  # type: ignore[arg-type]
        running = RunResult(**{**_fields(result), "status": "running", "exit_code": None})
        recorder = Recorder(RunStore.open(store.path))
        recorder.begin(lambda: running, flush_thread=False)
        recorder.finish(result)
        return result

    return save_result


def _fields(result: RunResult) -> dict[str, object]:
    return {name: getattr(result, name) for name in RunResult.__dataclass_fields__}
