"""Pairwise descriptor matching: FLANN KD-tree, Lowe's ratio test, RANSAC.

The similarity score of a pair is the number of RANSAC inliers of a
homography, not the raw match count: unrelated images always produce some
ratio-test survivors by chance, but almost never a large set of matches that
agree on one geometric transform.  Without RANSAC the score falls back to the
number of ratio-test matches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = [
    "MIN_INLIERS",
    "MatchResult",
    "draw_matches",
    "flann_matcher",
    "keypoints_to_array",
    "match",
    "ratio_test",
    "verify_homography",
]

#: Fewest RANSAC inliers we accept as a geometric match; 4 points always fit a
#: homography, so a handful of inliers means nothing.
MIN_INLIERS = 8

_FLANN_INDEX_KDTREE = 1


@dataclass
class MatchResult:
    """Outcome of matching descriptors of image A (query) against image B (train)."""

    matches: list[cv2.DMatch] = field(default_factory=list)
    """Ratio-test survivors (queryIdx into A, trainIdx into B)."""
    inlier_mask: np.ndarray | None = None
    """Boolean mask over ``matches``; None when RANSAC was not run."""
    homography: np.ndarray | None = None
    """3x3 homography mapping A's points to B's, when RANSAC found one."""
    score: float = 0.0
    """Inlier count after RANSAC (ratio-test count without RANSAC)."""
    num_a: int = 0
    num_b: int = 0

    @property
    def num_matches(self) -> int:
        return len(self.matches)

    @property
    def num_inliers(self) -> int:
        if self.inlier_mask is None:
            return 0
        return int(np.count_nonzero(self.inlier_mask))

    @property
    def inliers(self) -> list[cv2.DMatch]:
        """The geometrically verified matches (all matches when RANSAC was off)."""
        if self.inlier_mask is None:
            return list(self.matches)
        return [m for m, ok in zip(self.matches, self.inlier_mask, strict=True) if ok]

    def to_dict(self) -> dict:
        return {
            "score": float(self.score),
            "matches": self.num_matches,
            "inliers": self.num_inliers,
            "keypoints_a": self.num_a,
            "keypoints_b": self.num_b,
            "homography": None if self.homography is None else self.homography.tolist(),
        }


def flann_matcher(trees: int = 5, checks: int = 50) -> cv2.FlannBasedMatcher:
    """A FLANN matcher with a randomised KD-tree forest (float descriptors)."""
    if trees < 1 or checks < 1:
        raise ValueError("trees and checks must be >= 1")
    return cv2.FlannBasedMatcher(
        {"algorithm": _FLANN_INDEX_KDTREE, "trees": int(trees)}, {"checks": int(checks)}
    )


def _as_descriptors(d: np.ndarray | None, name: str) -> np.ndarray:
    if d is None:
        return np.empty((0, 128), np.float32)
    d = np.asarray(d)
    if d.size == 0:
        return np.empty((0, d.shape[1] if d.ndim == 2 else 128), np.float32)
    if d.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError(f"{name} contains NaN or infinite values")
    return np.ascontiguousarray(d, dtype=np.float32)


def keypoints_to_array(kps: Sequence[cv2.KeyPoint] | np.ndarray | None) -> np.ndarray | None:
    """(N, 2) float32 point coordinates from KeyPoints or an (N, >=2) array."""
    if kps is None:
        return None
    if isinstance(kps, np.ndarray):
        if kps.ndim != 2 or kps.shape[1] < 2:
            raise ValueError(f"keypoint array must be (N, >=2), got {kps.shape}")
        return np.ascontiguousarray(kps[:, :2], dtype=np.float32)
    if len(kps) == 0:
        return np.empty((0, 2), np.float32)
    return np.array([kp.pt for kp in kps], dtype=np.float32)


def ratio_test(knn: Sequence[Sequence[cv2.DMatch]], ratio: float) -> list[cv2.DMatch]:
    """Lowe's ratio test: keep m when d(m) < ratio * d(second best)."""
    good = []
    for pair in knn:
        if len(pair) >= 2 and pair[0].distance < ratio * pair[1].distance:
            good.append(pair[0])
    return good


def verify_homography(
    pts_a: np.ndarray, pts_b: np.ndarray, thresh: float = 5.0
) -> tuple[np.ndarray | None, np.ndarray]:
    """RANSAC homography A->B; returns (H or None, boolean inlier mask).

    Degenerate fits (near-singular or strongly mirroring/collapsing
    transforms) are rejected, since real views of one scene do not produce them.
    """
    n = len(pts_a)
    mask = np.zeros(n, dtype=bool)
    if n < 4:
        return None, mask
    H, m = cv2.findHomography(
        pts_a.reshape(-1, 1, 2), pts_b.reshape(-1, 1, 2), cv2.RANSAC, float(thresh),
        maxIters=2000, confidence=0.995,
    )
    if H is None or m is None or not np.all(np.isfinite(H)):
        return None, mask
    det = float(np.linalg.det(H[:2, :2]))
    if not (1e-3 < det < 1e3):  # mirrored (det < 0), collapsed or exploded
        return None, mask
    return H, m.ravel().astype(bool)


def match(
    desc_a: np.ndarray | None,
    desc_b: np.ndarray | None,
    kp_a: Sequence[cv2.KeyPoint] | np.ndarray | None = None,
    kp_b: Sequence[cv2.KeyPoint] | np.ndarray | None = None,
    *,
    ratio: float = 0.75,
    trees: int = 5,
    checks: int = 50,
    ransac: bool = True,
    ransac_thresh: float = 5.0,
    min_inliers: int = MIN_INLIERS,
) -> MatchResult:
    """Match descriptors A against B with FLANN + ratio test (+ RANSAC when keypoints given).

    Empty or tiny descriptor sets give an empty result with score 0 rather
    than an OpenCV error.  RANSAC needs both keypoint sets; ``ransac=True``
    without them raises ``ValueError``.  A RANSAC fit with fewer than
    ``min_inliers`` inliers scores 0.
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    da = _as_descriptors(desc_a, "desc_a")
    db = _as_descriptors(desc_b, "desc_b")
    if len(da) and len(db) and da.shape[1] != db.shape[1]:
        raise ValueError(f"descriptor widths differ: {da.shape[1]} vs {db.shape[1]}")
    pa, pb = keypoints_to_array(kp_a), keypoints_to_array(kp_b)
    if ransac and (pa is None or pb is None):
        raise ValueError("RANSAC needs kp_a and kp_b (pass ransac=False to skip it)")
    for p, d, name in ((pa, da, "kp_a"), (pb, db, "kp_b")):
        if p is not None and len(p) != len(d):
            raise ValueError(f"{name} has {len(p)} points but there are {len(d)} descriptors")
    result = MatchResult(num_a=len(da), num_b=len(db))
    if len(da) == 0 or len(db) < 2:  # the ratio test needs two neighbours in B
        if ransac:
            result.inlier_mask = np.zeros(0, dtype=bool)
        return result
    knn = flann_matcher(trees, checks).knnMatch(da, db, k=2)
    result.matches = ratio_test(knn, ratio)
    if not ransac:
        result.score = float(len(result.matches))
        return result
    src = pa[[m.queryIdx for m in result.matches]] if result.matches else np.empty((0, 2))
    dst = pb[[m.trainIdx for m in result.matches]] if result.matches else np.empty((0, 2))
    H, mask = verify_homography(src, dst, ransac_thresh)
    result.homography, result.inlier_mask = H, mask
    inl = int(mask.sum())
    result.score = float(inl) if H is not None and inl >= min_inliers else 0.0
    return result


def _to_bgr(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    return img


def _as_keypoints(kps, scale: float) -> list[cv2.KeyPoint]:
    pts = keypoints_to_array(kps)
    if pts is None:
        return []
    return [cv2.KeyPoint(float(x) * scale, float(y) * scale, 4.0) for x, y in pts]


def draw_matches(
    img_a: np.ndarray,
    kp_a,
    img_b: np.ndarray,
    kp_b,
    result: MatchResult,
    *,
    max_draw: int = 80,
    inliers_only: bool = True,
    scale_a: float = 1.0,
    scale_b: float = 1.0,
) -> np.ndarray:
    """Side-by-side BGR drawing of the (inlier) matches, via ``cv2.drawMatches``.

    ``scale_a``/``scale_b`` map keypoint coordinates onto the given images
    (keypoints found on a downscaled copy, drawn on a thumbnail).
    """
    chosen = result.inliers if inliers_only else list(result.matches)
    chosen = sorted(chosen, key=lambda m: m.distance)[:max_draw]
    ka, kb = _as_keypoints(kp_a, scale_a), _as_keypoints(kp_b, scale_b)
    return cv2.drawMatches(
        _to_bgr(img_a), ka, _to_bgr(img_b), kb, chosen, None,
        matchColor=(0, 200, 0), singlePointColor=(0, 0, 255),
        flags=cv2.DrawMatchesFlags_NOT_DRAW_SINGLE_POINTS,
    )
