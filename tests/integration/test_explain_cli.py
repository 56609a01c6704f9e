"""`jouleflow explain / estimate / calibrate` as a user runs them, on simulated RAPL sensors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from jouleflow.cli.explain import register
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket

PACKAGE_W, DRAM_W = 30.0, 5.0


@pytest.fixture
def cli():
    @click.group()
    def group() -> None:
        """A group of our own: cli/main.py wires the same register()."""

    register(group)
    return group


@pytest.fixture(autouse=True)
def no_user_calibration(tmp_path, monkeypatch):
    path = tmp_path / "calibration.json"
    monkeypatch.setenv("JOULEFLOW_CALIBRATION", str(path))
    return path


@pytest.fixture
def simulated_socket(tmp_path):
    tree = single_socket(tmp_path / "sys")
    traces = {"intel-rapl:0": ConstantPower(PACKAGE_W), "intel-rapl:0:1": ConstantPower(DRAM_W)}
    # its own process: a thread here would wait on torch's GIL and leave the counter behind
    with PowercapSimulator(tree, traces, process=True):
        yield tree


@pytest.fixture
def trained(tmp_path, simulated_socket):
    """A small training run measured on the simulated socket, saved in a store."""
    torch = pytest.importorskip("torch")
    import jouleflow
    import jouleflow.torch

    torch.manual_seed(0)
    data = torch.utils.data.TensorDataset(torch.randn(256, 16), torch.randint(0, 4, (256,)))
    loader = torch.utils.data.DataLoader(data, batch_size=32)
    model = torch.nn.Sequential(torch.nn.Linear(16, 64), torch.nn.ReLU(), torch.nn.Linear(64, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    db = tmp_path / "runs.db"
    with jouleflow.track(
        "tiny", powercap_root=str(simulated_socket.root), gpus=False, db=db
    ) as run:
        watcher = jouleflow.torch.watch(model, optimizer, loader, run=run, layers=True)
        for _ in range(2):
            for x, y in loader:
                loss = torch.nn.functional.cross_entropy(model(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        watcher.close()
    return db, run.result


def test_explain_a_stored_run_against_its_measurement(cli, trained):
    db, result = trained
    out = CliRunner().invoke(cli, ["explain", "last", "--db", str(db), "--json"])
    assert out.exit_code == 0, out.output
    document = json.loads(out.output)
    assert document["run_id"] == result.run_id
    assert document["measured"] == {
        "how": "measured (powercap counter)",
        "is_estimate": False,
        "components": ["rapl:package-0", "rapl:package-0:dram"],
        "rest_of_machine_j": pytest.approx(
            result.component("estimate:disk").energy_j
            + result.component("estimate:network").energy_j
        ),
    }
    phases = {p["name"]: p for p in document["phases"]}
    steps = result.phase("forward").count
    assert steps == 16
    per_step = 2 * 32 * (16 * 64 + 64 * 4)  # the two Linear layers' forward, batch 32
    assert phases["forward"]["flops"] == steps * per_step
    assert phases["backward"]["flops"] == 2 * steps * per_step
    forward = result.phase("forward")
    cpu = frozenset({"rapl:package-0", "rapl:package-0:dram"})
    assert phases["forward"]["measured_j"] == pytest.approx(forward.self_total_j(cpu))
    for part in document["phases"]:
        assert part["modelled_j"] + part["unexplained_j"] == pytest.approx(part["measured_j"])
    layers = {p["name"]: p for p in document["layers"]}
    assert layers["1"]["bound"] == "memory"  # the ReLU: no FLOP
    assert document["costs"]["figures"]["j_per_flop"]["label"] in ("estimate", "datasheet-bound")

    text = CliRunner().invoke(cli, ["explain", result.run_id[:8], "--db", str(db)])
    assert text.exit_code == 0, text.output
    for expected in (
        "model vs measured", "forward", "backward", "unexplained", "label · source",
        "measured (powercap counter)", "the ALU alone at 45 nm", "horowitz-isscc2014",
    ):  # fmt: skip
        assert expected in text.output


def test_explain_a_result_file_with_the_hardware_named(cli, trained, tmp_path):
    _, result = trained
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result.to_dict()))
    out = CliRunner().invoke(
        cli, ["explain", str(path), "--hardware", "a100", "--precision", "bf16", "--json"]
    )
    assert out.exit_code == 0, out.output
    document = json.loads(out.output)
    assert document["costs"]["device"] == "a100" and document["costs"]["precision"] == "bf16"
    assert document["costs"]["figures"]["peak_flops"]["label"] == "datasheet-bound"
    assert any("no component of the run is the gpu" in n for n in document["notes"])


def test_estimate_from_sizes_and_from_a_model_file(cli, tmp_path):
    out = CliRunner().invoke(
        cli,
        ["estimate", "--model", "124M", "--tokens", "1B", "--hardware", "h100",
         "--precision", "bf16", "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    document = json.loads(out.output)
    assert document["job"]["flops"] == 6 * 124e6 * 1e9
    e = document["energy_j"]
    assert 0 < e["low"] < e["central"] < e["high"]
    assert document["costs"]["figures"]["tdp_w"]["source"] == "nvidia-h100-datasheet"

    pytest.importorskip("torch")
    model = tmp_path / "net.py"
    model.write_text(
        "import torch\n"
        "def build(width):\n"
        "    return torch.nn.Sequential(torch.nn.Linear(8, width), torch.nn.Linear(width, 2))\n"
    )
    out = CliRunner().invoke(
        cli,
        ["estimate", "--model", f"{model}:build(16)", "--input-shape", "4x8", "--samples", "40",
         "--hardware", "l4", "--precision", "fp16"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    assert "counted on meta tensors" in out.output and "NVIDIA L4" in out.output
    assert "interval" in out.output and "kWh" in out.output


def test_estimate_usage_errors(cli):
    out = CliRunner().invoke(cli, ["estimate", "--model", "124M"])
    assert out.exit_code == 2 and "--tokens" in out.output
    out = CliRunner().invoke(cli, ["estimate", "--model", "x.py:f", "--steps", "3"])
    assert out.exit_code == 2 and "--input-shape" in out.output


def test_calibrate_stores_a_calibration_that_explain_then_uses(
    cli, trained, simulated_socket, no_user_calibration
):
    pytest.importorskip("torch")
    db, _ = trained
    out = CliRunner().invoke(
        cli,
        ["calibrate", "--hardware", "cpu-generic", "--device", "cpu", "--seconds", "0.02",
         "--rounds", "2", "--powercap-root", str(simulated_socket.root), "--json"],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    document = json.loads(out.output)
    assert document["saved_to"] == str(no_user_calibration)
    # constant power: all of it is idle; what the fit puts on FLOPs and bytes is noise
    assert document["idle_w"] == pytest.approx(PACKAGE_W + DRAM_W, rel=0.05)
    assert document["components"] == ["rapl:package-0", "rapl:package-0:dram"]
    assert document["samples"] == 10
    shown = json.loads(CliRunner().invoke(cli, ["calibrate", "--show"]).output)
    assert set(shown["devices"]) == {"cpu-generic"}

    explained = CliRunner().invoke(
        cli, ["explain", "last", "--db", str(db), "--hardware", "cpu-generic", "--json"]
    )
    costs = json.loads(explained.output)["costs"]
    assert costs["calibrated"] is True
    assert costs["figures"]["idle_w"]["label"] == "calibrated"
    assert costs["figures"]["idle_w"]["value"] == pytest.approx(document["idle_w"])
    plain = CliRunner().invoke(
        cli, ["explain", "last", "--db", str(db), "--hardware", "cpu-generic", "--no-calibration",
              "--json"],
    )  # fmt: skip
    assert json.loads(plain.output)["costs"]["calibrated"] is False


def run_module(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jouleflow.cli.explain", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_errors_exit_with_their_codes_and_say_what_to_do(tmp_path):
    missing = run_module("explain", "last", "--db", str(tmp_path / "none.db"))
    assert missing.returncode == 2
    assert "no run store" in missing.stderr and "fix:" in missing.stderr
    unknown = run_module("estimate", "--model", "1M", "--tokens", "1M", "--hardware", "tpu9")
    assert unknown.returncode == 2 and "unknown hardware" in unknown.stderr
    pytest.importorskip("torch")
    no_sensor = run_module(
        "calibrate", "--device", "cpu", "--powercap-root", str(tmp_path / "nothing"),
        "--seconds", "0.01", "--rounds", "1",
        env={"JOULEFLOW_NVML_LIBRARY": str(tmp_path / "no-libnvidia-ml.so")},
    )  # fmt: skip
    assert no_sensor.returncode == 1
    assert "no sensor measures the CPU" in no_sensor.stderr
    assert not (tmp_path / "calibration.json").exists()
