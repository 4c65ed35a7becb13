"""hesift.matching: FLANN + ratio test + RANSAC, score separation, degenerate inputs."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from hesift.gallery.gallery import extract_features
from hesift.matching import MIN_INLIERS, draw_matches, match

try:
    from gallery_helpers import FAST, photo, rotated
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, photo, rotated


def feats(img):
    f = extract_features(img, FAST, None)
    return f.keypoints, f.descriptors


@pytest.fixture(scope="module")
def pairs():
    cam = feats(photo("camera"))
    cam_rot = feats(rotated(photo("camera"), 25, 0.85))
    ast = feats(photo("astronaut"))
    return cam, cam_rot, ast


def test_related_pair_scores_far_above_unrelated(pairs):
    (ka, da), (kb, db), (kc, dc) = pairs
    related = match(da, db, ka, kb)
    unrelated = match(dc, db, kc, kb)
    assert related.homography is not None
    assert related.score == related.num_inliers >= 3 * MIN_INLIERS
    assert unrelated.score < MIN_INLIERS
    assert related.score > 4 * max(unrelated.score, 1)
    # inliers are a subset of the ratio-test matches
    assert 0 < related.num_inliers <= related.num_matches
    assert all(m.queryIdx < len(da) and m.trainIdx < len(db) for m in related.inliers)


def test_rotation_recovered_by_homography(pairs):
    (ka, da), (kb, db), _ = pairs
    res = match(da, db, ka, kb)
    h = res.homography / res.homography[2, 2]
    angle = np.degrees(np.arctan2(h[1, 0], h[0, 0]))
    assert abs(abs(angle) - 25) < 3  # warpAffine's +25 deg is -25 in image coords


def test_without_ransac_score_is_match_count(pairs):
    (ka, da), (kb, db), _ = pairs
    res = match(da, db, ransac=False)
    assert res.score == res.num_matches > 0
    assert res.inlier_mask is None and res.inliers == res.matches
    strict = match(da, db, ransac=False, ratio=0.5)
    assert strict.num_matches < res.num_matches


@pytest.mark.parametrize("n_a,n_b", [(0, 50), (50, 0), (50, 1), (0, 0)])
def test_too_few_descriptors_give_empty_result(pairs, n_a, n_b):
    (ka, da), (kb, db), _ = pairs
    res = match(da[:n_a], db[:n_b], ka[:n_a], kb[:n_b])
    assert res.score == 0 and res.num_matches == 0 and res.homography is None
    assert res.num_a == n_a and res.num_b == n_b


def test_none_descriptors_and_few_matches():
    assert match(None, None, ransac=False).score == 0
    rng = np.random.default_rng(0)
    d = rng.random((3, 128), np.float32)
    res = match(d, d + 0.01, np.zeros((3, 2)), np.zeros((3, 2)))
    assert res.score == 0 and res.homography is None  # < 4 points: no homography


def test_bad_inputs_raise_clear_errors(pairs):
    (ka, da), (kb, db), _ = pairs
    with pytest.raises(ValueError, match="RANSAC needs"):
        match(da, db)
    with pytest.raises(ValueError, match="widths differ"):
        match(da, db[:, :64], ransac=False)
    bad = da.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        match(bad, db, ransac=False)
    with pytest.raises(ValueError, match="points but"):
        match(da, db, ka[:-1], kb)
    with pytest.raises(ValueError, match="ratio"):
        match(da, db, ka, kb, ratio=1.5)


def test_accepts_cv2_keypoints(pairs):
    (ka, da), (kb, db), _ = pairs
    kps_a = [cv2.KeyPoint(float(x), float(y), 3.0) for x, y in ka[:, :2]]
    kps_b = [cv2.KeyPoint(float(x), float(y), 3.0) for x, y in kb[:, :2]]
    assert match(da, db, kps_a, kps_b).score >= MIN_INLIERS


def test_draw_matches_side_by_side(pairs):
    (ka, da), (kb, db), _ = pairs
    a, b = photo("camera"), rotated(photo("camera"), 25, 0.85)
    res = match(da, db, ka, kb)
    img = draw_matches(a, ka, b, kb, res)
    assert img.shape == (max(a.shape[0], b.shape[0]), a.shape[1] + b.shape[1], 3)
    assert img.dtype == np.uint8
    empty = draw_matches(a, ka, b, kb, match(da[:0], db, ka[:0], kb))
    assert empty.shape == img.shape
