"""pytest-benchmark: encrypted 5x5 Gaussian, packed and unpacked, on small crops."""

from __future__ import annotations

import numpy as np

import hepaillier_core as hc
from benchmarks.workloads import PackedPipeline, gauss5, plain_sepfilter

ROUNDS = dict(rounds=3, iterations=1, warmup_rounds=0)


def test_unpacked_sepfilter(benchmark, keys, photo):
    _, priv = keys
    crop = photo[:12, :12].astype(np.int64)
    x = priv.encrypt(crop, workers=1)
    taps = gauss5()
    y = benchmark.pedantic(hc.sepfilter2d, args=(x, taps, taps), kwargs={"workers": 1}, **ROUNDS)
    assert np.array_equal(priv.decrypt(y), plain_sepfilter(crop, taps))


def test_packed_encrypt(benchmark, keys, photo):
    _, priv = keys
    pipe = PackedPipeline(priv, photo, gauss5(), 1)
    benchmark.pedantic(pipe.encrypt, **ROUNDS)


def test_packed_sepfilter(benchmark, keys, photo):
    _, priv = keys
    pipe = PackedPipeline(priv, photo, gauss5(), 1)
    benchmark.pedantic(pipe.filter, **ROUNDS)
    assert pipe.check()


def test_packed_decrypt(benchmark, keys, photo):
    _, priv = keys
    pipe = PackedPipeline(priv, photo, gauss5(), 1)
    benchmark.pedantic(pipe.decrypt, **ROUNDS)


def test_plaintext_opencv(benchmark, photo):
    benchmark(plain_sepfilter, photo, gauss5())
