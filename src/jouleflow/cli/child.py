"""Run the measured command as a child that owns the terminal's streams.

stdin/stdout/stderr are inherited untouched. SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent
to jouleflow are passed on. Ctrl-C already reaches the child through the terminal's foreground
process group, so SIGINT is forwarded only when it cannot have come that way (jouleflow is not
in the terminal's foreground group, e.g. `kill -INT` from a script); either way jouleflow stays
alive to report what was measured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def _terminal_delivers_sigint() -> bool:
    for stream in (sys.stdin, sys.stdout, sys.stderr):
        try:
            return os.tcgetpgrp(stream.fileno()) == os.getpgrp()
        except (OSError, ValueError, AttributeError):
            continue
    return False


def exit_code_of(returncode: int) -> int:
    """A shell's convention: killed by signal N exits 128 + N."""
    return 128 - returncode if returncode < 0 else returncode


def run_child(argv: Sequence[str], env: dict[str, str] | None = None) -> tuple[int, int | None]:
    """Run ``argv`` to completion; returns (exit code, signal that ended it or None).

    Raises FileNotFoundError / PermissionError when the command cannot be started.
    """
    received: list[int] = []
    proc = subprocess.Popen(list(argv), env=env)

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if signum == signal.SIGINT and _terminal_delivers_sigint():
            return
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (*FORWARDED, signal.SIGINT)}
    try:
        returncode = proc.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    ended_by = -returncode if returncode < 0 else (received[0] if received else None)
    return exit_code_of(returncode), ended_by


def read_child_results(folder: str) -> list[dict[str, Any]]:
    """The result documents that ``track()`` runs inside the command left in ``folder``."""
    import json

    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
