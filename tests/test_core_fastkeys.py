"""Fast-decryption (subgroup) keys: structure, exactness, interop with phe, foreign
ciphertexts, key files.  References are Python ints and python-paillier."""

import math
import pickle
import secrets

import gmpy2
import numpy as np
import phe
import pytest

import hepaillier_core as hc
from hepaillier_core import _core
from hepaillier_core.primes import subgroup_bits


@pytest.fixture(scope="module")
def fast512():
    return hc.generate_keypair(512, insecure=True, fast_decrypt=True)


@pytest.fixture(scope="module")
def fast2048():
    return hc.generate_keypair(2048, fast_decrypt=True)


def _in_subgroup(c, m, pub, priv):
    """(c / (1 + m n))^(alpha_p alpha_q) == 1 mod n^2, with Python ints."""
    n, n2 = pub.n, pub.nsquare
    r = c * pow(1 + (m % n) * n, -1, n2) % n2
    ap, aq = priv._alphas
    return pow(r, ap * aq, n2) == 1


@pytest.mark.parametrize("bits", [256, 512])
def test_structure(bits):
    pub, priv = hc.generate_keypair(bits, insecure=True, fast_decrypt=True)
    assert pub.fast_decrypt and priv.fast_decrypt and pub.n.bit_length() == bits
    p, q = priv.p, priv.q
    ap, aq = priv._alphas
    for prime, a in ((p, ap), (q, aq)):
        assert gmpy2.is_prime(a) and (prime - 1) % a == 0
        assert a.bit_length() == subgroup_bits(bits // 2)
        # the cofactor keeps a large prime (no smooth p - 1)
        rest = (prime - 1) // (2 * a)
        assert max(f for f in priv._gen[2 if prime == p else 3] if rest % f == 0).bit_length() \
            >= bits // 2 - subgroup_bits(bits // 2) - 24
    h, ebits = pub.subgroup
    n2 = pub.nsquare
    assert pow(h, ap * aq, n2) == 1 and pow(h, ap, n2) != 1 and pow(h, aq, n2) != 1
    lam = (p - 1) * (q - 1) // math.gcd(p - 1, q - 1)
    assert pow(h, lam, n2) == 1  # an n-th residue
    assert ebits == ap.bit_length() + aq.bit_length() + 128


def test_2048_bit_parameters_and_roundtrip(fast2048):
    pub, priv = fast2048
    ap, aq = priv._alphas
    assert ap.bit_length() == aq.bit_length() == 256 and pub.bits == 2048
    vals = np.array([0, 1, -1, 2**62, -(2**62), 123456789])
    x = priv.encrypt(vals)
    assert priv.decrypt(x).tolist() == vals.tolist()
    ct = x.data.reshape(-1, pub.L)
    _, fb = priv.owner.decrypt(ct, count_fallbacks=True)
    assert fb == 0
    assert all(_in_subgroup(_core.int_of(c), int(m), pub, priv) for c, m in zip(ct, vals))
    y = pub.encrypt(vals)
    assert priv.decrypt(y).tolist() == vals.tolist()
    assert all(_in_subgroup(_core.int_of(c), int(m), pub, priv)
               for c, m in zip(y.data.reshape(-1, pub.L), vals))
    assert [sk for sk in (priv.to_phe().decrypt(c) for c in x.to_phe())] == vals.tolist()
    # phe's ordinary r^n ciphertexts under the same key: detected, decrypted the full way
    enc = [pub.to_phe().encrypt(int(v)) for v in vals]
    arr = hc.EncryptedArray.from_phe(enc)
    assert priv.decrypt(arr).tolist() == vals.tolist()
    _, fb = priv.owner.decrypt(arr.data.reshape(-1, pub.L), count_fallbacks=True)
    assert fb == 2 * len(vals)  # both halves of every one


def test_owner_public_and_homomorphic_ops(fast512):
    pub, priv = fast512
    rng = np.random.default_rng(5)
    a = rng.integers(-1000, 1000, 37)
    b = rng.integers(-1000, 1000, 37)
    k = rng.integers(-50, 50, 37)
    xa, xb = priv.encrypt(a), pub.encrypt(b)
    assert priv.decrypt(xa + xb).tolist() == (a + b).tolist()
    assert priv.decrypt(xa * k).tolist() == (a * k).tolist()
    assert priv.decrypt(xa + 7).tolist() == (a + 7).tolist()
    for vt in (False, True):
        res, fb = priv.owner.decrypt((xa * k + xb).data.reshape(-1, pub.L), vartime=vt,
                                     count_fallbacks=True)
        assert fb == 0
        assert _core.res_to_i64(res, pub.n)[0].tolist() == (a * k + b).tolist()


@pytest.mark.parametrize("simd", [True, False])
def test_foreign_ciphertexts_never_decrypt_wrong(fast512, simd):
    """phe's r^n ciphertexts mixed into batches (every lane position, packed
    decryption too) decrypt exactly; the vartime path agrees."""
    pub, priv = fast512
    old = hc.simd_available()
    _core.set_simd(simd)
    try:
        pk = pub.to_phe()
        vals = [secrets.randbelow(2001) - 1000 for _ in range(11)]
        own = priv.encrypt(np.array(vals))
        foreign = hc.EncryptedArray.from_phe([pk.encrypt(v) for v in vals], bound=1000)
        mixed = np.where((np.arange(11) % 3 == 1)[:, None], foreign.data, own.data)
        arr = hc.EncryptedArray(pub, mixed, 1, 1000)
        assert priv.decrypt(arr).tolist() == vals  # decrypt-time packing (Horner)
        for vt in (False, True):
            res = priv.owner.decrypt(np.ascontiguousarray(mixed), vartime=vt)
            assert _core.res_to_i64(res, pub.n)[0].tolist() == vals
        # a random unit mod n^2 is "not of that form": decrypts to its true plaintext
        c = secrets.randbelow(pub.nsquare)
        while math.gcd(c, pub.n) != 1:
            c = secrets.randbelow(pub.nsquare)
        sk = priv.to_phe()
        want = sk.raw_decrypt(c)
        got = priv.owner.decrypt(_core.limbs_of(c, pub.L)[None, :].copy())
        assert _core.int_of(got[0]) == want
    finally:
        _core.set_simd(old)


def test_phe_decrypts_fast_key_ciphertexts(fast512):
    pub, priv = fast512
    vals = [0, 5, -5, 2**100, -(2**200)]
    x = priv.encrypt(np.array(vals, dtype=object))
    sk = phe.PaillierPrivateKey(phe.PaillierPublicKey(pub.n), priv.p, priv.q)
    assert [sk.decrypt(c) for c in x.to_phe()] == vals
    y = pub.encrypt(np.array(vals, dtype=object))
    assert [sk.decrypt(c) for c in y.to_phe()] == vals


def test_key_files_roundtrip_the_flag(tmp_path, fast512, keys512):
    pub, priv = fast512
    pub.save(tmp_path / "pub.json")
    priv.save(tmp_path / "priv.json")
    pub2 = hc.PublicKey.load(tmp_path / "pub.json")
    priv2 = hc.PrivateKey.load(tmp_path / "priv.json")
    assert pub2.fast_decrypt and priv2.fast_decrypt
    assert pub2.subgroup == pub.subgroup == priv2.public_key.subgroup
    assert priv2._alphas == priv._alphas
    x = pub2.encrypt(np.array([3, -4]))
    assert priv2.decrypt(x).tolist() == [3, -4]
    assert pickle.loads(pickle.dumps(pub)).subgroup == pub.subgroup
    # standard keys carry no flag
    spub, spriv = keys512
    spriv.save(tmp_path / "std.json")
    assert not hc.PrivateKey.load(tmp_path / "std.json").fast_decrypt
    assert "fast_decrypt" not in spub.to_json()


def test_corrupted_fast_key_files_refused(tmp_path, fast512):
    import json

    pub, priv = fast512
    priv.save(tmp_path / "priv.json")
    obj = json.loads((tmp_path / "priv.json").read_text())
    bad = dict(obj, fast_decrypt={"alpha_p": format(priv._alphas[0] + 2, "x"),
                                  "alpha_q": obj["fast_decrypt"]["alpha_q"]})
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="corrupted"):
        hc.PrivateKey.load(tmp_path / "bad.json")
    with pytest.raises(ValueError):
        hc.PrivateKey(hc.PublicKey(pub.n), priv.p, priv.q, gp=priv._gen[0], gq=priv._gen[1],
                      alpha_p=priv._alphas[0], alpha_q=priv._alphas[1])  # public key lacks h
    pobj = pub.to_json()
    pobj["fast_decrypt"] = {"h": "1", "exponent_bits": 640}
    with pytest.raises(ValueError):
        hc.PublicKey.from_json(pobj)


def test_foreign_ciphertexts_in_packed_lanes(fast512):
    """Enough values for several decrypt-time packing groups (the four-lane Horner path),
    phe ciphertexts among them: every value exact."""
    pub, priv = fast512
    pk = pub.to_phe()
    K = 150  # bound 1000 at 512 bits: 46 values per group, four groups
    vals = [secrets.randbelow(2001) - 1000 for _ in range(K)]
    own = priv.encrypt(np.array(vals))
    idx = [5, 47, 100, 149]
    foreign = hc.EncryptedArray.from_phe([pk.encrypt(vals[i]) for i in idx], bound=1000)
    data = own.data.copy()
    data[idx] = foreign.data
    assert priv.decrypt(hc.EncryptedArray(pub, data, 1, 1000)).tolist() == vals
