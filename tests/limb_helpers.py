"""Limb-array helpers shared by the kernel tests (references in plain Python ints)."""

from __future__ import annotations

import random

import numpy as np

from hepaillier_core import _core


def odd_modulus(limbs: int, rng: random.Random) -> int:
    """A random odd modulus of exactly `limbs` 64-bit limbs."""
    return rng.getrandbits(64 * limbs) | (1 << (64 * limbs - 1)) | 1


def limbs(values, L: int) -> np.ndarray:
    return np.stack([_core.limbs_of(v, L) for v in values])


def ints(arr) -> list[int]:
    return [_core.int_of(row) for row in arr]


def multiexp_reference(idx: np.ndarray, bases: list[int], e: np.ndarray, N: int) -> list[int]:
    """out[o] = prod over taps t and slots g with idx[o, t, g] >= 0 of
    bases[idx[o, t, g]] ** e[t] mod N (what the multiexp kernels compute)."""
    want = []
    for o in range(idx.shape[0]):
        acc = 1
        for t in range(idx.shape[1]):
            for g in range(idx.shape[2]):
                if idx[o, t, g] >= 0:
                    acc = acc * pow(bases[idx[o, t, g]], int(e[t]), N) % N
        want.append(acc)
    return want
