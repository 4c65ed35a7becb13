"""Issue 14: narrower slots (symmetric largest-remainder taps, interval bounds) and
fewer canvas columns per decryption (row folding), checked against a scale space
written here independently with OpenCV (its own quantiser, borders and filters)."""

from __future__ import annotations

import math
from fractions import Fraction

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


def lr_taps(sigma: float, f: int, variance: bool = False) -> np.ndarray:
    """Symmetric taps written from the definition: every side tap the floor or the
    ceiling of its exact value, the centre an even neighbour of its own, the sum 2**f.
    Largest remainder: the ceilings go to the largest remainders.  ``variance``: by
    brute force over every choice of ceilings that keeps the taps non-increasing
    outwards, the one whose second moment is closest to the exact kernel's (exact
    rational arithmetic), then the smallest squared error."""
    r = (int(round(sigma * 8 + 1)) | 1) // 2
    g = [math.exp(-(i * i) / (2 * sigma * sigma)) for i in range(-r, r + 1)]
    s = sum(g)
    t = [v / s * 2**f for v in g]
    cands = []
    target = sum(Fraction(t[r + 1 + i]) * (i + 1) ** 2 for i in range(r))
    moments: dict[int, Fraction] = {}
    for c in (2 * math.floor(t[r] / 2), 2 * math.floor(t[r] / 2) + 2):
        floors = [math.floor(t[r + i]) for i in range(1, r + 1)]
        left = (2**f - c) // 2 - sum(floors)
        if c < 0 or left < 0 or left > r:
            continue
        if variance:
            choices = monotone_choices(floors, left)
        else:
            choices = [sorted(range(r), key=lambda i: (-(t[r + 1 + i] - floors[i]), i))[:left]]
        for up in choices:
            side = [v + (i in up) for i, v in enumerate(floors)]
            if variance and any(side[i] < side[i + 1] for i in range(r - 1)):
                continue  # the taps must not grow outwards
            err = (c - t[r]) ** 2 + 2 * sum((side[i] - t[r + 1 + i]) ** 2 for i in range(r))
            if not variance:
                cands.append(((err,), c, side))
                continue
            m = sum(v * (i + 1) ** 2 for i, v in enumerate(side))
            if m not in moments:
                moments[m] = abs(m - target)
            cands.append(((moments[m], err), c, side))
    _, c, side = min(cands, key=lambda x: x[0])
    full = side[::-1] + [c] + side
    while len(full) > 1 and full[0] == 0:
        full = full[1:-1]
    return np.array(full, dtype=np.int64)


def monotone_choices(floors: list[int], count: int):
    """Every set of ``count`` taps to round up that keeps floor + up non-increasing
    outwards (a tap may round up past an equal inner floor only if that one does)."""

    def rec(i: int, left: int, prev_up: bool, chosen: tuple):
        if left > len(floors) - i:
            return
        if i == len(floors):
            yield chosen
            return
        can_up = i == 0 or floors[i] != floors[i - 1] or prev_up
        if can_up and left:
            yield from rec(i + 1, left - 1, True, chosen + (i,))
        yield from rec(i + 1, left, False, chosen)

    yield from rec(0, count, True, ())


def blur(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Exact BORDER_REFLECT_101 separable filter (float64 holds every value exactly)."""
    r = len(taps) // 2
    padded = cv2.copyMakeBorder(img.astype(np.float64), r, r, r, r, cv2.BORDER_REFLECT_101)
    k = taps.astype(np.float64)
    out = cv2.sepFilter2D(padded, cv2.CV_64F, k, k, borderType=cv2.BORDER_CONSTANT)
    return out[r:-r or None, r:-r or None].astype(np.int64)


def independent_dogs(grey: np.ndarray, f: int, variance: bool, n_layers: int = 3,
                     sigma: float = 1.6):
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
            rho0 = math.sqrt(max(sig[0] ** 2 - 1.0, 0.01))  # as OpenCV's createInitialImage
            levels = [blur(base, lr_taps(math.sqrt(rho0**2 + s**2 - sig[0] ** 2), f, variance))
                      for s in sig]
        else:
            levels = [base << (2 * f)] + [
                blur(base, lr_taps(math.sqrt(s**2 - sig[0] ** 2), f, variance)) for s in sig[1:]]
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


@settings(max_examples=80, deadline=None)
@given(sigma=st.floats(0.3, 6.0), f=st.integers(4, 16),
       rounding=st.sampled_from(["largest_remainder", "matched_variance"]))
def test_symmetric_taps_are_exact_and_within_one_unit(sigma, f, rounding):
    q = gaussian_taps(sigma, f, rounding=rounding)
    r = len(q) // 2
    assert q.dtype == np.int64 and int(q.sum()) == 1 << f
    assert np.array_equal(q, q[::-1]) and (q >= 0).all()
    x = np.arange(-r, r + 1)
    exact = np.exp(-(x * x) / (2 * sigma * sigma))
    exact = exact / exact.sum() * 2**f
    assert np.abs(q - exact)[np.arange(len(q)) != r].max(initial=0) < 1
    assert abs(q[r] - exact[r]) < 2
    if rounding != "largest_remainder":
        return
    # largest remainder: moving a unit pair between two side taps never reduces the error
    side, tgt = q[r + 1 :], exact[r + 1 :]
    up, down = (side + 1 - tgt) ** 2 - (side - tgt) ** 2, (side - 1 - tgt) ** 2 - (side - tgt) ** 2
    assert (up[:, None] + down[None, :] + 1e-9 >= 0).all() or len(side) < 2


@pytest.mark.parametrize("sigma", [0.9, 1.249, 1.75, 2.8])
@pytest.mark.parametrize("f", [8, 10])
def test_quantisers_match_the_independent_ones(sigma, f):
    from hesift.sift.params import trimmed_taps

    assert SiftParams().quantiser == "largest_remainder"
    assert np.array_equal(trimmed_taps(sigma, f, "largest_remainder"), lr_taps(sigma, f))
    mv = trimmed_taps(sigma, f, "matched_variance")
    assert np.array_equal(mv, lr_taps(sigma, f, variance=True))
    r = (int(round(sigma * 8 + 1)) | 1) // 2
    x = np.arange(-r, r + 1)
    exact = np.exp(-(x * x) / (2 * sigma * sigma))
    var_exact = (exact * x * x).sum() / exact.sum()

    def var(t):
        h = len(t) // 2
        return (t * np.arange(-h, h + 1) ** 2).sum() / 2**f

    lr = trimmed_taps(sigma, f, "largest_remainder")
    assert abs(var(mv) - var_exact) <= abs(var(lr) - var_exact) + 1e-12


# --- slot widths and canvas layout ------------------------------------------------------


#: issue 14's f = 10 configuration with exact x16 bases (the widths below are its own)
F10 = dict(frac_bits=10, upsample_frac_bits=4)


def test_slot_width_is_one_bit_narrower_with_interval_bounds():
    new = plans_for(SiftParams(slot_bounds="interval", **F10), (96, 96))[0]
    old = plans_for(SiftParams.legacy(), (96, 96))[0]
    assert new.bits_per_slot == (255 * 16 << 20).bit_length() + 1 == 33
    assert old.bits_per_slot == (2 * 255 * 16 << 24).bit_length() + 1 == 38
    assert plans_for(SiftParams(slot_bounds="abs", **F10), (96, 96))[0].bits_per_slot == 34


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


@pytest.mark.parametrize("size, legacy_ratio, max_ratio, max_share, default_share", [
    (256, 1.267, 1.13, 0.78, 0.81), (512, 1.145, 1.066, 0.81, 0.84),
    (1024, 1.075, 1.034, 0.84, 0.863)])
def test_decrypted_ciphertexts_per_size(size, legacy_ratio, max_ratio, max_share, default_share):
    """Decrypted ciphertexts over the ideal (every decrypted bit a DoG bit), 2048-bit key."""

    def ratio(params):
        dec = ideal = 0
        for p in plans_for(params, (2 * size, 2 * size)):
            c = choose_canvas(p.shape, p.pad, 2048, p.bits_per_slot, fold=params.layout == "folded")
            dec += c.decrypted((2048 - 2) // p.bits_per_slot)
            ideal += ideal_ciphertexts(p.shape, 2048, p.bits_per_slot)
        return dec / ideal, dec

    (r_old, d_old) = ratio(SiftParams.legacy())
    (r_new, d_new) = ratio(SiftParams(slot_bounds="interval", **F10))
    assert r_old == pytest.approx(legacy_ratio, abs=0.005)
    assert r_new <= max_ratio and d_new <= max_share * d_old
    assert ratio(SiftParams(**F10))[1] < d_new  # exact DoG bounds: narrower octave-0 slots
    # the defaults (f = 12 taps, 2-bit octave-0 base, exact bounds)
    assert ratio(SiftParams())[1] <= default_share * d_old


# --- HESIFT on ciphertexts equals the independent scale space --------------------------


def run_owner(grey, priv, pub, params):
    owner = KeyOwner(grey, priv, params, keep_levels=True)
    ev = Evaluator(pub)
    while not owner.done:
        owner.receive(ev.evaluate(owner.next_job()))
    return owner


# (sigma 1.0 keeps the brute-force matched-variance reference quick: radii <= 10)
@pytest.mark.parametrize("f, quantiser, sigma", [(10, "largest_remainder", 1.6),
                                                 (9, "matched_variance", 1.0)])
def test_encrypted_dogs_equal_the_independent_reference(keys512, f, quantiser, sigma):
    pub, priv = keys512
    g = crop("camera", 150, 200, 48)
    params = SiftParams(frac_bits=f, quantiser=quantiser, sigma=sigma, upsample_frac_bits=4)
    owner = run_owner(g, priv, pub, params)
    assert any(c.k > 1 for c in owner.canvases)  # the folded layout is exercised
    ref = independent_dogs(g, f, quantiser == "matched_variance", sigma=sigma)
    assert len(owner.decrypted_dogs) == len(ref)
    for got, want in zip(owner.decrypted_dogs, ref):
        assert np.array_equal(got, want)
    _, plain = run_reference(g, params, keep_dogs=True)
    assert all(np.array_equal(a, b) for a, b in zip(plain, ref))
    kp = owner.result()
    k2, d2 = sift_reference(g, frac_bits=f, quantiser=quantiser, sigma=sigma, upsample_frac_bits=4)
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
    assert SIFT_FEATURE_ID == "hesift-sift-v3" and new.feature_id.startswith(SIFT_FEATURE_ID)
    with pytest.raises(GalleryError, match="cannot be compared"):
        new.query(img)
