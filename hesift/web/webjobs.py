"""What the page checks before it queues an upload, and the stages of its jobs.

An upload the CLI would refuse is refused here too, at once and with a reason
(400 / 413), never by a failing job: not decodable, too many pixels, too small
for SIFT, or an estimate over the site's time limit (``HESIFT_MAX_JOB_SECONDS``,
default one hour).  The estimate is the CLI's own cost model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hesift import estimate as E
from hesift.gallery import Gallery, HESIFTExtractor, ImageError, load_image

from .jobs import configure, get_queue

__all__ = ["MIN_SIDE", "QUERY_STAGES", "QUERY_WEIGHTS", "check_image", "configure", "estimate",
           "get_queue", "status_of"]

#: SIFT needs interior pixels: smaller uploads are refused with a reason (400).
MIN_SIDE = 16
QUERY_STAGES = [("features", "extracting features (SIFT on an encrypted scale space)"),
                ("matching", "matching against the gallery (FLANN + RANSAC)"),
                ("drawing", "drawing the matches")]
QUERY_WEIGHTS = [0.9, 0.05, 0.05]


def check_image(data: bytes) -> np.ndarray:
    """Decode an upload; ImageError (with the reason) for anything we would not process."""
    img = load_image(data)
    h, w = img.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ImageError(f"the image is too small: {w}x{h} pixels (SIFT needs at least "
                         f"{MIN_SIDE}x{MIN_SIDE})")
    return img


def estimate(gallery: Gallery, sizes: Sequence[tuple[int, int]], what: str) -> E.Estimate | None:
    """The cost model's estimate of extracting features of ``sizes`` with the gallery's
    extractor (None for a plaintext extractor); EstimateRefused over the site's limit."""
    from django.conf import settings

    ext = gallery.extractor
    if not isinstance(ext, HESIFTExtractor) or getattr(ext, "evaluator", None) is not None:
        return None
    total = None
    for h, w in sizes:
        e = E.estimate_gallery_add(h, w, key_bits=ext.key_bits, max_side=gallery.max_side,
                                   fast_decrypt=bool(getattr(ext, "fast_decrypt", False)),
                                   what=what)
        total = e if total is None else total + e
    limit = float(getattr(settings, "HESIFT_MAX_JOB_SECONDS", E.DEFAULT_MAX_TIME))
    if total is not None and limit and total.seconds > limit:
        raise E.EstimateRefused(
            f"{what} would take about {E.format_seconds(total.seconds)}, over this site's limit "
            f"of {E.format_seconds(limit)}; use a smaller image")
    return total


def status_of(e: Exception) -> int:
    """HTTP status of a refused upload: 413 for work over the site's limit, 400 for an image
    we do not process (unreadable, too small, more pixels than we decode)."""
    return 413 if isinstance(e, E.EstimateRefused) else 400
