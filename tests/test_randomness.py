"""The encryption randomness is spread as claimed (issue 15.9).

Owner encryption claims r^n = h^x mod p^2 (and the same mod q^2) with x
uniform mod p - 1 (primes.py, DESIGN §4): an exactly uniform n-th residue.
With a key whose p - 1 and q - 1 are smooth (built here, so discrete logs are
cheap by Pohlig-Hellman), every ciphertext of 0 is taken apart into its
exponents x_p, x_q, which must be uniform over [0, p - 1): no short
exponents, no bias.  Public-key encryption claims r uniform in Z_n^*; its
Legendre symbols (r|p), (r|q) must be balanced over all four sign pairs.
Each statistic is also run on a deliberately bad sampler (short exponents,
the documented short-exponent variant), which it must reject, so the test
can fail.
"""

from __future__ import annotations

import secrets

import gmpy2
import numpy as np
import pytest

import hepaillier_core as hc
from hepaillier_core import _core
from hepaillier_core.primes import verify_generator

SMALL = [p for p in range(3, 2048) if gmpy2.is_prime(p)]
SAMPLES = 2000
BUCKETS = 16
CHI2_LIMIT = 50.0  # 15 degrees of freedom: P(chi2 > 50) ~ 1e-5 for a uniform sampler


def smooth_prime(bits: int) -> tuple[int, int, list[int]]:
    """(p, g, factors): p - 1 = 2 * (distinct primes < 2048), g a generator of Z_p^*."""
    while True:
        fs: set[int] = set()
        m = 2
        while m.bit_length() < bits - 11:
            f = secrets.choice(SMALL)
            if f not in fs:
                fs.add(f)
                m *= f
        for f in SMALL:
            p = m * f + 1
            if f in fs or p.bit_length() != bits or not gmpy2.is_prime(p, 40):
                continue
            facs = sorted(fs | {f, 2})
            g = next(g for g in range(2, 10_000) if verify_generator(g, p, facs))
            return p, g, facs


class DLog:
    """x with g^x = y mod p (Pohlig-Hellman; p - 1 squarefree with small factors),
    one lookup table per factor."""

    def __init__(self, g: int, p: int, factors: list[int]):
        self.p, self.parts = p, []
        for f in factors:
            e = (p - 1) // f
            gf = pow(g, e, p)
            table, acc = {}, 1
            for i in range(f):
                table[acc] = i
                acc = acc * gf % p
            self.parts.append((f, e, table))

    def __call__(self, y: int) -> int:
        x, m = 0, 1
        for f, e, table in self.parts:
            r = table[pow(y, e, self.p)]
            x += m * ((r - x) * pow(m, -1, f) % f)
            m *= f
        return x % (self.p - 1)


def chi2_uniform(fractions: np.ndarray, buckets: int = BUCKETS) -> float:
    counts = np.bincount(np.minimum((fractions * buckets).astype(int), buckets - 1),
                         minlength=buckets)
    expect = len(fractions) / buckets
    return float(((counts - expect) ** 2 / expect).sum())


def chi2_pairs(sp: np.ndarray, sq: np.ndarray) -> float:
    cls = (sp > 0).astype(int) * 2 + (sq > 0).astype(int)
    counts = np.bincount(cls, minlength=4)
    expect = len(cls) / 4
    return float(((counts - expect) ** 2 / expect).sum())


@pytest.fixture(scope="module")
def smooth_key():
    p, gp, pf = smooth_prime(64)
    q, gq, qf = smooth_prime(64)
    while q == p:
        q, gq, qf = smooth_prime(64)
    pub = hc.PublicKey(p * q)
    priv = hc.PrivateKey(pub, p, q, gp=gp, gq=gq, p_factors=pf, q_factors=qf)
    assert priv.has_fast_encryption
    gens = {p: (gp, pf), q: (gq, qf)}  # PrivateKey orders p > q
    return pub, priv, gens[priv.p], gens[priv.q]


def _ints(x) -> list[int]:
    return [_core.int_of(row) for row in x.data.reshape(-1, x.public_key.L)]


def _exponents(cts: list[int], prime: int, g: int, factors: list[int]) -> list[int]:
    # c = h^x mod prime^2 with h = g^prime: mod prime, c = g^x
    dlog = DLog(g, prime, factors)
    return [dlog(c % prime) for c in cts]


def test_owner_exponents_are_uniform(smooth_key):
    pub, priv, (gp, pf), (gq, qf) = smooth_key
    cts = _ints(priv.encrypt(np.zeros(SAMPLES, np.int64)))
    assert len(set(cts)) == SAMPLES
    for prime, g, fs in ((priv.p, gp, pf), (priv.q, gq, qf)):
        xs = _exponents(cts, prime, g, fs)
        frac = np.array([x / (prime - 1) for x in xs])
        assert chi2_uniform(frac) < CHI2_LIMIT
        # no short exponents: x < (p-1)/2^8 should happen for ~1/256 of the samples
        assert (frac < 2.0**-8).mean() < 0.02
        assert frac.max() > 0.99
        # every small factor of p - 1 sees x uniformly too (a biased sampler would not)
        for f in fs[:6]:
            res = np.array([x % f for x in xs])
            if f <= 50:
                counts = np.bincount(res, minlength=f)
                expect = SAMPLES / f
                assert ((counts - expect) ** 2 / expect).sum() < f + 10 * np.sqrt(2 * f) + 20


def test_the_statistics_reject_short_exponents(smooth_key):
    """Negative control: the same checks on x < 2^40 (a short-exponent sampler)."""
    _pub, priv, (gp, pf), _ = smooth_key
    p = priv.p
    cts = [pow(gp, secrets.randbits(40), p) for _ in range(SAMPLES)]
    frac = np.array([x / (p - 1) for x in _exponents(cts, p, gp, pf)])
    assert chi2_uniform(frac) > CHI2_LIMIT
    assert (frac < 2.0**-8).mean() > 0.5


def test_public_randomness_has_balanced_legendre_pairs(smooth_key):
    pub, priv, _, _ = smooth_key
    cts = _ints(pub.encrypt(np.zeros(SAMPLES, np.int64)))
    # c = r^n mod n^2 for m = 0, n odd: (c|p) = (r|p)^n = (r|p)
    sp = np.array([gmpy2.legendre(c % priv.p, priv.p) for c in cts])
    sq = np.array([gmpy2.legendre(c % priv.q, priv.q) for c in cts])
    assert chi2_pairs(sp, sq) < 30
    # and the owner's sampler
    cts = _ints(priv.encrypt(np.zeros(SAMPLES, np.int64)))
    sp = np.array([gmpy2.legendre(c % priv.p, priv.p) for c in cts])
    sq = np.array([gmpy2.legendre(c % priv.q, priv.q) for c in cts])
    assert chi2_pairs(sp, sq) < 30


def test_legendre_pairs_reject_the_short_exponent_variant(smooth_key):
    """Negative control: the documented short-exponent encryption (r = (-y^2)^a, an extra
    assumption, off by default) has (r|p) = (r|q): two of the four pairs never occur."""
    pub, priv, _, _ = smooth_key
    cts = _ints(pub.encrypt(np.zeros(SAMPLES, np.int64), short_exponent=True))
    sp = np.array([gmpy2.legendre(c % priv.p, priv.p) for c in cts])
    sq = np.array([gmpy2.legendre(c % priv.q, priv.q) for c in cts])
    assert chi2_pairs(sp, sq) > 30


def test_generated_keys_balanced_too():
    """A key from generate_keypair (its p - 1 has a large prime factor): Legendre pairs."""
    pub, priv = hc.generate_keypair(256, insecure=True)
    cts = _ints(priv.encrypt(np.zeros(SAMPLES, np.int64)))
    sp = np.array([gmpy2.legendre(c % priv.p, priv.p) for c in cts])
    sq = np.array([gmpy2.legendre(c % priv.q, priv.q) for c in cts])
    assert chi2_pairs(sp, sq) < 30


def test_opencv_reference_taps_match_hesift():
    """The filter tests' Gaussian reference (OpenCV's own kernel, quantised) agrees with
    hesift.kernels over a grid of sigmas and fractional bits."""
    try:
        from test_filters_refs import gaussian_taps as ref
    except ImportError:
        from tests.test_filters_refs import gaussian_taps as ref
    from hesift.kernels import gaussian_taps

    for sigma in np.linspace(0.3, 12.0, 60):
        for f in (6, 8, 12, 16, 20):
            assert np.array_equal(ref(float(sigma), f), gaussian_taps(float(sigma), f)), sigma
