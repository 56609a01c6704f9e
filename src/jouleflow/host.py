"""Where and when a run was measured: the labels its result carries.

Kept out of the tracker: the start needs only the wall-clock label (without importing
``datetime``), and the host facts are gathered once per process, when a first result is built.
"""

from __future__ import annotations

import functools
import os
import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from jouleflow.config import MeterConfig


def utc_now_iso() -> str:
    """Now, as ``datetime.now(timezone.utc).isoformat(timespec="milliseconds")`` writes it.

    Without importing datetime, which the first start in a process would pay for.
    """
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"{stamp}.{int(now % 1 * 1000):03d}+00:00"


def host_info(config: MeterConfig) -> dict[str, str]:
    """Where the run was measured; computed once per process (``platform.platform()`` reads the
    Python executable to find the C library, too slow to repeat at every store flush)."""
    return dict(_host_info(config.proc_root, os.getpid()))  # a forked child: its own pid


@functools.lru_cache(maxsize=4)
def _host_info(proc_root: str, pid: int) -> tuple[tuple[str, str], ...]:
    import platform
    import socket

    from jouleflow import __version__
    from jouleflow.sensors.cpu_table import read_cpu_model

    return tuple(
        {
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "jouleflow": __version__,
            "cpu_model": read_cpu_model(proc_root) or "unknown",
            "cpu_count": str(os.cpu_count() or 0),
            "pid": str(pid),
        }.items()
    )
