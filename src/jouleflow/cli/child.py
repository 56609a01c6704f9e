"""Run the measured command as a child that owns the terminal's streams.

stdin/stdout/stderr are inherited untouched. SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent
to jouleflow are passed on. Ctrl-C already reaches the child through the terminal's foreground
process group, so SIGINT is forwarded only when it cannot have come that way (jouleflow is not
in the terminal's foreground group, e.g. `kill -INT` from a script); either way jouleflow stays
alive to report what was measured.
"""

from __future__ import annotations

import contextlib
import os
import select
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
    held: list[int] = []  # arrived before the command had started
    proc: subprocess.Popen[bytes] | None = None

    def deliver(target: subprocess.Popen[bytes], signum: int) -> None:
        if signum == signal.SIGINT and _terminal_delivers_sigint():
            return
        if target.poll() is None:
            target.send_signal(signum)

    def forward(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        if proc is None:
            held.append(signum)
        else:
            deliver(proc, signum)

    # The handlers go in before the command starts: a signal that arrived in between would
    # otherwise end jouleflow with the command left running and nothing reported.
    previous = {s: signal.signal(s, forward) for s in (*FORWARDED, signal.SIGINT)}
    try:
        proc = subprocess.Popen(list(argv), env=env)
        for signum in held:
            deliver(proc, signum)
        returncode = _wait_waking_for_signals(proc)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    ended_by = -returncode if returncode < 0 else (received[0] if received else None)
    return exit_code_of(returncode), ended_by


def _wait_waking_for_signals(proc: subprocess.Popen[bytes]) -> int:
    """Wait for ``proc`` to end, running signal handlers as soon as a signal arrives.

    The kernel may hand a signal sent to jouleflow to any of its threads (the sampler's, the
    store's). Python runs the handler on the main thread, and a main thread blocked in waitpid()
    is woken only by a signal delivered to itself: the rest would wait, unforwarded, until the
    command ended on its own. So the main thread sleeps in select() on the command's pidfd and on
    the signal wakeup fd, which every delivery writes to, whichever thread takes it.
    """
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd (not Linux >= 5.3): look every 50 ms instead
        while True:
            try:
                return proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
    woken, wake = os.pipe()
    os.set_blocking(woken, False)
    os.set_blocking(wake, False)
    previous = signal.set_wakeup_fd(wake, warn_on_full_buffer=False)
    try:
        while proc.poll() is None:  # the handlers run here, between the loop's steps
            select.select([pidfd, woken], [], [])
            with contextlib.suppress(BlockingIOError):
                os.read(woken, 512)
        return proc.returncode
    finally:
        signal.set_wakeup_fd(previous)
        for fd in (pidfd, woken, wake):
            os.close(fd)


def read_child_results(folder: str) -> list[dict[str, Any]]:
    """The result documents that ``track()`` runs inside the command left in ``folder``."""
    import json

    return [json.loads(p.read_text()) for p in sorted(Path(folder).glob("*.json"))]
