"""End to end in headless Chromium: upload a photo on the real page, see 5 ranked results.

Chromium and its driver come from Debian (``chromium``, ``chromium-driver``);
the session fixture installs them when missing and running as root, and
skips with the reason otherwise.  Selenium is pointed at /usr/bin/chromedriver
so it never tries to download a driver.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hesift.gallery import Gallery
from hesift.web.server import BackgroundServer, make_server

try:
    from gallery_helpers import FAST, NAMES, photo, png_bytes, rotated
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, NAMES, photo, png_bytes, rotated

pytestmark = pytest.mark.browser

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM = "/usr/bin/chromium"
WAIT_S = 60


def _ensure_chromium() -> str | None:
    """Install Debian's chromium + chromium-driver if absent; return a skip reason or None."""
    if Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists():
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "chromium/chromium-driver missing and not root with apt-get to install them"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run("apt-get update -qq && apt-get install -y -qq chromium chromium-driver",
                       shell=True, check=True, env=env, timeout=900,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        err = getattr(e, "stderr", b"") or b""
        return f"installing chromium failed: {err.decode(errors='replace')[-300:]}"
    if not Path(CHROMEDRIVER).exists():
        return "chromium-driver installed but /usr/bin/chromedriver is absent"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _ensure_chromium()
    if reason:
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1280,1600"):
        opts.add_argument(a)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


@pytest.fixture
def site(tmp_path):
    g = Gallery(tmp_path / "browser.sqlite3", extractor=FAST, max_side=None)
    for n in NAMES:
        g.add(photo(n), name=n)
    with BackgroundServer(make_server(g, "127.0.0.1", 0, threads=2)) as srv:
        yield srv.url, g


def test_upload_photo_shows_five_ranked_results(browser, site, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, _ = site
    query = tmp_path / "query.png"
    query.write_bytes(png_bytes(rotated(photo("chelsea"), 25, 0.85)))
    browser.get(url + "/")
    assert "Find similar images" in browser.page_source
    browser.find_element(By.ID, "image").send_keys(str(query))
    browser.find_element(By.ID, "search-button").click()
    WebDriverWait(browser, WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#results li.result")))
    items = browser.find_elements(By.CSS_SELECTOR, "#results li.result")
    assert len(items) == 5
    assert [i.get_attribute("data-rank") for i in items] == ["1", "2", "3", "4", "5"]
    assert items[0].get_attribute("data-name") == "chelsea"
    scores = [float(i.get_attribute("data-score")) for i in items]
    assert scores == sorted(scores, reverse=True) and scores[0] > scores[1]
    # thumbnails really load (naturalWidth > 0) and the top result has a match drawing
    thumbs = browser.find_elements(By.CSS_SELECTOR, "#results img.thumb")
    assert all(browser.execute_script("return arguments[0].naturalWidth", t) > 0 for t in thumbs)
    assert items[0].find_elements(By.CSS_SELECTOR, "img.drawing")


def test_add_page_then_find_it(browser, site, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, g = site
    new = tmp_path / "moon.png"
    new.write_bytes(png_bytes(photo("moon")))
    browser.get(url + "/add/")
    browser.find_element(By.ID, "images").send_keys(str(new))
    browser.find_element(By.ID, "add-button").click()
    WebDriverWait(browser, WAIT_S).until(ec.presence_of_element_located((By.ID, "added")))
    assert "added moon" in browser.find_element(By.ID, "added").text
    assert "moon" in g
    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all")
    browser.get(url + "/")
    browser.find_element(By.ID, "image").send_keys(str(bad))
    browser.find_element(By.ID, "search-button").click()
    WebDriverWait(browser, WAIT_S).until(ec.presence_of_element_located((By.ID, "error")))
    assert "not a readable image" in browser.find_element(By.ID, "error").text
