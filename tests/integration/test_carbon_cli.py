"""`jouleflow carbon` and the carbon options, driven as a user would: exit codes, output, files."""

import json
import os
import subprocess
import sys
import time

import click
import pytest
from click.testing import CliRunner

from jouleflow.cli.carbon import carbon_options, register
from jouleflow.records import ComponentEnergy, ComponentKind, Method, RunResult
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket

JOULEFLOW = [sys.executable, "-m", "jouleflow"]
CARBON = [sys.executable, "-m", "jouleflow.cli.carbon"]


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOULEFLOW_", "ELECTRICITY"))}
    return {**env, **extra}


def result_document(energy_j=3_600_000.0, started_at="2024-05-01T13:30:00.000+00:00"):
    result = RunResult(
        run_id="0123456789abcdef",
        name="train",
        command=("python", "train.py"),
        started_at=started_at,
        window_ns=(0, 3600 * 10**9),
        exit_code=0,
        status="completed",
        components=(
            ComponentEnergy(
                id="rapl:package-0",
                kind=ComponentKind.CPU_PACKAGE,
                energy_j=energy_j,
                method=Method.COUNTER,
                source="powercap",
                uncertainty_j=0.0,
                label="CPU package-0",
            ),
        ),
        phases=(),
        unattributed_j={},
        sensors=(),
        warnings=(),
        host={},
        sample_interval_s=0.1,
        samples=2,
    )
    return result.to_dict()


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    for name in ("JOULEFLOW_REGION", "ELECTRICITYMAPS_TOKEN", "JOULEFLOW_ELECTRICITYMAPS_URL"):
        monkeypatch.delenv(name, raising=False)
    (work / "result.json").write_text(json.dumps(result_document()))
    return work


@pytest.fixture
def group():
    @click.group()
    def cli():
        pass

    register(cli)
    return cli


def invoke(group, *args):
    return CliRunner().invoke(group, ["carbon", *args], catch_exceptions=False)


def test_carbon_json_for_a_region(workdir, group):
    out = invoke(group, "result.json", "--region", "FR", "--json")
    assert out.exit_code == 0, out.output
    document = json.loads(out.stdout)
    carbon = document["carbon"]
    assert carbon["co2e_g"] == pytest.approx(41.44)  # 1 kWh x 41.44 g/kWh x PUE 1
    assert carbon["intensity_source"] == "Ember via Our World in Data"
    assert carbon["intensity_year"] == 2025 and carbon["pue"] == 1.0
    assert carbon["region_source"] == "--region" and document["what_if"] is None


def test_compare_lists_the_same_energy_elsewhere(workdir, group):
    out = invoke(
        group, "result.json", "--region", "FR", "--compare", "FR,DE,US-CA,gcp:europe-north1"
    )
    assert out.exit_code == 0, out.output
    assert "carbon  41.44 g CO2e · FR (France)" in out.stdout
    assert "the same energy elsewhere" in out.stdout and "gcp:europe-north1" in out.stdout
    assert "329.65 g CO2e" in out.stdout  # DE
    as_json = json.loads(
        invoke(group, "result.json", "--compare", "DE,aws:us-east-1", "--json").stdout
    )
    zones = {z["zone"]: z for z in as_json["what_if"]["zones"]}
    assert zones["aws:us-east-1"]["operational_co2e_g"] == pytest.approx(415.755 * 1.15)
    assert as_json["carbon"]["zone"] is None  # region not set: the world average, and a note
    assert as_json["carbon"]["notes"][0].startswith("region not set")


def test_series_gives_flexible_start_and_pause_with_the_caveat(workdir, group):
    rows = "".join(f"2024-05-01T{h:02d}:00:00Z,{300 - 10 * h}\n" for h in range(24))
    (workdir / "grid.csv").write_text("timestamp,gco2e_per_kwh\n" + rows)
    out = invoke(group, "result.json", "--region", "DE", "--intensity", "grid.csv", "--json")
    assert out.exit_code == 0, out.output
    document = json.loads(out.stdout)
    assert document["carbon"]["co2e_g"] == pytest.approx(165.0)  # 13:30-14:30: (170 + 160) / 2
    whatif = document["what_if"]
    assert whatif["flexible_start"]["actual"]["operational_co2e_g"] == pytest.approx(165.0)
    assert whatif["flexible_start"]["best"]["operational_co2e_g"] == pytest.approx(70.0)
    assert whatif["pause_when_dirty"]["operational_co2e_g"] < 165.0
    assert "marginal" in whatif["caveat"]
    text = invoke(group, "result.json", "--intensity", "grid.csv").stdout
    assert "flexible start" in text and "pause when dirty" in text and "caveat:" in text


def test_embodied_flag_and_overrides(workdir, group):
    out = invoke(group, "result.json", "--region", "FR", "--embodied", "--json")
    embodied = json.loads(out.stdout)["carbon"]["embodied"]
    assert embodied["co2e_g"] == pytest.approx(1000 * 1000 * 3600 / (4 * 31_557_600))
    out = invoke(group, "result.json", "--embodied", "gpus=8,life=5", "--region", "FR", "--json")
    assert json.loads(out.stdout)["carbon"]["embodied"]["gpus"] == 8


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "Frnace"], "unknown zone 'Frnace'; closest matches: FR (France)"),
        (["--compare", "FR,us-east-1"], "closest matches: aws:us-east-1"),
        (["--pue", "0.5"], "PUE 0.5 from --pue is out of range"),
        (["--intensity", "missing.csv"], "cannot read"),
        (["--embodied", "watts=3"], "unknown embodied setting 'watts'"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(workdir, group, args, message):
    out = invoke(group, "result.json", *args)
    assert out.exit_code == 2
    assert out.stdout == ""
    assert out.stderr.startswith("jouleflow: error: ") and message in out.stderr


def test_bad_series_file_names_the_line(workdir, group):
    (workdir / "bad.csv").write_text("timestamp,intensity\n2024-05-01T00:00Z,10\nyesterday,20\n")
    out = invoke(group, "result.json", "--intensity", "bad.csv")
    assert out.exit_code == 2 and "bad.csv:3: bad timestamp 'yesterday'" in out.stderr


def test_bad_result_files(workdir, group):
    (workdir / "notjson.json").write_text("{\n  oops")
    (workdir / "other.json").write_text('{"hello": 1}')
    for name, message in [
        ("nothing.json", "no result file 'nothing.json'"),
        ("notjson.json", "notjson.json:2: not JSON"),
        ("other.json", "other.json is not a jouleflow result document"),
    ]:
        out = invoke(group, name)
        assert out.exit_code == 2 and message in out.stderr, out.stderr


def test_the_recorded_region_is_reused(workdir, group):
    document = result_document()
    document["carbon"] = {"zone": "SE", "zone_kind": "country", "region_source": "--region"}
    (workdir / "recorded.json").write_text(json.dumps(document))
    carbon = json.loads(invoke(group, "recorded.json", "--json").stdout)["carbon"]
    assert carbon["zone"] == "SE" and carbon["region_source"].startswith("the result document")
    again = json.loads(invoke(group, "recorded.json", "--region", "FR", "--json").stdout)
    assert again["carbon"]["zone"] == "FR"


def test_carbon_options_resolve_before_the_command_body(workdir):
    calls = []

    @click.command()
    @carbon_options
    @click.argument("command", nargs=-1)
    def run(command, carbon):
        calls.append((command, carbon))

    bad = CliRunner().invoke(run, ["--region", "Atlantis", "--", "true"])
    assert bad.exit_code == 2 and "unknown zone 'Atlantis'" in bad.stderr and calls == []
    ok = CliRunner().invoke(run, ["--region", "FR", "--embodied", "--", "true"])
    assert ok.exit_code == 0, ok.output
    (command, settings) = calls[0]
    assert command == ("true",) and settings.zone.code == "FR" and settings.embodied is not None
    assert settings.region_origin == "--region"


@pytest.fixture
def rapl(tmp_path):
    tree = single_socket(tmp_path / "sys")
    traces = {z.link: ConstantPower(w) for z, w in zip(tree.zones, (30.0, 20.0, 5.0))}
    with PowercapSimulator(tree, traces, process=True):
        time.sleep(0.1)
        yield clean_env(JOULEFLOW_POWERCAP_ROOT=str(tree.root))


def test_end_to_end_from_jouleflow_run_json(rapl, tmp_path):
    out = tmp_path / "result.json"
    measured = subprocess.run(
        [*JOULEFLOW, "run", "--no-gpu", "--json", str(out), "--", sys.executable, "-c", "pass"],
        capture_output=True,
        text=True,
        env=rapl,
        cwd=tmp_path,
        timeout=60,
    )
    assert measured.returncode == 0, measured.stderr
    total_j = json.loads(out.read_text())["total_j"]
    carbon = subprocess.run(
        [*CARBON, str(out), "--region", "FR", "--json"],
        capture_output=True,
        text=True,
        env=rapl,
        cwd=tmp_path,
        timeout=60,
    )
    assert carbon.returncode == 0, carbon.stderr
    document = json.loads(carbon.stdout)["carbon"]
    assert document["co2e_g"] == pytest.approx(total_j / 3_600_000 * 41.44, rel=1e-12)
    unknown = subprocess.run(
        [*CARBON, str(out), "--region", "XX-Nowhere"],
        capture_output=True,
        text=True,
        env=rapl,
        cwd=tmp_path,
        timeout=60,
    )
    assert unknown.returncode == 2 and "unknown zone 'XX-Nowhere'" in unknown.stderr


def _run_is_wired():
    from jouleflow.cli.main import cli

    return "--region" in {opt for p in cli.commands["run"].params for opt in p.opts}


@pytest.mark.skipif(not _run_is_wired(), reason="`jouleflow run` has no carbon options yet")
def test_jouleflow_run_region_prints_carbon_next_to_energy(rapl, tmp_path):
    out = tmp_path / "result.json"
    child = [sys.executable, "-c", "import time; time.sleep(0.2)"]
    measured = subprocess.run(
        [*JOULEFLOW, "run", "--no-gpu", "--region", "FR", "--json", str(out), "--", *child],
        capture_output=True,
        text=True,
        env=rapl,
        cwd=tmp_path,
        timeout=60,
    )
    assert measured.returncode == 0, measured.stderr
    assert "carbon  " in measured.stderr and "FR (France)" in measured.stderr
    document = json.loads(out.read_text())
    carbon = document["carbon"]
    assert carbon["zone"] == "FR" and carbon["intensity_year"] == 2025
    assert carbon["intensity_source"] and carbon["pue"] == 1.0 and carbon["pue_source"]
    assert carbon["co2e_g"] == pytest.approx(document["total_j"] / 3_600_000 * 41.44, rel=1e-6)


def test_import_jouleflow_does_not_load_the_carbon_layer():
    code = (
        "import sys, jouleflow, jouleflow.cli.carbon; "
        "print(sorted(m for m in sys.modules if m.startswith('jouleflow.carbon')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_custom_loader_can_supply_the_energy_timeline(workdir):
    from jouleflow.cli.carbon import LoadedRun, load_result_file

    rows = "".join(f"2024-05-01T{h:02d}:00:00Z,{100 * (h % 2) + 50}\n" for h in range(24))
    (workdir / "grid.csv").write_text("timestamp,g\n" + rows)
    start = 1714570200.0  # 13:30 UTC: 13:00 is at 150 g/kWh, 14:00 at 50

    def from_store(run):
        loaded = load_result_file("result.json")
        assert run == "abc123"
        timeline = [(start + 1800, 3_600_000.0), (start + 3600, 0.0)]  # all of it before 14:00
        return LoadedRun(loaded.result, loaded.document, timeline)

    @click.group()
    def cli():
        pass

    register(cli, load_run=from_store)
    out = CliRunner().invoke(cli, ["carbon", "abc123", "--intensity", "grid.csv", "--json"])
    assert out.exit_code == 0, out.output
    carbon = json.loads(out.stdout)["carbon"]
    assert carbon["co2e_g"] == pytest.approx(150.0)  # evenly spread it would be 100
    assert carbon["energy_profile"] == "the run's energy timeline (2 intervals)"
