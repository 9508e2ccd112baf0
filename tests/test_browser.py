"""The built smoke book in headless chromium, offline: every slider and menu changes its figure.

Needs Debian's chromium and the npm package playwright-core (``bash scripts/setup_browser.sh``);
skipped, with the reason, when either is missing. Screenshots go to test-artifacts/browser/.
A slow test also opens the RTSU explorer notebook in a local JupyterLab (when installed) and moves a
live ipywidgets slider.
"""

import importlib.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT
from rtsu_lib.book_assets import STATIC_EXPLORERS_ENV

CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
DRIVER = ROOT / "tests" / "browser" / "check_book.mjs"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
PAGES_WITH_CONTROLS = {  # page -> number of controls: sliders and menus
    "executed/rtsu_explorer": 5,  # angle, shift x, shift y; scheme, data set
    "executed/fig6_11_generating_functions": 4,  # variant, transform; strength, training image
}


def missing_browser_tools() -> list[str]:
    missing = []
    if not CHROMIUM.is_file():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if shutil.which("node") is None:
        missing.append("node")
    if not (ROOT / "node_modules" / "playwright-core").is_dir():
        missing.append("node_modules/playwright-core (npm ci)")
    return missing


@pytest.fixture(scope="module")
def browser_report(smoke_book):
    missing = missing_browser_tools()
    if missing:
        reason = f"browser tests need {', '.join(missing)}: run bash scripts/setup_browser.sh"
        print(reason)
        pytest.skip(reason)
    folder, _, built = smoke_book
    assert built.returncode == 0, built.stderr[-3000:]
    html = folder / "_build" / "html"
    pages = [html / "intro.html"] + sorted((html / "executed").glob("*.html"))
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    done = subprocess.run(["node", str(DRIVER), str(ARTIFACTS), *map(str, pages)], cwd=ROOT, text=True,
                          capture_output=True, timeout=600, env=dict(os.environ, CHROMIUM=str(CHROMIUM)))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    (ARTIFACTS / "report.json").write_text(json.dumps(report, indent=1))
    pages = {str(Path(page["page"]).relative_to(html).with_suffix("")): page for page in report["pages"]}
    return pages, report["blocked"]


def test_no_page_reaches_the_network_or_logs_an_error(browser_report):
    pages, blocked = browser_report
    assert blocked == []
    for name, page in pages.items():
        assert page["nonFileRequests"] == [], name
        assert page["consoleErrors"] == [] and page["pageErrors"] == [], name


@pytest.mark.parametrize("page", sorted(PAGES_WITH_CONTROLS))
def test_every_control_moves_and_changes_its_figure(browser_report, page):
    controls = browser_report[0][page]["controls"]
    assert len(controls) == PAGES_WITH_CONTROLS[page]
    for control in controls:
        assert control["moved"], control
        assert control["changed"], control
        assert Path(control["screenshot"]).is_file()


def test_only_the_explorer_pages_have_controls(browser_report):
    with_controls = {name for name, page in browser_report[0].items() if page["controls"]}
    assert with_controls == set(PAGES_WITH_CONTROLS)


@pytest.fixture
def jupyterlab_server(tmp_path):
    """A JupyterLab on 127.0.0.1 serving a copy of the RTSU explorer notebook (live view: no static flag)."""
    if importlib.util.find_spec("jupyterlab") is None:
        pytest.skip("JupyterLab is not installed (it is not a dependency): pip install jupyterlab")
    shutil.copy(ROOT / "book" / "notebooks" / "rtsu_explorer.ipynb", tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    env = {key: value for key, value in os.environ.items() if key != STATIC_EXPLORERS_ENV}
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={tmp_path}"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(f"{url}/api/status?token={token}")
        yield url, token
    finally:
        server.terminate()
        server.wait(timeout=30)


def _wait_until_serving(url, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer at {url} within {seconds} s")


@pytest.mark.slow
def test_the_notebook_in_jupyterlab_shows_live_widgets_that_redraw(jupyterlab_server):
    missing = missing_browser_tools()
    if missing:
        pytest.skip(f"browser tests need {', '.join(missing)}: run bash scripts/setup_browser.sh")
    url, token = jupyterlab_server
    driver = ROOT / "tests" / "browser" / "check_live_lab.mjs"
    env = dict(os.environ, CHROMIUM=str(CHROMIUM), LAB_TOKEN=token)
    done = subprocess.run(["node", str(driver), url, "rtsu_explorer.ipynb", str(ARTIFACTS)], cwd=ROOT,
                          text=True, capture_output=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout)
    assert report["sliders"] == 3 and report["readoutsAfter"][0] != report["readoutsBefore"][0]
    assert report["figureChanged"] and report["pageErrors"] == [] and report["blocked"] == []
