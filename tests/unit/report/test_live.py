"""The live line: its text, and that it draws on a terminal's last row and nowhere else."""

from __future__ import annotations

import io
import os
import time

import pytest

import jouleflow
from jouleflow.report.live import LiveLine, live_text
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket


def test_the_line_says_elapsed_power_energy_and_forecast():
    text = live_text(
        65.2,
        {"CPU package-0": 40.0, "package-0 dram": 6.04},
        3520.0,
        {"predicted_total_energy_j": 12_100.0, "predicted_total_duration_s": 3725.0},
    )
    assert text == (
        "jouleflow 1:05 · 3.52 kJ so far · forecast 12.10 kJ in 1:02:05 · 46.0 W "
        "(CPU package-0 40.0 W, package-0 dram 6.0 W)"
    )
    assert live_text(1.0, {"x": 1.0}, 1.0, width=20) == "jouleflow 0:01 · 1.…"
    assert live_text(1.0, {"idle disk": 0.01}, 1.0) == "jouleflow 0:01 · 1.00 J so far · 0.0 W"


@pytest.fixture
def running(tmp_path):
    tree = single_socket(tmp_path)
    traces = {z.link: ConstantPower(w) for z, w in zip(tree.zones, (40.0, 25.0, 6.0))}
    with PowercapSimulator(tree, traces, process=True):
        time.sleep(0.1)
        run = jouleflow.track(
            "live", powercap_root=str(tree.root), gpus=False, db=False, interval_s=0.02
        ).start()
        time.sleep(0.2)
        yield run
        run.stop()


def test_off_when_the_stream_is_not_a_terminal(running):
    stream = io.StringIO()
    with LiveLine(running, stream=stream, interval_s=0.01):
        time.sleep(0.05)
    assert stream.getvalue() == ""


def test_on_a_terminal_the_line_keeps_to_the_last_row(running):
    import fcntl
    import struct
    import termios

    main_fd, tty_fd = os.openpty()
    fcntl.ioctl(tty_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    with open(tty_fd, "w", closefd=True) as stream:
        assert stream.isatty()
        line = LiveLine(running, stream=stream, interval_s=0.01)
        text = line.text(99)
        assert "CPU package-0" in text and "so far" in text
        with line:
            time.sleep(0.1)
    output = b""
    while True:
        try:
            chunk = os.read(main_fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(main_fd)
    written = output.decode()
    assert "\x1b[1;23r" in written  # rows 1-23 scroll; row 24 is the line's
    assert "\x1b[24;1H\x1b[2K" in written and "jouleflow 0:0" in written
    assert written.endswith("\x1b[r\x1b8")  # the scrolling region is given back
