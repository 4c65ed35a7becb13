"""Shared data for the matching/gallery/CLI/web tests: small real photos, cached features.

Retrieval-logic tests use ReferenceExtractor (sift_reference: bit-identical to
HESIFT, no encryption) wrapped in a cache, so each photo is processed once per
test session.  Encryption itself is exercised by the HESIFT-extractor tests.
"""

from __future__ import annotations

import functools
import hashlib

import cv2
import numpy as np
import skimage.data as skd

from hesift.gallery import ReferenceExtractor

SIDE = 160  # small photos keep the suite fast
NAMES = ("astronaut", "camera", "coffee", "chelsea", "rocket", "coins", "immunohistochemistry")


@functools.cache
def photo(name: str, side: int = SIDE) -> np.ndarray:
    """A bundled scikit-image photo as uint8 BGR/gray with longer side ``side``."""
    a = getattr(skd, name)()
    if a.ndim == 3:
        a = cv2.cvtColor(a, cv2.COLOR_RGB2BGR)
    s = side / max(a.shape[:2])
    out = cv2.resize(a, (round(a.shape[1] * s), round(a.shape[0] * s)), interpolation=cv2.INTER_AREA)
    out.setflags(write=False)
    return out


def rotated(img: np.ndarray, angle: float = 20.0, scale: float = 0.9) -> np.ndarray:
    h, w = img.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_REFLECT)


def png_bytes(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


class CachedReference(ReferenceExtractor):
    """sift_reference, memoised on the image bytes (same feature_id as HESIFT)."""

    _cache: dict[str, tuple] = {}

    def __call__(self, gray):
        key = hashlib.sha256(gray.tobytes() + str(gray.shape).encode()).hexdigest()
        if key not in self._cache:
            self._cache[key] = super().__call__(gray)
        return self._cache[key]


FAST = CachedReference()


def finish_job(client, response, timeout: float = 60):
    """An upload answers with a redirect to its background job: wait for the job to end,
    then return its page (any other response is returned as it is)."""
    import time

    from hesift.web import jobs

    if response.status_code != 302 or "/jobs/" not in response["Location"]:
        return response
    job = jobs.get_queue().get(response["Location"].rstrip("/").rsplit("/", 1)[1])
    t0 = time.time()
    while job is not None and job.state not in ("done", "failed") and time.time() - t0 < timeout:
        time.sleep(0.05)
    return client.get(response["Location"])
