"""The AVX2 four-lane kernels give bit-identical results to the scalar GMP path.

Every batch op is run with the lanes on and off; both must equal Python's own
modular arithmetic.  Batch sizes 1..13 cover full groups of four and the 1-3
leftovers; moduli cover radix 2^28 and the 2^27 radix used above ~3,500 bits.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from limb_helpers import ints as _ints
from limb_helpers import limbs as _limbs
from limb_helpers import multiexp_reference
from limb_helpers import odd_modulus as _odd_modulus
from scipy.signal import correlate2d

import hepaillier_core as hc
from hepaillier_core import _core

pytestmark = pytest.mark.skipif(not hc.simd_available(), reason="AVX2 lanes unavailable (CPU) or forbidden (HEPAILLIER_SIMD=0)")


def both_paths(fn):
    """fn() with the SIMD lanes off, then on: (off, on)."""
    try:
        hc.set_simd(False)
        off = fn()
        hc.set_simd(True)
        on = fn()
    finally:
        hc.set_simd(None)  # back to the measured choice
    return off, on


@pytest.mark.parametrize("limbs", [8, 9, 32, 33, 64, 65, 128])
def test_batch_ops_match_python(limbs):
    rng = random.Random(limbs)
    N = _odd_modulus(limbs, rng)
    mod = _core.Mod(N)
    vals = [rng.randrange(1, N) for _ in range(10)] + [N - 1]
    exps = [0, 1, 2, 3, 255, 1 << 20, (1 << 64) - 1, 7, 12345, 2**40 + 3, 9]
    a = _limbs(vals, mod.L)
    e = np.array(exps, dtype=np.uint64)
    (off, _), (on, _) = both_paths(lambda: mod.pow_u64(a, e))
    want = [pow(v, x, N) for v, x in zip(vals, exps)]
    assert _ints(off) == want
    assert _ints(on) == want
    mont_off, mont_on = both_paths(lambda: mod.to_mont(a))
    assert _ints(mont_off) == _ints(mont_on)  # one Montgomery domain for both paths
    back_off, back_on = both_paths(lambda: mod.from_mont(mont_on))
    assert _ints(back_off) == _ints(back_on) == vals
    b = _limbs(vals[::-1], mod.L)
    mm_off, mm_on = both_paths(lambda: mod.mulmod(a, b))
    assert _ints(mm_off) == _ints(mm_on) == [x * y % N for x, y in zip(vals, vals[::-1])]
    for K, T in ((5, 3), (1, 37), (2, 20), (3, 1), (1, 2)):
        facs = [[rng.randrange(1, N) for _ in range(T)] for _ in range(K)]
        a3 = np.ascontiguousarray(np.stack([_limbs(f, mod.L) for f in facs]))
        p_off, p_on = both_paths(lambda a3=a3: mod.prod(a3))
        want = []
        for f in facs:
            acc = 1
            for v in f:
                acc = acc * v % N
            want.append(acc)
        assert _ints(p_off) == _ints(p_on) == want, (K, T)
    for K in (64, 65, 67, 130):
        vals_k = []
        while len(vals_k) < K:  # the random modulus is not prime: keep the units
            v = rng.randrange(1, N)
            if math.gcd(v, N) == 1:
                vals_k.append(v)
        ak = _limbs(vals_k, mod.L)
        i_off, i_on = both_paths(lambda ak=ak: mod.invert(ak))
        assert _ints(i_off) == _ints(i_on) == [pow(v, -1, N) for v in vals_k], K
    ak[70] = 0  # no inverse: both paths refuse the batch
    for simd in (False, True):
        hc.set_simd(simd)
        with pytest.raises(ValueError, match="no inverse"):
            mod.invert(ak)
    hc.set_simd(None)
    sq_off, sq_on = both_paths(lambda: mod.pow2k(a, 5)[0])
    assert _ints(sq_off) == _ints(sq_on) == [pow(v, 32, N) for v in vals]


@settings(max_examples=25, deadline=None)
@given(K=st.integers(1, 13), T=st.integers(1, 4), G=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1), out_mont=st.booleans())
def test_multiexp_matches_python(K, T, G, seed, out_mont):
    rng = random.Random(seed)
    N = _odd_modulus(9, rng)
    mod = _core.Mod(N)
    nb = 6
    vals = [rng.randrange(1, N) for _ in range(nb)]
    bases = mod.to_mont(_limbs(vals, mod.L))
    idx = np.array([[[rng.randrange(-1, nb) for _ in range(G)] for _ in range(T)]
                    for _ in range(K)], dtype=np.int64)
    e = np.array([rng.choice([0, 1, 3, 200, 4095]) for _ in range(T)], dtype=np.uint64)
    (off, _), (on, _) = both_paths(lambda: mod.multiexp(idx, bases, e, out_mont))
    want = multiexp_reference(idx, vals, e, N)
    got = _ints(mod.from_mont(on)) if out_mont else _ints(on)
    assert got == want
    assert _ints(off) == _ints(on)


@settings(max_examples=12, deadline=None)
@given(K=st.integers(1, 13), seed=st.integers(0, 2**32 - 1))
def test_decrypt_full_and_packed_both_paths(K, seed, keys512):
    pub, priv = keys512
    rng = random.Random(seed)
    big = np.array([rng.randrange(-(pub.n // 3), pub.n // 3) for _ in range(K)], dtype=object)
    small = np.array([rng.randrange(-1000, 1000) for _ in range(40 * K)], dtype=np.int64)
    xb, xs = priv.encrypt(big), priv.encrypt(small)
    off, on = both_paths(lambda: (priv.decrypt(xb), priv.decrypt(xs)))
    assert list(off[0]) == list(on[0]) == list(big)
    assert (off[1] == small).all() and (on[1] == small).all()


def test_owner_and_public_encryption_decrypt_under_both_paths(keys512):
    pub, priv = keys512
    vals = np.arange(-9, 10, dtype=np.int64)
    for encrypt in (priv.encrypt, pub.encrypt):
        c_off, c_on = both_paths(lambda enc=encrypt: enc(vals))
        assert len(set(_core.int_of(r) for r in c_on.data)) == len(vals)  # fresh randomness
        d_off, d_on = both_paths(lambda c=c_on: priv.decrypt(c))
        assert (d_off == vals).all() and (d_on == vals).all()
        assert (priv.decrypt(c_off) == vals).all()
    phe_key = priv.to_phe()
    assert [phe_key.decrypt(c) for c in c_on.to_phe()] == list(vals)


def test_2048_bit_operations_agree(keys2048):
    pub, priv = keys2048
    rng = np.random.default_rng(5)
    a = rng.integers(-2**20, 2**20, 9)
    k = rng.integers(-300, 300, 9)
    x = priv.encrypt(a)
    prod_off, prod_on = both_paths(lambda: x * k)
    assert _ints(prod_off.data) == _ints(prod_on.data)
    assert (priv.decrypt(prod_on) == a * k).all()
    y = pub.encrypt(a)  # r^n in radix-2^27 lanes (n^2 has 64 limbs)
    assert (priv.decrypt(y) == a).all()
    assert [priv.to_phe().decrypt(c) for c in y.to_phe()] == list(a)
    s_off, s_on = both_paths(lambda: (x + x).sum())
    assert _ints(s_off.data.reshape(1, -1)) == _ints(s_on.data.reshape(1, -1))
    assert priv.decrypt(s_on) == 2 * a.sum()


def test_convolution_identical_with_and_without_lanes(keys512):
    pub, priv = keys512
    img = np.random.default_rng(2).integers(0, 256, (9, 11))
    kern = np.array([[1, -2, 1], [3, 5, 3], [0, 2, -1]])
    x = priv.encrypt(img)
    y_off, y_on = both_paths(lambda: hc.convolve2d(x, kern))
    assert _ints(y_off.data) == _ints(y_on.data)
    packed = priv.encrypt(img, pack=True)
    p_off, p_on = both_paths(lambda: hc.convolve2d(packed, kern))
    assert _ints(p_off.data.reshape(-1, p_off.data.shape[-1])) == \
        _ints(p_on.data.reshape(-1, p_on.data.shape[-1]))
    want = correlate2d(img, kern, mode="same")
    assert (priv.decrypt(y_on) == want).all()
    assert (priv.decrypt(p_on) == want).all()
