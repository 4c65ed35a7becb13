"""benchmarks/gallery_eval.py: its data and table (the full run is a benchmark, not a test)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

ev = pytest.importorskip("benchmarks.gallery_eval")


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def test_gallery_has_20_distinct_photos_and_enough_distractors():
    photos = ev.gallery_photos()
    assert len(photos) >= 20
    assert len({_digest(a) for a in photos.values()}) == len(photos)
    assert all(min(a.shape[:2]) >= 150 for a in photos.values())
    extra = ev.distractors()
    assert len(photos) + len(extra) >= 100
    assert not {_digest(a) for a in extra.values()} & {_digest(a) for a in photos.values()}
    assert not set(ev.unrelated()) & set(photos)


@pytest.mark.parametrize("kind", ev.TRANSFORMS)
def test_transforms_change_the_image(kind):
    img = ev.gallery_photos()["camera"]
    out = ev.transform(img, kind)
    assert out.dtype == np.uint8 and out.size > 0
    assert out.shape != img.shape or not np.array_equal(out, img)


def test_table_formats_a_result():
    r = {"quick": True, "max_side": 480, "gallery_size": 21, "queries": 2, "unrelated_queries": 1,
         "top1": 1.0, "top5": 1.0, "true_score_min": 40, "true_score_median": 90,
         "unrelated_score_max": 4, "related_detected": 1.0, "gallery_features": {"clock": 10}, "unrelated_score_median": 0, "extract_s_per_image": 1.5,
         "per_transform": {"rotate30": {"n": 2, "top1": 2, "top5": 2}},
         "weakest": [(40, "clock", "rotate30", ["clock", "moon"])], "failures": [],
         "timing": [{"images": 25, "descriptors": 1000, "index_build_s": 0.1,
                     "query_ms_median": 20.0, "query_ms_max": 30.0, "top1": 1.0, "misses": []}]}
    text = ev.table(r)
    assert "| top-1 accuracy | 100.0% |" in text and "| 25 | 1000 |" in text
