"""Shared fixtures: small keys keep the suite fast; a few tests use 2048-bit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

try:
    import hepaillier_core as hc  # noqa: E402
except ImportError as e:  # pragma: no cover - a set-up problem, not a test failure
    raise pytest.UsageError(
        f"hepaillier_core's compiled core is not importable ({e}). Running from the source "
        "tree needs an editable install: pip install -e \".[test]\"") from None


@pytest.fixture(scope="session")
def keys512():
    return hc.generate_keypair(512, insecure=True)


@pytest.fixture(scope="session")
def keys1024():
    return hc.generate_keypair(1024, insecure=True)


@pytest.fixture(scope="session")
def keys2048():
    return hc.generate_keypair(2048)


@pytest.fixture(scope="session")
def other_keys():
    return hc.generate_keypair(512, insecure=True)


# --- headless Chromium for the browser tests (installed by .ci/run, never by the tests) ---

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def _find(names: tuple[str, ...], default: str) -> str | None:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return default if Path(default).exists() else None


def chromium_paths() -> tuple[str, str] | str:
    """(chromium, chromedriver), or a one-line reason to skip.  Never installs anything."""
    chromium = _find(("chromium", "chromium-browser"), CHROMIUM)
    driver = _find(("chromedriver",), CHROMEDRIVER)
    missing = [n for n, v in (("chromium", chromium), ("chromedriver", driver)) if not v]
    if missing:
        return f"{' and '.join(missing)} not installed (.ci/run installs them)"
    return chromium, driver  # type: ignore[return-value]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session; skipped (one line) when it is not installed."""
    found = chromium_paths()
    if isinstance(found, str):
        pytest.skip(found)
    chromium, chromedriver = found
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,1600"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()
