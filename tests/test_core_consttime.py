"""The constant-time decryption path (default) against Python-int references and the
older variable-time path; both lanes (AVX2) and scalar (mpz_powm_sec) code paths."""

import math
import secrets

import numpy as np
import pytest

import hepaillier_core as hc
from hepaillier_core import _core


def _ref_decrypt(c, p, q):
    """Textbook Paillier decryption with Python ints (lambda = lcm(p-1, q-1))."""
    n = p * q
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    mu = pow((pow(n + 1, lam, n * n) - 1) // n, -1, n)
    return (pow(c, lam, n * n) - 1) // n * mu % n


def _ciphertexts(pub, vals):
    """Textbook r^n encryptions made with Python ints (independent of the C code)."""
    n, n2 = pub.n, pub.nsquare
    out = []
    for m in vals:
        r = secrets.randbelow(n - 2) + 2
        out.append((1 + m * n) * pow(r, n, n2) % n2)
    return np.stack([_core.limbs_of(c, pub.L) for c in out]), out


@pytest.fixture(scope="module", params=[256, 768])
def key(request):
    return hc.generate_keypair(request.param, insecure=True)


@pytest.mark.parametrize("simd", [True, False])
def test_decrypt_matches_python_reference(key, simd):
    pub, priv = key
    old = hc.simd_available()
    _core.set_simd(simd)
    try:
        for K in (1, 2, 3, 4, 5, 9):
            vals = [secrets.randbelow(pub.n) for _ in range(K)] + [0, 1, pub.n - 1][: max(0, K - 6)]
            ct, cints = _ciphertexts(pub, vals)
            ct_res = priv.owner.decrypt(ct)
            vt_res = priv.owner.decrypt(ct, vartime=True)
            got = [_core.int_of(r) for r in ct_res]
            assert got == vals == [_ref_decrypt(c, priv.p, priv.q) for c in cints]
            assert [_core.int_of(r) for r in vt_res] == vals
    finally:
        _core.set_simd(old)


@pytest.mark.parametrize("simd", [True, False])
def test_horner_matches_reference(key, simd):
    pub, priv = key
    old = hc.simd_available()
    _core.set_simd(simd)
    try:
        n = pub.n
        for K, group, shift in ((1, 1, 9), (7, 2, 12), (13, 4, 10), (16, 3, 20), (9, 9, 16)):
            small = [secrets.randbelow(2000) - 1000 for _ in range(K)]
            ct, _ = _ciphertexts(pub, [v % n for v in small])
            want = [sum(small[g * group + j] << (j * shift) for j in range(group)
                        if g * group + j < K) % n for g in range(-(-K // group))]
            for vt in (False, True):
                got = priv.owner.decrypt_horner(ct, group, shift, vartime=vt)
                assert [_core.int_of(r) for r in got] == want
    finally:
        _core.set_simd(old)


def test_2048_bit_constant_time_and_vartime_agree(keys2048):
    pub, priv = keys2048
    vals = [secrets.randbelow(pub.n) for _ in range(5)]
    ct, cints = _ciphertexts(pub, vals)
    assert [_core.int_of(r) for r in priv.owner.decrypt(ct)] == vals
    assert [_core.int_of(r) for r in priv.owner.decrypt(ct[:1])] == vals[:1]
    assert [_core.int_of(r) for r in priv.owner.decrypt(ct, vartime=True)] == vals
    assert _ref_decrypt(cints[0], priv.p, priv.q) == vals[0]


def test_phe_ciphertexts_decrypt_in_constant_time(keys2048):
    pytest.importorskip("phe")
    pub, priv = keys2048
    pk = pub.to_phe()
    vals = [-5, 0, 123456789, 2**100, -(2**200)]
    enc = [pk.encrypt(v) for v in vals]
    arr = hc.EncryptedArray.from_phe(enc)
    ct = np.stack([_core.limbs_of(e.ciphertext(be_secure=False), pub.L) for e in enc])
    got = [_core.int_of(r) for r in priv.owner.decrypt(ct)]
    assert got == [v % pub.n for v in vals]
    assert priv.decrypt(arr).tolist() == vals
