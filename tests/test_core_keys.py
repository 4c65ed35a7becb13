import json
import os
import pickle
import stat

import gmpy2
import numpy as np
import phe
import pytest

import hepaillier_core as hc
from hepaillier_core.primes import verify_generator


@pytest.mark.parametrize("bits", [256, 512, 768])
def test_insecure_sizes_have_exact_bits_and_structure(bits):
    pub, priv = hc.generate_keypair(bits, insecure=True)
    assert pub.n.bit_length() == bits
    assert priv.p * priv.q == pub.n and priv.p != priv.q
    assert gmpy2.is_prime(priv.p) and gmpy2.is_prime(priv.q)
    gp, gq, pf, qf = priv._gen
    assert verify_generator(gp, priv.p, pf) and verify_generator(gq, priv.q, qf)
    # p - 1 keeps a large prime factor (no Pollard p-1)
    assert max(pf).bit_length() >= bits // 2 - 24


def test_2048_bit_key(keys2048):
    pub, priv = keys2048
    assert pub.bits == 2048 and pub.L == 64
    x = priv.encrypt(np.array([0, 1, -1, 255, -(2**62)]))
    assert priv.decrypt(x).tolist() == [0, 1, -1, 255, -(2**62)]


def test_small_keys_need_insecure_flag():
    with pytest.raises(ValueError, match="insecure"):
        hc.generate_keypair(512)
    with pytest.raises(ValueError):
        hc.generate_keypair(100, insecure=True)
    with pytest.raises(TypeError):
        hc.generate_keypair("2048")


def test_verify_generator_rejects_non_generators():
    from hepaillier_core.primes import structured_prime

    p, g, factors = structured_prime(128)
    assert verify_generator(g, p, factors)
    assert not verify_generator(1, p, factors)
    assert not verify_generator(p - 1, p, factors)  # order 2
    assert not verify_generator(g, p, factors[:-1])  # incomplete factorisation


def test_save_load_roundtrip_and_permissions(tmp_path, keys512):
    pub, priv = keys512
    pub.save(tmp_path / "pub.json")
    priv.save(tmp_path / "priv.json")
    mode = stat.S_IMODE(os.stat(tmp_path / "priv.json").st_mode)
    assert mode == 0o600
    pub2 = hc.PublicKey.load(tmp_path / "pub.json")
    priv2 = hc.PrivateKey.load(tmp_path / "priv.json")
    assert pub2 == pub and priv2.public_key == pub and priv2.p == priv.p
    x = pub2.encrypt([5, -6])
    assert priv2.decrypt(x).tolist() == [5, -6]
    assert priv2.has_fast_encryption
    # overwriting an existing world-readable file still yields 0600
    target = tmp_path / "again.json"
    target.write_text("x")
    os.chmod(target, 0o644)
    priv.save(target)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600


def test_corrupted_key_files(tmp_path, keys512):
    pub, priv = keys512
    priv.save(tmp_path / "k.json")
    obj = json.loads((tmp_path / "k.json").read_text())
    obj["p"] = format(priv.p + 2, "x")
    (tmp_path / "bad.json").write_text(json.dumps(obj))
    with pytest.raises(ValueError, match="corrupted"):
        hc.PrivateKey.load(tmp_path / "bad.json")
    (tmp_path / "junk.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a valid key file"):
        hc.PrivateKey.load(tmp_path / "junk.json")
    with pytest.raises(ValueError, match="expected"):
        hc.PublicKey.load(tmp_path / "k.json")
    with pytest.raises(FileNotFoundError):
        hc.PublicKey.load(tmp_path / "missing.json")
    obj = json.loads((tmp_path / "k.json").read_text())
    obj["gp"] = format(priv.p - 1, "x")  # order 2: not a generator
    (tmp_path / "gen.json").write_text(json.dumps(obj))
    with pytest.raises(ValueError, match="generator"):
        hc.PrivateKey.load(tmp_path / "gen.json")


def test_private_key_never_pickles(keys512):
    _, priv = keys512
    with pytest.raises(TypeError):
        pickle.dumps(priv)
    with pytest.raises(TypeError):
        pickle.dumps(priv.owner)
    assert str(priv.p) not in repr(priv)


def test_public_key_bytes_and_pickle(keys512):
    pub, _ = keys512
    assert hc.PublicKey.from_bytes(pub.to_bytes()) == pub
    assert pickle.loads(pickle.dumps(pub)) == pub
    with pytest.raises(ValueError):
        hc.PublicKey.from_bytes(b"garbage")


def test_phe_interop_both_directions(keys512):
    pub, priv = keys512
    ppub, ppriv = pub.to_phe(), priv.to_phe()
    # our ciphertexts -> phe decrypts
    vals = [0, 7, -9, 123456789]
    ours = priv.encrypt(vals)
    assert [ppriv.decrypt(c) for c in ours.to_phe()] == vals
    # phe ciphertexts -> we decrypt
    theirs = [ppub.encrypt(v) for v in vals]
    arr = hc.EncryptedArray.from_phe(theirs, bound=2**30)
    assert priv.decrypt(arr).tolist() == vals
    # and keep computing on them
    assert priv.decrypt(arr * 3 + 1).tolist() == [3 * v + 1 for v in vals]
    # keys imported from phe work (Teichmüller sampler)
    kp_pub, kp_priv = phe.generate_paillier_keypair(n_length=512)
    mine = hc.PrivateKey.from_phe(kp_priv)
    assert not mine.has_fast_encryption
    x = mine.encrypt([42, -1])
    assert [kp_priv.decrypt(c) for c in x.to_phe()] == [42, -1]


def test_phe_float_exponent_maps_to_scale(keys512):
    pub, priv = keys512
    ppub = pub.to_phe()
    nums = [ppub.encrypt(v, precision=1 / 16**3) for v in (1.5, -2.25)]
    low = min(x.exponent for x in nums)
    nums = [x.decrease_exponent_to(low) for x in nums]
    arr = hc.EncryptedArray.from_phe(nums, bound=2**40)
    assert priv.decrypt(arr).tolist() == [1.5, -2.25]
