"""The key owner's plaintext part of one octave: extrema, refinement, orientation and
descriptors from the (decrypted) DoG levels, plus the next octave's base."""

from __future__ import annotations

import numpy as np

from hesift.sift.descriptor import descriptors
from hesift.sift.detect import dog_threshold, find_candidates, refine
from hesift.sift.intconv import next_base, rebuild_levels
from hesift.sift.keypoints import KeypointSet, octave_code, shift_first_octave
from hesift.sift.orientation import orientations
from hesift.sift.params import OctavePlan, SiftParams

_FLT_EPSILON = float(np.finfo(np.float32).eps)


def finish_octave(
    params: SiftParams, plan: OctavePlan, dogs: np.ndarray, g0: np.ndarray
) -> tuple[KeypointSet, np.ndarray]:
    """Keypoints + descriptors of one octave, and the next octave's integer base.

    ``dogs`` is the (nOctaveLayers + 2, H, W) int64 DoG stack and ``g0`` the
    level-0 Gaussian, both at scale ``plan.level_scale``.
    """
    kps, levels = detect_and_describe(params, plan, dogs, g0)
    nb = next_base(levels[params.nOctaveLayers], plan.level_scale, 1 << params.base_frac_bits)
    return kps, nb


def detect_and_describe(
    params: SiftParams, plan: OctavePlan, dogs: np.ndarray, g0: np.ndarray
) -> tuple[KeypointSet, list[np.ndarray]]:
    """Keypoints + descriptors of one octave and its Gaussian levels.

    Works on any numeric scale space (integers at ``plan.level_scale``, or
    floats with level_scale 1), which lets the tests feed it OpenCV's own.
    """
    o = plan.octave
    nl = params.nOctaveLayers
    levels = rebuild_levels(g0, dogs)
    cand = find_candidates(dogs, dog_threshold(params, plan.level_scale))
    ext = refine(dogs, *cand, params, plan.level_scale)
    up = 1 if params.enable_upsample else 0

    f32 = np.float32
    size = (params.sigma * np.exp2((ext.layer + ext.xi) / nl) * (1 << o) * 2).astype(f32)
    x = ((ext.c + ext.xc) * (1 << o)).astype(f32)
    y = ((ext.r + ext.xr) * (1 << o)).astype(f32)
    code = octave_code(o, ext.layer, ext.xi)
    scl_octv = size * f32(0.5) / f32(1 << o)

    parts = []
    for layer in range(1, nl + 1):
        sel = np.flatnonzero(ext.layer == layer)
        if len(sel) == 0:
            continue
        img = levels[layer]
        kidx, angle = orientations(img, ext.r[sel], ext.c[sel], scl_octv[sel])
        idx = sel[kidx]
        kx, ky, ks, kc = x[idx], y[idx], size[idx], code[idx]
        if up:
            kx, ky, ks = kx * f32(0.5), ky * f32(0.5), ks * f32(0.5)
            kc = shift_first_octave(kc, -1)
        # descriptor geometry exactly as calcDescriptors derives it from the final keypoint
        scale = f32(2.0**up) / f32(1 << o)
        ptf = np.stack([kx * scale, ky * scale], axis=1).astype(f32)
        ori = (f32(360.0) - angle).astype(f32)
        ori[np.abs(ori - f32(360.0)) < _FLT_EPSILON] = 0.0
        desc = descriptors(img, ptf, ori, (ks * scale) * f32(0.5))
        parts.append(KeypointSet(kx, ky, ks, angle, ext.response[idx].astype(f32), kc, desc))
    return KeypointSet.concat(parts), levels
