"""Long uploads become background jobs: the page never blocks (issue 17).

In headless Chromium against the real waitress server: a query returns at
once with a job page that advances through its stages (progress bar, ETA),
survives a reload, then shows the top 5; a full queue answers with its 503
page; a 1x1 upload gets a 400 page with the reason.  The extractor and the
matcher are slowed down on purpose (a plaintext twin of HESIFT that sleeps),
so the stages are visible without a 2048-bit key's minutes of work.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request

import pytest

from hesift.gallery import Gallery
from hesift.web import jobs
from hesift.web.server import BackgroundServer, make_server

try:
    from gallery_helpers import FAST, NAMES, finish_job, photo, png_bytes, rotated
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, NAMES, finish_job, photo, png_bytes, rotated

WAIT_S = 60
FEATURES_S, MATCHING_S = 2.5, 1.5


class SlowExtractor:
    """The plaintext twin (same features, same feature_id), slowed down per image."""

    def __init__(self, inner, delay: float) -> None:
        self.inner, self.delay, self.feature_id = inner, delay, inner.feature_id

    def __call__(self, gray):
        time.sleep(self.delay)
        return self.inner(gray)


class SlowGallery(Gallery):
    def query(self, image, k: int = 5):
        time.sleep(MATCHING_S)
        return super().query(image, k)


@pytest.fixture
def site(tmp_path):
    db = tmp_path / "jobs.sqlite3"
    g = Gallery(db, extractor=FAST, max_side=None)
    for n in NAMES:
        g.add(photo(n), name=n)
    slow = SlowGallery(db, extractor=SlowExtractor(FAST, FEATURES_S), max_side=None)
    jobs.configure(workers=1, max_queued=1)
    with BackgroundServer(make_server(slow, "127.0.0.1", 0, threads=4)) as srv:
        yield srv.url, slow
    jobs.configure()


def _upload(browser, url: str, path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(url + "/")
    browser.find_element(By.ID, "image").send_keys(str(path))
    browser.find_element(By.ID, "search-button").click()


def _wait(browser, css: str, timeout: float = WAIT_S):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def _job_state(browser) -> tuple[str, str, float] | None:
    """(state, stage, progress) shown by the job page, or None once it left it."""
    return browser.execute_script(
        "var b = document.getElementById('job'); var p = document.getElementById('progress');"
        "return b ? [b.dataset.state, b.dataset.stage, p ? p.value : 0] : null;")


@pytest.mark.browser
def test_query_becomes_a_job_that_advances_survives_a_reload_and_ends_in_the_top5(
        browser, site, tmp_path):
    from selenium.webdriver.common.by import By

    url, _ = site
    query = tmp_path / "query.png"
    query.write_bytes(png_bytes(rotated(photo("chelsea"), 25, 0.85)))
    t0 = time.time()
    _upload(browser, url, query)
    _wait(browser, "#job")  # the request returned at once with the job page
    assert time.time() - t0 < FEATURES_S + MATCHING_S
    job_url = browser.current_url
    assert "/jobs/" in job_url
    assert browser.find_elements(By.CSS_SELECTOR, "#stages li[data-stage='features']")
    assert browser.find_element(By.ID, "progress")
    seen, progress, reloaded = [], [], False
    while time.time() - t0 < WAIT_S:
        s = _job_state(browser)
        if s is None:
            break
        if s[1] not in seen:
            seen.append(s[1])
        progress.append(float(s[2] or 0))
        if s[1] == "features" and not reloaded:
            browser.refresh()  # a reload mid-job finds the same job again (its id is in the URL)
            _wait(browser, "#job, #results")
            assert browser.current_url == job_url
            reloaded = True
        time.sleep(0.1)
    assert reloaded
    assert "features" in seen and "matching" in seen
    assert seen.index("features") < seen.index("matching")
    assert max(progress) > min(progress)  # the bar moved
    _wait(browser, "#results li.result")
    items = browser.find_elements(By.CSS_SELECTOR, "#results li.result")
    assert [i.get_attribute("data-rank") for i in items] == ["1", "2", "3", "4", "5"]
    assert items[0].get_attribute("data-name") == "chelsea"
    assert browser.current_url == job_url  # the result lives at the job's address
    assert "Took" in browser.find_element(By.ID, "job-done").text


@pytest.mark.browser
def test_full_queue_gives_its_message(browser, site, tmp_path):
    from selenium.webdriver.common.by import By

    url, _ = site
    release = threading.Event()
    q = jobs.get_queue()
    running = q.submit("query", lambda job: release.wait(WAIT_S) and {}, [("features", "busy")])
    try:
        deadline = time.time() + 10
        while running.state != "running" and time.time() < deadline:
            time.sleep(0.05)
        waiting = q.submit("query", lambda job: {}, [("features", "waiting")])  # fills the queue
        query = tmp_path / "q.png"
        query.write_bytes(png_bytes(photo("camera")))
        _upload(browser, url, query)
        _wait(browser, "#error")
        assert "The server is busy" in browser.page_source
        assert "try again" in browser.find_element(By.ID, "error").text
    finally:
        release.set()
    deadline = time.time() + 10
    while waiting.state != "done" and time.time() < deadline:
        time.sleep(0.05)
    assert waiting.state == "done"


@pytest.mark.browser
def test_one_pixel_upload_gets_a_400_page_with_the_reason(browser, site, tmp_path):
    import cv2
    import numpy as np
    from selenium.webdriver.common.by import By

    url, _ = site
    tiny = tmp_path / "dot.png"
    cv2.imwrite(str(tiny), np.zeros((1, 1), np.uint8))
    _upload(browser, url, tiny)
    _wait(browser, "#error")
    assert "too small: 1x1 pixels" in browser.find_element(By.ID, "error").text
    assert "/jobs/" not in browser.current_url  # refused before any job (status: next test)


def test_job_status_json_and_unknown_job(site):
    url, g = site
    from django.test import Client

    c = Client()
    q = png_bytes(rotated(photo("coffee"), 10, 0.9))
    from django.core.files.uploadedfile import SimpleUploadedFile

    r = c.post("/", {"image": SimpleUploadedFile("q.png", q, content_type="image/png")})
    assert r.status_code == 302
    status = json.loads(c.get(r["Location"].rstrip("/") + ".json").content)
    assert status["state"] in ("queued", "running") and status["stages"][0] == "features"
    assert 0.0 <= status["progress"] < 1.0
    page = finish_job(c, r)
    assert page.status_code == 200 and b'data-name="coffee"' in page.content
    assert json.loads(c.get(r["Location"].rstrip("/") + ".json").content)["state"] == "done"
    assert c.get("/jobs/nope/").status_code == 404
    assert c.get("/jobs/nope.json").status_code == 404
    tiny = png_bytes(np_zeros((1, 1)))
    r = c.post("/", {"image": SimpleUploadedFile("dot.png", tiny, content_type="image/png")})
    assert r.status_code == 400 and b"too small: 1x1 pixels" in r.content
    r = c.post("/add/", {"images": SimpleUploadedFile("dot.png", tiny, content_type="image/png")})
    assert r.status_code == 400 and b"too small" in r.content
    with urllib.request.urlopen(url + "/", timeout=30) as resp:  # the page still answers
        assert resp.status == 200


def np_zeros(shape):
    import numpy as np

    return np.zeros(shape, np.uint8)
