"""Front door for encryption: validate, encode, then encrypt in parallel."""

from __future__ import annotations

import numpy as np

from .array import EncryptedArray, check_plain_bound
from .encoding import max_abs, residues, to_int_array
from .parallel import make_progress


def encrypt_any(pub, priv, values, scale: int = 1, *, pack: bool = False,
                short_exponent: bool = False, workers=None, progress=False, **pack_options):
    """Encrypt ``values`` under ``pub`` (with ``priv``'s fast sampler when given)."""
    if pack:
        from .packed import encrypt_packed

        return encrypt_packed(pub, priv, values, scale, short_exponent=short_exponent,
                              workers=workers, progress=progress, **pack_options)
    if pack_options:
        raise TypeError(f"options {sorted(pack_options)} only apply with pack=True")
    ints = to_int_array(values, scale)
    bound = check_plain_bound(pub, max_abs(ints), "encrypting these values")
    res = residues(ints, pub.n)
    ct = encrypt_residues(pub, priv, res, short_exponent=short_exponent, workers=workers,
                          progress=progress)
    return EncryptedArray(pub, ct.reshape(np.shape(ints) + (pub.L,)), scale, bound, check=False)


def encrypt_residues(pub, priv, res: np.ndarray, *, short_exponent: bool = False,
                     workers=None, progress=False) -> np.ndarray:
    """(K, Ln) residues -> (K, L) ciphertexts, by the key owner's sampler when given."""
    cb, done = make_progress(progress, res.shape[0], "encrypt")
    try:
        if priv is not None:
            return priv.encrypt_residues(res, workers=workers, progress=cb)
        return pub.encrypt_residues(res, short_exponent=short_exponent, workers=workers,
                                    progress=cb)
    finally:
        done()
