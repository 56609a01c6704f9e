"""Where the peers look for sensors, and what they find there: the simulated ones.

CodeCarbon and Zeus read ``/sys/class/powercap`` with no way to point them elsewhere, and load
``libnvidia-ml.so.1`` from the library path. So each measuring process runs in its own mount and
network namespace (``unshare -m -n``, root):

- a tmpfs is mounted over ``/sys/class``, every class the machine has is bound back into it except
  ``powercap``, which becomes a link to the simulated tree (in ``/dev/shm``, where the harness's
  simulator process rewrites its counters): the peers read the same files as jouleflow;
- ``LD_LIBRARY_PATH`` names a folder whose ``libnvidia-ml.so.1`` is jouleflow's simulated NVML
  (``jouleflow/testing/fake_nvml.c``) linked with ``nvml_extras.c`` (the set-up queries the peers
  make besides energy and power); nvidia-ml-py's ``CDLL("libnvidia-ml.so.1")`` finds it there.
  ``PATH`` gets a stub ``nvidia-smi`` beside it: CodeCarbon looks for NVIDIA GPUs only where
  ``nvidia-smi --help`` runs;
- the network namespace has no interface up: a connection attempt fails at once, and nothing
  leaves the machine (CodeCarbon looks up its location and cloud metadata over HTTP).

Nothing outside the namespace changes; it ends with the process.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

PEERS_DIR = Path(__file__).resolve().parent
AGENT = PEERS_DIR / "agent.py"
NOBODY = 65534

# $1: an empty folder to keep the real /sys/class in; $2: the tree's powercap folder or "";
# $3: "drop" to run without CAP_DAC_OVERRIDE (file permissions apply, as for a user); then argv.
_SETUP = r"""
set -e
saved=$1 powercap=$2 privileges=$3
shift 3
mount --bind /sys/class "$saved"
mount -t tmpfs -o mode=755 jouleflow-bench /sys/class
for d in "$saved"/*; do
  n=${d##*/}
  [ "$n" = powercap ] && continue
  mkdir "/sys/class/$n" && mount --bind "$d" "/sys/class/$n"
done
[ -n "$powercap" ] && ln -s "$powercap" /sys/class/powercap
if [ "$privileges" = drop ]; then
  exec setpriv --inh-caps=-dac_override,-dac_read_search \
    --bounding-set=-dac_override,-dac_read_search -- "$@"
fi
exec "$@"
"""


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "not root: the sandbox needs `unshare -m -n` and mount, which need root"
    for tool in ("unshare", "mount", "setpriv"):
        if shutil.which(tool) is None:
            return f"`{tool}` is missing (util-linux)"
    done = subprocess.run(
        ["unshare", "-m", "-n", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    return None if done.returncode == 0 else f"unshare failed: {done.stderr.strip()}"


def kernel_links(base: Path) -> None:
    """The ``subsystem`` links the kernel puts in each powercap device folder.

    CodeCarbon looks for RAPL at ``/sys/class/powercap/intel-rapl/subsystem``; without the link
    it decides there is no RAPL. ``build_powercap_tree`` does not make them.
    """
    control = base / "devices" / "virtual" / "powercap" / "intel-rapl"
    target = base / "class" / "powercap"
    for folder in [control, *sorted(control.rglob("intel-rapl:*"))]:
        if folder.is_dir() and not folder.is_symlink():
            link = folder / "subsystem"
            if not link.exists():
                link.symlink_to(os.path.relpath(target, folder))


def lock_counters(base: Path) -> None:
    """Make every ``energy_uj`` readable by its owner only, owned by nobody: as on current
    kernels for anyone but root (here: for a process without CAP_DAC_OVERRIDE)."""
    for path in base.rglob("energy_uj"):
        os.chown(path, NOBODY, NOBODY)
        os.chmod(path, 0o400)


def peer_nvml(cache: Path) -> Path:
    """The folder holding the simulated ``libnvidia-ml.so.1`` plus the peers' extras (cached)."""
    fake = resources.files("jouleflow.testing").joinpath("fake_nvml.c").read_bytes()
    extras = (PEERS_DIR / "nvml_extras.c").read_bytes()
    digest = hashlib.sha256(fake + extras).hexdigest()[:16]
    folder = cache / f"nvml-{digest}"
    library = folder / "libnvidia-ml.so.1"
    if library.is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fake_nvml.c").write_bytes(fake)
    partial = folder / ".build.so"
    subprocess.run(
        [
            os.environ.get("CC", "gcc"),
            "-shared",
            "-fPIC",
            "-O2",
            "-pthread",
            "-o",
            str(partial),
            str(folder / "fake_nvml.c"),
            str(PEERS_DIR / "nvml_extras.c"),
        ],
        check=True,
    )
    os.replace(partial, library)
    # CodeCarbon decides whether there is an NVIDIA GPU by running `nvidia-smi --help`.
    stub = folder / "bin" / "nvidia-smi"
    stub.parent.mkdir(exist_ok=True)
    stub.write_text("#!/bin/sh\necho 'nvidia-smi stub: the benchmark simulates the GPUs (NVML)'\n")
    stub.chmod(0o755)
    return folder


@dataclass(frozen=True)
class Sensors:
    """What one sandboxed process finds: a powercap tree (or none), GPUs (or none)."""

    powercap: Path | None = None  # the tree's class/powercap folder
    nvml_dir: Path | None = None  # holds libnvidia-ml.so.1
    nvml_env: Mapping[str, str] | None = None  # the simulated NVML's state file
    drop_privileges: bool = False
    gpu_ids: str | None = None  # CodeCarbon's gpu_ids, to read one board of several


def command(
    argv: Sequence[str], sensors: Sensors, scratch: Path
) -> tuple[list[str], dict[str, str]]:
    """``argv`` run inside a fresh sandbox; returns the command line and its environment."""
    saved = Path(tempfileish(scratch, "sysclass"))
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("JOULEFLOW_", "CUDA_", "LD_LIBRARY_PATH", "ZEUSD_", "CODECARBON_"))
    }
    env.update(
        {
            "TMPDIR": str(saved.parent),
            "HOME": str(saved.parent),  # no ~/.codecarbon.config, nothing written in the real one
            "JOULEFLOW_DB": str(saved.parent / "runs.db"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    if sensors.nvml_dir is not None:
        env["LD_LIBRARY_PATH"] = str(sensors.nvml_dir)
        env["PATH"] = f"{sensors.nvml_dir / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
        env.update(sensors.nvml_env or {})
        env.pop("JOULEFLOW_NVML_LIBRARY", None)  # jouleflow looks where pynvml looks, too
    if sensors.gpu_ids is not None:
        env["BENCH_GPU_IDS"] = sensors.gpu_ids
    drop = "drop" if sensors.drop_privileges else "keep"
    line = ["unshare", "-m", "-n", "--propagation", "private", "sh", "-c", _SETUP, "sh"]
    line += [str(saved), str(sensors.powercap or ""), drop, *argv]
    return line, env


def tempfileish(scratch: Path, name: str) -> str:
    """A fresh empty folder under ``scratch`` (each process gets its own home and tmp)."""
    home = scratch / f"p{time.monotonic_ns()}"
    (home / name).mkdir(parents=True)
    return str(home / name)


def run_once(
    python: str, args: Sequence[str], sensors: Sensors, scratch: Path, timeout_s: float = 120
) -> dict[str, Any]:
    """Run the agent once in a sandbox; its JSON answer, or ``{"error": ...}``."""
    line, env = command([python, str(AGENT), *args], sensors, scratch)
    try:
        done = subprocess.run(
            line,
            env=env,
            cwd=env["HOME"],  # CodeCarbon's default writes emissions.csv where it runs
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:g} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-800:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


class Agent:
    """A sandboxed agent in ``serve`` mode: send a command, read its answer."""

    def __init__(self, label: str, python: str, tool: str, sensors: Sensors, scratch: Path) -> None:
        self.label = label
        line, env = command([python, str(AGENT), "serve", tool], sensors, scratch)
        self.log_path = scratch / f"{label.replace(' ', '_')}-{time.monotonic_ns()}.log"
        self._log: IO[str] = open(self.log_path, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            line,
            env=env,
            cwd=env["HOME"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.ready: dict[str, Any] | None = None
        self.error = ""

    def send(self, op: str, **fields: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
        self.proc.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(timeout=10)
            return {"error": f"exited ({self.proc.returncode}): {self.stderr_tail()}"}
        answer: dict[str, Any] = json.loads(line)
        return answer

    def wait_ready(self) -> bool:
        self.ready = self.receive()
        if not self.ready.get("ready"):
            self.error = str(self.ready.get("error", "did not start"))
        return not self.error

    def stderr_tail(self, chars: int = 800) -> str:
        self._log.flush()
        try:
            return self.log_path.read_text()[-chars:].strip()
        except OSError:
            return ""

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def one_by_one(agents: Sequence[Agent], op: str, **fields: Any) -> dict[str, dict[str, Any]]:
    """Send ``op`` to each live agent in turn, waiting for its answer before the next: each
    runs its ``begin`` or ``end`` alone, as it would on a machine with nothing else to do."""
    answers = {}
    for agent in agents:
        if agent.error:
            continue
        try:
            agent.send(op, **fields)
        except OSError as err:
            agent.error = f"{op}: {err}"
            continue
        answers[agent.label] = agent.receive()
    return answers


def broadcast(agents: Sequence[Agent], op: str, **fields: Any) -> dict[str, dict[str, Any]]:
    """Send ``op`` to every live agent, then collect every answer (they work meanwhile)."""
    live = [a for a in agents if not a.error]
    for agent in live:
        try:
            agent.send(op, **fields)
        except OSError as err:
            agent.error = f"{op}: {err}"
    answers = {}
    for agent in live:
        if agent.error:
            continue
        answers[agent.label] = agent.receive()
    return answers


def python_for(tool: str) -> str:
    """The interpreter an agent of ``tool`` runs under."""
    if tool == "jouleflow":
        return sys.executable  # this checkout, editable: the code under test
    from venvs import python_of

    return str(python_of(tool.split("-")[0]))
