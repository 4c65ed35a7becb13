"""HESIFT with exact DoG slot bounds (slot_bounds="exact", the default): octave 0 in
2 bits narrower slots than interval bounds at f = 10, Gaussian levels that overflow
those slots on the evaluator, DoGs that still decrypt bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from hesift.sift.api import sift_reference
from hesift.sift.cost import sift_cost
from hesift.sift.messages import OctaveResult
from hesift.sift.params import SiftParams, plans_for
from hesift.sift.protocol import Evaluator, KeyOwner

EXACT = SiftParams(slot_bounds="exact", frac_bits=10, upsample_frac_bits=4)


def crop(y: int, x: int, size: int) -> np.ndarray:
    return np.ascontiguousarray(data.camera()[y : y + size, x : x + size])


def dog_range(plan) -> int:
    """max |DoG| over bases in [0, base_bound], from the 2-D difference kernels (numpy)."""
    taps = plan.full_taps()
    r = max(len(t) // 2 for t in taps)
    k2 = [np.outer(*(2 * [np.pad(t, r - len(t) // 2)])) for t in taps]
    return max(plan.base_bound * int(np.abs(b - a).sum()) // 2 for a, b in zip(k2[:-1], k2[1:]))


def test_octave_zero_is_two_bits_narrower_at_f10():
    for shape in ((96, 96), (512, 512), (1024, 1024)):
        exact, interval = plans_for(EXACT, shape), plans_for(
            SiftParams(slot_bounds="interval", frac_bits=10, upsample_frac_bits=4), shape)
        assert interval[0].bits_per_slot == 33 and exact[0].bits_per_slot == 31
        # octaves > 0: level 0 is the identity, DoG_0 needs ~0.89 L (no bit saved)
        assert all(e.bits_per_slot == i.bits_per_slot == 33 for e, i in zip(exact[1:], interval[1:]))
        for p in exact[:2]:
            # DoG kernels sum to 0, so positive and negative parts are equal: |D|_1 / 2
            assert p.bits_per_slot == dog_range(p).bit_length() + 1
            assert all(lo == -hi for lo, hi in p.dog_intervals)


def test_exact_bounds_are_bit_exact_and_counted(keys512):
    pub, priv = keys512
    g = crop(200, 230, 32)
    owner = KeyOwner(g, priv, EXACT, keep_levels=True)
    plan = owner.plans[0]
    assert plan.level_bound > (1 << (plan.bits_per_slot - 1))  # the levels overflow the slots
    ev = Evaluator(pub)
    while not owner.done:
        owner.receive(ev.evaluate(owner.next_job()))
    kp = owner.result()
    k2, d2 = sift_reference(g, slot_bounds="exact", frac_bits=10, upsample_frac_bits=4)
    assert len(k2) > 0
    assert [k.pt for k in kp.to_cv()] == [k.pt for k in k2] and np.array_equal(kp.desc, d2)
    assert owner.decrypted_bits // pub.bits == sift_cost(g.shape, EXACT, pub.bits).decryptions
    for dogs, p in zip(owner.decrypted_dogs, owner.plans):
        for d, (lo, hi) in zip(dogs, p.dog_intervals):
            assert lo <= d.min() and d.max() <= hi


@pytest.mark.parametrize("side", ["hi", "lo"])
def test_the_owner_refuses_dogs_outside_their_exact_range(keys512, side):
    """A result within the slots and the levels' bound but outside a DoG's exact range
    cannot be the evaluator's answer to this job."""
    pub, priv = keys512
    owner = KeyOwner(crop(0, 0, 24), priv, EXACT)
    plan, canvas = owner.plans[0], owner.canvases[0]
    res = Evaluator(pub).evaluate(owner.next_job())
    lo, hi = plan.dog_intervals[1]
    bad = np.zeros(canvas.valid_shape, dtype=np.int64)
    bad[3, 4] = hi + 1 if side == "hi" else lo - 1
    assert abs(int(bad[3, 4])) < plan.level_bound
    forged = priv.encrypt(bad, pack=True, bits_per_slot=plan.bits_per_slot + 2)
    dogs = list(res.dogs)
    dogs[1] = forged
    with pytest.raises(ValueError, match="exact static range"):
        owner.receive(OctaveResult(res.octave, dogs))

