"""EncryptedArray: a NumPy-shaped array of Paillier ciphertexts, one value each.

Storage is a C-contiguous uint64 array of shape ``shape + (L,)`` (L limbs of
n^2, little-endian: GMP's own layout, read by C with no copy).  Every array
carries its public key, a fixed-point ``scale`` and a static ``bound`` on
|plaintext|; every op computes the bound of its result first and raises
``OverflowError`` before doing any work if it could pass n/2.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence

import numpy as np

from . import _core
from .encoding import as_int_weights, max_abs, residues, to_int_array
from .keys import PublicKey
from .parallel import run_batched

U64_MAX = (1 << 64) - 1


def same_key(a: PublicKey, b: PublicKey) -> None:
    if a.n != b.n:
        raise ValueError(
            f"arrays are encrypted under different keys ({a.fingerprint} vs {b.fingerprint})")


def check_plain_bound(pub: PublicKey, bound: int, what: str) -> int:
    if bound > pub.max_plain:
        raise OverflowError(
            f"{what} could reach |value| = 2^{bound.bit_length()} which exceeds n/2 "
            f"(2^{pub.max_plain.bit_length()}); the result would wrap around. "
            "Use a larger key or smaller values/scales.")
    return bound


# --- batch helpers over flat (K, L) limb arrays -----------------------------

def flat_mulmod(pub: PublicKey, a: np.ndarray, b: np.ndarray, workers=None) -> np.ndarray:
    return run_batched(pub.mod, "mulmod", [a, b], workers=workers)


def flat_invert(pub: PublicKey, a: np.ndarray, workers=None) -> np.ndarray:
    return run_batched(pub.mod, "invert", [a], workers=workers, min_chunk=16)


def flat_scale(pub: PublicKey, a: np.ndarray, k: np.ndarray | int, workers=None) -> np.ndarray:
    """a[i]^k[i] for integer k of any sign and size (negatives via batched inverses)."""
    K = a.shape[0]
    ks = np.broadcast_to(np.asarray(k, dtype=object if _big(k) else np.int64), (K,))
    if ks.dtype == object:
        neg = np.array([int(v) < 0 for v in ks], dtype=bool)
        mag = [abs(int(v)) for v in ks]
    else:
        neg = ks < 0
        mag = np.abs(ks.astype(np.int64)).astype(np.uint64)
    base = a
    if neg.any():
        base = a.copy()
        base[neg] = flat_invert(pub, np.ascontiguousarray(a[neg]), workers)
    if isinstance(mag, np.ndarray):
        out, _ = run_batched(pub.mod, "pow_u64", [base, mag], workers=workers)
        return out
    Le = max(1, max(_core.nlimbs(m) for m in mag))
    e = np.stack([_core.limbs_of(m, Le) for m in mag]) if K else np.zeros((0, Le), np.uint64)
    return run_batched(pub.mod, "powm", [base, e], workers=workers)


def _big(k) -> bool:
    arr = np.asarray(k)
    if arr.dtype == object:
        return any(abs(int(v)) >= (1 << 63) for v in arr.ravel())
    return False


def check_ciphertexts(pub: PublicKey, flat: np.ndarray, what: str = "ciphertext") -> None:
    """Refuse any (K, L) limb row that is not a unit mod n^2 (ValueError naming its index).

    Two checks: the range [1, n^2) (one compare per row), and gcd(c, n) = 1,
    done for the whole batch at once as gcd(prod c_i mod n^2, n) — a prime
    factor of n divides the product exactly when it divides some c_i — so it
    costs one modular product per ciphertext; only when it fails is the
    offending row searched for.  Every unit mod n^2 is a valid ciphertext, so
    these two checks are complete; the *plaintext* inside remains unchecked.
    """
    K = flat.shape[0]
    if K == 0:
        return
    flat = np.ascontiguousarray(flat)
    bad = pub.mod.check_range(flat)
    if bad >= 0:
        raise ValueError(f"{what} #{bad} is not a valid ciphertext (outside [1, n^2))")
    if math.gcd(_product(pub, flat), pub.n) == 1:
        return
    for i in range(K):
        if math.gcd(_core.int_of(flat[i]), pub.n) != 1:
            raise ValueError(f"{what} #{i} is not a valid ciphertext (it shares a factor with n)")
    raise ValueError(f"a {what} is not a valid ciphertext (it shares a factor with n)")


def _product(pub: PublicKey, flat: np.ndarray) -> int:
    K, L = flat.shape
    T = max(1, min(K, 4096))
    pad = (-K) % T
    if pad:
        one = np.zeros((pad, L), np.uint64)
        one[:, 0] = 1
        flat = np.concatenate([flat, one])
    parts = run_batched(pub.mod, "prod", [flat.reshape(-1, T, L)])
    while parts.shape[0] > 1:
        parts = pub.mod.prod(np.ascontiguousarray(parts[None]))
    return _core.int_of(parts[0])


def trivial_encrypt(pub: PublicKey, ints: np.ndarray) -> np.ndarray:
    """(K, L) deterministic encryptions 1 + m n of known plaintexts (for adding)."""
    return pub.trivial(residues(np.ascontiguousarray(ints), pub.n))


class EncryptedArray:
    """An n-d array of Paillier ciphertexts under one public key."""

    __array_priority__ = 1000  # NumPy defers `ndarray + EncryptedArray` to us

    def __init__(self, public_key: PublicKey, data: np.ndarray, scale: int = 1,
                 bound: int | None = None, *, check: bool = True):
        """``check`` (default): every ciphertext must be a unit mod n^2 (range and gcd
        with n, see ``check_ciphertexts``), and the bound at most n/2.  The library's
        own operations pass ``check=False`` for results they computed."""
        if not isinstance(public_key, PublicKey):
            raise TypeError("public_key must be a hepaillier_core.PublicKey")
        if (not isinstance(data, np.ndarray) or data.dtype != np.uint64 or data.ndim < 1
                or data.shape[-1] != public_key.L):
            raise ValueError(f"ciphertext data must be uint64 with last axis {public_key.L}")
        self.public_key = public_key
        self.data = np.ascontiguousarray(data)
        self.scale = int(scale)
        self.bound = public_key.max_plain if bound is None else int(bound)
        if check:
            if self.scale < 1 or not 0 <= self.bound <= public_key.max_plain:
                raise ValueError("scale must be >= 1 and bound in [0, n/2]")
            check_ciphertexts(public_key, self._flat())

    # --- shape ---------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[:-1])

    @property
    def ndim(self) -> int:
        return self.data.ndim - 1

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d EncryptedArray")
        return self.shape[0]

    def __iter__(self) -> Iterator[EncryptedArray]:
        for i in range(len(self)):
            yield self[i]

    def _new(self, data: np.ndarray, scale: int | None = None,
             bound: int | None = None) -> EncryptedArray:
        return EncryptedArray(self.public_key, data, self.scale if scale is None else scale,
                              self.bound if bound is None else bound, check=False)

    def _flat(self) -> np.ndarray:
        return self.data.reshape(-1, self.public_key.L)

    def __getitem__(self, key) -> EncryptedArray:
        if isinstance(key, EncryptedArray):
            raise TypeError("cannot index with an encrypted array")
        if not isinstance(key, tuple):
            key = (key,)
        return self._new(np.ascontiguousarray(self.data[key + (slice(None),)]))

    def reshape(self, *shape) -> EncryptedArray:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        try:
            return self._new(self.data.reshape(tuple(shape) + (self.public_key.L,)))
        except ValueError:
            raise ValueError(f"cannot reshape array of shape {self.shape} into {shape}") from None

    def transpose(self, *axes) -> EncryptedArray:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        if not axes:
            axes = tuple(reversed(range(self.ndim)))
        if sorted(axes) != list(range(self.ndim)):
            raise ValueError(f"axes {axes} do not match an array of {self.ndim} dimensions")
        return self._new(np.ascontiguousarray(self.data.transpose(tuple(axes) + (self.ndim,))))

    @property
    def T(self) -> EncryptedArray:
        return self.transpose()

    def ravel(self) -> EncryptedArray:
        return self.reshape(-1)

    def copy(self) -> EncryptedArray:
        return self._new(self.data.copy())

    def with_scale(self, scale: int) -> EncryptedArray:
        """Same ciphertexts, read with another fixed-point scale (no crypto work)."""
        from .encoding import check_scale

        return EncryptedArray(self.public_key, self.data, check_scale(scale), self.bound,
                              check=False)

    # --- arithmetic ------------------------------------------------------------
    def _aligned(self, other: EncryptedArray) -> tuple[EncryptedArray, EncryptedArray]:
        same_key(self.public_key, other.public_key)
        if self.scale == other.scale:
            return self, other
        s = math.lcm(self.scale, other.scale)
        return self._rescaled(s // self.scale), other._rescaled(s // other.scale)

    def _rescaled(self, factor: int) -> EncryptedArray:
        if factor == 1:
            return self
        out = self * factor
        out.scale = self.scale * factor
        return out

    def _broadcast(self, other_shape: tuple[int, ...]) -> tuple[int, ...]:
        try:
            return tuple(np.broadcast_shapes(self.shape, tuple(other_shape)))
        except ValueError:
            raise ValueError(
                f"shapes {self.shape} and {tuple(other_shape)} do not broadcast") from None

    def _bdata(self, shape: tuple[int, ...]) -> np.ndarray:
        L = self.public_key.L
        if shape == self.shape:
            return self.data.reshape(-1, L)  # already C-contiguous: no copy
        return np.ascontiguousarray(np.broadcast_to(self.data, shape + (L,))).reshape(-1, L)

    def __add__(self, other) -> EncryptedArray:
        pub = self.public_key
        if isinstance(other, EncryptedArray):
            a, b = self._aligned(other)
            bound = check_plain_bound(pub, a.bound + b.bound, "this addition")
            shape = a._broadcast(b.shape)
            out = flat_mulmod(pub, a._bdata(shape), b._bdata(shape))
            return EncryptedArray(pub, out.reshape(shape + (pub.L,)), a.scale, bound, check=False)
        if _is_packed(other):
            return NotImplemented
        return self._add_ints(to_int_array(other, self.scale, "plaintext operand"))

    def _add_ints(self, ints: np.ndarray) -> EncryptedArray:
        pub = self.public_key
        bound = check_plain_bound(pub, self.bound + max_abs(ints), "this addition")
        shape = self._broadcast(ints.shape)
        plain = trivial_encrypt(pub, np.broadcast_to(ints, shape).reshape(-1))
        out = flat_mulmod(pub, self._bdata(shape), plain)
        return self._new(out.reshape(shape + (pub.L,)), bound=bound)

    __radd__ = __add__

    def __neg__(self) -> EncryptedArray:
        return self._new(flat_invert(self.public_key, self._flat()).reshape(self.data.shape))

    def __sub__(self, other) -> EncryptedArray:
        if isinstance(other, EncryptedArray):
            return self + (-other)
        if _is_packed(other):
            return NotImplemented
        return self._add_ints(-to_int_array(other, self.scale, "plaintext operand"))

    def __rsub__(self, other) -> EncryptedArray:
        return (-self) + other

    def __mul__(self, k) -> EncryptedArray:
        if isinstance(k, EncryptedArray) or _is_packed(k):
            raise TypeError("Paillier cannot multiply two ciphertexts; multiply by plaintext "
                            "integers only")
        pub = self.public_key
        if isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, bool):
            k = int(k)
            bound = check_plain_bound(pub, self.bound * abs(k), "this multiplication")
            out = flat_scale(pub, self._flat(), _scalar_array(k))
            return self._new(out.reshape(self.data.shape), bound=bound)
        if isinstance(k, (float, np.floating)) or (isinstance(k, bool)):
            raise TypeError("multiply by integers only; for a real factor use "
                            "x.mul_scaled(k, scale) (fixed point)")
        ks = as_int_weights(k, "multiplier")
        bound = check_plain_bound(pub, self.bound * max_abs(ks), "this multiplication")
        shape = self._broadcast(ks.shape)
        kflat = np.ascontiguousarray(np.broadcast_to(ks, shape)).reshape(-1)
        out = flat_scale(pub, self._bdata(shape), kflat)
        return self._new(out.reshape(shape + (pub.L,)), bound=bound)

    __rmul__ = __mul__

    def mul_scaled(self, k, scale: int) -> EncryptedArray:
        """Multiply by real ``k`` encoded as round(k * scale); the result's scale
        is this array's scale times ``scale`` (exact fixed point)."""
        from .encoding import check_scale

        scale = check_scale(scale)
        ks = to_int_array(k, scale, "multiplier")
        out = self * (int(ks) if ks.ndim == 0 else ks)
        return EncryptedArray(self.public_key, out.data, self.scale * scale, out.bound,
                              check=False)

    def __truediv__(self, other):
        raise TypeError("division is not a homomorphic operation; decrypt first, or multiply "
                        "by a fixed-point reciprocal with mul_scaled")

    def sum(self, axis: int | None = None) -> EncryptedArray:
        """Sum along ``axis`` (all elements when None): a product of ciphertexts."""
        pub = self.public_key
        if axis is None:
            flat = self._flat()
            T = flat.shape[0]
            bound = check_plain_bound(pub, self.bound * T, "this sum")
            out = pub.mod.prod(np.ascontiguousarray(flat[None]))
            return self._new(out.reshape(pub.L), bound=bound)
        axis = int(axis)
        if not -self.ndim <= axis < self.ndim:
            raise ValueError(f"axis {axis} is out of bounds for an array of {self.ndim} dims")
        axis %= self.ndim
        T = self.shape[axis]
        bound = check_plain_bound(pub, self.bound * T, "this sum")
        moved = np.moveaxis(self.data, axis, -2)
        rest = moved.shape[:-2]
        a3 = np.ascontiguousarray(moved).reshape(-1, T, pub.L)
        out = run_batched(pub.mod, "prod", [a3])
        return self._new(out.reshape(rest + (pub.L,)), bound=bound)

    def __matmul__(self, M) -> EncryptedArray:
        return _matmul(self, as_int_weights(M, "matrix"))

    def __rmatmul__(self, M) -> EncryptedArray:
        Mi = as_int_weights(M, "matrix")
        if self.ndim == 1:
            return _matmul(self, Mi.T)
        if self.ndim != 2 or Mi.ndim != 2:
            raise ValueError("M @ x needs a 2-D integer matrix and a 1-D or 2-D array")
        return _matmul(self.T, Mi.T).T

    def dot(self, M) -> EncryptedArray:
        return self @ M

    # --- interop and persistence -------------------------------------------
    def to_ints(self) -> list[int]:
        """Raw ciphertexts as Python ints (phe's ``ciphertext(be_secure=False)``)."""
        return [_core.int_of(row) for row in self._flat()]

    @classmethod
    def from_ints(cls, public_key: PublicKey, ints: Sequence[int], shape=None, *, scale: int = 1,
                  bound: int | None = None) -> EncryptedArray:
        """Wrap raw ciphertexts.  Declare ``bound`` (max |plaintext|) if you know it;
        otherwise it is n/2 and any op that grows it is refused."""
        vals = [int(c) for c in ints]
        L = public_key.L
        if any(c <= 0 or c >= public_key.nsquare for c in vals):
            raise ValueError("ciphertexts must lie in [1, n^2)")
        data = (np.stack([_core.limbs_of(c, L) for c in vals]) if vals
                else np.zeros((0, L), np.uint64))
        shape = (len(vals),) if shape is None else tuple(shape)
        return cls(public_key, data.reshape(shape + (L,)), scale, bound)

    def to_phe(self) -> list:
        """A flat list of phe.EncryptedNumber (scale must be a power of 16 or 1)."""
        import phe

        exponent = 0
        if self.scale != 1:
            e = round(math.log(self.scale, 16))
            if 16**e != self.scale:
                raise ValueError("phe can only represent scales that are powers of 16")
            exponent = -e
        pk = self.public_key.to_phe()
        return [phe.EncryptedNumber(pk, c, exponent) for c in self.to_ints()]

    @classmethod
    def from_phe(cls, numbers_: Sequence, shape=None, *, bound: int | None = None
                 ) -> EncryptedArray:
        """From phe.EncryptedNumber values sharing one public key and exponent."""
        numbers_ = list(numbers_)
        if not numbers_:
            raise ValueError("no ciphertexts given")
        pk = numbers_[0].public_key
        exps = {x.exponent for x in numbers_}
        if any(x.public_key != pk for x in numbers_):
            raise ValueError("phe numbers use different public keys")
        if len(exps) != 1:
            raise ValueError("phe numbers have different exponents; call decrease_exponent_to "
                             "on them first")
        e = exps.pop()
        if e > 0:
            raise ValueError("phe numbers with positive exponents are not supported")
        pub = PublicKey.from_phe(pk)
        return cls.from_ints(pub, [x.ciphertext(be_secure=False) for x in numbers_], shape,
                             scale=16 ** (-e), bound=bound)

    def save(self, path) -> None:
        from .serialization import save

        save(self, path)

    def to_bytes(self) -> bytes:
        from .serialization import to_bytes

        return to_bytes(self)

    def __reduce__(self):
        from .serialization import _rebuild_array

        return (_rebuild_array, (self.public_key.n, self.data, self.scale, self.bound))

    def __repr__(self) -> str:
        return (f"<EncryptedArray shape={self.shape} scale={self.scale} "
                f"|value|<=2^{self.bound.bit_length()} key={self.public_key.fingerprint}>")

    def __bool__(self):
        raise TypeError("the truth value of an encrypted array is unknown to the evaluator")


def _is_packed(x) -> bool:
    from .packed import PackedImage

    return isinstance(x, PackedImage)


def _scalar_array(k: int) -> np.ndarray:
    if abs(k) >= (1 << 63):
        return np.array(k, dtype=object)
    return np.array(k, dtype=np.int64)


def _matmul(x: EncryptedArray, M: np.ndarray) -> EncryptedArray:
    """x (..., k) @ M (k, j) or (k,): one Straus multi-exponentiation per column."""
    pub = x.public_key
    if x.ndim == 0:
        raise ValueError("matmul needs at least a 1-D array")
    vec = M.ndim == 1
    M2 = M[:, None] if vec else M
    if M2.ndim != 2 or M2.shape[0] != x.shape[-1]:
        raise ValueError(f"matmul: shapes {x.shape} and {M.shape} are not aligned")
    k, J = M2.shape
    if M2.dtype == object or (M2.size and int(np.abs(M2).max()) > U64_MAX):
        raise ValueError("matmul weights must fit in 64 bits")
    Mi = M2.astype(np.int64)
    col_l1 = np.abs(Mi).sum(axis=0) if Mi.size else np.zeros(J, np.int64)
    bound = check_plain_bound(pub, x.bound * int(col_l1.max(initial=0)), "this matmul")
    lead = x.shape[:-1]
    R = int(np.prod(lead, dtype=np.int64))
    flat = x.data.reshape(R * k, pub.L)
    bases = pub.mod.to_mont(np.ascontiguousarray(flat))
    if (Mi < 0).any():
        bases = np.concatenate([bases, pub.mod.to_mont(flat_invert(pub, flat))])
    rows = (np.arange(R, dtype=np.int64) * k)[:, None]
    out = np.empty((R, J, pub.L), dtype=np.uint64)
    for j in range(J):
        col = Mi[:, j]
        idx = rows + np.arange(k, dtype=np.int64)[None, :]
        idx = np.where(col[None, :] < 0, idx + R * k, idx)
        res, _ = run_batched(pub.mod, "multiexp", [np.ascontiguousarray(idx[:, :, None])],
                             [bases, np.abs(col).astype(np.uint64)])
        out[:, j] = res
    shape = lead if vec else lead + (J,)
    return EncryptedArray(pub, out.reshape(shape + (pub.L,)), x.scale, bound, check=False)


def _prep_join(arrays: Sequence[EncryptedArray]) -> list[EncryptedArray]:
    arrays = list(arrays)
    if not arrays:
        raise ValueError("need at least one array")
    if not all(isinstance(a, EncryptedArray) for a in arrays):
        raise TypeError("all items must be EncryptedArray")
    for a in arrays[1:]:
        same_key(arrays[0].public_key, a.public_key)
    s = math.lcm(*[a.scale for a in arrays])
    return [a._rescaled(s // a.scale) for a in arrays]


def concatenate(arrays: Sequence[EncryptedArray], axis: int = 0) -> EncryptedArray:
    """Join encrypted arrays along an existing axis (like numpy.concatenate)."""
    arrays = _prep_join(arrays)
    nd = arrays[0].ndim
    if nd == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = int(axis) % nd if -nd <= int(axis) < nd else None
    if ax is None:
        raise ValueError(f"axis {axis} is out of bounds for {nd} dimensions")
    try:
        data = np.concatenate([a.data for a in arrays], axis=ax)
    except ValueError as e:
        raise ValueError(f"cannot concatenate: {e}") from None
    return EncryptedArray(arrays[0].public_key, data, arrays[0].scale,
                          max(a.bound for a in arrays), check=False)


def stack(arrays: Sequence[EncryptedArray], axis: int = 0) -> EncryptedArray:
    """Join encrypted arrays along a new axis (like numpy.stack)."""
    arrays = _prep_join(arrays)
    nd = arrays[0].ndim + 1
    if not -nd <= int(axis) < nd:
        raise ValueError(f"axis {axis} is out of bounds for {nd} dimensions")
    try:
        data = np.stack([a.data for a in arrays], axis=int(axis) % nd)
    except ValueError as e:
        raise ValueError(f"cannot stack: {e}") from None
    return EncryptedArray(arrays[0].public_key, data, arrays[0].scale,
                          max(a.bound for a in arrays), check=False)
