from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def run_store(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Runs are saved by default: each test saves into its own store, never the user's."""
    path = tmp_path_factory.mktemp("store") / "runs.db"
    monkeypatch.setenv("JOULEFLOW_DB", str(path))
    return path
