"""``jouleflow report`` on result files and bad input: exit codes, messages, files written."""

from __future__ import annotations

import json
import sys

import click
import pytest
from click.testing import CliRunner

from jouleflow.cli.report import register


@pytest.fixture
def jouleflow_cli() -> click.Group:
    @click.group()
    def cli() -> None:
        """A group like jouleflow's, with only the report command."""

    register(cli)
    return cli


@pytest.fixture
def result_file(tmp_path, make_result):
    def write(name: str = "a.json", **kwargs):
        path = tmp_path / name
        path.write_text(json.dumps(make_result(**kwargs).to_dict()))
        return path

    return write


def invoke(cli: click.Group, *args: str):
    return CliRunner().invoke(cli, ["report", *args], catch_exceptions=False)


def test_unknown_run_exits_2_and_says_what_to_do(jouleflow_cli, tmp_path):
    done = invoke(jouleflow_cli, "nope", "--html", str(tmp_path / "r.html"), "--db",
                  str(tmp_path / "none.db"))  # fmt: skip
    assert done.exit_code == 2
    assert "jouleflow: error: no run store at" in done.stderr
    assert "jouleflow run" in done.stderr  # the fix
    assert not (tmp_path / "r.html").exists()


def test_a_result_file_becomes_a_report(jouleflow_cli, result_file, tmp_path):
    pytest.importorskip("plotly")
    out = tmp_path / "out" / "report.html"
    done = invoke(jouleflow_cli, str(result_file()), "--html", str(out))
    assert done.exit_code == 0, done.stderr
    assert f"wrote {out}" in done.stderr and "MB" in done.stderr
    html = out.read_text()
    assert "Where the energy went" in html and "No samples are stored" in html


def test_html_without_a_name_writes_next_to_you(jouleflow_cli, result_file, tmp_path, monkeypatch):
    pytest.importorskip("plotly")
    path = result_file()
    monkeypatch.chdir(tmp_path)
    done = invoke(jouleflow_cli, str(path), "--html")
    assert done.exit_code == 0, done.stderr
    assert (tmp_path / "jouleflow-report-3f2a9c41.html").is_file()


def test_two_runs_side_by_side(jouleflow_cli, result_file, tmp_path, monkeypatch):
    pytest.importorskip("plotly")
    a = result_file("a.json")
    b = result_file("b.json", run_id="9c41" + "2" * 28, seconds=120.0)
    monkeypatch.chdir(tmp_path)
    done = invoke(jouleflow_cli, str(a), str(b), "--html")
    assert done.exit_code == 0, done.stderr
    html = (tmp_path / "jouleflow-report-3f2a9c41-vs-9c412222.html").read_text()
    assert "B against A" in html and "+20.0%" in html


def test_what_if_zones(jouleflow_cli, result_file, tmp_path):
    pytest.importorskip("plotly")
    out = tmp_path / "r.html"
    done = invoke(jouleflow_cli, str(result_file()), "--html", str(out), "--compare", "DE,SE")
    assert done.exit_code == 0, done.stderr
    html = out.read_text()
    assert "What if" in html and 'id="jf-whatif"' in html
    bad = invoke(jouleflow_cli, str(result_file()), "--html", str(out), "--compare", "XX-NOPE")
    assert bad.exit_code == 2 and "unknown zone" in bad.stderr


def test_without_html_the_report_is_printed(jouleflow_cli, result_file):
    done = invoke(jouleflow_cli, str(result_file()))
    assert done.exit_code == 0
    assert "CPU package-0" in done.stdout and "carbon" in done.stdout
    assert "add --html" in done.stdout


def test_missing_plotly_exits_2_naming_the_extra(jouleflow_cli, result_file, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotly", None)  # as if it were not installed
    done = invoke(jouleflow_cli, str(result_file()), "--html", str(tmp_path / "r.html"))
    assert done.exit_code == 2
    assert "pip install 'jouleflow[report]'" in done.stderr


def test_not_a_result_file(jouleflow_cli, tmp_path):
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    done = invoke(jouleflow_cli, str(path))
    assert done.exit_code == 2 and "is not a jouleflow result document" in done.stderr
