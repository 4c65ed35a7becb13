"""PackedImage: a 2-D image with P pixels per ciphertext (SIMD slots).

Layout (DESIGN §5, "interleaved columns"): each canvas row is M
ciphertexts; slot s of ciphertext m holds layout column s*M + m, as a signed
digit of B = 2^w.  A horizontal shift by u columns is "use ciphertext m-u",
or, where that index is negative, a ciphertext raised to B^q, which moves
every slot up by q.  Only upward moves exist, so a filter output is stored
(kw-1-anchor) columns right of its input; ``x0`` tracks where the logical
image sits.  The canvas never gets truncated: columns right of the data must
stay zero up to the capacity P*M, which every op checks before it runs, as
it checks that every slot stays inside (-B/2, B/2).

Bounds are intervals [lo, hi] (always containing 0: the canvas's empty
columns are zeros), not just |value|: a one-signed result such as a blur of
a non-negative image keeps lo = 0, so the difference of two of them needs
[-hi, hi] rather than [-2 hi, 2 hi] - one slot bit less.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from . import _core
from .array import EncryptedArray, check_ciphertexts, flat_invert, flat_mulmod, flat_scale, same_key
from .encoding import check_scale, int_scalar, to_int_array
from .keys import PublicKey
from .multiexp import COUNTERS, TapPlan, prepare_bases, run_tiled
from .parallel import make_progress, run_batched

PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge"}
DEFAULT_HEADROOM_BITS = 24
DEFAULT_HEADROOM_COLS = 64


@dataclass(frozen=True)
class Layout:
    """Slot geometry plus where the canvas and the logical image sit."""

    w: int  # bits per slot
    P: int  # slots per ciphertext
    M: int  # ciphertexts per canvas row
    height: int  # logical image
    width: int
    y0: int  # data row of logical row 0
    x0: int  # layout column of logical column 0
    c_lo: int  # canvas extent in layout columns: [c_lo, c_hi)
    c_hi: int

    @property
    def capacity(self) -> int:
        return self.P * self.M

    def to_json(self) -> dict:
        return {k: int(getattr(self, k)) for k in self.__dataclass_fields__}

    @classmethod
    def from_json(cls, obj: dict) -> Layout:
        try:
            lay = cls(**{k: int(obj[k]) for k in cls.__dataclass_fields__})
        except (KeyError, TypeError, ValueError):
            raise ValueError("packed layout metadata is missing or malformed") from None
        if not (lay.w >= 2 and lay.P >= 1 and lay.M >= 1 and 0 <= lay.c_lo <= lay.c_hi
                <= lay.capacity and lay.height >= 0 and lay.width >= 0):
            raise ValueError("packed layout metadata is inconsistent")
        return lay


def slot_limit(w: int) -> int:
    return (1 << (w - 1)) - 1


def check_slot_bound(pub: PublicKey, lay: Layout, bound: int, what: str) -> int:
    check_slot_interval(pub, lay, (-bound, bound), what)
    return bound


def check_slot_interval(pub: PublicKey, lay: Layout, interval: tuple[int, int],
                        what: str) -> tuple[int, int]:
    """Refuse (OverflowError) unless every value in [lo, hi] fits a signed slot."""
    lo, hi = int(interval[0]), int(interval[1])
    if max(-lo, hi) > slot_limit(lay.w):
        need = max(-lo, hi).bit_length() + 1
        raise OverflowError(
            f"{what} needs {need} bits per slot (values in [{lo}, {hi}]) but the image was "
            f"packed with bits_per_slot={lay.w}; re-encrypt with bits_per_slot>={need} "
            f"(this {pub.bits}-bit key allows up to {pub.bits - 2}, with fewer pixels per "
            "ciphertext)")
    return lo, hi


def interval_of(bound=None, interval=None) -> tuple[int, int]:
    """[lo, hi] from an |x| bound or an explicit interval (which must contain 0)."""
    if interval is None:
        b = int(bound or 0)
        if b < 0:
            raise ValueError(f"a bound must be >= 0, got {b}")
        return -b, b
    lo, hi = (int(v) for v in interval)
    if not lo <= 0 <= hi:
        raise ValueError(f"a packed image's interval must contain 0 (its empty columns), "
                         f"got [{lo}, {hi}]")
    return lo, hi


def filter_interval(interval: tuple[int, int], kernel) -> tuple[int, int]:
    """Range of sum_t k_t x_t over x_t in [lo, hi] (lo <= 0 <= hi): positive taps
    take the input's range, negative ones its mirror.  ``kernel`` may be an object
    array of Python ints (products of taps beyond int64)."""
    k = np.asarray(kernel)
    if k.dtype != object:
        k = k.astype(np.int64)
    pos, neg = sum(int(v) for v in k[k > 0]), -sum(int(v) for v in k[k < 0])
    lo, hi = interval
    return pos * lo - neg * hi, pos * hi - neg * lo


def required_bits(bound: int, *kernels) -> int:
    """Slot width for values up to ``bound`` after applying ``kernels`` in turn
    (each multiplies the bound by its L1 norm), plus the sign bit."""
    b = int(bound)
    for k in kernels:
        b *= int(np.abs(np.asarray(k, dtype=np.int64)).sum())
    return max(2, b.bit_length() + 1)


def plan_layout(pub: PublicKey, canvas_w: int, w: int, headroom: int,
                subsample_levels: int) -> tuple[int, int]:
    """(P, M) for a canvas width: P slots of w bits under n/2, M ciphertexts per row."""
    P = (pub.bits - 2) // w
    if P < 1:
        raise ValueError(f"bits_per_slot={w} does not fit a {pub.bits}-bit key")
    need = canvas_w + headroom
    M = -(-need // P)
    step = 1 << subsample_levels
    M = -(-M // step) * step
    return P, M


class PackedImage:
    """An encrypted 2-D integer image, packed P pixels per ciphertext."""

    __array_priority__ = 1000

    def __init__(self, public_key: PublicKey, data: np.ndarray, layout: Layout, scale: int = 1,
                 bound: int = 0, *, interval: tuple[int, int] | None = None,
                 check: bool = True):
        """``interval`` (lo, hi) replaces the symmetric ``bound`` when given.  ``check``
        (default): every ciphertext must be a unit mod n^2 and the layout must fit the
        key (see ``EncryptedArray``); the library's own operations pass ``check=False``
        for results they computed."""
        if not isinstance(data, np.ndarray) or data.dtype != np.uint64 or data.ndim != 3 or data.shape[1:] != (layout.M,
                                                                             public_key.L):
            raise ValueError("packed data must be uint64 of shape (rows, M, L)")
        if not 0 <= layout.y0 <= data.shape[0] - layout.height:
            raise ValueError("packed layout rows do not match the data")
        if layout.x0 < layout.c_lo or layout.x0 + layout.width > layout.c_hi:
            raise ValueError("packed layout columns are inconsistent")
        lo, hi = interval_of(bound, interval)
        if max(-lo, hi) > slot_limit(layout.w):
            raise ValueError(f"packed image bound [{lo}, {hi}] does not fit its "
                             f"{layout.w}-bit slots (inconsistent metadata)")
        if check:
            if layout.P * layout.w > public_key.bits - 2:
                raise ValueError("packed layout does not fit the key (P * w > bits - 2)")
            if int(scale) < 1:
                raise ValueError("scale must be >= 1 and bound within the slot width")
            check_ciphertexts(public_key, data.reshape(-1, public_key.L))
        self.public_key = public_key
        self.data = np.ascontiguousarray(data)
        self.layout = layout
        self.scale = int(scale)
        self.lo, self.hi = lo, hi
        # Montgomery-form bases (shifted copies included) reused by every filter of
        # this image: a scale space filters one base many times.
        self._bases_cache: dict = {}

    # --- description -------------------------------------------------------
    @property
    def bound(self) -> int:
        """Static bound on |value| of every slot (the interval's larger end)."""
        return max(-self.lo, self.hi)

    @property
    def interval(self) -> tuple[int, int]:
        """Static [lo, hi] holding every slot value (lo <= 0 <= hi)."""
        return self.lo, self.hi

    @property
    def shape(self) -> tuple[int, int]:
        return (self.layout.height, self.layout.width)

    @property
    def ndim(self) -> int:
        return 2

    @property
    def bits_per_slot(self) -> int:
        return self.layout.w

    @property
    def slots(self) -> int:
        return self.layout.P

    @property
    def num_ciphertexts(self) -> int:
        return int(self.data.shape[0] * self.data.shape[1])

    @property
    def nbytes(self) -> int:
        return int(self.data.nbytes)

    def __repr__(self) -> str:
        lay = self.layout
        return (f"<PackedImage {lay.height}x{lay.width} slots={lay.P}x{lay.w}bit "
                f"ciphertexts={self.num_ciphertexts} scale={self.scale} "
                f"key={self.public_key.fingerprint}>")

    def _new(self, data, layout=None, scale=None, interval=None) -> PackedImage:
        return PackedImage(self.public_key, data, layout or self.layout,
                           self.scale if scale is None else scale,
                           interval=self.interval if interval is None else interval, check=False)

    def with_scale(self, scale: int) -> PackedImage:
        """Same ciphertexts read with another fixed-point scale (no crypto work)."""
        return PackedImage(self.public_key, self.data, self.layout, check_scale(scale),
                           interval=self.interval, check=False)

    def _flat(self) -> np.ndarray:
        return self.data.reshape(-1, self.public_key.L)

    # --- arithmetic ----------------------------------------------------------
    def __neg__(self) -> PackedImage:
        return self._new(flat_invert(self.public_key, self._flat()).reshape(self.data.shape),
                         interval=(-self.hi, -self.lo))

    def __mul__(self, k) -> PackedImage:
        if isinstance(k, (PackedImage, EncryptedArray)):
            raise TypeError("Paillier cannot multiply two ciphertexts")
        k = int_scalar(k, "multiplier of a packed image")
        interval = check_slot_interval(self.public_key, self.layout,
                                       sorted((self.lo * k, self.hi * k)), "this multiplication")
        out = flat_scale(self.public_key, self._flat(), np.array(k, dtype=object)
                         if abs(k) >= 1 << 63 else np.array(k, dtype=np.int64))
        return self._new(out.reshape(self.data.shape), interval=interval)

    __rmul__ = __mul__

    def mul_scaled(self, k: float, scale: int) -> PackedImage:
        """Multiply by real k as round(k*scale); the result's scale is multiplied too."""
        scale = check_scale(scale)
        ki = to_int_array(k, scale, "multiplier")
        if ki.ndim != 0:
            raise TypeError("packed images multiply by scalars only")
        out = self * int(ki)
        return out.with_scale(self.scale * scale)

    def __add__(self, other) -> PackedImage:
        if isinstance(other, PackedImage):
            a, b = _align(self, other)
            interval = check_slot_interval(a.public_key, a.layout, (a.lo + b.lo, a.hi + b.hi),
                                           "this addition")
            out = flat_mulmod(a.public_key, a._flat(), b._flat())
            return a._new(out.reshape(a.data.shape), interval=interval)
        if isinstance(other, EncryptedArray):
            raise TypeError("cannot add an unpacked EncryptedArray to a PackedImage")
        return _add_plain(self, other)

    __radd__ = __add__

    def __sub__(self, other) -> PackedImage:
        if isinstance(other, PackedImage):
            return self + (-other)
        if isinstance(other, EncryptedArray):
            raise TypeError("cannot subtract an unpacked EncryptedArray from a PackedImage")
        return _add_plain(self, other, negate=True)

    def __rsub__(self, other) -> PackedImage:
        return (-self) + other

    def __bool__(self):
        raise TypeError("the truth value of an encrypted image is unknown to the evaluator")

    # --- persistence -----------------------------------------------------------
    def save(self, path) -> None:
        from .serialization import save

        save(self, path)

    def to_bytes(self) -> bytes:
        from .serialization import to_bytes

        return to_bytes(self)

    def __reduce__(self):
        from .serialization import _rebuild_packed

        return (_rebuild_packed, (self.public_key.n, self.data, self.layout.to_json(),
                                  self.scale, self.bound, self.interval))


# --- encryption -------------------------------------------------------------

def encrypt_packed(pub: PublicKey, priv, values, scale: int = 1, *, bits_per_slot=None,
                   bound=None, pad: int = 0, pad_mode: str = "constant", headroom=None,
                   subsample_levels: int = 0, short_exponent: bool = False, workers=None,
                   progress=None) -> PackedImage:
    """Pad, pack and encrypt a 2-D integer image (see ``PackedImage``)."""
    ints = to_int_array(values, scale, "image")
    if ints.ndim != 2:
        raise ValueError(f"packing needs a 2-D image, got shape {ints.shape}")
    if ints.shape[0] == 0 or ints.shape[1] == 0:
        raise ValueError(f"image is empty (shape {ints.shape})")
    if ints.dtype == object:
        raise OverflowError("packed images need |values| below 2^62")
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {sorted(PAD_MODES)}")
    pad = int(pad)
    if pad < 0:
        raise ValueError("pad must be >= 0")
    headroom = DEFAULT_HEADROOM_COLS if headroom is None else int(headroom)
    if headroom < 0 or subsample_levels < 0:
        raise ValueError("headroom and subsample_levels must be >= 0")
    canvas = np.pad(ints, pad, mode=PAD_MODES[pad_mode]) if pad else ints
    actual = (min(int(canvas.min()), 0), max(int(canvas.max()), 0))
    if bound is None:
        interval = actual
    elif isinstance(bound, tuple):
        if len(bound) != 2:
            raise ValueError("a declared interval bound must be a (lo, hi) pair")
        interval = interval_of(interval=tuple(_scaled_bound(b, scale) for b in bound))
    else:
        interval = interval_of(_scaled_bound(bound, scale))
    if interval[0] > actual[0] or interval[1] < actual[1]:
        raise ValueError(f"declared bound [{interval[0]}, {interval[1]}] does not hold the "
                         f"values, which lie in [{int(canvas.min())}, {int(canvas.max())}]")
    bound = max(-interval[0], interval[1])
    w = int(bits_per_slot) if bits_per_slot is not None else \
        bound.bit_length() + 1 + DEFAULT_HEADROOM_BITS
    w = max(w, 2)
    if w > 62:
        raise ValueError(f"bits_per_slot={w} is above 62; scale the values down")
    if w > pub.bits - 2:
        raise ValueError(f"bits_per_slot={w} does not fit a {pub.bits}-bit key")
    H, W = canvas.shape
    P, M = plan_layout(pub, W, w, headroom, int(subsample_levels))
    lay = Layout(w=w, P=P, M=M, height=ints.shape[0], width=ints.shape[1], y0=pad, x0=pad,
                 c_lo=0, c_hi=W)
    check_slot_interval(pub, lay, interval, "the image")
    slots = np.zeros((H, P * M), dtype=np.int64)
    slots[:, :W] = canvas
    # layout column s*M + m -> ciphertext m, slot s
    slots = slots.reshape(H, P, M).transpose(0, 2, 1).reshape(H * M, P)
    res = _core.pack_i64(np.ascontiguousarray(slots), w, pub.n)
    from .encrypting import encrypt_residues

    ct = encrypt_residues(pub, priv, res, short_exponent=short_exponent, workers=workers,
                          progress=progress)
    return PackedImage(pub, ct.reshape(H, M, pub.L), lay, scale, interval=interval, check=False)


def _scaled_bound(b, scale: int) -> int:
    """A declared bound end times the fixed-point scale (floats rounded outwards)."""
    if isinstance(b, float):
        return int(math.ceil(b * scale)) if b >= 0 else int(math.floor(b * scale))
    return int(b) * scale


# --- plaintext additions ---------------------------------------------------------

def _pack_rows(pub: PublicKey, lay: Layout, canvas_rows: np.ndarray) -> np.ndarray:
    """(r, P*M) layout columns -> (r*M, L) trivial encryptions."""
    r = canvas_rows.shape[0]
    slots = canvas_rows.reshape(r, lay.P, lay.M).transpose(0, 2, 1).reshape(r * lay.M, lay.P)
    res = _core.pack_i64(np.ascontiguousarray(slots), lay.w, pub.n)
    return pub.trivial(res)


def _add_plain(img: PackedImage, other, negate: bool = False) -> PackedImage:
    pub, lay = img.public_key, img.layout
    ints = to_int_array(other, img.scale, "plaintext operand")
    if negate:
        ints = -ints
    if ints.dtype == object:
        raise OverflowError("plaintext operand too large for a packed image")
    lo_add = min(int(ints.min()), 0) if ints.size else 0
    hi_add = max(int(ints.max()), 0) if ints.size else 0
    interval = check_slot_interval(pub, lay, (img.lo + lo_add, img.hi + hi_add),
                                   "this addition")
    if ints.ndim == 0:
        # a constant over the whole canvas extent (padding included: it is part of the image)
        row = np.zeros((1, lay.capacity), dtype=np.int64)
        row[0, lay.c_lo:lay.c_hi] = int(ints)
        plain = _pack_rows(pub, lay, row)  # (M, L)
        plain = np.ascontiguousarray(np.broadcast_to(plain[None], img.data.shape))
        out = flat_mulmod(pub, img._flat(), plain.reshape(-1, pub.L))
        return img._new(out.reshape(img.data.shape), interval=interval)
    if ints.shape != img.shape:
        raise ValueError(f"plaintext shape {ints.shape} does not match the image {img.shape}")
    rows = np.zeros((lay.height, lay.capacity), dtype=np.int64)
    rows[:, lay.x0:lay.x0 + lay.width] = ints
    plain = _pack_rows(pub, lay, rows)
    data = img.data.copy()
    sel = data[lay.y0:lay.y0 + lay.height].reshape(-1, pub.L)
    data[lay.y0:lay.y0 + lay.height] = flat_mulmod(pub, np.ascontiguousarray(sel),
                                                   plain).reshape(lay.height, lay.M, pub.L)
    return PackedImage(pub, data, lay, img.scale, interval=interval, check=False)


# --- alignment of two packed images --------------------------------------------------

def _align(a: PackedImage, b: PackedImage) -> tuple[PackedImage, PackedImage]:
    same_key(a.public_key, b.public_key)
    la, lb = a.layout, b.layout
    if (la.w, la.P, la.M) != (lb.w, lb.P, lb.M):
        raise ValueError(
            f"packed images have different layouts (slots {la.P}x{la.w} bit, {la.M} per row vs "
            f"{lb.P}x{lb.w} bit, {lb.M} per row); encrypt both with the same bits_per_slot "
            "and headroom")
    if (la.height, la.width) != (lb.height, lb.width):
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.scale != b.scale:
        s = math.lcm(a.scale, b.scale)
        a = (a * (s // a.scale)).with_scale(s) if s != a.scale else a
        b = (b * (s // b.scale)).with_scale(s) if s != b.scale else b
    if la.x0 < lb.x0:
        a = shift_right(a, lb.x0 - la.x0)
    elif lb.x0 < la.x0:
        b = shift_right(b, la.x0 - lb.x0)
    a, b = _align_rows(a, b)
    c_lo, c_hi = min(a.layout.c_lo, b.layout.c_lo), max(a.layout.c_hi, b.layout.c_hi)
    a = a._new(a.data, replace(a.layout, c_lo=c_lo, c_hi=c_hi))
    b = b._new(b.data, replace(b.layout, c_lo=c_lo, c_hi=c_hi))
    return a, b


def _ones(pub: PublicKey, shape) -> np.ndarray:
    out = np.zeros(tuple(shape) + (pub.L,), dtype=np.uint64)
    out[..., 0] = 1
    return out


def _align_rows(a: PackedImage, b: PackedImage) -> tuple[PackedImage, PackedImage]:
    la, lb = a.layout, b.layout
    top = max(la.y0, lb.y0)
    below = max(a.data.shape[0] - la.y0, b.data.shape[0] - lb.y0)

    def grow(img: PackedImage) -> PackedImage:
        lay = img.layout
        pre, post = top - lay.y0, below - (img.data.shape[0] - lay.y0)
        if not pre and not post:
            return img
        pub = img.public_key
        data = np.concatenate([_ones(pub, (pre, lay.M)), img.data, _ones(pub, (post, lay.M))])
        return img._new(data, replace(lay, y0=top))

    return grow(a), grow(b)


# --- horizontal and vertical passes ---------------------------------------------

def _check_capacity(lay: Layout, grow: int) -> None:
    if lay.c_hi + grow > lay.capacity:
        raise ValueError(
            f"packed canvas is full: this filter needs {lay.c_hi + grow - lay.capacity} more "
            f"columns of headroom; encrypt with headroom>={lay.c_hi + grow - lay.c_lo - lay.width}")


def _raised_bases(img: PackedImage | RawPacked, umax: int, workers=None):
    """Bases for horizontal taps: ciphertext (row, m) raised to B^q where needed.

    Returns (flat_bases, lookup) with lookup[q][m] -> base row offset or -1.
    """
    pub, lay = img.public_key, img.layout
    M, R = lay.M, img.data.shape[0]
    qmax = -(-umax // M) if umax > 0 else 0
    blocks = [img.data.reshape(R * M, pub.L)]
    offsets = {0: (0, np.arange(M))}
    count = R * M
    prev_cts = np.arange(M)
    prev = img.data  # (R, M, L) at level q - 1
    for q in range(1, qmax + 1):
        # ciphertext ct is needed at level q when some m - u = ct - q M with u <= umax;
        # those sets shrink with q, so each level is the previous one times B (w squarings)
        first = max(0, q * M - umax)
        cts = np.arange(first, M)
        if len(cts) == 0:
            break
        take = np.searchsorted(prev_cts, cts)
        sel = np.ascontiguousarray(prev[:, take].reshape(-1, pub.L))
        raised, mults = run_batched(pub.mod, "pow2k", [sel], [lay.w], workers=workers)
        COUNTERS["mont_mults"] += mults
        pos = np.full(M, -1, dtype=np.int64)
        pos[cts] = np.arange(len(cts))
        offsets[q] = (count, pos, len(cts))
        blocks.append(raised)
        count += raised.shape[0]
        prev_cts, prev = cts, raised.reshape(R, len(cts), pub.L)
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0], offsets


def _horizontal_index(img: PackedImage | RawPacked, offsets, us: np.ndarray, rows: np.ndarray,
                      ms: np.ndarray) -> np.ndarray:
    """Base index of input (row, column shift u) for outputs (rows, ms); -1 if absent."""
    M = img.layout.M
    d = ms[:, None] - us[None, :]  # (K, taps)
    q = np.where(d < 0, (-d + M - 1) // M, 0)
    ct = d + q * M
    out = np.full(d.shape, -1, dtype=np.int64)
    base0 = rows[:, None] * M
    lvl0 = q == 0
    out[lvl0] = (base0 + ct)[lvl0]
    for lvl, entry in offsets.items():
        if lvl == 0:
            continue
        start, pos, n_ct = entry
        mask = q == lvl
        if not mask.any():
            continue
        p = pos[ct[mask]]
        rr = np.broadcast_to(rows[:, None], d.shape)[mask]
        out[mask] = np.where(p >= 0, start + rr * n_ct + p, -1)
    return out


@dataclass
class RawPacked:
    """Ciphertexts of a packed intermediate that is never decrypted or returned, so its
    slots may hold values beyond the slot range.

    Every packed operation is linear over Z_n (a slot shift is a product with B^q, a
    filter a product of powers, a difference a product with an inverse), so such a
    plaintext still holds the exact integer sum_s v_s B^s; a later result built from it
    decodes correctly iff its own slots fit, which its caller checks (see
    ``hepaillier_core.convolution.sepfilter2d_differences``).  Canvas capacity is
    checked as for any packed image: the columns right of the data must stay zero.
    """

    public_key: PublicKey
    data: np.ndarray  # (rows, M, L)
    layout: Layout
    _bases_cache: dict = field(default_factory=dict)


def correlate_packed(img: PackedImage, kernel: np.ndarray, *, workers=None,
                     progress=False, rows: tuple[int, int] | None = None) -> PackedImage:
    """2-D correlation of the canvas (zeros beyond it), nothing truncated.

    ``rows=(r0, r1)`` computes only those data rows of the output (0 <= r0 <=
    r1 <= input rows + kh - 1) and returns them as the whole image: height
    r1 - r0, y0 = 0 (a 'valid' vertical pass skips the rows it would drop).
    """
    interval = check_slot_interval(img.public_key, img.layout,
                                   filter_interval(img.interval, kernel), "this filter")
    out = correlate_raw(img, kernel, workers=workers, progress=progress, rows=rows)
    return PackedImage(img.public_key, out.data, out.layout, img.scale, interval=interval,
                       check=False)


def correlate_raw(img: PackedImage | RawPacked, kernel: np.ndarray, *, workers=None,
                  progress=False, rows: tuple[int, int] | None = None) -> RawPacked:
    """``correlate_packed`` without the slot-range check (the capacity check stays):
    for intermediates only (see ``RawPacked``)."""
    pub, lay = img.public_key, img.layout
    kh, kw = kernel.shape
    r, c = kh // 2, kw // 2
    plan = TapPlan(kernel)
    _check_capacity(lay, kw - 1)
    R = img.data.shape[0]
    Rout = R + kh - 1
    r0, r1 = (0, Rout) if rows is None else (int(rows[0]), int(rows[1]))
    if not 0 <= r0 <= r1 <= Rout:
        raise ValueError(f"output rows [{r0}, {r1}) are outside the {Rout} rows of this filter")
    umax = kw - 1
    key = (umax, plan.any_negative)
    cached = img._bases_cache.get(key)
    if cached is None:
        flat, offsets = _raised_bases(img, umax, workers)
        cached = (prepare_bases(pub, flat, plan.any_negative, workers), offsets)
        if len(img._bases_cache) >= 2:
            img._bases_cache.clear()
        img._bases_cache[key] = cached
    bases, offsets = cached
    uu, vv = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    row_shift = (kh - 1 - uu).ravel()  # input row = out row - row_shift
    col_shift = (kw - 1 - vv).ravel()  # u for the horizontal lookup
    K = (r1 - r0) * lay.M

    def base_idx_for(lo: int, hi: int) -> np.ndarray:
        o = np.arange(lo, hi, dtype=np.int64)
        orow, om = r0 + o // lay.M, o % lay.M
        out = np.full((hi - lo, kh * kw), -1, dtype=np.int64)
        for t in range(kh * kw):
            irow = orow - row_shift[t]
            ok = (irow >= 0) & (irow < R)
            if not ok.any():
                continue
            col = _horizontal_index(img, offsets, np.array([col_shift[t]]), irow[ok], om[ok])
            out[ok, t] = col[:, 0]
        return out

    cb, done = make_progress(progress, K, "filter")
    try:
        res, _ = run_tiled(pub.mod, bases, plan, K, base_idx_for, workers=workers, progress=cb)
    finally:
        done()
    new = replace(lay, y0=lay.y0 + (kh - 1 - r), x0=lay.x0 + (kw - 1 - c),
                  c_hi=lay.c_hi + kw - 1)
    if rows is not None:
        new = replace(new, y0=0, height=r1 - r0)
    return RawPacked(pub, res.reshape(r1 - r0, lay.M, pub.L), new)


def difference_raw(a: RawPacked, b: RawPacked, interval: tuple[int, int], scale: int,
                   what: str, workers=None) -> PackedImage:
    """a - b of two intermediates of one layout, as a packed image whose slots lie in
    ``interval`` (the caller's exact range of a - b, checked against the slot width here;
    one inversion and one product per ciphertext, as ``a - b`` of packed images)."""
    if a.layout != b.layout or a.data.shape != b.data.shape:
        raise ValueError("packed intermediates of different layouts cannot be subtracted")
    pub = a.public_key
    interval = check_slot_interval(pub, a.layout, interval, what)
    L = pub.L
    inv = flat_invert(pub, b.data.reshape(-1, L), workers)
    out = flat_mulmod(pub, a.data.reshape(-1, L), inv, workers)
    return PackedImage(pub, out.reshape(a.data.shape), a.layout, scale, interval=interval,
                       check=False)


def shift_right(img: PackedImage, delta: int) -> PackedImage:
    """Move the canvas delta columns right (layout only; values unchanged)."""
    if delta <= 0:
        return img
    k = np.zeros((1, delta + 1), dtype=np.int64)
    k[0, 0] = 1  # tap v=0 reads u = delta columns to the left
    out = correlate_packed(img, k)
    # the anchor convention moved x0 by delta - delta//2; the tap moved data by delta
    lay = out.layout
    return out._new(out.data, replace(lay, x0=img.layout.x0 + delta,
                                      c_lo=img.layout.c_lo + delta,
                                      c_hi=img.layout.c_hi + delta))


def subsample_packed(img: PackedImage) -> PackedImage:
    """Keep even logical rows and columns: drop ciphertexts of the other parity."""
    lay = img.layout
    if lay.M % 2:
        raise ValueError("this packed image cannot be subsampled: its row has an odd number "
                         f"of ciphertexts ({lay.M}); encrypt with subsample_levels>=1 (one per "
                         "halving)")
    px = lay.x0 % 2
    rows = img.data[lay.y0 % 2::2]
    data = np.ascontiguousarray(rows[:, px::2])
    new = Layout(w=lay.w, P=lay.P, M=lay.M // 2, height=(lay.height + 1) // 2,
                 width=(lay.width + 1) // 2, y0=lay.y0 // 2, x0=lay.x0 // 2,
                 c_lo=lay.c_lo // 2, c_hi=-(-lay.c_hi // 2))
    return PackedImage(img.public_key, data, new, img.scale, interval=img.interval, check=False)
