"""Ciphertexts entering the library are units mod n^2 (issue 15.6).

A value >= n^2 or sharing a factor with n is not a Paillier ciphertext; before
these checks it was accepted by the constructors, unpickling and from_bytes,
and decrypted to garbage.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import hepaillier_core as hc
from hepaillier_core import _core


@pytest.fixture(scope="module")
def kp():
    return hc.generate_keypair(256, insecure=True)


def _bad_values(pub, priv):
    n2 = pub.nsquare
    return {"n^2": n2, "n^2 + 5": n2 + 5, "0": 0, "p": priv.p, "q * 7": priv.q * 7,
            "n": pub.n, "p * (n + 1)": (priv.p * (pub.n + 1)) % n2}


def _with(x, i: int, value: int) -> np.ndarray:
    data = x.data.copy().reshape(-1, x.public_key.L)
    L = x.public_key.L
    limbs = [(value >> (64 * j)) & ((1 << 64) - 1) for j in range(L + 1)]
    assert limbs[L] <= 1
    data[i] = np.array(limbs[:L], dtype=np.uint64)
    if limbs[L]:  # n^2 and above may need one more limb: saturate to all-ones instead
        data[i] = np.uint64((1 << 64) - 1)
    return data.reshape(x.data.shape)


def test_constructor_refuses_non_units(kp):
    pub, priv = kp
    x = pub.encrypt(np.arange(6).reshape(2, 3))
    for what, v in _bad_values(pub, priv).items():
        with pytest.raises(ValueError, match=r"#4 is not a valid ciphertext") as e:
            hc.EncryptedArray(pub, _with(x, 4, v), x.scale, x.bound)
        assert "\n" not in str(e.value), what
    assert np.array_equal(priv.decrypt(hc.EncryptedArray(pub, x.data, 1, x.bound)),
                          np.arange(6).reshape(2, 3))


def test_packed_constructor_refuses_non_units(kp):
    pub, priv = kp
    img = pub.encrypt(np.arange(12).reshape(3, 4), pack=True)
    with pytest.raises(ValueError, match="shares a factor with n"):
        hc.PackedImage(pub, _with(img, 1, priv.q), img.layout, img.scale, img.bound)
    from dataclasses import replace
    with pytest.raises(ValueError, match="does not fit the key"):
        hc.PackedImage(pub, img.data, replace(img.layout, w=img.layout.w * 4), 1, img.bound)


def test_unpickling_and_from_bytes_refuse_non_units(kp):
    pub, priv = kp
    x = pub.encrypt(np.arange(5))
    for v in (priv.p, pub.nsquare + 1):
        forged = hc.EncryptedArray(pub, _with(x, 2, v), check=False)  # what an attacker sends
        with pytest.raises(ValueError, match="#2 is not a valid ciphertext"):
            pickle.loads(pickle.dumps(forged))
        with pytest.raises(ValueError, match="message: ciphertext #2 is not a valid"):
            hc.from_bytes(forged.to_bytes())
    img = pub.encrypt(np.arange(12).reshape(3, 4), pack=True)
    forged = hc.PackedImage(pub, _with(img, 0, priv.p * 3), img.layout, img.scale, img.bound,
                            check=False)
    with pytest.raises(ValueError, match="shares a factor"):
        pickle.loads(pickle.dumps(forged))
    with pytest.raises(ValueError, match="shares a factor"):
        hc.from_bytes(forged.to_bytes())


def test_load_refuses_non_units(kp, tmp_path):
    pub, priv = kp
    x = pub.encrypt(np.arange(5))
    forged = hc.EncryptedArray(pub, _with(x, 3, priv.q), check=False)
    forged.save(tmp_path / "f.npz")
    with pytest.raises(ValueError, match="#3 is not a valid ciphertext"):
        hc.load(tmp_path / "f.npz")


def test_gcd_check_agrees_with_a_per_element_gcd(kp):
    """The batch check (gcd of the product) against Python's gcd of each value."""
    import math
    import secrets

    pub, priv = kp
    L = pub.L
    for _ in range(5):
        vals = [secrets.randbelow(pub.nsquare - 1) + 1 for _ in range(50)]
        j = secrets.randbelow(50)
        vals[j] = (secrets.randbelow(pub.n) + 1) * priv.p % pub.nsquare or priv.p
        data = np.stack([_core.limbs_of(v, L) for v in vals])
        first = next(i for i, v in enumerate(vals) if math.gcd(v, pub.n) != 1)
        with pytest.raises(ValueError, match=f"#{first} is not"):
            hc.EncryptedArray(pub, data)
        good = [v for v in vals if math.gcd(v, pub.n) == 1]
        hc.EncryptedArray(pub, np.stack([_core.limbs_of(v, L) for v in good]))


def test_from_ints_range_first(kp):
    pub, _ = kp
    with pytest.raises(ValueError, match=r"\[1, n\^2\)"):
        hc.EncryptedArray.from_ints(pub, [pub.nsquare * 5])
