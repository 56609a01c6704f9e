from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jouleflow.testing.nvml import FakeGpu, SimulatedNvml, compile_fake_nvml


@pytest.fixture(scope="session")
def fake_nvml_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated libnvidia-ml.so.1, compiled once for the whole session."""
    return compile_fake_nvml(tmp_path_factory.mktemp("fake-nvml"))


@pytest.fixture
def simulated_nvml(
    tmp_path: Path, fake_nvml_library: Path
) -> Iterator[Callable[..., SimulatedNvml]]:
    """Makes a started simulation whose state this process's fake library reads."""
    made: list[SimulatedNvml] = []

    def make(gpus: list[FakeGpu], **kwargs: Any) -> SimulatedNvml:
        sim = SimulatedNvml(
            tmp_path / f"nvml-{len(made)}", gpus, library_path=fake_nvml_library, **kwargs
        )
        made.append(sim)
        return sim.__enter__()

    yield make
    for sim in reversed(made):
        sim.__exit__(None, None, None)


@pytest.fixture(autouse=True)
def run_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs are saved by default: each test saves into its own store, never the user's."""
    path = tmp_path_factory.mktemp("store") / "runs.db"
    monkeypatch.setenv("JOULEFLOW_DB", str(path))
    return path
