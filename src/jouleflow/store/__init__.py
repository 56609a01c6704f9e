"""The run store: every run kept in one SQLite file, readable even after a crash.

    from jouleflow.store import RunStore
    with RunStore.open() as store:           # JOULEFLOW_DB, else runs.db in the user data folder
        for run in store.runs(status="failed"):
            print(run.short_id, run.name, store.result(run).total_j)

``track()`` and ``jouleflow run`` write here through :class:`Recorder`; ``jouleflow runs``,
``show``, ``export``, ``compare``, ``rm`` and ``gc`` read it. See docs/store.md.
Importing this package imports sqlite3; ``import jouleflow`` does not import this package.
"""

from __future__ import annotations

from jouleflow.store._checks import default_db_path
from jouleflow.store.errors import StoreError, UnknownRunError
from jouleflow.store.recorder import DEFAULT_DOWNSAMPLING, Downsampling, Recorder
from jouleflow.store.schema import SCHEMA_VERSION
from jouleflow.store.sqlite import RunStore, StoredRun

__all__ = [
    "DEFAULT_DOWNSAMPLING",
    "SCHEMA_VERSION",
    "Downsampling",
    "Recorder",
    "RunStore",
    "StoreError",
    "StoredRun",
    "UnknownRunError",
    "default_db_path",
]
