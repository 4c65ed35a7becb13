"""hc.sepfilter2d_differences: blurs whose slots overflow, differences that fit.

Only the differences of a packed blur stack are checked against the slot width (with
their exact ranges); the blurs may exceed it.  References here are written from the
definitions with scipy (zero canvas, 'full' correlation cropped by the anchor rule)
and OpenCV, not with hepaillier_core.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.signal import correlate2d

import hepaillier_core as hc
from hepaillier_core import packed as packed_mod

LB = 255


def same_ref(img: np.ndarray, kx: np.ndarray, ky: np.ndarray) -> np.ndarray:
    """out[i, j] = sum k[u, v] img[i + u - kh//2, j + v - kw//2], zeros outside."""
    k = np.outer(ky, kx).astype(np.int64)
    full = correlate2d(img.astype(np.int64), k, mode="full")  # exact: values below 2^40
    kh, kw = k.shape
    r0, c0 = kh - 1 - kh // 2, kw - 1 - kw // 2
    return full[r0 : r0 + img.shape[0], c0 : c0 + img.shape[1]]


def exact_range(kernels, hi: int) -> int:
    """max |value| of any neighbouring difference for inputs in [0, hi], from the 2-D
    difference kernels (each kernel zero-extended around its anchor, by hand)."""
    size = max(max(len(kx), len(ky)) for kx, ky in kernels) + 2
    c = size // 2
    grids = []
    for kx, ky in kernels:
        g = np.zeros((size, size), dtype=object)
        g[c - len(ky) // 2 : c - len(ky) // 2 + len(ky), c - len(kx) // 2 : c - len(kx) // 2 + len(kx)] = \
            np.outer(ky, kx)
        grids.append(g)
    worst = 0
    for a, b in zip(grids[:-1], grids[1:]):
        d = b - a
        worst = max(worst, hi * int(d[d > 0].sum()), -hi * int(d[d < 0].sum()))
    return worst


def close_kernels(rng, n: int, lengths) -> list:
    """Non-negative random kernels that differ from each other by a little."""
    base = rng.integers(40, 90, max(lengths))
    out = []
    for i in range(n):
        ln = lengths[i % len(lengths)]
        off = (max(lengths) - ln) // 2
        t = base[off : off + ln] + rng.integers(0, 3, ln)
        out.append(t.astype(np.int64))
    return out


def image_with_a_full_patch(rng, shape, patch: int) -> np.ndarray:
    img = rng.integers(0, LB + 1, shape)
    img[1 : 1 + patch, 2 : 2 + patch] = LB  # a blur there reaches LB * sum(kx) * sum(ky)
    return img


@pytest.mark.parametrize("seed", [1, 2])
def test_differences_fit_where_the_blurs_overflow(keys512, seed):
    pub, priv = keys512
    rng = np.random.default_rng(seed)
    # mixed lengths (odd and even) and one (kx, ky) pair of different lengths
    t = close_kernels(rng, 3, [5, 3, 4])
    pair = (t[0] + rng.integers(0, 2, 5), np.concatenate([[0], t[1], [0]]) + rng.integers(0, 2, 5))
    kernels = [t[0], t[1], pair, t[2]]
    pairs = [(k, k) if not isinstance(k, tuple) else k for k in kernels]
    need = exact_range(pairs, LB)
    w = need.bit_length() + 1  # exactly wide enough for the differences
    img = image_with_a_full_patch(rng, (9, 11), 5)
    x = priv.encrypt(img, pack=True, bits_per_slot=w, bound=(0, LB))
    levels = [same_ref(img, kx, ky) for kx, ky in pairs]
    limit = (1 << (w - 1)) - 1
    assert max(int(lv.max()) for lv in levels) > limit  # the blurs really overflow
    with pytest.raises(OverflowError, match="bits per slot"):
        hc.sepfilter2d(x, t[0], t[0])  # the ordinary filter refuses the blur
    ivs = hc.sepfilter2d_difference_intervals((0, LB), kernels)
    assert max(max(-lo, hi) for lo, hi in ivs) == need
    dogs = hc.sepfilter2d_differences(x, kernels)
    assert len(dogs) == len(kernels) - 1
    for d, iv, a, b in zip(dogs, ivs, levels[:-1], levels[1:]):
        assert d.interval == iv and d.bits_per_slot == w
        got = priv.decrypt(d)
        assert np.array_equal(got, b - a)
        assert iv[0] <= got.min() and got.max() <= iv[1]


def test_valid_and_full_modes_equal_scipy(keys512):
    pub, priv = keys512
    rng = np.random.default_rng(7)
    kernels = close_kernels(rng, 3, [5])  # one length: 'valid' and 'full' need no extension
    w = exact_range([(k, k) for k in kernels], LB).bit_length() + 1
    img = image_with_a_full_patch(rng, (10, 9), 6)
    x = priv.encrypt(img, pack=True, bits_per_slot=w, bound=(0, LB))
    for mode in ("valid", "full"):
        lv = [correlate2d(img, np.outer(k, k), mode=mode) for k in kernels]
        dogs = hc.sepfilter2d_differences(x, kernels, mode=mode)
        assert [priv.decrypt(d).tolist() for d in dogs] == [(b - a).tolist()
                                                             for a, b in zip(lv[:-1], lv[1:])]


def test_a_difference_that_does_not_fit_is_refused_before_any_work(keys512):
    pub, priv = keys512
    rng = np.random.default_rng(3)
    kernels = close_kernels(rng, 3, [5])
    w = exact_range([(k, k) for k in kernels], LB).bit_length() + 1
    img = image_with_a_full_patch(rng, (8, 8), 5)
    x = priv.encrypt(img, pack=True, bits_per_slot=w, bound=(0, LB))
    hc.reset_counters()
    with pytest.raises(OverflowError, match=r"difference 1 .*bits_per_slot>=\d+"):
        hc.sepfilter2d_differences(x, [kernels[0], kernels[1], 3 * kernels[1]])
    narrow = priv.encrypt(img, pack=True, bits_per_slot=w - 1, bound=(0, LB))
    with pytest.raises(OverflowError, match="bits per slot"):
        hc.sepfilter2d_differences(narrow, kernels)  # the tight width, one bit less
    assert hc.COUNTERS["mont_mults"] == 0  # nothing was computed


def test_cost_is_one_sepfilter_per_kernel_and_one_subtraction_per_difference(keys512,
                                                                              monkeypatch):
    """Same products as the blurs one by one (the horizontal passes share the bases)."""
    pub, priv = keys512
    rng = np.random.default_rng(4)
    kernels = close_kernels(rng, 4, [7, 5, 3])
    img = rng.integers(0, LB + 1, (9, 10))
    x1 = priv.encrypt(img, pack=True, bits_per_slot=40, bound=(0, LB))
    x2 = priv.encrypt(img, pack=True, bits_per_slot=40, bound=(0, LB))
    wide = [np.pad(k, (7 - len(k)) // 2) for k in kernels]
    hc.reset_counters()
    levels = [hc.sepfilter2d(x1, k, k, mode="valid") for k in wide]
    old = [b - a for a, b in zip(levels[:-1], levels[1:])]
    before = hc.COUNTERS["mont_mults"]
    rows = {"invert": 0, "mulmod": 0}

    def counted(name, fn):
        def wrap(pub, a, *args, **kw):
            rows[name] += a.shape[0]
            return fn(pub, a, *args, **kw)
        return wrap

    monkeypatch.setattr(packed_mod, "flat_invert", counted("invert", packed_mod.flat_invert))
    monkeypatch.setattr(packed_mod, "flat_mulmod", counted("mulmod", packed_mod.flat_mulmod))
    hc.reset_counters()
    new = hc.sepfilter2d_differences(x2, kernels, mode="valid")
    assert hc.COUNTERS["mont_mults"] == before
    per_level = new[0].num_ciphertexts
    assert rows == {"invert": 3 * per_level, "mulmod": 3 * per_level}
    assert [priv.decrypt(d).tolist() for d in new] == [priv.decrypt(d).tolist() for d in old]


def test_encrypted_arrays_take_the_same_call(keys512):
    pub, priv = keys512
    rng = np.random.default_rng(5)
    img = rng.integers(0, 50, (4, 5))
    kernels = [np.array([1, 2, 1]), (np.array([0, 4, 0]), np.array([1, 1, 1, 1, 1]))]
    x = priv.encrypt(img)
    (d,) = hc.sepfilter2d_differences(x, kernels, border="reflect")

    def blur(kx, ky):
        return cv2.sepFilter2D(img.astype(np.float64), cv2.CV_64F, kx.astype(float),
                               ky.astype(float), borderType=cv2.BORDER_REFLECT_101)

    want = blur(*kernels[1]) - blur(kernels[0], kernels[0])
    assert np.array_equal(priv.decrypt(d), want.astype(np.int64))


def test_bad_kernel_lists_are_refused(keys512):
    pub, priv = keys512
    x = priv.encrypt(np.ones((3, 3), dtype=np.int64), pack=True, bits_per_slot=16)
    with pytest.raises(ValueError, match="at least 2"):
        hc.sepfilter2d_differences(x, [np.array([1, 2, 1])])
    with pytest.raises(ValueError):
        hc.sepfilter2d_differences(x, [np.array([1, 2, 1]), np.ones((2, 2), dtype=int)])
    with pytest.raises(ValueError, match="contain 0"):
        hc.sepfilter2d_difference_intervals((1, 5), [[1], [2]])
