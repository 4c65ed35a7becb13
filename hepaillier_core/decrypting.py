"""Decryption: CRT per ciphertext, or many small values per decryption.

When an array's static bound says its values are small, k ciphertexts are
first combined homomorphically as prod c_j^(2^(j w)) (mod p^2 and q^2, on
the key owner's side) and decrypted once: the result holds the k values as
signed w-bit digits.  That turns k modular exponentiations into one plus
about k*w squarings — the same packing idea as SIMD slots, applied at
decryption time.

What is checked, honestly: every ciphertext that enters the library is a unit
mod n^2 (range and gcd with n, ``array.check_ciphertexts``), so it decrypts
to *some* plaintext.  Paillier ciphertexts are malleable and carry no MAC:
anyone with the public key can replace them by valid encryptions of other
values.  The bound check after decrypt-time packing only notices values that
happen to exceed the declared bound; it is a consistency check, not an
integrity or authenticity check.
"""

from __future__ import annotations

import numpy as np

from . import _core
from .array import EncryptedArray
from .encoding import apply_scale, from_residues
from .packed import PackedImage
from .parallel import make_progress, run_batched


def _check_key(priv, x) -> None:
    if not isinstance(x, (EncryptedArray, PackedImage)):
        raise TypeError(f"expected an EncryptedArray or PackedImage, got {type(x).__name__}")
    if x.public_key.n != priv.public_key.n:
        raise ValueError(f"this array was encrypted under key {x.public_key.fingerprint}, not "
                         f"under this private key ({priv.public_key.fingerprint})")


def horner_plan(nbits: int, bound: int) -> tuple[int, int]:
    """(group, digit_bits) for decrypt-time packing; group 1 means plain decryption."""
    w = max(2, bound.bit_length() + 1)
    group = (nbits - 2) // w
    # k values per decryption cost ~k*(w+3) small products instead of k*1.5*nbits
    if group < 3 or w > 62:
        return 1, w
    return group, w


def decrypt_flat(priv, ct: np.ndarray, bound: int, *, workers=None, progress=None) -> np.ndarray:
    """(K, L) ciphertexts with |plaintext| <= bound -> K centred integers."""
    pub = priv.public_key
    K = ct.shape[0]
    group, w = horner_plan(pub.bits, bound)
    if group == 1 or K < 2:
        owner, ship = priv.task_owner()
        res = run_batched(owner, "decrypt", [ct], workers=workers, allow_process=ship,
                          progress=progress)
        return from_residues(res, pub.n)
    res = _horner_residues(priv, ct, group, w, workers, progress)
    vals = _core.unpack_i64(res, pub.n, group, w).reshape(-1)[:K]
    if np.abs(vals).max(initial=0) > bound:
        raise ValueError("decrypted values exceed the array's declared bound: the ciphertexts "
                         "or their metadata are wrong (this consistency check catches some "
                         "corrupted or altered inputs, by chance, not all: it is no integrity "
                         "protection)")
    return vals


def _horner_residues(priv, ct: np.ndarray, group: int, shift: int, workers,
                     progress) -> np.ndarray:
    """One decryption per ``group`` ciphertexts: residues of sum_j m_j 2^(j shift).
    The last group is padded with the trivial encryption of 0."""
    L = priv.public_key.L
    pad = (-ct.shape[0]) % group
    src = ct if not pad else np.concatenate([ct, np.tile(_one(L), (pad, 1))])
    grouped = src.reshape(-1, group, L)
    owner, ship = priv.task_owner()
    if ship:
        return run_batched(owner, "horner", [grouped], [group, shift], workers=workers,
                           allow_process=True, progress=progress)
    return run_batched(_Horner(owner, group, shift), "run", [grouped], workers=workers,
                       allow_process=False, progress=progress)


def _one(L: int) -> np.ndarray:
    z = np.zeros((1, L), dtype=np.uint64)
    z[0, 0] = 1
    return z


class _Horner:
    def __init__(self, owner, group, w):
        self.owner, self.group, self.w = owner, group, w

    def run(self, grouped: np.ndarray) -> np.ndarray:
        flat = np.ascontiguousarray(grouped.reshape(-1, grouped.shape[-1]))
        return self.owner.decrypt_horner(flat, self.group, self.w)


def decrypt_any(priv, x, *, workers=None, progress=False) -> np.ndarray:
    _check_key(priv, x)
    pub = priv.public_key
    if isinstance(x, EncryptedArray):
        flat = x.data.reshape(-1, pub.L)
        cb, done = make_progress(progress, flat.shape[0], "decrypt")
        try:
            vals = decrypt_flat(priv, flat, x.bound, workers=workers, progress=cb)
        finally:
            done()
        return apply_scale(vals.reshape(x.shape), x.scale)
    lay = x.layout
    rows = x.data[lay.y0:lay.y0 + lay.height]
    flat = np.ascontiguousarray(rows.reshape(-1, pub.L))
    cb, done = make_progress(progress, flat.shape[0], "decrypt")
    try:
        slots = _decrypt_slots(priv, lay, flat, x.bound, workers, cb)
    finally:
        done()
    cols = slots.reshape(lay.height, lay.M, lay.P).transpose(0, 2, 1)
    cols = cols.reshape(lay.height, lay.P * lay.M)[:, lay.x0:lay.x0 + lay.width]
    return apply_scale(np.ascontiguousarray(cols), x.scale)


def _decrypt_slots(priv, lay, flat: np.ndarray, bound: int, workers, progress) -> np.ndarray:
    """(K, L) packed ciphertexts -> (K, P) slot values.

    When the static bound needs far fewer bits than the slot width, k
    ciphertexts share one decryption: prod c_j^(2^(j wb)) puts k small
    values into every slot as signed wb-bit digits.
    """
    pub = priv.public_key
    K = flat.shape[0]
    wb = max(2, bound.bit_length() + 1)
    k = lay.w // wb
    if k < 2 or K < 2:
        owner, ship = priv.task_owner()
        res = run_batched(owner, "decrypt", [flat], workers=workers, allow_process=ship,
                          progress=progress)
        return _core.unpack_i64(res, pub.n, lay.P, lay.w)
    res = _horner_residues(priv, flat, k, wb, workers, progress)
    packed = _core.unpack_i64(res, pub.n, lay.P, lay.w)  # (groups, P): k digits per slot
    digits = np.empty(packed.shape + (k,), dtype=np.int64)
    v = packed.copy()
    half, full = 1 << (wb - 1), 1 << wb
    for j in range(k):
        d = ((v + half) & (full - 1)) - half
        digits[..., j] = d
        v = (v - d) >> wb
    if np.abs(digits).max(initial=0) > bound:
        raise ValueError("decrypted values exceed the image's declared bound: the ciphertexts "
                         "or their metadata are wrong (this consistency check catches some "
                         "corrupted or altered inputs, by chance, not all: it is no integrity "
                         "protection)")
    return digits.transpose(0, 2, 1).reshape(-1, lay.P)[:K]


def decrypt_image(priv, x, dtype=np.uint8, *, workers=None, progress=False) -> np.ndarray:
    """Decrypt and undo the fixed-point scale: uint8 rounded half up and clipped,
    or float values when ``dtype`` is a float type."""
    _check_key(priv, x)
    scale = x.scale
    ints = decrypt_any(priv, x.with_scale(1), workers=workers, progress=progress)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return (np.asarray(ints, dtype=np.float64) / scale).astype(dt)
    if ints.dtype == object:
        ints = np.array([min(max(int(v), -(1 << 62)), 1 << 62) for v in ints.ravel()],
                        dtype=np.int64).reshape(ints.shape)
    # round half up exactly: floor((2v + s) / 2s)
    rounded = np.floor_divide(2 * ints + scale, 2 * scale) if scale != 1 else ints
    info = np.iinfo(dt) if dt.kind in "iu" else None
    if info is None:
        raise TypeError(f"unsupported dtype {dt}")
    lo, hi = (0, 255) if dt == np.uint8 else (info.min, info.max)
    return np.clip(rounded, lo, hi).astype(dt)
