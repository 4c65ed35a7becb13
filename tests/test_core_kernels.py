"""Kernel choice by measurement, and every candidate forced in turn.

Each candidate (scalar GMP, AVX2 four lanes, AVX-512 IFMA eight lanes) runs
every batch op alone; all must equal Python's integers, and Montgomery-form
data made under one must mean the same under the others.  Batch sizes cover
full lane groups and leftovers for both lane widths.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from limb_helpers import ints as _ints
from limb_helpers import limbs as _limbs
from limb_helpers import multiexp_reference
from limb_helpers import odd_modulus as _odd_modulus

import hepaillier_core as hc
from hepaillier_core import _core, kernels

LANE_KINDS = [
    pytest.param("avx2", marks=pytest.mark.skipif(
        "avx2" not in kernels.available(), reason="no AVX2 lanes here (CPU or HEPAILLIER_SIMD=0)")),
    pytest.param("ifma", marks=pytest.mark.skipif(
        "ifma" not in kernels.available(), reason="CPU without AVX-512 IFMA (or lanes forbidden)")),
]
ALL_KINDS = [pytest.param("scalar"), *LANE_KINDS]


@pytest.fixture
def forced():
    """Force a kernel for the test; the measured choice comes back afterwards."""
    yield hc.set_kernel
    hc.set_kernel(None)


def _units(rng, N, K):
    out = []
    while len(out) < K:
        v = rng.randrange(1, N)
        if math.gcd(v, N) == 1:
            out.append(v)
    return out


@pytest.mark.parametrize("kind", ALL_KINDS)
@pytest.mark.parametrize("limbs", [8, 9, 33, 64])
def test_every_batch_op_on_each_kernel(kind, limbs, forced):
    rng = random.Random(100 + limbs)
    N = _odd_modulus(limbs, rng)
    mod = _core.Mod(N)
    forced(kind)
    assert mod.kernel("mul") == kind
    assert mod.lanes == {"scalar": 1, "avx2": 4, "ifma": 8}[kind]
    vals = [rng.randrange(1, N) for _ in range(12)] + [N - 1]
    exps = [0, 1, 2, 3, 255, 1 << 20, (1 << 64) - 1, 7, 12345, 2**40 + 3, 9, 65535, 1 << 63]
    a = _limbs(vals, mod.L)
    out, _ = mod.pow_u64(a, np.array(exps, dtype=np.uint64))
    assert _ints(out) == [pow(v, x, N) for v, x in zip(vals, exps)]
    b = _limbs(vals[::-1], mod.L)
    assert _ints(mod.mulmod(a, b)) == [x * y % N for x, y in zip(vals, vals[::-1])]
    assert _ints(mod.from_mont(mod.to_mont(a))) == vals
    assert _ints(mod.pow2k(a, 7)[0]) == [pow(v, 128, N) for v in vals]
    for K, T in ((11, 3), (1, 37), (2, 20), (9, 2)):
        facs = [[rng.randrange(1, N) for _ in range(T)] for _ in range(K)]
        got = _ints(mod.prod(np.ascontiguousarray(np.stack([_limbs(f, mod.L) for f in facs]))))
        assert got == [math.prod(f) % N for f in facs], (K, T)
    units = _units(rng, N, 70)
    assert _ints(mod.invert(_limbs(units, mod.L))) == [pow(v, -1, N) for v in units]
    nb, K, T, G = 6, 11, 3, 2
    bases = [rng.randrange(1, N) for _ in range(nb)]
    idx = np.array([[[rng.randrange(-1, nb) for _ in range(G)] for _ in range(T)]
                    for _ in range(K)], dtype=np.int64)
    e = np.array([3, 0, 4095], dtype=np.uint64)
    got, _ = mod.multiexp(idx, mod.to_mont(_limbs(bases, mod.L)), e)
    assert _ints(got) == multiexp_reference(idx, bases, e, N)


@pytest.mark.parametrize("kind", LANE_KINDS)
def test_montgomery_form_is_shared_between_kernels(kind, forced):
    rng = random.Random(7)
    N = _odd_modulus(32, rng)
    mod = _core.Mod(N)
    a = _limbs([rng.randrange(1, N) for _ in range(10)], mod.L)
    forced("scalar")
    m_scalar = mod.to_mont(a)
    forced(kind)
    m_lanes = mod.to_mont(a)
    assert _ints(m_scalar) == _ints(m_lanes)
    forced("scalar")
    assert _ints(mod.from_mont(m_lanes)) == _ints(a)


@pytest.mark.parametrize("kind", ALL_KINDS)
def test_key_operations_on_each_kernel(kind, keys512, forced):
    pub, priv = keys512
    forced(kind)
    rng = np.random.default_rng(11)
    vals = rng.integers(-10**6, 10**6, 19)
    for enc in (priv.encrypt, pub.encrypt):
        x = enc(vals)
        assert (priv.decrypt(x) == vals).all()
        assert (priv.decrypt(x * 3 - x) == 2 * vals).all()
    small = rng.integers(-1000, 1000, 300)
    assert (priv.decrypt(priv.encrypt(small)) == small).all()
    img = rng.integers(0, 256, (9, 11))
    kern = np.array([[1, -2, 1], [3, 5, 3], [0, 2, -1]])
    from scipy.signal import correlate2d

    want = correlate2d(img, kern, mode="same")
    assert (priv.decrypt(hc.convolve2d(priv.encrypt(img, pack=True), kern)) == want).all()
    assert (priv.decrypt(hc.convolve2d(priv.encrypt(img), kern)) == want).all()


@pytest.mark.parametrize("kind", LANE_KINDS)
def test_2048_bit_decrypt_on_lanes(kind, keys2048, forced):
    pub, priv = keys2048
    forced(kind)
    rng = random.Random(3)
    big = np.array([rng.randrange(-(pub.n // 3), pub.n // 3) for _ in range(10)], dtype=object)
    x = pub.encrypt(big)
    assert list(priv.decrypt(x)) == list(big)
    assert [priv.to_phe().decrypt(c) for c in x.to_phe()] == list(big)


@pytest.mark.skipif("avx2" not in kernels.available(), reason="no lane kernels to choose from")
def test_measured_choice_is_the_fastest_and_cheap():
    rec = kernels.calibrate(40, force=True)
    assert set(rec["chosen"]) == set(kernels.FAMILIES)
    for fam, times in rec["seconds"].items():
        assert "scalar" in times and "avx2" in times
        assert rec["chosen"][fam] == min(times, key=times.get)
    if "ifma" in kernels.available():
        assert all("ifma" in times for times in rec["seconds"].values())
    assert rec["calibration_s"] < 0.1  # the brief: a few ms per size (CPU time)
    info = hc.kernel_info()
    assert info["sizes"][40]["chosen"] == rec["chosen"]
    assert info["override"] is None
    mod = _core.Mod(_odd_modulus(40, random.Random(1)))
    assert all(mod.kernel(f) == rec["chosen"][f] for f in kernels.FAMILIES)
    assert "40 limbs" in kernels.summary()


def test_overrides(forced):
    with pytest.raises(ValueError, match="unknown kernel"):
        hc.set_kernel("neon")
    mod = _core.Mod(_odd_modulus(16, random.Random(2)))
    hc.set_simd(False)
    assert mod.kernel("mul") == "scalar" and hc.kernel_info()["override"] == "scalar"
    hc.set_simd(True)
    assert mod.kernel("mul") == kernels.available()[-1]
    hc.set_simd(None)
    assert hc.kernel_info()["override"] is None


@pytest.mark.parametrize("env, want", [({"HEPAILLIER_KERNEL": "scalar"}, "scalar"),
                                       ({"HEPAILLIER_SIMD": "1"}, "widest"),
                                       ({"HEPAILLIER_SIMD": "0"}, "scalar")])
def test_environment_overrides_in_a_child(env, want):
    import json
    import os
    import subprocess
    import sys

    code = ("import json, hepaillier_core as hc; from hepaillier_core import _core, kernels; "
            "m = _core.Mod((1 << 1023) + 1155); "
            "print(json.dumps([m.kernel('mul'), kernels.available()]))")
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, **env},
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    kind, avail = json.loads(res.stdout)
    assert kind == (avail[-1] if want == "widest" else want)
