"""The plaintext reference: the identical integer pipeline, with NumPy instead of ciphertexts."""

from __future__ import annotations

import numpy as np

from hesift.sift.finish import finish_octave
from hesift.sift.image import octave0_base
from hesift.sift.intconv import dog_levels, gaussian_levels
from hesift.sift.keypoints import KeypointSet, retain_best, sort_dedupe, top_up
from hesift.sift.params import SiftParams, plans_for


def finalize(params: SiftParams, parts: list[KeypointSet]) -> KeypointSet:
    """OpenCV's post-processing of all octaves' keypoints: sort, dedupe, retainBest
    (with ``min_features``: keep the keypoints above contrastThreshold, topped up)."""
    kp = sort_dedupe(KeypointSet.concat(parts))
    if params.min_features:
        kp = top_up(kp, params.contrastThreshold / params.nOctaveLayers, params.min_features)
    return retain_best(kp, params.nfeatures)


def reference_octave(params: SiftParams, plan, base: np.ndarray):
    """One octave in plaintext: (DoG stack, G_0) exactly as the encrypted run yields them."""
    levels = gaussian_levels(base, plan.taps, plan.pad, plan.frac_bits)
    return dog_levels(levels), levels[0]


def run_reference(grey: np.ndarray, params: SiftParams, keep_dogs: bool = False):
    """KeypointSet of the whole image (and the per-octave DoG stacks if asked)."""
    base = octave0_base(grey, params)
    parts, dogs_all = [], []
    for plan in plans_for(params, base.shape):
        dogs, g0 = reference_octave(params, plan, base)
        kps, base = finish_octave(params, plan, dogs, g0)
        parts.append(kps)
        if keep_dogs:
            dogs_all.append(dogs)
    out = finalize(params, parts)
    return (out, dogs_all) if keep_dogs else out
