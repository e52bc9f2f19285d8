"""Browser tests: the system Chromium (Debian ``chromium`` + ``chromium-driver``) driven through Selenium.

One browser for the whole session. Without the browser these tests are skipped and the run ends with one
line saying how to run them. Screenshots of each main page (zh-CN and en) go to build/screenshots/.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "build" / "screenshots"
HOW = ("browser tests skipped: no chromium/chromedriver on PATH; run them with "
       "`sudo apt-get install -y chromium chromium-driver && make test` (.ci/run installs them)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1280,900"]


def _binaries() -> tuple[str, str] | None:
    browser = os.environ.get("DEALREG_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("DEALREG_CHROMEDRIVER") or shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def pytest_collection_modifyitems(config, items):
    here = str(Path(__file__).parent)
    mine = [item for item in items if str(item.fspath).startswith(here)]
    for item in mine:
        # one xdist worker runs them all, so `make test -n auto` starts one browser (`--dist loadgroup`)
        item.add_marker(pytest.mark.xdist_group("browser"))
    if _binaries() is None:
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=HOW))


def pytest_terminal_summary(terminalreporter):
    # from the reports, not a flag: under xdist collection happens in the workers, the summary in the controller
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        if isinstance(longrepr, tuple) and len(longrepr) == 3 and longrepr[2].removeprefix("Skipped: ") == HOW:
            terminalreporter.write_line(HOW, yellow=True)
            return


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    found = _binaries()
    assert found is not None
    os.environ.setdefault("SE_OFFLINE", "true")  # never let Selenium Manager look for a driver online
    profile = tempfile.mkdtemp(prefix="dealreg-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = found[0]
    for flag in FLAGS + [f"--user-data-dir={profile}"]:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=found[1]), options=opts)
    driver.set_page_load_timeout(30)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
