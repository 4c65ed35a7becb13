"""Issue 14: narrower slots (symmetric largest-remainder taps, interval bounds) and
fewer canvas columns per decryption (row folding), checked against a scale space
written here independently with OpenCV (its own quantiser, borders and filters)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data

from hesift.kernels import gaussian_taps
from hesift.sift.api import HESIFT, sift_reference
from hesift.sift.canvas import FoldedCanvas, choose_canvas, ideal_ciphertexts
from hesift.sift.params import SiftParams, plans_for
from hesift.sift.protocol import Evaluator, KeyOwner
from hesift.sift.reference import run_reference

# --- an independent integer scale space (OpenCV does the filtering) ----------------------


def lr_taps(sigma: float, f: int) -> np.ndarray:
    """Largest-remainder symmetric taps, written from the definition: start from the
    floors, give the centre the even value nearest its target that leaves a feasible
    remainder, then hand out the remaining units in pairs to the largest remainders."""
    r = (int(round(sigma * 8 + 1)) | 1) // 2
    g = [math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-r, r + 1)]
    s = sum(g)
    t = [v / s * 2**f for v in g]
    cands = []
    for c in (2 * math.floor(t[r] / 2), 2 * math.floor(t[r] / 2) + 2):
        side = [math.floor(t[r + i]) for i in range(1, r + 1)]
        left = (2**f - c) // 2 - sum(side)
        if c < 0 or left < 0 or left > r:
            continue
        rem = sorted(range(r), key=lambda i: (-(t[r + 1 + i] - side[i]), i))
        for i in rem[:left]:
            side[i] += 1
        err = (c - t[r]) ** 2 + 2 * sum((side[i] - t[r + 1 + i]) ** 2 for i in range(r))
        cands.append((err, c, side))
    _, c, side = min(cands)
    full = side[::-1] + [c] + side
    while len(full) > 1 and full[0] == 0:
        full = full[1:-1]
    return np.array(full, dtype=np.int64)


def blur(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Exact BORDER_REFLECT_101 separable filter (float64 holds every value exactly)."""
    r = len(taps) // 2
    padded = cv2.copyMakeBorder(img.astype(np.float64), r, r, r, r, cv2.BORDER_REFLECT_101)
    k = taps.astype(np.float64)
    out = cv2.sepFilter2D(padded, cv2.CV_64F, k, k, borderType=cv2.BORDER_CONSTANT)
    return out[r:-r or None, r:-r or None].astype(np.int64)


def independent_dogs(grey: np.ndarray, f: int, n_layers: int = 3, sigma: float = 1.6):
    """Every octave's DoG stack of the upsampled image, as HESIFT defines it."""
    h, w = grey.shape
    base = np.rint(cv2.resize(grey.astype(np.float64), (2 * w, 2 * h),
                              interpolation=cv2.INTER_LINEAR) * 16).astype(np.int64)
    k = 2 ** (1 / n_layers)
    sig = [sigma * k**i for i in range(n_layers + 3)]
    out = []
    octave = 0
    while min(base.shape) > 10 and octave < round(math.log2(min(2 * h, 2 * w)) - 2) + 1:
        if octave == 0:
            rho0 = math.sqrt(sig[0] ** 2 - 1.0)
            levels = [blur(base, lr_taps(math.sqrt(rho0**2 + s**2 - sig[0] ** 2), f)) for s in sig]
        else:
            levels = [base << (2 * f)] + [blur(base, lr_taps(math.sqrt(s**2 - sig[0] ** 2), f))
                                          for s in sig[1:]]
        out.append(np.stack([b - a for a, b in zip(levels[:-1], levels[1:])]))
        g = levels[n_layers][::2, ::2][: base.shape[0] // 2, : base.shape[1] // 2]
        base = (g + (1 << (2 * f - 1))) >> (2 * f)
        octave += 1
    return out


def crop(name: str, y: int, x: int, size: int) -> np.ndarray:
    img = getattr(data, name)()
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(img[y : y + size, x : x + size])


# --- the quantiser ---------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(sigma=st.floats(0.3, 12.0), f=st.integers(4, 16))
def test_largest_remainder_taps_are_symmetric_exact_and_within_one_unit(sigma, f):
    q = gaussian_taps(sigma, f, rounding="largest_remainder")
    r = len(q) // 2
    assert q.dtype == np.int64 and int(q.sum()) == 1 << f
    assert np.array_equal(q, q[::-1]) and (q >= 0).all()
    x = np.arange(-r, r + 1)
    exact = np.exp(-(x * x) / (2 * sigma * sigma))
    exact = exact / exact.sum() * 2**f
    assert np.abs(q - exact)[np.arange(len(q)) != r].max(initial=0) < 1
    assert abs(q[r] - exact[r]) < 2
    # largest remainder: moving a unit pair between two side taps never reduces the error
    side, tgt = q[r + 1 :], exact[r + 1 :]
    up, down = (side + 1 - tgt) ** 2 - (side - tgt) ** 2, (side - 1 - tgt) ** 2 - (side - tgt) ** 2
    assert (up[:, None] + down[None, :] + 1e-9 >= 0).all() or len(side) < 2


@pytest.mark.parametrize("sigma", [0.9, 1.249, 1.75, 2.8, 4.98])
@pytest.mark.parametrize("f", [8, 10, 12])
def test_quantiser_matches_the_independent_one(sigma, f):
    got = SiftParams(frac_bits=f)  # default quantiser
    assert got.quantiser == "largest_remainder"
    from hesift.sift.params import trimmed_taps

    assert np.array_equal(trimmed_taps(sigma, f, "largest_remainder"), lr_taps(sigma, f))


# --- slot widths and canvas layout ------------------------------------------------------


def test_slot_width_is_one_bit_narrower_with_interval_bounds():
    new, old = plans_for(SiftParams(), (96, 96))[0], plans_for(SiftParams.legacy(), (96, 96))[0]
    assert new.bits_per_slot == (255 * 16 << 20).bit_length() + 1 == 33
    assert old.bits_per_slot == (2 * 255 * 16 << 24).bit_length() + 1 == 38
    assert plans_for(SiftParams(slot_bounds="abs"), (96, 96))[0].bits_per_slot == 34


@pytest.mark.parametrize("shape, R, k", [((13, 9), 4, 3), ((7, 20), 9, 2), ((40, 3), 2, 5), ((8, 8), 3, 8)])
def test_folded_canvas_filters_like_the_image(shape, R, k):
    """Filtering the folded canvas ('valid') and unfolding equals reflect-101 filtering."""
    img = np.random.default_rng(5).integers(0, 4081, shape)
    c = FoldedCanvas(shape[0], shape[1], R, k)
    canvas = c.build(img)
    assert canvas.shape == c.shape
    taps = np.random.default_rng(6).integers(0, 50, 2 * R + 1)
    kf = taps.astype(np.float64)
    full = cv2.sepFilter2D(canvas.astype(np.float64), cv2.CV_64F, kf, kf,
                           borderType=cv2.BORDER_CONSTANT)[R:-R, R:-R]
    assert full.shape == c.valid_shape
    assert np.array_equal(c.unfold(full.astype(np.int64)), blur(img, taps))


@pytest.mark.parametrize("size, legacy_ratio, max_ratio, max_share", [
    (256, 1.267, 1.13, 0.78), (512, 1.145, 1.07, 0.81), (1024, 1.075, 1.035, 0.84)])
def test_decrypted_ciphertexts_per_size(size, legacy_ratio, max_ratio, max_share):
    """Decrypted ciphertexts over the ideal (every decrypted bit a DoG bit), 2048-bit key."""

    def ratio(params):
        dec = ideal = 0
        for p in plans_for(params, (2 * size, 2 * size)):
            c = choose_canvas(p.shape, p.pad, 2048, p.bits_per_slot, fold=params.layout == "folded")
            dec += c.decrypted((2048 - 2) // p.bits_per_slot)
            ideal += ideal_ciphertexts(p.shape, 2048, p.bits_per_slot)
        return dec / ideal, dec

    (r_old, d_old), (r_new, d_new) = ratio(SiftParams.legacy()), ratio(SiftParams())
    assert r_old == pytest.approx(legacy_ratio, abs=0.005)
    assert r_new <= max_ratio and d_new <= max_share * d_old


# --- HESIFT on ciphertexts equals the independent scale space --------------------------


def run_owner(grey, priv, pub, params):
    owner = KeyOwner(grey, priv, params, keep_levels=True)
    ev = Evaluator(pub)
    while not owner.done:
        owner.receive(ev.evaluate(owner.next_job()))
    return owner


@pytest.mark.parametrize("f", [10, 9])
def test_encrypted_dogs_equal_the_independent_reference(keys512, f):
    pub, priv = keys512
    g = crop("camera", 150, 200, 48)
    params = SiftParams(frac_bits=f)
    owner = run_owner(g, priv, pub, params)
    assert any(c.k > 1 for c in owner.canvases)  # the folded layout is exercised
    ref = independent_dogs(g, f)
    assert len(owner.decrypted_dogs) == len(ref)
    for got, want in zip(owner.decrypted_dogs, ref):
        assert np.array_equal(got, want)
    _, plain = run_reference(g, params, keep_dogs=True)
    assert all(np.array_equal(a, b) for a, b in zip(plain, ref))
    kp = owner.result()
    k2, d2 = sift_reference(g, frac_bits=f)
    assert [k.pt for k in kp.to_cv()] == [k.pt for k in k2] and np.array_equal(kp.desc, d2)


def test_legacy_configuration_still_runs_bit_exact(keys512):
    g = crop("astronaut", 60, 180, 40)
    legacy = dict(frac_bits=12, quantiser="centre", layout="padded", slot_bounds="abs")
    a, b = HESIFT(g, keys512, **legacy), sift_reference(g, **legacy)
    assert [k.pt for k in a[0]] == [k.pt for k in b[0]] and np.array_equal(a[1], b[1])


def test_one_bit_narrower_slots_are_refused(keys512):
    """The plan's slot width is tight: one bit less and the evaluator refuses the job."""
    pub, priv = keys512
    from hesift.sift.messages import OctaveJob

    owner = KeyOwner(crop("camera", 0, 0, 24), priv)
    plan, canvas = owner.plans[0], owner.canvases[0]
    job = owner.next_job()
    assert job.base.interval == (0, plan.base_bound)
    narrow = priv.encrypt(canvas.build(owner._base), pack=True, bits_per_slot=plan.bits_per_slot - 1,
                          bound=plan.base_interval, headroom=canvas.headroom)
    with pytest.raises(OverflowError, match="bits per slot"):
        Evaluator(pub).evaluate(OctaveJob(job.octave, job.taps, narrow))


def test_a_gallery_of_old_features_refuses_the_new_ones(tmp_path):
    """Features changed with issue 14, so the feature id did: old galleries refuse to mix."""
    from hesift.gallery import Gallery, GalleryError, ReferenceExtractor
    from hesift.gallery.features import SIFT_FEATURE_ID

    class OldSift:  # what a v1 gallery recorded: the pipeline before issue 14 under the v1 id
        feature_id = "hesift-sift-v1[min_features=200]"

        def __call__(self, grey):
            return sift_reference(grey, min_features=200, frac_bits=12, quantiser="centre")

    img = crop("camera", 100, 100, 96)
    Gallery(tmp_path / "g.sqlite3", extractor=OldSift(), max_side=None).add(img, name="cam")
    new = Gallery(tmp_path / "g.sqlite3", extractor=ReferenceExtractor(), max_side=None)
    assert SIFT_FEATURE_ID == "hesift-sift-v2" and new.feature_id.startswith(SIFT_FEATURE_ID)
    with pytest.raises(GalleryError, match="cannot be compared"):
        new.query(img)
