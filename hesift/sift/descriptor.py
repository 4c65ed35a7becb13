"""128-D SIFT descriptors (OpenCV's calcSIFTDescriptor), vectorised over keypoints grouped
by window radius: rotated 4x4 spatial x 8 orientation bins, trilinear voting,
clip at 0.2, scale by 512 and saturate to 0..255 like OpenCV's float output."""

from __future__ import annotations

import numpy as np

from hesift.sift.gradients import chunks, gradient_samples, orientation_deg
from hesift.sift.params import (
    SIFT_DESCR_HIST_BINS,
    SIFT_DESCR_MAG_THR,
    SIFT_DESCR_SCL_FCTR,
    SIFT_DESCR_WIDTH,
    SIFT_INT_DESCR_FCTR,
)

_FLT_EPSILON = float(np.finfo(np.float32).eps)


def _samples(img, px, py, cos_t, sin_t, radius):
    """Rotated bin coordinates, weighted magnitudes and gradients of the window samples
    of keypoints sharing one radius (arrays K x S)."""
    d = SIFT_DESCR_WIDTH
    off = np.arange(-radius, radius + 1)
    oi, oj = (a.ravel() for a in np.meshgrid(off, off, indexing="ij"))
    c_rot = oj[None, :] * cos_t[:, None] - oi[None, :] * sin_t[:, None]
    r_rot = oj[None, :] * sin_t[:, None] + oi[None, :] * cos_t[:, None]
    rbin = r_rot + d / 2 - 0.5
    cbin = c_rot + d / 2 - 0.5
    ys = py[:, None] + oi[None, :]
    xs = px[:, None] + oj[None, :]
    dx, dy, valid = gradient_samples(img, ys, xs)
    valid &= (rbin > -1) & (rbin < d) & (cbin > -1) & (cbin < d)
    w = np.exp((c_rot * c_rot + r_rot * r_rot) * (-1.0 / (d * d * 0.5)))
    mag = np.sqrt(dx * dx + dy * dy) * w * valid
    return rbin, cbin, mag, dx, dy, valid


def _vote(rbin, cbin, obin, mag, k, d, n) -> np.ndarray:
    """Trilinear votes into (d+2) x (d+2) x (n+2) bins, folded to K x d*d*n (OpenCV's layout)."""
    r0 = np.floor(rbin).astype(np.int64)
    c0 = np.floor(cbin).astype(np.int64)
    o0 = np.floor(obin).astype(np.int64)
    rbin = rbin - r0
    cbin = cbin - c0
    obin = obin - o0
    o0 = np.where(o0 < 0, o0 + n, o0)
    o0 = np.where(o0 >= n, o0 - n, o0)
    v_r1 = mag * rbin
    v_r0 = mag - v_r1
    v_rc11 = v_r1 * cbin
    v_rc10 = v_r1 - v_rc11
    v_rc01 = v_r0 * cbin
    v_rc00 = v_r0 - v_rc01
    parts = []
    for vrc, dr, dc in ((v_rc00, 0, 0), (v_rc01, 0, 1), (v_rc10, 1, 0), (v_rc11, 1, 1)):
        v1 = vrc * obin
        parts.append((vrc - v1, dr, dc, 0))
        parts.append((v1, dr, dc, 1))
    size = (d + 2) * (d + 2) * (n + 2)
    base = np.arange(k)[:, None] * size + ((r0 + 1) * (d + 2) + (c0 + 1)) * (n + 2) + o0
    idx = np.concatenate([(base + dr * (d + 2) * (n + 2) + dc * (n + 2) + do).ravel() for _, dr, dc, do in parts])
    wts = np.concatenate([v.ravel() for v, *_ in parts])
    hist = np.bincount(idx, weights=wts, minlength=k * size).reshape(k, d + 2, d + 2, n + 2)
    hist[..., 0] += hist[..., n]
    hist[..., 1] += hist[..., n + 1]
    return hist[:, 1 : d + 1, 1 : d + 1, :n].reshape(k, d * d * n)


def _normalise(raw: np.ndarray) -> np.ndarray:
    """Clip at 0.2 of the norm, renormalise to 512, round and saturate to 0..255."""
    nrm = np.sqrt((raw * raw).sum(axis=1, keepdims=True))
    clipped = np.minimum(raw, nrm * SIFT_DESCR_MAG_THR)
    nrm2 = SIFT_INT_DESCR_FCTR / np.maximum(np.sqrt((clipped * clipped).sum(axis=1, keepdims=True)), _FLT_EPSILON)
    return np.clip(np.rint(clipped * nrm2), 0, 255).astype(np.float32)


def descriptors(img: np.ndarray, ptf: np.ndarray, ori: np.ndarray, scl: np.ndarray) -> np.ndarray:
    """Descriptors (K, 128) float32 for keypoints at octave-local ``ptf`` (K, 2) float32,
    descriptor angle ``ori`` (degrees, OpenCV's 360 - kpt.angle) and scale ``scl``."""
    d, n = SIFT_DESCR_WIDTH, SIFT_DESCR_HIST_BINS
    k = len(ori)
    out = np.zeros((k, d * d * n), dtype=np.float32)
    if k == 0:
        return out
    rows, cols = img.shape
    px = np.rint(ptf[:, 0]).astype(np.int64)
    py = np.rint(ptf[:, 1]).astype(np.int64)
    rad_ori = ori.astype(np.float32) * np.float32(np.pi / 180)
    hist_width = np.float32(SIFT_DESCR_SCL_FCTR) * scl.astype(np.float32)
    cos_t = (np.cos(rad_ori) / hist_width).astype(np.float64)
    sin_t = (np.sin(rad_ori) / hist_width).astype(np.float64)
    radius = np.rint(hist_width * np.float32(np.sqrt(2.0)) * (d + 1) * np.float32(0.5)).astype(np.int64)
    radius = np.minimum(radius, int(np.sqrt(float(cols) * cols + float(rows) * rows)))
    bins_per_deg = n / 360.0
    for rad in np.unique(radius):
        sel = np.flatnonzero(radius == rad)
        for part in chunks(len(sel), (2 * int(rad) + 1) ** 2, budget=1 << 20):
            idx = sel[part]
            rbin, cbin, mag, dx, dy, valid = _samples(
                img, px[idx], py[idx], cos_t[idx], sin_t[idx], int(rad)
            )
            obin = (orientation_deg(dx, dy) - ori[idx, None].astype(np.float64)) * bins_per_deg
            # invalid samples carry zero weight; keep their bins in range
            rbin = np.where(valid, rbin, 0.0)
            cbin = np.where(valid, cbin, 0.0)
            obin = np.where(valid, obin, 0.0)
            out[idx] = _normalise(_vote(rbin, cbin, obin, mag, len(idx), d, n))
    return out
