"""HESIFT's plaintext parts: input checks, exact integer ops, and the finishing steps
reproducing cv2.SIFT exactly when fed OpenCV's own scale space."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from hesift.sift.api import sift_reference
from hesift.sift.finish import detect_and_describe
from hesift.sift.image import octave0_base, to_grey, upsample2_int
from hesift.sift.intconv import (
    dog_levels,
    gaussian_levels,
    next_base,
    pad_reflect101,
    rebuild_levels,
    sepfilter_padded,
)
from hesift.sift.keypoints import KeypointSet
from hesift.sift.params import OctavePlan, SiftParams, n_octaves, plans_for
from hesift.sift.reference import finalize


def crop(name: str, y: int, x: int, size: int) -> np.ndarray:
    img = getattr(data, name)()
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(img[y : y + size, x : x + size])


# --- input checks ------------------------------------------------------------------------

@pytest.mark.parametrize(
    "bad, exc",
    [
        (np.zeros((0, 5), np.uint8), ValueError),
        (np.zeros((8, 8), np.float32), TypeError),
        (np.zeros((8, 8), np.int64), TypeError),
        ([[1, 2], [3, 4]], TypeError),
        ("picture.png", TypeError),
        (np.zeros((8, 8, 2), np.uint8), ValueError),
        (np.zeros((8,), np.uint8), ValueError),
        (np.zeros((1, 9), np.uint8), ValueError),
    ],
)
def test_bad_images_are_refused(bad, exc):
    with pytest.raises(exc):
        sift_reference(bad)


@pytest.mark.parametrize("kw", [{"nOctaveLayers": 0}, {"sigma": -1.0}, {"contrastThreshold": float("nan")},
                                {"edgeThreshold": 0}, {"nfeatures": -3}, {"frac_bits": 1}])
def test_bad_parameters_are_refused(kw):
    with pytest.raises(ValueError):
        sift_reference(np.zeros((32, 32), np.uint8), **kw)


def test_colour_is_converted_like_opencv():
    rgb = data.astronaut()[100:164, 150:214]
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    assert np.array_equal(to_grey(bgr), cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    k1, d1 = sift_reference(bgr)
    k2, d2 = sift_reference(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    assert len(k1) == len(k2) and np.array_equal(d1, d2)
    bgra = cv2.cvtColor(bgr, cv2.COLOR_BGR2BGRA)
    assert np.array_equal(to_grey(bgra), to_grey(bgr))


# --- exact integer operations -------------------------------------------------------------

def test_upsampling_is_opencv_bilinear_times_16():
    g = np.random.default_rng(0).integers(0, 256, (7, 10)).astype(np.uint8)
    ref = cv2.resize(g.astype(np.float32), (20, 14), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(upsample2_int(g), (ref * 16).astype(np.int64))


@pytest.mark.parametrize("bits", [0, 1, 2, 3])
def test_upsampled_base_keeps_the_requested_fractional_bits(bits):
    g = np.random.default_rng(1).integers(0, 256, (9, 6)).astype(np.uint8)
    exact = cv2.resize(g.astype(np.float64), (12, 18), interpolation=cv2.INTER_LINEAR)
    want = np.floor(exact * (1 << bits) + 0.5).astype(np.int64)  # round half up
    assert np.array_equal(octave0_base(g, SiftParams(upsample_frac_bits=bits)), want)
    assert np.array_equal(octave0_base(g, SiftParams(upsample_frac_bits=bits, enable_upsample=False)),
                          g.astype(np.int64))
    plan = plans_for(SiftParams(upsample_frac_bits=bits), (18, 12))[0]
    assert plan.base_scale == 1 << bits and plan.base_bound == 255 << bits


@pytest.mark.parametrize("bad", [-1, 5, 2.0])
def test_upsample_frac_bits_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="upsample_frac_bits"):
        SiftParams(upsample_frac_bits=bad)


@pytest.mark.parametrize("shape, pad", [((9, 12), 3), ((5, 7), 13), ((11, 2), 20)])
def test_reflect101_padding_matches_opencv(shape, pad):
    a = np.random.default_rng(1).integers(0, 4080, shape)
    ref = cv2.copyMakeBorder(a.astype(np.float64), pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    assert np.array_equal(pad_reflect101(a, pad), ref)


def test_sepfilter_is_exact_reflect101_filtering():
    a = np.random.default_rng(2).integers(0, 4081, (23, 31))
    t = np.array([3, 10, 22, 29, 22, 10, 3])
    got = sepfilter_padded(pad_reflect101(a, 5), t, 5)
    ref = cv2.sepFilter2D(a.astype(np.float64), -1, t.astype(float), t.astype(float),
                          borderType=cv2.BORDER_REFLECT_101)
    assert got.dtype == np.int64 and np.array_equal(got, ref)
    with pytest.raises(ValueError):
        sepfilter_padded(pad_reflect101(a, 2), t, 2)


def test_dogs_rebuild_levels_and_next_base_rounds_exactly():
    p = SiftParams(upsample_frac_bits=4)  # the exact x16 base
    base = upsample2_int(crop("camera", 200, 200, 40))
    plan = plans_for(p, base.shape)[0]
    levels = gaussian_levels(base, plan.taps, plan.pad, plan.frac_bits)
    assert all(lv.min() >= 0 and lv.max() <= plan.level_bound for lv in levels)
    assert all(np.array_equal(a, b) for a, b in zip(rebuild_levels(levels[0], dog_levels(levels)), levels))
    nb = next_base(levels[3], plan.level_scale, 16)
    exact = levels[3][::2, ::2] * 16 / plan.level_scale
    assert np.abs(nb - exact).max() <= 0.5 and nb.max() <= 255 * 16


def test_plan_numbers():
    p = SiftParams()
    assert n_octaves((1024, 1024), True) == 9  # OpenCV: round(log2(1024)) - 2 + 1
    plans = plans_for(p, (192, 256))
    assert [pl.shape for pl in plans] == [(192, 256), (96, 128), (48, 64), (24, 32), (12, 16)]
    pl = plans[0]
    assert all(int(t.sum()) == 1 << p.frac_bits for t in pl.full_taps())
    # levels in [0, L], DoGs in [-L, L] (interval bounds): magnitude bits of L plus a sign bit
    iv = plans_for(SiftParams(slot_bounds="interval"), (192, 256))[0]
    assert pl.base_scale == 1 << p.upsample_frac_bits
    assert iv.bits_per_slot == (255 << p.upsample_frac_bits + 2 * p.frac_bits).bit_length() + 1
    # exact bounds (default): the widest DoG's own range, never wider than the interval's
    widest = max(max(-lo, hi) for lo, hi in pl.dog_intervals)
    assert pl.bits_per_slot == widest.bit_length() + 1 <= iv.bits_per_slot
    assert plans[1].full_taps()[0].tolist() == [1 << p.frac_bits]


# --- the finishing steps are OpenCV's -------------------------------------------------

def _opencv_float_pyramid_features(grey: np.ndarray, params: SiftParams) -> KeypointSet:
    """Run our detection/orientation/descriptor code on OpenCV's own float scale space."""
    h, w = grey.shape
    base = cv2.resize(grey.astype(np.float32), (2 * w, 2 * h), interpolation=cv2.INTER_LINEAR)
    base = cv2.GaussianBlur(base, (0, 0), np.sqrt(max(params.sigma**2 - 1.0, 0.01)))
    k = 2 ** (1 / params.nOctaveLayers)
    sig = [params.sigma] + [np.sqrt((params.sigma * k**i) ** 2 - (params.sigma * k ** (i - 1)) ** 2)
                            for i in range(1, params.n_levels)]
    parts = []
    for o in range(n_octaves(base.shape, True)):
        if min(base.shape) <= 10:
            break
        g = [base]
        for i in range(1, params.n_levels):
            g.append(cv2.GaussianBlur(g[-1], (0, 0), sig[i]))
        dogs = np.stack([b - a for a, b in zip(g[:-1], g[1:])]).astype(np.float64)
        plan = OctavePlan(o, base.shape, 1, 0, (None,) * params.n_levels)
        kps, _ = detect_and_describe(params, plan, dogs, g[0].astype(np.float64))
        parts.append(kps)
        base = g[params.nOctaveLayers][::2, ::2][: base.shape[0] // 2, : base.shape[1] // 2]
    return finalize(params, parts)


def test_finishing_steps_reproduce_opencv_exactly():
    grey = crop("camera", 60, 150, 160)
    ours = _opencv_float_pyramid_features(grey, SiftParams())
    kp, desc = cv2.SIFT_create().detectAndCompute(grey, None)
    assert len(ours) == len(kp) > 50
    pts = np.array([k.pt for k in kp])
    ang = np.array([k.angle for k in kp])
    hits = 0
    for i in range(len(ours)):
        da = np.abs((ang - ours.angle[i] + 180) % 360 - 180)
        near = np.flatnonzero((np.abs(pts[:, 0] - ours.x[i]) < 1e-3) & (np.abs(pts[:, 1] - ours.y[i]) < 1e-3) & (da < 0.05))
        if len(near) != 1:
            continue
        j = near[0]
        hits += 1
        assert ours.octave[i] == kp[j].octave
        assert abs(ours.size[i] - kp[j].size) < 1e-3 and abs(ours.response[i] - kp[j].response) < 1e-5
        assert np.abs(ours.desc[i] - desc[j]).max() <= 2
    assert hits >= 0.97 * len(kp)


# --- the reference pipeline ----------------------------------------------------------

def test_reference_outputs_and_determinism():
    g = crop("astronaut", 60, 180, 96)
    k1, d1 = sift_reference(g)
    k2, d2 = sift_reference(g.copy())
    assert d1.dtype == np.float32 and d1.shape == (len(k1), 128) and len(k1) > 20
    assert np.array_equal(d1, d2) and [k.pt for k in k1] == [k.pt for k in k2]
    assert d1.min() >= 0 and d1.max() <= 255 and np.array_equal(d1, np.rint(d1))
    for k in k1:
        assert 0 <= k.pt[0] < 96 and 0 <= k.pt[1] < 96 and 0 <= k.angle < 360 and k.size > 0
        assert (k.octave & 255) in (255, 0, 1, 2, 3) and 1 <= (k.octave >> 8) & 255 <= 3
    best, bd = sift_reference(g, nfeatures=10)
    assert 10 <= len(best) <= 12
    assert min(k.response for k in best) >= sorted((k.response for k in k1), reverse=True)[9]
    nk, _ = sift_reference(g, enable_upsample=False)
    assert all((k.octave & 255) < 128 for k in nk)


def test_reference_matches_under_rotation():
    g = crop("astronaut", 0, 100, 192)
    g2 = np.ascontiguousarray(np.rot90(g))
    k1, d1 = sift_reference(g)
    k2, d2 = sift_reference(g2)
    m = cv2.BFMatcher(cv2.NORM_L2).knnMatch(d1, d2, k=2)
    good = [a for a, b in m if a.distance < 0.75 * b.distance]
    ok = 0
    for a in good:
        x, y = k1[a.queryIdx].pt
        x2, y2 = k2[a.trainIdx].pt
        ok += abs(x2 - y) < 3 and abs(y2 - (191 - x)) < 3
    assert len(good) > 40 and ok / len(good) > 0.9


@pytest.mark.parametrize("shape", [(2, 2), (5, 40), (16, 16)])
def test_tiny_images_give_empty_but_valid_output(shape):
    g = np.full(shape, 77, np.uint8)
    kp, desc = sift_reference(g)
    assert kp == [] and desc.shape == (0, 128) and desc.dtype == np.float32


def test_top_up_keeps_strong_then_strongest_weak_in_order():
    from hesift.sift.keypoints import top_up

    n = 8
    resp = np.array([0.5, 0.01, 0.3, 0.02, 0.02, 0.005, 0.4, 0.03], dtype=np.float32)
    kp = KeypointSet(*(np.arange(n, dtype=np.float32) for _ in range(4)),
                     resp, np.arange(n, dtype=np.int64), np.zeros((n, 128), np.float32))
    assert list(top_up(kp, 0.1, 2).response) == [0.5, 0.3, 0.4]  # enough strong: weak dropped
    assert list(top_up(kp, 0.1, 5).response) == pytest.approx([0.5, 0.3, 0.02, 0.02, 0.4, 0.03])
    assert len(top_up(kp, 0.1, 100)) == n  # everything available
    with pytest.raises(ValueError, match="min_features"):
        SiftParams(min_features=-1)
    with pytest.raises(ValueError, match="contrast_floor"):
        SiftParams(min_features=10, contrast_floor=0)
    assert SiftParams(min_features=10).detect_contrast == pytest.approx(0.004)
    assert SiftParams().detect_contrast == 0.04
