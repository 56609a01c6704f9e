"""The HTML report of a stored run, opened in a real headless browser (Debian's chromium).

Needs /usr/bin/chromium (``.ci/install-browser.sh`` installs it) and the ``playwright`` Python
package (the dev extra); it never downloads a browser. Screenshots are saved under
``$JOULEFLOW_TEST_ARTIFACTS`` (else the test's tmp_path) as test artifacts.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import jouleflow
from jouleflow.cli.report import register
from jouleflow.testing import ConstantPower, PowercapSimulator, single_socket

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="no /usr/bin/chromium: run .ci/install-browser.sh (apt-get install chromium)",
    ),
]


@pytest.fixture(scope="module")
def stored_runs(tmp_path_factory) -> Path:
    """Two runs in a store, on a simulated socket (40 W package, 6 W DRAM), with phases."""
    base = tmp_path_factory.mktemp("report")
    db = base / "runs.db"
    tree = single_socket(base / "sys")
    traces = {z.link: ConstantPower(w) for z, w in zip(tree.zones, (40.0, 25.0, 6.0))}
    with PowercapSimulator(tree, traces, process=True):
        time.sleep(0.1)
        for name, steps in (("baseline", 4), ("tuned", 6)):
            with jouleflow.track(
                name, db=db, powercap_root=str(tree.root), gpus=False, interval_s=0.02
            ) as run:
                with run.phase("load"):
                    time.sleep(0.1)
                for _ in range(steps):
                    with run.phase("train"):
                        time.sleep(0.04)
                    with run.phase("eval"):
                        time.sleep(0.01)
                run.count(samples=64 * steps)
    return db


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def artifacts(tmp_path) -> Path:
    folder = Path(os.environ.get("JOULEFLOW_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def write_report(db: Path, out: Path, *runs: str) -> None:
    pytest.importorskip("plotly", reason="the HTML report needs the report extra (plotly)")

    @click.group()
    def cli() -> None:
        """A group like jouleflow's."""

    register(cli)
    done = CliRunner().invoke(
        cli, ["report", *runs, "--html", str(out), "--db", str(db)], catch_exceptions=False
    )
    assert done.exit_code == 0, done.stderr


def open_offline(browser, path: Path):
    """The page, with every request that is not the file itself recorded and refused."""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors: list[str] = []
    fetched: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def refuse(route):
        fetched.append(route.request.url)
        route.abort()

    page.route("http*://**/*", refuse)
    page.goto(path.as_uri())
    return page, errors, fetched


def drawn(page, selector: str) -> int:
    """How many of these SVG paths have a non-empty outline."""
    page.wait_for_selector(selector, state="attached", timeout=10_000)
    return page.eval_on_selector_all(
        selector, "els => els.filter(e => (e.getAttribute('d') || '').length > 4).length"
    )


def test_a_stored_run_renders_in_a_real_browser(stored_runs, browser, artifacts, tmp_path):
    out = tmp_path / "report.html"
    write_report(stored_runs, out, "last")
    page, errors, fetched = open_offline(browser, out)
    try:
        assert drawn(page, "#jf-sankey path.sankey-link") >= 4  # total → 3 components, → phases
        assert page.locator("#jf-sankey .sankey-node rect").count() >= 6
        assert drawn(page, "#jf-timeline .scatterlayer path.js-fill") >= 2  # package + DRAM
        assert drawn(page, "#jf-timeline .barlayer path") >= 3  # load, train, eval bands
        assert "estimated" in page.inner_text("#jf-components")
        page.screenshot(path=str(artifacts / "report-single.png"), full_page=True)
    finally:
        page.close()
    assert errors == []
    assert fetched == []  # works offline: nothing was asked of the network


def test_two_stored_runs_side_by_side_in_a_real_browser(stored_runs, browser, artifacts, tmp_path):
    from jouleflow.store import RunStore

    with RunStore.open(stored_runs) as store:
        ids = [run.id for run in store.runs()]
    out = tmp_path / "compare.html"
    write_report(stored_runs, out, ids[1][:8], ids[0][:8])
    page, errors, fetched = open_offline(browser, out)
    try:
        for side in ("a", "b"):
            assert drawn(page, f"#{side}-sankey path.sankey-link") >= 4
            assert drawn(page, f"#{side}-timeline .scatterlayer path.js-fill") >= 2
        assert drawn(page, "#jf-compare-bars .barlayer path") >= 2
        page.screenshot(path=str(artifacts / "report-compare.png"), full_page=True)
    finally:
        page.close()
    assert errors == [] and fetched == []
