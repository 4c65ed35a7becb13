"""End to end in headless Chromium: upload a photo on the real page, see 5 ranked results.

Chromium and its driver come from Debian (``chromium``, ``chromium-driver``),
installed by ``.ci/run``; the tests never install anything and skip with a
one-line reason when either binary is missing.  Selenium is pointed at the
local chromedriver so it never tries to download a driver.
"""

from __future__ import annotations

import pytest

from hesift.gallery import Gallery
from hesift.web.server import BackgroundServer, make_server

try:
    from gallery_helpers import FAST, NAMES, photo, png_bytes, rotated
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, NAMES, photo, png_bytes, rotated

pytestmark = pytest.mark.browser

WAIT_S = 60


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
