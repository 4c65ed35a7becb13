"""Prime generation for keys whose owner can sample randomness exactly and fast.

Each prime is p = 2 k q' + 1 with q' a large random prime and k < 2^22, so
the factorisation of p - 1 is known.  That lets the key owner certify a
generator g of Z_p^*; then h = g^p mod p^2 generates the n-th residues mod
p^2 (a cyclic group of order p - 1), and h^x with x uniform mod p - 1 is an
exactly uniform n-th residue — the textbook encryption distribution — from a
fixed base, so a precomputed table makes it cheap.  p - 1 has a prime factor
of about |p| - 22 bits, so Pollard's p - 1 method does not apply.
All randomness comes from the OS CSPRNG (`secrets`).
"""

from __future__ import annotations

import secrets

import gmpy2

_KBITS = 20
_MR_ROUNDS = 40


def _small_factors(k: int) -> set[int]:
    fs: set[int] = set()
    d = 2
    while d * d <= k:
        while k % d == 0:
            fs.add(d)
            k //= d
        d += 1 if d == 2 else 2
    if k > 1:
        fs.add(k)
    return fs


def _random_prime(bits: int) -> int:
    while True:
        c = secrets.randbits(bits) | (1 << (bits - 1)) | 1
        p = int(gmpy2.next_prime(c))
        if p.bit_length() == bits:
            return p


def structured_prime(bits: int) -> tuple[int, int, list[int]]:
    """(p, g, factors): a prime of exactly ``bits`` bits (top two bits set), a generator
    of Z_p^*, and the prime factors of p - 1."""
    if bits < 48:
        raise ValueError("prime too small")
    qbits = bits - _KBITS - 1
    lo = 3 << (bits - 2)
    hi = 1 << bits
    while True:
        qp = _random_prime(qbits)
        kmin = -(-(lo - 1) // (2 * qp))
        kmax = (hi - 2) // (2 * qp)
        if kmax <= kmin:
            continue
        for _ in range(20000):
            k = kmin + secrets.randbelow(kmax - kmin + 1)
            p = 2 * k * qp + 1
            if gmpy2.is_prime(p, _MR_ROUNDS):
                break
        else:
            continue
        if not (lo <= p < hi):
            continue
        factors = {2, qp} | _small_factors(k)
        for _ in range(1000):
            g = 2 + secrets.randbelow(p - 3)
            if all(pow(g, (p - 1) // f, p) != 1 for f in factors):
                return p, g, sorted(factors)


def verify_generator(g: int, p: int, factors: list[int]) -> bool:
    """True when ``factors`` are all the prime factors of p - 1 and g generates Z_p^*."""
    if not 1 < g < p or not factors:
        return False
    rest = p - 1
    for f in factors:
        if f < 2 or not gmpy2.is_prime(f, _MR_ROUNDS) or rest % f:
            return False
        while rest % f == 0:
            rest //= f
    if rest != 1:
        return False
    return all(pow(g, (p - 1) // f, p) != 1 for f in factors)


# Fast-decryption keys: the order of the encryption randomness mod p^2 is a prime
# alpha_p of this many bits (smaller primes of toy test keys get a quarter of their bits).
SUBGROUP_BITS = 256


def subgroup_bits(prime_bits: int) -> int:
    """Bits of alpha_p for a prime of ``prime_bits`` bits: 256, or a quarter of toy primes."""
    return min(SUBGROUP_BITS, prime_bits // 4)


def subgroup_prime(bits: int) -> tuple[int, int, list[int], int]:
    """(p, g, factors, alpha) for a fast-decryption key: p - 1 = 2 alpha beta k with alpha
    a random prime of ``subgroup_bits(bits)`` bits, beta a random prime filling the rest but
    ~21 bits and k < 2^22, g a generator of Z_p^* and ``factors`` all prime factors of p - 1.

    beta keeps p - 1 free of a smooth cofactor (Pollard p - 1 needs a bound above beta).
    """
    if bits < 64:
        raise ValueError("prime too small for a subgroup key")
    abits = subgroup_bits(bits)
    bbits = bits - abits - _KBITS - 1
    lo = 3 << (bits - 2)
    hi = 1 << bits
    while True:
        alpha = _random_prime(abits)
        beta = _random_prime(bbits)
        if alpha == beta:
            continue
        m = 2 * alpha * beta
        kmin = -(-(lo - 1) // m)
        kmax = (hi - 2) // m
        if kmax <= kmin:
            continue
        for _ in range(20000):
            k = kmin + secrets.randbelow(kmax - kmin + 1)
            p = m * k + 1
            if gmpy2.is_prime(p, _MR_ROUNDS):
                break
        else:
            continue
        if not (lo <= p < hi):
            continue
        factors = {2, alpha, beta} | _small_factors(k)
        for _ in range(1000):
            g = 2 + secrets.randbelow(p - 3)
            if all(pow(g, (p - 1) // f, p) != 1 for f in factors):
                return p, g, sorted(factors), alpha
