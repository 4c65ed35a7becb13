"""The Cython boundary: every shape, dtype, contiguity and size is checked before C runs.

Each case here used to read past a buffer, divide by zero or return garbage; now it
raises a clear ValueError.  References are plain Python ints.
"""

import numpy as np
import pytest

import hepaillier_core as hc
from hepaillier_core import _core

N = (2**127 - 1) * (2**89 - 1)  # odd, 216 bits: 4 limbs


@pytest.fixture(scope="module")
def mod():
    return _core.Mod(N)


def _rand(K, L=4, seed=1):
    rng = np.random.default_rng(seed)
    vals = [int(rng.integers(1, 2**62)) * int(rng.integers(1, 2**62)) ** 2 % N for _ in range(K)]
    return np.stack([_core.limbs_of(v, L) for v in vals]) if K else np.zeros((0, L), np.uint64), vals


def test_mulmod_refuses_mismatched_rows(mod):
    a, av = _rand(6)
    b, bv = _rand(6, seed=2)
    out = mod.mulmod(a, b)
    assert [_core.int_of(r) for r in out] == [x * y % N for x, y in zip(av, bv)]
    for bad in (b[:3], b[:0], np.concatenate([b, b])):
        with pytest.raises(ValueError, match="rows"):
            mod.mulmod(a, bad)


@pytest.mark.parametrize("make", [
    lambda a: a.astype(np.int64),            # dtype
    lambda a: np.asfortranarray(np.concatenate([a, a], 1))[:, :4],  # not contiguous
    lambda a: a[:, :3].copy(),               # too few limbs
    lambda a: np.concatenate([a, a], 1),     # too many limbs
    lambda a: a.reshape(-1),                 # 1-D
    lambda a: a.tolist(),                    # not an array
])
def test_every_mod_method_checks_its_operands(mod, make):
    a, _ = _rand(4)
    bad = make(a)
    for call in (lambda: mod.mulmod(bad, a), lambda: mod.mulmod(a, bad), lambda: mod.to_mont(bad),
                 lambda: mod.from_mont(bad), lambda: mod.invert(bad), lambda: mod.check_range(bad),
                 lambda: mod.pow2k(bad, 3), lambda: mod.pow_u64(bad, [1, 2, 3, 4]),
                 lambda: mod.powm(bad, np.ones((4, 1), np.uint64))):
        with pytest.raises(ValueError):
            call()


def test_exponent_arrays_checked(mod):
    a, av = _rand(4)
    with pytest.raises(ValueError):
        mod.pow_u64(a, [1, 2, 3])
    with pytest.raises(ValueError, match="non-negative"):
        mod.pow_u64(a, [1, -2, 3, 4])
    with pytest.raises(ValueError):
        mod.pow_u64(a, [1.5, 2, 3, 4])
    with pytest.raises(ValueError):
        mod.powm(a, np.ones((4, 0), np.uint64))
    with pytest.raises(ValueError):
        mod.powm(a, np.ones((3, 1), np.uint64))
    out, _ = mod.pow_u64(a, [0, 1, 5, 2**63])
    assert [_core.int_of(r) for r in out] == [pow(x, e, N) for x, e in zip(av, [0, 1, 5, 2**63])]
    with pytest.raises(ValueError):
        mod.multiexp(np.zeros((2, 2, 1), np.int64), mod.to_mont(a), [1])
    with pytest.raises(ValueError):
        mod.multiexp(np.zeros((2, 2, 1), np.int32), mod.to_mont(a), [1, 1])
    with pytest.raises(IndexError):
        mod.multiexp(np.full((2, 2, 1), 4, np.int64), mod.to_mont(a), [1, 1])


def test_prod_shape(mod):
    a, _ = _rand(6)
    with pytest.raises(ValueError):
        mod.prod(a)
    with pytest.raises(ValueError):
        mod.prod(a.reshape(2, 3, 4)[:, :, :3])


@pytest.mark.parametrize("window", [0, -1, 17, 40])
def test_fixed_base_refuses_absurd_windows(mod, window):
    with pytest.raises(ValueError, match="window"):
        _core.FixedBase(mod, 7, 200, window)


def test_fixed_base_refuses_too_many_windows_and_huge_tables(mod):
    with pytest.raises(ValueError, match="windows"):
        _core.FixedBase(mod, 7, 2048, 1)  # 2048 windows: the comb holds 1024
    with pytest.raises(ValueError, match="MiB"):
        _core.FixedBase(_core.Mod(2**8191 - 1), 7, 4096, 16)
    with pytest.raises(ValueError):
        _core.FixedBase(mod, 7, 0, 4)
    with pytest.raises(TypeError):
        _core.FixedBase(None, 7, 100, 4)


def test_short_encryption_needs_matching_table_and_modulus():
    pub, priv = hc.generate_keypair(256, insecure=True)
    other, _ = hc.generate_keypair(256, insecure=True)
    res = _core.res_from_i64(np.array([5, -3, 0]), pub.n)
    table = _core.FixedBase(pub.mod, pow(4, pub.n, pub.nsquare), 128, 4)
    ct = _core.pub_encrypt_short(pub.mod, table, pub.n, 128, res)
    assert priv.decrypt(hc.EncryptedArray(pub, ct, 1, 5)).tolist() == [5, -3, 0]
    with pytest.raises(ValueError, match="another modulus"):
        _core.pub_encrypt_short(pub.mod, _core.FixedBase(other.mod, 4, 128, 4), pub.n, 128, res)
    with pytest.raises(ValueError, match="n\\^2"):
        _core.pub_encrypt_short(other.mod, table, pub.n, 128, res)
    with pytest.raises(ValueError, match="abits"):
        _core.pub_encrypt_short(pub.mod, table, pub.n, 129, res)
    with pytest.raises(ValueError, match="abits"):
        _core.pub_encrypt_short(pub.mod, table, pub.n, 0, res)
    with pytest.raises(ValueError, match="n\\^2"):
        _core.pub_encrypt(other.mod, pub.n, res)
    with pytest.raises(ValueError):
        _core.pub_encrypt(pub.mod, pub.n, res[:, :2].copy())


def test_owner_key_boundary():
    pub, priv = hc.generate_keypair(256, insecure=True)
    ok = priv.owner
    ct = priv.encrypt(np.arange(5)).data
    with pytest.raises(ValueError):
        ok.decrypt(ct[:, :-1].copy())
    with pytest.raises(ValueError):
        ok.decrypt(ct.astype(np.int64))
    with pytest.raises(ValueError):
        ok.encrypt(np.zeros((2, ok.Ln + 1), np.uint64))
    with pytest.raises(ValueError, match="group"):
        ok.decrypt_horner(ct, 0, 8)
    with pytest.raises(ValueError, match="group"):
        ok.decrypt_horner(ct, 2**62, 8)  # used to overflow the scratch size
    with pytest.raises(ValueError, match="shift"):
        ok.decrypt_horner(ct, 2, 0)
    with pytest.raises(ValueError):
        _core.OwnerKey(priv.p, priv.p)
    with pytest.raises(ValueError):
        _core.OwnerKey(priv.p, 2 * priv.q)
    with pytest.raises(ValueError):
        _core.OwnerKey(priv.p, priv.q, 5, None)
    gp, gq, _, _ = priv._gen
    with pytest.raises(ValueError, match="window"):
        _core.OwnerKey(priv.p, priv.q, gp, gq, 0)
    with pytest.raises(ValueError, match="Paillier"):
        _core.OwnerKey(7, 3)  # gcd(n, phi) != 1: 3 | 7 - 1


def test_encoding_helpers_check_modulus_and_shapes():
    pub, _ = hc.generate_keypair(256, insecure=True)
    n = pub.n
    for bad_n in (0, 1, 2, 4, -15):
        with pytest.raises(ValueError):
            _core.pack_i64(np.zeros((2, 3), np.int64), 8, bad_n)  # n = 0 used to divide by zero
        with pytest.raises(ValueError):
            _core.res_from_i64(np.arange(3), bad_n)
    with pytest.raises(ValueError):
        _core.res_from_i64(np.arange(3), 2**61 - 1)  # int64 values would not reduce
    res = _core.res_from_i64(np.array([1, -1, 2**62]), n)
    assert [_core.int_of(r) for r in res] == [1, n - 1, 2**62]
    with pytest.raises(ValueError):
        _core.res_to_i64(res[:, :1].copy(), n)
    with pytest.raises(ValueError):
        _core.unpack_i64(res.astype(np.int64), n, 2, 8)
    with pytest.raises(ValueError):
        _core.gm(res, n, pub.L - 1)  # 1 + m n would not fit
    with pytest.raises(ValueError):
        _core.gm(res[:, ::-1], n, pub.L)
    assert [_core.int_of(r) for r in _core.gm(res, n, pub.L)] == [
        (1 + m * n) for m in (1, n - 1, 2**62)]


def test_bench_iters(mod):
    with pytest.raises(ValueError):
        mod.bench_mont_mul(0)
    assert mod.bench_mont_mul(10) > 0
