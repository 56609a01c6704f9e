"""`jouleflow run` and `jouleflow doctor` driven as a user would: subprocesses, exit codes."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import psutil
import pytest

from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket

JOULEFLOW = [sys.executable, "-m", "jouleflow"]


def env_with(**extra):
    return {**os.environ, **extra}


def stderr_once_ended(proc):
    """A run that hangs fails its own test and is killed, command and all: it must not linger
    into the next test's warnings."""
    try:
        return proc.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise


@pytest.fixture
def rapl(tmp_path):
    tree = single_socket(tmp_path / "sys")
    traces = {z.link: ConstantPower(w) for z, w in zip(tree.zones, (30.0, 20.0, 5.0))}
    with PowercapSimulator(tree, traces, process=True):
        time.sleep(0.1)
        yield env_with(JOULEFLOW_POWERCAP_ROOT=str(tree.root))


def test_exit_code_streams_and_json_pass_through(rapl, tmp_path):
    out = tmp_path / "result.json"
    child = (
        "import sys; print('to stdout'); print('to stderr', file=sys.stderr); "
        "sys.stdout.write(sys.stdin.read().upper()); sys.exit(3)"
    )
    proc = subprocess.run(
        [*JOULEFLOW, "run", "--no-gpu", "--json", str(out), "--", sys.executable, "-c", child],
        input="piped in\n",
        capture_output=True,
        text=True,
        env=rapl,
        timeout=60,
    )
    assert proc.returncode == 3
    assert proc.stdout == "to stdout\nPIPED IN\n"  # the summary goes to stderr, never stdout
    assert "to stderr" in proc.stderr and "rapl:package-0" not in proc.stdout
    assert "CPU package-0" in proc.stderr and "measured (powercap energy counter)" in proc.stderr
    document = json.loads(out.read_text())
    assert document["schema_version"] == 1
    assert document["exit_code"] == 3 and document["status"] == "failed"
    assert document["command"][-2:] == ["-c", child]
    start, end = document["window_ns"]
    assert end > start and document["duration_s"] == pytest.approx((end - start) / 1e9)
    package = next(c for c in document["components"] if c["id"] == "rapl:package-0")
    assert package["kind"] == "cpu_package" and package["method"] == "counter"
    assert package["source"] == "powercap" and package["uncertainty_j"] >= 0
    # 30 W over the window, give or take 5 ms of counter staleness per edge
    assert package["energy_j"] == pytest.approx(30.0 * document["duration_s"], abs=0.3)
    assert document["started_at"].endswith("+00:00")


def test_sigterm_reaches_the_command_and_the_partial_run_is_reported(rapl, tmp_path):
    out = tmp_path / "partial.json"
    marker = tmp_path / "got-term"
    child = (
        "import signal, sys, time, pathlib\n"
        f"signal.signal(signal.SIGTERM, lambda *a: (pathlib.Path({str(marker)!r}).touch(),"
        " sys.exit(143)))\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [*JOULEFLOW, "run", "--no-gpu", "--json", str(out), "--", sys.executable, "-c", child],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=rapl,
        start_new_session=True,  # its own group, so a hang can be killed whole
    )
    assert proc.stdout.readline() == "ready\n"
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    stderr = stderr_once_ended(proc)
    assert proc.returncode == 143
    assert marker.exists()
    document = json.loads(out.read_text())
    assert document["status"] == "interrupted"
    assert document["total_j"] > 0 and document["duration_s"] > 0.3
    assert "interrupted" in stderr


def test_sigint_from_a_script_is_forwarded_too(rapl, tmp_path):
    proc = subprocess.Popen(
        [
            *JOULEFLOW,
            "run",
            "--no-gpu",
            "--",
            sys.executable,
            "-c",
            "import time\nprint('ready', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=rapl,
        start_new_session=True,  # no terminal: jouleflow must pass SIGINT on itself
    )
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(signal.SIGINT)
    stderr = stderr_once_ended(proc)
    assert proc.returncode == 130  # Python's KeyboardInterrupt exit, 128 + SIGINT
    assert "KeyboardInterrupt" in stderr and "total" in stderr


def test_a_signal_taken_by_another_thread_is_forwarded_at_once():
    """The kernel may give jouleflow's signal to the sampler's thread, not the waiting one."""
    from jouleflow.cli.child import run_child

    def send_from_this_thread_once_the_command_runs():
        me = psutil.Process()
        while not me.children():
            time.sleep(0.01)
        time.sleep(0.2)  # the command is running; jouleflow's handlers are in
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    sender = threading.Thread(target=send_from_this_thread_once_the_command_runs)
    sender.start()
    # Unforwarded, the command would sleep its 60 s and exit 0.
    exit_code, ended_by = run_child([sys.executable, "-c", "import time; time.sleep(60)"])
    sender.join()
    assert (exit_code, ended_by) == (128 + signal.SIGTERM, signal.SIGTERM)


def test_sensorless_machine_says_everything_is_estimated(tmp_path):
    env = env_with(JOULEFLOW_POWERCAP_ROOT=str(tmp_path / "absent"))
    proc = subprocess.run(
        [
            *JOULEFLOW,
            "run",
            "--no-gpu",
            "--json",
            str(tmp_path / "r.json"),
            "--",
            sys.executable,
            "-c",
            "sum(range(10**6))",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "estimated" in proc.stderr and "no power sensor is readable" in proc.stderr
    document = json.loads((tmp_path / "r.json").read_text())
    assert document["measured_j"] == 0 and document["total_j"] > 0  # never a silent zero
    assert all(c["method"] == "estimate" for c in document["components"])


def test_command_not_found_is_a_clear_error(tmp_path):
    proc = subprocess.run(
        [*JOULEFLOW, "run", "--no-gpu", "--", "no-such-command-xyz"],
        capture_output=True,
        text=True,
        env=env_with(JOULEFLOW_POWERCAP_ROOT=str(tmp_path)),
        timeout=60,
    )
    assert proc.returncode == 2
    assert "cannot start 'no-such-command-xyz'" in proc.stderr


def test_doctor_exit_codes_follow_what_can_measure(rapl, tmp_path):
    measured = subprocess.run(
        [*JOULEFLOW, "doctor", "--no-gpu", "--json"],
        capture_output=True,
        text=True,
        env=rapl,
        timeout=60,
    )
    assert measured.returncode == 0
    findings = {f["sensor"]: f for f in json.loads(measured.stdout)}
    assert findings["powercap"]["available"] and findings["powercap"]["measured"]
    assert "not used: RAPL measures the CPU" in findings["cpu-estimate"]["reason"]

    nothing = subprocess.run(
        [*JOULEFLOW, "doctor"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env_with(
            JOULEFLOW_POWERCAP_ROOT=str(tmp_path / "absent"),
            JOULEFLOW_NVML_LIBRARY=str(tmp_path / "libnvidia-ml.so.1"),
        ),
    )
    assert nothing.returncode == 1
    assert (
        "no powercap tree" in nothing.stdout
        and "every figure will be an estimate" in nothing.stdout
    )
