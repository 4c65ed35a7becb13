"""pytest-benchmark: per-ciphertext hot paths of hepaillier_core vs phe and HEU (small sizes)."""

from __future__ import annotations

import secrets

import numpy as np
import pytest

import hepaillier_core as hc

ROUNDS = dict(rounds=5, iterations=1, warmup_rounds=1)


def test_encrypt_key_owner(benchmark, keys, small8):
    _, priv = keys
    benchmark.pedantic(priv.encrypt, args=(small8,), kwargs={"workers": 1}, **ROUNDS)


def test_encrypt_public_short_exponent(benchmark, keys, small8):
    pub, _ = keys
    benchmark.pedantic(pub.encrypt, args=(small8,),
                       kwargs={"short_exponent": True, "workers": 1}, **ROUNDS)


def test_decrypt_full_range(benchmark, keys):
    _, priv = keys
    x = priv.encrypt(np.array([secrets.randbits(2040) for _ in range(16)], dtype=object))
    benchmark.pedantic(priv.decrypt, args=(x,), kwargs={"workers": 1}, **ROUNDS)


def test_decrypt_small_values(benchmark, keys, small8):
    _, priv = keys
    x = priv.encrypt(small8)
    benchmark.pedantic(priv.decrypt, args=(x,), kwargs={"workers": 1}, **ROUNDS)


def test_add(benchmark, keys, small8):
    _, priv = keys
    x, y = priv.encrypt(small8), priv.encrypt(small8[::-1].copy())
    hc.set_workers(1)
    try:
        benchmark.pedantic(lambda: x + y, **ROUNDS)
    finally:
        hc.set_workers(None)


@pytest.mark.parametrize("sign", [1, -1], ids=["8bit", "negative"])
def test_mul_int(benchmark, keys, small8, sign):
    _, priv = keys
    x = priv.encrypt(small8)
    k = sign * np.random.default_rng(1).integers(1, 256, small8.size)
    hc.set_workers(1)
    try:
        benchmark.pedantic(lambda: x * k, **ROUNDS)
    finally:
        hc.set_workers(None)


def test_bare_montgomery_product(benchmark, keys):
    pub, _ = keys
    benchmark.pedantic(pub.mod.bench_mont_mul, args=(2000,), **ROUNDS)


# --- rivals ---------------------------------------------------------------------

def test_phe_encrypt(benchmark, keys):
    pytest.importorskip("phe")
    _, priv = keys
    pk = priv.public_key.to_phe()
    benchmark.pedantic(lambda: [pk.encrypt(v) for v in range(4)], **ROUNDS)


def test_phe_decrypt(benchmark, keys, small8):
    pytest.importorskip("phe")
    _, priv = keys
    sk, cts = priv.to_phe(), priv.encrypt(small8[:8]).to_phe()
    benchmark.pedantic(lambda: [sk.decrypt(c) for c in cts], **ROUNDS)


def test_phe_add_and_mul(benchmark, keys, small8):
    pytest.importorskip("phe")
    _, priv = keys
    cts = priv.encrypt(small8).to_phe()
    benchmark.pedantic(lambda: [c * 200 + c for c in cts], **ROUNDS)


def test_heu_encrypt(benchmark, small8):
    pytest.importorskip("heu")
    from benchmarks.rivals import heu_kit

    hk, _ = heu_kit(2048)
    pt = hk.array(small8)
    benchmark.pedantic(hk.encryptor.encrypt, args=(pt,), **ROUNDS)
