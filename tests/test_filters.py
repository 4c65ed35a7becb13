"""Each encrypted op decrypts to its integer reference, bit for bit, in both layouts."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import test_filters_refs as ref

import hepaillier_core as hc
from hesift import data
from hesift import filters as F

PAD = 4  # >= every radius used below (Gaussian sigma 1 -> 4)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real 20x24 crop of the camera photo (edges, flat sky, texture)."""
    return data.photo("camera", 96)[30:50, 20:44].astype(np.int64)


@pytest.fixture(scope="module")
def binary(photo) -> np.ndarray:
    return F.binarize(photo.astype(np.uint8))


def encrypt(priv, a, layout, *, bits=40, pad=PAD, bound=None):
    if layout == "packed":
        return priv.encrypt(a, pack=True, pad=pad, pad_mode="reflect", bits_per_slot=bits,
                            bound=bound)
    return priv.encrypt(a)


def plain(priv, x) -> np.ndarray:
    """Exact integer plaintext of an encrypted plane (scale ignored)."""
    return np.asarray(priv.decrypt(x.with_scale(1))).astype(np.int64)


LAYOUTS = ["unpacked", "packed"]


@pytest.fixture(scope="module", params=LAYOUTS)
def enc(request, keys512, photo):
    pub, priv = keys512
    return request.param, priv, encrypt(priv, photo, request.param)


def test_gaussian_exact(enc, photo):
    layout, priv, x = enc
    y = F.gaussian(x, 1.0, frac_bits=10)
    assert y.scale == 1 << 20
    assert np.array_equal(plain(priv, y), ref.gaussian(photo, 1.0, 10))
    expect = ref.to_uint8(ref.gaussian(photo, 1.0, 10), 1 << 20)
    assert np.array_equal(F.decrypt_image(priv, y), expect)


def test_gaussian_auto_precision(enc, photo):
    _, priv, x = enc
    y = F.gaussian(x, 0.8)  # 40-bit slots and n/2 both fit the 12-bit default
    assert y.scale == 1 << 24
    assert np.array_equal(plain(priv, y), ref.gaussian(photo, 0.8, 12))


def test_box_and_user_kernels(enc, photo):
    _, priv, x = enc
    y = F.box(x, 3)
    assert y.scale == 9 and np.array_equal(plain(priv, y), ref.box(photo, 3))
    k = np.array([[1, -2, 0], [3, 5, -1]])  # asymmetric, even height
    y = F.filter2d(x, k)
    assert y.scale == 1 and np.array_equal(plain(priv, y), ref.correlate(photo, k))
    y = F.filter2d(x, np.array([[1, 2, 1]]), normalize=True)
    assert y.scale == 4 and np.array_equal(plain(priv, y), ref.correlate(photo, [[1, 2, 1]]))
    kf = np.array([[0.25, 0.5, 0.25]])
    y = F.filter2d(x, kf, frac_bits=6)
    assert y.scale == 64
    assert np.array_equal(plain(priv, y), ref.correlate(photo, [[16, 32, 16]]))


@pytest.mark.parametrize("name,taps", [("sobel", ref.SOBEL), ("scharr", ref.SCHARR),
                                       ("prewitt", ref.PREWITT)])
def test_derivatives_exact(enc, photo, name, taps):
    _, priv, x = enc
    gx, gy = getattr(F, name)(x)
    rx, ry = ref.deriv(photo, taps)
    assert gx.scale == gy.scale == 1
    assert np.array_equal(plain(priv, gx), rx)
    assert np.array_equal(plain(priv, gy), ry)


def test_roberts_laplacian_exact(enc, photo):
    _, priv, x = enc
    g1, g2 = F.roberts(x)
    r1, r2 = ref.roberts(photo)
    assert np.array_equal(plain(priv, g1), r1) and np.array_equal(plain(priv, g2), r2)
    for ksize in (1, 3):
        assert np.array_equal(plain(priv, F.laplacian(x, ksize)), ref.laplacian(photo, ksize))


def test_gradient_magnitude_orientation(enc, photo):
    _, priv, x = enc
    gx, gy = F.sobel(x)
    rx, ry = ref.deriv(photo, ref.SOBEL)
    assert np.array_equal(F.gradient_magnitude(priv, gx, gy), np.hypot(rx, ry))
    theta = F.gradient_orientation(priv, gx, gy)
    assert np.allclose(theta, np.degrees(np.mod(np.arctan2(ry, rx), 2 * np.pi)))
    assert theta.min() >= 0 and theta.max() < 360


@pytest.mark.parametrize("amount", [1, Fraction(1, 2), 2.5])
def test_unsharp_mask_exact(enc, photo, amount):
    _, priv, x = enc
    f = 8
    y = F.unsharp_mask(x, 1.0, amount, frac_bits=f)
    a = Fraction(amount).limit_denominator(256)
    assert y.scale == a.denominator << (2 * f)
    assert np.array_equal(plain(priv, y), ref.unsharp(photo, 1.0, a.numerator, a.denominator, f))


def test_unsharp_mask_reuses_blur(enc, photo):
    _, priv, x = enc
    g = F.gaussian(x, 1.0, frac_bits=8)
    y = F.unsharp_mask(x, 1.0, 1, frac_bits=8, blurred=g)
    assert np.array_equal(plain(priv, y), ref.unsharp(photo, 1.0, 1, 1, 8))
    with pytest.raises(ValueError, match="same f"):
        F.unsharp_mask(x, 1.0, 1, frac_bits=7, blurred=g)


def test_high_boost_exact(enc, photo):
    _, priv, x = enc
    y = F.high_boost(x, 2)
    assert np.array_equal(plain(priv, y), ref.high_boost(photo, 2))


def test_point_ops_exact(enc, photo):
    _, priv, x = enc
    assert np.array_equal(F.decrypt_image(priv, F.negate(x)), (255 - photo).astype(np.uint8))
    y = F.brightness(x, 40)
    assert y.scale == 1 and np.array_equal(plain(priv, y), photo + 40)
    y = F.brightness(x, -12.5, frac_bits=4)
    assert y.scale == 16 and np.array_equal(plain(priv, y), 16 * photo - 200)
    y = F.contrast(x, 1.5, 128, frac_bits=4)
    assert y.scale == 16
    assert np.array_equal(plain(priv, y), 24 * photo + 128 * (16 - 24))
    # contrast after a blur: the scale of the input is respected
    g = F.gaussian(x, 1.0, frac_bits=4)
    y = F.contrast(g, 0.5, 100, frac_bits=2)
    assert y.scale == 256 * 4
    assert np.array_equal(plain(priv, y), 2 * ref.gaussian(photo, 1.0, 4) + 100 * 2 * 256)
    # negate after a blur
    y = F.negate(g)
    assert np.array_equal(plain(priv, y), 255 * 256 - ref.gaussian(photo, 1.0, 4))


def test_blend_exact(enc, keys512, photo):
    layout, priv, x = enc
    other = photo[::-1, ::-1].copy()
    y = encrypt(priv, other, layout)
    z = F.blend(x, y, 0.25, frac_bits=8)
    assert z.scale == 256
    assert np.array_equal(plain(priv, z), 64 * photo + 192 * other)
    with pytest.raises(ValueError, match="alpha"):
        F.blend(x, y, 1.5)


def test_morphology_counts_and_thresholds(keys512, binary):
    _, priv = keys512
    for layout in LAYOUTS:
        xb = encrypt(priv, binary.astype(np.int64), layout, bits=6, pad=2, bound=1)
        for se in (np.ones((3, 3), np.int64), np.array([[0, 1, 1], [1, 1, 0]]),
                   np.array([[0, 0, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 1, 0, 0]])):
            c = F.neighbourhood_counts(xb, se)
            assert np.array_equal(plain(priv, c), ref.counts(binary, se))
            got = F.threshold_counts(F.decrypt_counts(priv, c), "erode", se)
            assert np.array_equal(got, ref.erode(binary, se))
            got = F.threshold_counts(F.decrypt_counts(priv, c), "dilate", se)
            assert np.array_equal(got, ref.dilate(binary, se))


def test_morphology_protocols(keys512, binary):
    _, priv = keys512
    se = np.ones((3, 3), np.int64)
    for layout in LAYOUTS:
        xb = encrypt(priv, binary.astype(np.int64), layout, bits=6, pad=1, bound=1)
        e, d = ref.erode(binary, se), ref.dilate(binary, se)
        assert np.array_equal(F.erode(xb, priv, se), e)
        assert np.array_equal(F.dilate(xb, priv, se), d)
        assert np.array_equal(F.morph_gradient(xb, priv, se), d - e)
        assert np.array_equal(F.opening(xb, priv, se), ref.dilate(e, se))
        assert np.array_equal(F.closing(xb, priv, se), ref.erode(d, se))


def test_morphology_refuses_grey(enc):
    _, priv, x = enc
    with pytest.raises(ValueError, match="binary"):
        F.neighbourhood_counts(x)
    with pytest.raises(ValueError, match="only 0 and 1"):
        F.threshold_counts(np.zeros((2, 2)), "erode", np.array([[2]]))


def test_colour_per_channel(keys512):
    _, priv = keys512
    rgb = data.photo("astronaut", 64)[20:32, 24:40].astype(np.int64)
    for layout in LAYOUTS:
        planes = [encrypt(priv, rgb[:, :, c], layout) for c in range(3)]
        out = F.box(planes, 3)
        assert isinstance(out, list) and len(out) == 3
        img = F.decrypt_image(priv, out)
        assert img.shape == rgb.shape and img.dtype == np.uint8
        for c in range(3):
            assert np.array_equal(img[:, :, c], ref.to_uint8(ref.box(rgb[:, :, c], 3), 9))
        gx_gy = F.sobel(planes)
        assert len(gx_gy) == 3 and all(len(p) == 2 for p in gx_gy)
        vals = F.decrypt_values(priv, F.negate(planes))
        assert vals.shape == rgb.shape and np.array_equal(vals, 255 - rgb)


def test_decrypt_image_float_and_clip(enc, photo):
    _, priv, x = enc
    y = F.brightness(x, 100)
    assert np.array_equal(F.decrypt_image(priv, y), np.clip(photo + 100, 0, 255))
    assert np.array_equal(F.decrypt_image(priv, y, np.float64), photo + 100.0)


def test_overflow_refused_before_work(keys512, photo):
    _, priv = keys512
    x = priv.encrypt(photo, pack=True, pad=PAD, pad_mode="reflect", bits_per_slot=20)
    with pytest.raises(OverflowError, match="gaussian.*bits_per_slot"):
        F.gaussian(x, 1.0, frac_bits=8)
    with pytest.raises(OverflowError, match="filter2d"):
        F.filter2d(x, np.full((3, 3), 10_000))
    y = F.gaussian(x, 1.0)  # auto precision picks what fits 20-bit slots
    assert y.scale == 1 << 10
    assert np.array_equal(plain(priv, y), ref.gaussian(photo, 1.0, 5))


def test_bad_inputs(keys512, photo):
    _, priv = keys512
    with pytest.raises(TypeError, match="plaintext"):
        F.gaussian(photo, 1.0)
    x = priv.encrypt(photo)
    with pytest.raises(ValueError, match="sigma"):
        F.gaussian(x, -1.0)
    with pytest.raises(ValueError, match="finite"):
        F.filter2d(x, np.array([[np.nan, 1.0, 0.5]]))
    with pytest.raises(ValueError, match="2-D"):
        F.filter2d(x, np.array([1, 2, 1]))
    with pytest.raises(ValueError, match="2-D"):
        F.gaussian(priv.encrypt(np.arange(5)), 1.0)
    with pytest.raises(ValueError, match="empty"):
        F.box([], 3)


def test_evaluator_needs_public_key_only(keys512, photo):
    """Ciphertexts that went through bytes (no private key) filter the same."""
    pub, priv = keys512
    x = priv.encrypt(photo, pack=True, pad=PAD, pad_mode="reflect", bits_per_slot=40)
    seen = hc.from_bytes(x.to_bytes(), public_key=hc.PublicKey.from_bytes(pub.to_bytes()))
    y = F.gaussian(seen, 1.0, frac_bits=8)
    back = hc.from_bytes(y.to_bytes())
    assert np.array_equal(plain(priv, back), ref.gaussian(photo, 1.0, 8))
