"""The peers' virtual environments: made once, reused, and measured (install size, versions).

Each tool gets its own environment under ``bench/.peers-venv/<name>`` (git-ignored), made from the
interpreter jouleflow's environment was made from, with ``pip install`` of the latest release on
PyPI and its dependencies: CodeCarbon (``codecarbon``) and Zeus (``zeus``; the package was called
``zeus-ml`` until 0.11). jouleflow gets one too, installed from this checkout with its ``nvidia``
extra (the peers always install the NVML bindings), so that the three install sizes are taken the
same way: the growth of ``site-packages`` (``du``) from the fresh environment to the installed one.

An environment is reused while its ``bench-peer.json`` exists; ``--refresh`` makes it again, which
picks up newer releases. Made by hand::

    .venv/bin/python bench/peers/venvs.py [--refresh] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCH_DIR.parent
VENVS_DIR = BENCH_DIR / ".peers-venv"
MARKER = "bench-peer.json"
TOOLING = {"pip", "setuptools", "wheel", "_distutils_hack", "pkg_resources", "distutils-precedence"}


@dataclass(frozen=True)
class Peer:
    name: str  # the folder and the tool's name in the report
    requirement: str  # what pip installs
    distribution: str  # whose version is reported
    homepage: str


PEERS = {
    "codecarbon": Peer(
        "codecarbon", "codecarbon", "codecarbon", "https://github.com/mlco2/codecarbon"
    ),
    "zeus": Peer("zeus", "zeus", "zeus", "https://github.com/ml-energy/zeus"),
    "jouleflow": Peer("jouleflow", f"{REPO_ROOT}[nvidia]", "jouleflow", "this repository"),
}


def venv_dir(name: str) -> Path:
    return VENVS_DIR / name


def python_of(name: str) -> Path:
    return venv_dir(name) / "bin" / "python"


def _site_packages(venv: Path) -> Path:
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if not found:
        raise RuntimeError(f"no site-packages under {venv}")
    return found[0]


def _du_bytes(path: Path) -> int:
    """Disk usage as ``du -sb`` counts it (apparent sizes), the same for every tool."""
    done = subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0])


def _distributions(python: Path) -> list[dict[str, Any]]:
    """Every distribution installed, with the bytes its RECORD lists (not pip nor setuptools)."""
    code = r"""
import json, os
from importlib import metadata
out = []
for dist in metadata.distributions():
    size = 0
    for f in dist.files or ():
        try:
            size += os.path.getsize(dist.locate_file(f))
        except OSError:
            pass
    out.append({"name": dist.metadata["Name"], "version": dist.version, "bytes": size})
print(json.dumps(out))
"""
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    dists = json.loads(done.stdout)
    return sorted(
        (d for d in dists if d["name"].lower() not in TOOLING),
        key=lambda d: -d["bytes"],
    )


def base_python() -> str:
    """The interpreter jouleflow's own environment was made from."""
    for candidate in (
        Path(sys.base_prefix) / "bin" / "python3",
        Path(sys.base_prefix) / "bin" / "python",
    ):
        if candidate.is_file():
            return str(candidate)
    return sys.executable


def ensure(name: str, refresh: bool = False, log: Any = print) -> dict[str, Any]:
    """The environment of ``name``, made if missing (or ``refresh``); returns its record."""
    peer = PEERS[name]
    venv = venv_dir(name)
    marker = venv / MARKER
    if marker.is_file() and not refresh and python_of(name).is_file():
        return dict(json.loads(marker.read_text()))
    log(f"making {venv} ({peer.requirement}): once, then reused")
    begin = time.monotonic()
    if venv.exists():
        subprocess.run(["rm", "-rf", str(venv)], check=True)
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    subprocess.run([base_python(), "-m", "venv", str(venv)], check=True)
    site = _site_packages(venv)
    empty_bytes = _du_bytes(site)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    done = subprocess.run(
        [str(python_of(name)), "-m", "pip", "install", "--quiet", peer.requirement],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip install {peer.requirement} failed:\n{done.stderr[-3000:]}")
    dists = _distributions(python_of(name))
    version = next((d["version"] for d in dists if d["name"].lower() == peer.distribution), "?")
    record = {
        "name": name,
        "requirement": peer.requirement
        if name != "jouleflow"
        else "jouleflow[nvidia] (this checkout)",
        "version": version,
        "homepage": peer.homepage,
        "python": str(python_of(name)),
        "installed": time.strftime("%Y-%m-%d", time.gmtime()),
        "install_s": round(time.monotonic() - begin, 1),
        "site_packages_bytes": _du_bytes(site) - empty_bytes,
        "empty_site_packages_bytes": empty_bytes,
        "distributions": dists,
    }
    marker.write_text(json.dumps(record, indent=1))
    log(
        f"  {name} {version}: {record['site_packages_bytes'] / 1e6:.0f} MB "
        f"in {record['install_s']} s"
    )
    return record


def ensure_all(
    names: Sequence[str] = tuple(PEERS), refresh: bool = False, log: Any = print
) -> dict[str, Any]:
    """Every environment asked for; a failed one is recorded as ``{"error": ...}``."""
    records: dict[str, Any] = {}
    for name in names:
        try:
            records[name] = ensure(name, refresh, log)
        except (OSError, RuntimeError, subprocess.CalledProcessError) as err:
            records[name] = {"name": name, "error": str(err)[-1500:]}
            log(f"  {name}: could not be installed: {err}")
    return records


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"some of {', '.join(PEERS)} (default: all)")
    parser.add_argument("--refresh", action="store_true", help="make them again (newer releases)")
    args = parser.parse_args(argv)
    unknown = set(args.names) - set(PEERS)
    if unknown:
        parser.error(f"unknown: {', '.join(sorted(unknown))}")
    records = ensure_all(args.names or list(PEERS), args.refresh)
    for name, record in records.items():
        if "error" in record:
            print(f"{name}: FAILED")
        else:
            print(
                f"{name} {record['version']}: {record['site_packages_bytes'] / 1e6:.1f} MB, "
                f"{record['python']}"
            )


if __name__ == "__main__":
    main()
