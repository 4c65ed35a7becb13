"""Scale-space extrema and their sub-pixel refinement (OpenCV's findScaleSpaceExtrema and
adjustLocalExtrema), vectorised over all candidates of an octave."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter, minimum_filter

from hesift.sift.params import SIFT_IMG_BORDER, SIFT_MAX_INTERP_STEPS, SiftParams

_INT_MAX_3 = float(2**31 - 1) / 3


@dataclass
class Extrema:
    """Refined extrema of one octave (arrays of equal length)."""

    layer: np.ndarray  # int64, 1..nOctaveLayers
    r: np.ndarray  # int64 row after refinement
    c: np.ndarray  # int64 column after refinement
    xi: np.ndarray  # float64 sub-level offset
    xr: np.ndarray
    xc: np.ndarray
    response: np.ndarray  # float64 |interpolated contrast|

    def __len__(self) -> int:
        return len(self.r)


def dog_threshold(params: SiftParams, level_scale: int) -> int:
    """OpenCV's pre-threshold floor(0.5 * contrastThreshold / nOctaveLayers * 255 * scale)."""
    return math.floor(0.5 * params.detect_contrast / params.nOctaveLayers * 255 * level_scale)


def find_candidates(dogs: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(layer, row, col) of pixels that are >= (or <=) all 26 neighbours and beyond threshold."""
    n, h, w = dogs.shape
    b = SIFT_IMG_BORDER
    if h <= 2 * b or w <= 2 * b or n < 3:
        e = np.zeros(0, dtype=np.int64)
        return e, e, e
    mx = maximum_filter(dogs, size=3, mode="nearest")
    mn = minimum_filter(dogs, size=3, mode="nearest")
    v = dogs[1:-1, b : h - b, b : w - b]
    keep = (np.abs(v) > threshold) & (
        ((v > 0) & (v == mx[1:-1, b : h - b, b : w - b]))
        | ((v < 0) & (v == mn[1:-1, b : h - b, b : w - b]))
    )
    layer, r, c = np.nonzero(keep)
    return layer + 1, r + b, c + b


def _derivatives(d: np.ndarray, li: np.ndarray, r: np.ndarray, c: np.ndarray, s: float):
    """Gradient (3,) and Hessian (3,3) of the DoG stack at the given points, OpenCV's stencils."""

    def at(dl: int, dr: int, dc: int) -> np.ndarray:
        return d[li + dl, r + dr, c + dc].astype(np.float64)

    v = at(0, 0, 0)
    deriv, second, cross = s * 0.5, s, s * 0.25
    dD = np.stack(
        [(at(0, 0, 1) - at(0, 0, -1)) * deriv,
         (at(0, 1, 0) - at(0, -1, 0)) * deriv,
         (at(1, 0, 0) - at(-1, 0, 0)) * deriv],
        axis=-1,
    )
    dxx = (at(0, 0, 1) + at(0, 0, -1) - 2 * v) * second
    dyy = (at(0, 1, 0) + at(0, -1, 0) - 2 * v) * second
    dss = (at(1, 0, 0) + at(-1, 0, 0) - 2 * v) * second
    dxy = (at(0, 1, 1) - at(0, 1, -1) - at(0, -1, 1) + at(0, -1, -1)) * cross
    dxs = (at(1, 0, 1) - at(1, 0, -1) - at(-1, 0, 1) + at(-1, 0, -1)) * cross
    dys = (at(1, 1, 0) - at(1, -1, 0) - at(-1, 1, 0) + at(-1, -1, 0)) * cross
    hess = np.stack(
        [np.stack([dxx, dxy, dxs], -1), np.stack([dxy, dyy, dys], -1), np.stack([dxs, dys, dss], -1)],
        axis=-2,
    )
    return v, dD, hess, dxx, dyy, dxy


def _solve3(hess: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Batched H x = rhs; singular systems give x = 0, as OpenCV's Matx::solve does."""
    x = np.zeros_like(rhs)
    if len(rhs) == 0:
        return x
    det = np.linalg.det(hess)
    scale = np.abs(hess).max(axis=(1, 2)) ** 3
    ok = np.abs(det) > 1e-12 * np.where(scale > 0, scale, 1.0)
    if ok.any():
        x[ok] = np.linalg.solve(hess[ok], rhs[ok][..., None])[..., 0]
    return x


def refine(dogs: np.ndarray, layer, r, c, params: SiftParams, level_scale: int) -> Extrema:
    """adjustLocalExtrema for all candidates at once: 5 Newton steps, contrast and edge tests."""
    nl = params.nOctaveLayers
    _, h, w = dogs.shape
    b = SIFT_IMG_BORDER
    s = 1.0 / (255.0 * level_scale)
    layer, r, c = (np.asarray(a, dtype=np.int64).copy() for a in (layer, r, c))
    n = len(r)
    xi = np.zeros(n)
    xr = np.zeros(n)
    xc = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    converged = np.zeros(n, dtype=bool)
    for _ in range(SIFT_MAX_INTERP_STEPS):
        act = np.flatnonzero(alive & ~converged)
        if len(act) == 0:
            break
        _, dD, hess, *_ = _derivatives(dogs, layer[act], r[act], c[act], s)
        x = _solve3(hess, dD)
        ai, ar, ac = -x[:, 2], -x[:, 1], -x[:, 0]
        xi[act], xr[act], xc[act] = ai, ar, ac
        done = (np.abs(ai) < 0.5) & (np.abs(ar) < 0.5) & (np.abs(ac) < 0.5)
        converged[act[done]] = True
        mv = act[~done]
        ai, ar, ac = ai[~done], ar[~done], ac[~done]
        huge = (np.abs(ai) > _INT_MAX_3) | (np.abs(ar) > _INT_MAX_3) | (np.abs(ac) > _INT_MAX_3)
        alive[mv[huge]] = False
        mv, ai, ar, ac = mv[~huge], ai[~huge], ar[~huge], ac[~huge]
        c[mv] += np.rint(ac).astype(np.int64)
        r[mv] += np.rint(ar).astype(np.int64)
        layer[mv] += np.rint(ai).astype(np.int64)
        out = (layer[mv] < 1) | (layer[mv] > nl) | (c[mv] < b) | (c[mv] >= w - b) | (r[mv] < b) | (r[mv] >= h - b)
        alive[mv[out]] = False
    keep = np.flatnonzero(alive & converged)
    layer, r, c, xi, xr, xc = layer[keep], r[keep], c[keep], xi[keep], xr[keep], xc[keep]
    v, dD, _, dxx, dyy, dxy = _derivatives(dogs, layer, r, c, s)
    t = dD[:, 0] * xc + dD[:, 1] * xr + dD[:, 2] * xi
    contr = v * s + t * 0.5
    e = float(params.edgeThreshold)
    tr = dxx + dyy
    det = dxx * dyy - dxy * dxy
    ok = (np.abs(contr) * nl >= params.detect_contrast) & (det > 0) & (tr * tr * e < (e + 1) ** 2 * det)
    return Extrema(layer[ok], r[ok], c[ok], xi[ok], xr[ok], xc[ok], np.abs(contr[ok]))
