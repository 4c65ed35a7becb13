"""Fast-decryption (subgroup) keys: the arithmetic that ties p, q and alpha to h.

Paillier's "scheme 3" (Paillier 1999; Jurik's thesis; Groth 2005): the encryption
randomness is h^x with h of prime-product order alpha = alpha_p alpha_q among the
n-th residues mod n^2, alpha_p | p - 1 and alpha_q | q - 1 of 256 bits each.  Then
c^alpha_p mod p^2 = (1 + n)^(m alpha_p), so decryption exponentiates by 256-bit
alpha_p and alpha_q instead of the 1024-bit p - 1 and q - 1 of a 2048-bit key.
"""

from __future__ import annotations

import gmpy2

from .primes import _MR_ROUNDS

# Public encryption draws x below 2^(|alpha| + this) (statistically uniform mod alpha).
EXTRA_EXPONENT_BITS = 128


def subgroup_generator(p: int, g: int, alpha: int) -> int:
    """g^((p-1)/alpha) mod p: of order alpha when g generates Z_p^* (alpha prime)."""
    return pow(g, (p - 1) // alpha, p)


def public_base(p: int, q: int, gp: int, gq: int, alpha_p: int, alpha_q: int) -> int:
    """h mod n^2 with h = (g_p')^p mod p^2 and (g_q')^q mod q^2 (CRT): an n-th residue
    of order alpha_p alpha_q."""
    p2, q2 = p * p, q * q
    hp = pow(subgroup_generator(p, gp, alpha_p), p, p2)
    hq = pow(subgroup_generator(q, gq, alpha_q), q, q2)
    return (hq + q2 * ((hp - hq) * pow(q2, -1, p2) % p2)) % (p2 * q2)


def exponent_bits(alpha_p: int, alpha_q: int) -> int:
    """Bits of the public encryption exponent x (uniform below 2^bits)."""
    return alpha_p.bit_length() + alpha_q.bit_length() + EXTRA_EXPONENT_BITS


def check_order(alpha: int, p: int, what: str) -> None:
    """ValueError unless alpha is a prime dividing p - 1 (a key file's claim)."""
    if alpha < 3 or (p - 1) % alpha or not gmpy2.is_prime(alpha, _MR_ROUNDS):
        raise ValueError(f"{what} is not a prime factor of {what[-1]} - 1")
