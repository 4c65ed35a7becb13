"""Packed images track [lo, hi] bounds: one-signed results cost no sign bit twice, and
the refusal before overflow stays exact at the interval edges."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy.signal import correlate2d

import hepaillier_core as hc

W = 12  # bits per slot in these tests: slots hold -2047..2047
LIM = (1 << (W - 1)) - 1


def edge_image(lo: int, hi: int) -> np.ndarray:
    """A 5x7 image that reaches both ends of [lo, hi] (and 0)."""
    img = np.zeros((5, 7), dtype=np.int64)
    img[0, 0], img[4, 6], img[2, 3] = lo, hi, hi
    return img


def test_difference_of_one_signed_images_fits_where_abs_bounds_would_not(keys512):
    pub, priv = keys512
    a, b = edge_image(0, LIM), edge_image(0, LIM)[::-1, ::-1].copy()
    x = priv.encrypt(a, pack=True, bits_per_slot=W, bound=(0, LIM))
    y = priv.encrypt(b, pack=True, bits_per_slot=W, bound=(0, LIM))
    assert x.interval == (0, LIM) and x.bound == LIM
    d = x - y  # [0, L] - [0, L] = [-L, L]: fits; |x| bounds would need 2L
    assert d.interval == (-LIM, LIM)
    got = priv.decrypt(d)
    assert np.array_equal(got, a - b) and got.max() == LIM and got.min() == -LIM
    with pytest.raises(OverflowError, match="bits per slot"):
        x + y  # [0, 2L]: one past the slot
    with pytest.raises(OverflowError):
        d - x  # [-2L, L]


def test_symmetric_bounds_keep_their_old_meaning(keys512):
    pub, priv = keys512
    a = edge_image(-LIM, LIM)
    x = priv.encrypt(a, pack=True, bits_per_slot=W, bound=LIM)
    assert x.interval == (-LIM, LIM)
    with pytest.raises(OverflowError):
        x - x
    assert np.array_equal(priv.decrypt(-x), -a)


def test_declared_interval_must_hold_the_values_and_the_slot(keys512):
    pub, priv = keys512
    a = edge_image(-3, LIM)
    with pytest.raises(ValueError, match="does not hold"):
        priv.encrypt(a, pack=True, bits_per_slot=W, bound=(0, LIM))  # -3 is below lo
    with pytest.raises(OverflowError):
        priv.encrypt(edge_image(0, LIM + 1), pack=True, bits_per_slot=W, bound=(0, LIM + 1))
    with pytest.raises(ValueError, match="contain 0"):
        priv.encrypt(edge_image(0, 9) + 1, pack=True, bits_per_slot=W, bound=(1, 10))
    x = priv.encrypt(edge_image(-5, 9), pack=True, bits_per_slot=W)  # measured interval
    assert x.interval == (-5, 9)


@pytest.mark.parametrize("k", [3, -3, 0])
def test_scalar_multiplication_flips_the_interval_for_negative_factors(keys512, k):
    pub, priv = keys512
    a = edge_image(-100, 600)
    x = priv.encrypt(a, pack=True, bits_per_slot=W, bound=(-100, 600))
    y = x * k
    assert y.interval == tuple(sorted((-100 * k, 600 * k)))
    assert np.array_equal(priv.decrypt(y), a * k)
    with pytest.raises(OverflowError):
        x * 4  # 2400 > 2047
    assert (x * -3).interval == (-1800, 300)  # the mirror fits where |x| * 3 would too


def test_filter_interval_takes_the_sign_of_each_tap(keys512):
    pub, priv = keys512
    a = edge_image(0, 500)
    x = priv.encrypt(a, pack=True, bits_per_slot=W, bound=(0, 500))
    k = np.array([[1, -3, 2]])
    y = hc.convolve2d(x, k)
    assert y.interval == (-1500, 1500)  # positive taps sum 3, negative 3
    assert np.array_equal(priv.decrypt(y), correlate2d(a, k, mode="same"))
    y2 = hc.convolve2d(x, np.array([[1, 2, 1]]))
    assert y2.interval == (0, 2000)  # non-negative kernel: still one-signed
    with pytest.raises(OverflowError):
        hc.convolve2d(x, np.array([[2, 1, 2]]))  # 2500


def test_plain_additions_extend_the_interval_on_one_side(keys512):
    pub, priv = keys512
    a = edge_image(0, 1000)
    x = priv.encrypt(a, pack=True, bits_per_slot=W, bound=(0, 1000))
    assert (x + 1047).interval == (0, 2047)
    assert (x - 2047).interval == (-2047, 1000)
    assert np.array_equal(priv.decrypt(x - 2047), a - 2047)
    with pytest.raises(OverflowError):
        x + 1048
    plain = np.full(a.shape, -7)
    assert (x + plain).interval == (-7, 1000)


def test_interval_survives_bytes_pickle_and_refuses_forged_metadata(keys512):
    import io
    import json

    pub, priv = keys512
    x = priv.encrypt(edge_image(0, 900), pack=True, bits_per_slot=W, bound=(0, 900))
    for y in (hc.from_bytes(x.to_bytes(), public_key=pub), pickle.loads(pickle.dumps(x))):
        assert y.interval == (0, 900)
        assert np.array_equal(priv.decrypt(y - y), np.zeros((5, 7)))

    def forged(interval) -> bytes:
        with np.load(io.BytesIO(x.to_bytes())) as z:
            meta, data = json.loads(bytes(z["meta"]).decode()), z["data"]
        meta["interval"] = interval
        buf = io.BytesIO()
        np.savez(buf, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8), data=data)
        return buf.getvalue()

    for bad in (["0", "5000"], ["1", "900"], ["0"], "x"):
        with pytest.raises(ValueError):
            hc.from_bytes(forged(bad), public_key=pub)


def test_valid_sepfilter_computes_only_the_kept_rows(keys512):
    pub, priv = keys512
    rng = np.random.default_rng(3)
    img = rng.integers(0, 200, (17, 13))
    kx, ky = np.array([1, 4, 6, 4, 1]), np.array([1, 2, 3, 2, 1])
    x = priv.encrypt(img, pack=True, bound=(0, 255))
    out = hc.sepfilter2d(x, kx, ky, mode="valid")
    ref = correlate2d(img, np.outer(ky, kx), mode="valid")
    assert out.shape == ref.shape and out.data.shape[0] == ref.shape[0]  # no dropped rows computed
    assert out.interval == (0, 255 * 16 * 9)
    assert np.array_equal(priv.decrypt(out), ref)
    with pytest.raises(ValueError, match="empty"):
        hc.sepfilter2d(x, kx, np.ones(19, np.int64), mode="valid")
