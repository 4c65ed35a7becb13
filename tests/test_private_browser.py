"""The remote-gallery page in headless Chromium: upload -> private query -> top 5.

Two servers in one process: a gallery server (``hesift serve --db``) and the
key owner's page (``hesift serve --remote-gallery URL``) that queries it
privately.  The page's results must name the right image, show thumbnails
that load and a match drawing, and the gallery server must have received a
private query (its index answered one).
"""

from __future__ import annotations

import pytest

import hepaillier_core as hc
from hesift.gallery import Gallery, PrivateClient, PrivateIndex
from hesift.web import private_api
from hesift.web.remote_server import make_remote_server
from hesift.web.server import BackgroundServer, make_server

try:
    from gallery_helpers import FAST, NAMES, photo, png_bytes, rotated
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, NAMES, photo, png_bytes, rotated

pytestmark = pytest.mark.browser
WAIT_S = 120


class _Counting(PrivateIndex):
    answered = 0

    def answer(self, data, stats=None):
        type(self).answered += 1
        return super().answer(data, stats)


@pytest.fixture
def remote_site(tmp_path):
    from hesift.web import state

    g = Gallery(tmp_path / "remote.sqlite3", extractor=FAST, max_side=None)
    for n in NAMES:
        g.add(photo(n), name=n)
    gallery_srv = make_server(g, "127.0.0.1", 0, threads=2)
    private_api.set_index(_Counting(g, words=256, allowed_bits=(512,), fetch_count=6))
    with BackgroundServer(gallery_srv) as gs:
        client = PrivateClient(gs.url, keypair=hc.generate_keypair(512, insecure=True),
                               extractor=FAST)
        with BackgroundServer(make_remote_server(client, "127.0.0.1", 0, threads=2)) as page:
            yield page.url, gs.url
    private_api.set_index(None)
    state.set_gallery(None)


def test_remote_gallery_page_private_top5(browser, remote_site, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, gallery_url = remote_site
    query = tmp_path / "query.png"
    query.write_bytes(png_bytes(rotated(photo("chelsea"), 25, 0.85)))
    browser.get(url + "/")
    assert "privately" in browser.page_source and gallery_url in browser.page_source
    before = _Counting.answered
    browser.find_element(By.ID, "image").send_keys(str(query))
    browser.find_element(By.ID, "search-button").click()
    WebDriverWait(browser, WAIT_S).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#results li.result")))
    items = browser.find_elements(By.CSS_SELECTOR, "#results li.result")
    assert len(items) == 5
    assert [i.get_attribute("data-rank") for i in items] == ["1", "2", "3", "4", "5"]
    assert items[0].get_attribute("data-name") == "chelsea"
    thumbs = browser.find_elements(By.CSS_SELECTOR, "#results img.thumb")
    assert len(thumbs) == 5
    assert all(browser.execute_script("return arguments[0].naturalWidth", t) > 0 for t in thumbs)
    assert items[0].find_elements(By.CSS_SELECTOR, "img.drawing")
    assert _Counting.answered == before + 1
    # the other pages of the site say where images are managed; a non-image is refused
    browser.get(url + "/add/")
    assert "remote gallery" in browser.page_source
    bad = tmp_path / "notes.png"
    bad.write_text("not an image at all")
    browser.get(url + "/")
    browser.find_element(By.ID, "image").send_keys(str(bad))
    browser.find_element(By.ID, "search-button").click()
    WebDriverWait(browser, WAIT_S).until(ec.presence_of_element_located((By.ID, "error")))
    assert "not a readable image" in browser.find_element(By.ID, "error").text
