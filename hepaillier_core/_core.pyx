# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""Thin Cython layer over the hpc C kernels.

Every method takes and returns C-contiguous ``uint64`` arrays of shape
``(K, L)`` (K numbers of L little-endian limbs) and releases the GIL while
the kernel runs, so Python threads give real parallelism.  No policy lives
here: shapes, bounds, encoding and layout are decided in Python.
"""

from libc.stdint cimport int64_t, uint64_t
from libc.string cimport memset
from cpython.mem cimport PyMem_Malloc, PyMem_Free

import math

import numpy as np

cimport numpy as cnp

cnp.import_array()

cdef extern from "gmp.h":
    ctypedef unsigned long mp_limb_t

cdef extern from "hpc.h" nogil:
    int HPC_OK, HPC_ENOMEM, HPC_ENOINV, HPC_ERANDOM, HPC_ERANGE, HPC_VARTIME
    ctypedef struct hpc_mod:
        int L
    ctypedef struct hpc_fbtab:
        int L, w, nwin
    ctypedef struct hpc_priv:
        int Ln, Ln2, Lp2, Lq2, has_tables, fast
    int hpc_mod_init(hpc_mod *m, const mp_limb_t *N, int L)
    int hpc_mod_lanes(const hpc_mod *m)
    void hpc_mod_free(hpc_mod *m)
    int hpc_check_range(const hpc_mod *m, const mp_limb_t *a, size_t K, size_t *bad)
    int hpc_mulmod(const hpc_mod *m, const mp_limb_t *a, const mp_limb_t *b, mp_limb_t *out, size_t K)
    int hpc_to_mont(const hpc_mod *m, const mp_limb_t *a, mp_limb_t *out, size_t K)
    int hpc_from_mont(const hpc_mod *m, const mp_limb_t *a, mp_limb_t *out, size_t K)
    int hpc_prod(const hpc_mod *m, const mp_limb_t *a, size_t T, mp_limb_t *out, size_t K)
    int hpc_invert(const hpc_mod *m, const mp_limb_t *a, mp_limb_t *out, size_t K)
    int hpc_pow_u64(const hpc_mod *m, const mp_limb_t *a, const uint64_t *e, mp_limb_t *out, size_t K, uint64_t *mults)
    int hpc_pow2k(const hpc_mod *m, const mp_limb_t *a, unsigned s, mp_limb_t *out, size_t K, uint64_t *mults)
    int hpc_powm(const hpc_mod *m, const mp_limb_t *a, const mp_limb_t *e, int Ne, mp_limb_t *out, size_t K)
    int hpc_multiexp(const hpc_mod *m, const mp_limb_t *bases, const int64_t *idx, size_t K_out,
                     size_t T, size_t G, const uint64_t *e, int out_mont, mp_limb_t *out, uint64_t *mults)
    int hpc_fb_init(hpc_fbtab *t, const hpc_mod *m, const mp_limb_t *h, int ebits, int w)
    void hpc_fb_free(hpc_fbtab *t)
    int hpc_priv_init(hpc_priv *k, const mp_limb_t *p, int Lp, const mp_limb_t *q, int Lq,
                      const mp_limb_t *gp, const mp_limb_t *gq, int window, const mp_limb_t *ap,
                      int Lap, const mp_limb_t *aq, int Laq)
    void hpc_priv_free(hpc_priv *k)
    int hpc_owner_encrypt(const hpc_priv *k, const mp_limb_t *res, mp_limb_t *out, size_t K)
    int hpc_decrypt(const hpc_priv *k, const mp_limb_t *ct, mp_limb_t *out, size_t K, int flags,
                    size_t *fallbacks)
    int hpc_decrypt_horner(const hpc_priv *k, const mp_limb_t *ct, size_t K, size_t group,
                           unsigned shift, mp_limb_t *out, int flags, size_t *fallbacks)
    int hpc_pub_encrypt(const hpc_mod *mn2, const mp_limb_t *n, int Ln, const mp_limb_t *res,
                        mp_limb_t *out, size_t K)
    int hpc_pub_encrypt_short(const hpc_mod *mn2, const hpc_fbtab *t, const mp_limb_t *n, int Ln,
                              int abits, const mp_limb_t *res, mp_limb_t *out, size_t K)
    double hpc_bench_mont_mul(const hpc_mod *m, size_t iters, int square)
    int hpc_gm(const mp_limb_t *res, const mp_limb_t *n, int Ln, int L2, mp_limb_t *out, size_t K)
    int hpc_res_from_i64(const int64_t *v, const mp_limb_t *n, int Ln, mp_limb_t *out, size_t K)
    int hpc_res_to_i64(const mp_limb_t *res, const mp_limb_t *n, int Ln, int64_t *out, size_t K, size_t *overflow)
    int hpc_pack_i64(const int64_t *v, size_t P, unsigned w, const mp_limb_t *n, int Ln, mp_limb_t *out, size_t K)
    int hpc_unpack_i64(const mp_limb_t *res, const mp_limb_t *n, int Ln, size_t P, unsigned w, int64_t *out, size_t K)
    int hpc_vec_available()
    void hpc_vec_enable(int on)
    void hpc_vec_forbid()
    int hpc_scalar_redc_asm()

cdef extern from "hpc_ifma.h" nogil:
    int hpc_ifma_supported()

cdef extern from "hpc_dispatch.h" nogil:
    int hpc_kernel(const hpc_mod *m, int fam)
    int hpc_kernel_usable(const hpc_mod *m, int kind, int fam)
    void hpc_kernel_choose(int L, int fam, int kind)
    void hpc_kernel_force(int kind)
    int hpc_kernel_forced()
    double hpc_bench_kernel(const hpc_mod *m, int kind, int fam, size_t iters, int reps)

#: Candidate kernels and kernel families, in the C layer's numbering (hpc_dispatch.h).
KERNELS = ("scalar", "avx2", "ifma")
FAMILIES = ("mul", "sqr", "fold", "conv")

# Called with a limb count whenever a context of that size is made (the
# kernels module measures the candidates there); None: no measurement.
_size_hook = None


def set_size_hook(fn) -> None:
    """Register fn(L) to run when a modulus of L limbs gets a context."""
    global _size_hook
    _size_hook = fn


cdef inline void _sized(int L) except *:
    if _size_hook is not None:
        _size_hook(L)


def kernel_choose(int L, str family, kind) -> None:
    """Record which kernel runs `family` for moduli of L limbs (None forgets it)."""
    hpc_kernel_choose(L, FAMILIES.index(family), -1 if kind is None else KERNELS.index(kind))


def kernel_force(kind) -> None:
    """Run every family on `kind` where it can (None: the measured choices)."""
    hpc_kernel_force(-1 if kind is None else KERNELS.index(kind))


def kernel_forced():
    cdef int k = hpc_kernel_forced()
    return None if k < 0 else KERNELS[k]


def ifma_supported() -> bool:
    """True when the CPU (and this build) can run the AVX-512 IFMA lanes."""
    return bool(hpc_ifma_supported())


def scalar_redc_asm() -> bool:
    """True when scalar reductions use GMP's assembly mpn_redc_1."""
    return bool(hpc_scalar_redc_asm())


def simd_available() -> bool:
    """True when the AVX2 four-lane kernels run (the CPU has AVX2 and they are enabled)."""
    return bool(hpc_vec_available())


def set_simd(on: bool) -> None:
    """Enable or disable the AVX2 kernels process-wide; results are identical either way."""
    hpc_vec_enable(1 if on else 0)


def forbid_simd() -> None:
    """Run as on a CPU without AVX2 for the rest of the process (HEPAILLIER_SIMD=0).

    Call before any key or modulus exists; set_simd(True) cannot undo it."""
    hpc_vec_forbid()


def limbs_of(x: int, L: int) -> np.ndarray:
    """The non-negative int ``x`` as ``L`` little-endian 64-bit limbs."""
    return np.frombuffer(int(x).to_bytes(8 * L, "little"), dtype=np.uint64).copy()


def int_of(limbs) -> int:
    return int.from_bytes(np.ascontiguousarray(limbs, dtype=np.uint64).tobytes(), "little")


def nlimbs(x: int) -> int:
    return max(1, (int(x).bit_length() + 63) // 64)


def _u64_vector(e, size_t K, str msg):
    """e as a contiguous uint64 vector of K entries; negative or too large values refused."""
    arr = e if isinstance(e, np.ndarray) else np.array(e, dtype=object)
    if arr.dtype == object and arr.shape == (K,):
        if not all(isinstance(x, (int, np.integer)) and 0 <= x < 1 << 64 for x in arr):
            raise ValueError("exponents must be non-negative and below 2^64")
        arr = np.array([int(x) for x in arr], dtype=np.uint64)
    if arr.dtype.kind not in "iu" or arr.shape != (K,):
        raise ValueError(msg)
    if arr.dtype.kind == "i" and K and arr.min() < 0:
        raise ValueError("exponents must be non-negative")
    return np.ascontiguousarray(arr, dtype=np.uint64)


cdef inline void _check(int rc) except *:
    if rc == HPC_OK:
        return
    if rc == HPC_ENOMEM:
        raise MemoryError("hepaillier_core: out of memory")
    if rc == HPC_ENOINV:
        raise ValueError("a ciphertext has no inverse modulo n^2 (it shares a factor with n)")
    if rc == HPC_ERANDOM:
        raise OSError("the OS random number generator failed")
    raise ValueError("value out of range")


cdef inline mp_limb_t* _p(const uint64_t[:, ::1] a) noexcept nogil:
    return <mp_limb_t*>&a[0, 0]


# Largest fixed-base table FixedBase builds (the key owner's tables stay within 96 MiB
# per prime); more is a mistake, not a speed-up.
FB_MAX_WINDOW = 16
FB_MAX_BYTES = 1 << 30
# The comb gathers at most this many windows per exponent (hpc.c, fb_exp).
FB_MAX_WINDOWS = 1024


cdef int _odd_modulus_limbs(n, str what) except -1:
    """Limb count of the odd modulus ``n`` >= 3 (every kernel divides by it)."""
    if not isinstance(n, int) or n < 3 or n % 2 == 0:
        raise ValueError(f"{what} must be an odd integer >= 3")
    return nlimbs(n)


cdef _limb_array(a, Py_ssize_t L, str what, int ndim=2):
    """``a`` unchanged when it is a C-contiguous uint64 array of shape (K, L) (or (K, T, L)
    for ndim 3); ValueError otherwise. No conversion: a wrong array is a caller's bug."""
    if (not isinstance(a, np.ndarray) or a.ndim != ndim or a.shape[ndim - 1] != L
            or a.dtype != np.uint64 or not a.flags.c_contiguous):
        shape = "(K, T, %d)" % L if ndim == 3 else "(K, %d)" % L
        raise ValueError(f"{what}: expected a C-contiguous uint64 array of shape {shape}")
    return a


cdef class Mod:
    """Montgomery context for one odd modulus (n^2, p^2 or q^2)."""
    cdef hpc_mod m
    cdef readonly int L
    cdef readonly object modulus

    def __cinit__(self, modulus, bint measure=True):
        modulus = int(modulus)
        if modulus < 3 or modulus % 2 == 0:
            raise ValueError("modulus must be odd and > 2")
        self.modulus = modulus
        self.L = nlimbs(modulus)
        cdef const uint64_t[::1] N = limbs_of(modulus, self.L)
        _check(hpc_mod_init(&self.m, <const mp_limb_t*>&N[0], self.L))
        if measure:
            _sized(self.L)

    def __dealloc__(self):
        if self.m.L:
            hpc_mod_free(&self.m)

    def __reduce__(self):
        return (Mod, (self.modulus,))

    cdef object _out(self, size_t K):
        return np.empty((K, self.L), dtype=np.uint64)

    def _shape_ok(self, a):
        _limb_array(a, self.L, "operand")

    @property
    def lanes(self) -> int:
        """Lanes of the product kernel in use: 8 (AVX-512 IFMA), 4 (AVX2) or 1 (scalar)."""
        return hpc_mod_lanes(&self.m)

    def kernel(self, str family) -> str:
        """The kernel `family` runs on now for this modulus."""
        return KERNELS[hpc_kernel(&self.m, FAMILIES.index(family))]

    def kernel_usable(self, str kind, str family) -> bool:
        return bool(hpc_kernel_usable(&self.m, KERNELS.index(kind), FAMILIES.index(family)))

    def bench_kernel(self, str kind, str family, size_t iters, int reps=1) -> float:
        """CPU seconds per item of `family` on `kind` (min of reps); -1.0 if it cannot run."""
        cdef int k = KERNELS.index(kind), f = FAMILIES.index(family)
        cdef double r
        with nogil:
            r = hpc_bench_kernel(&self.m, k, f, iters, reps)
        return r

    def bench_mont_mul(self, size_t iters=20000, bint square=False) -> float:
        """Seconds per bare Montgomery product at this modulus size (raw rate).

        With AVX2 lanes (``lanes == 4``) this is one lane's share of a four-lane
        product, the unit the batch kernels run on."""
        if iters < 1:
            raise ValueError("iters must be >= 1")
        cdef double r
        with nogil:
            r = hpc_bench_mont_mul(&self.m, iters, square)
        if r < 0:
            raise MemoryError("hepaillier_core: out of memory")
        return r

    def check_range(self, a) -> int:
        """Index of the first element not in [1, N), or -1."""
        self._shape_ok(a)
        cdef size_t K = a.shape[0], bad = 0
        if K == 0:
            return -1
        cdef const uint64_t[:, ::1] av = a
        cdef int rc
        with nogil:
            rc = hpc_check_range(&self.m, _p(av), K, &bad)
        return -1 if rc == HPC_OK else <long>bad

    def mulmod(self, a, b):
        """a[k] b[k] mod N for two (K, L) arrays of the same shape."""
        self._shape_ok(a); self._shape_ok(b)
        if b.shape[0] != a.shape[0]:
            raise ValueError(f"mulmod: operands have {a.shape[0]} and {b.shape[0]} rows")
        cdef size_t K = a.shape[0]
        out = self._out(K)
        if K == 0:
            return out
        cdef const uint64_t[:, ::1] av = a, bv = b
        cdef uint64_t[:, ::1] ov = out
        cdef int rc
        with nogil:
            rc = hpc_mulmod(&self.m, _p(av), _p(bv), <mp_limb_t*>&ov[0, 0], K)
        _check(rc)
        return out

    def to_mont(self, a):
        self._shape_ok(a)
        cdef size_t K = a.shape[0]
        out = self._out(K)
        if K == 0:
            return out
        cdef const uint64_t[:, ::1] av = a
        cdef uint64_t[:, ::1] ov = out
        cdef int rc
        with nogil:
            rc = hpc_to_mont(&self.m, _p(av), <mp_limb_t*>&ov[0, 0], K)
        _check(rc)
        return out

    def from_mont(self, a):
        self._shape_ok(a)
        cdef size_t K = a.shape[0]
        out = self._out(K)
        if K == 0:
            return out
        cdef const uint64_t[:, ::1] av = a
        cdef uint64_t[:, ::1] ov = out
        cdef int rc
        with nogil:
            rc = hpc_from_mont(&self.m, _p(av), <mp_limb_t*>&ov[0, 0], K)
        _check(rc)
        return out

    def prod(self, a):
        """a: (K, T, L) -> (K, L), the product over axis 1."""
        _limb_array(a, self.L, "prod", 3)
        cdef size_t K = a.shape[0], T = a.shape[1]
        out = self._out(K)
        if K == 0:
            return out
        if T == 0:
            out[:] = 0
            out[:, 0] = 1
            return out
        cdef const uint64_t[:, :, ::1] av = a
        cdef uint64_t[:, ::1] ov = out
        cdef int rc
        with nogil:
            rc = hpc_prod(&self.m, <mp_limb_t*>&av[0, 0, 0], T, <mp_limb_t*>&ov[0, 0], K)
        _check(rc)
        return out

    def invert(self, a):
        self._shape_ok(a)
        cdef size_t K = a.shape[0]
        out = self._out(K)
        if K == 0:
            return out
        cdef const uint64_t[:, ::1] av = a
        cdef uint64_t[:, ::1] ov = out
        cdef int rc
        with nogil:
            rc = hpc_invert(&self.m, _p(av), <mp_limb_t*>&ov[0, 0], K)
        _check(rc)
        return out

    def pow_u64(self, a, e):
        """(out, mults): a[k]^e[k] for 0 <= e < 2^64."""
        self._shape_ok(a)
        cdef size_t K = a.shape[0]
        e = _u64_vector(e, K, "pow_u64: one exponent per element expected")
        out = self._out(K)
        if K == 0:
            return out, 0
        cdef const uint64_t[:, ::1] av = a
        cdef const uint64_t[::1] ev = e
        cdef uint64_t[:, ::1] ov = out
        cdef uint64_t mults = 0
        cdef int rc
        with nogil:
            rc = hpc_pow_u64(&self.m, _p(av), &ev[0], <mp_limb_t*>&ov[0, 0], K, &mults)
        _check(rc)
        return out, mults

    def pow2k(self, a, unsigned s):
        """(out, mults): a^(2^s)."""
        self._shape_ok(a)
        cdef size_t K = a.shape[0]
        out = self._out(K)
        if K == 0:
            return out, 0
        cdef const uint64_t[:, ::1] av = a
        cdef uint64_t[:, ::1] ov = out
        cdef uint64_t mults = 0
        cdef int rc
        with nogil:
            rc = hpc_pow2k(&self.m, _p(av), s, <mp_limb_t*>&ov[0, 0], K, &mults)
        _check(rc)
        return out, mults

    def powm(self, a, e):
        """a[k]^e[k] for big exponents given as a (K, Ne) limb array."""
        self._shape_ok(a)
        cdef size_t K = a.shape[0]
        if (not isinstance(e, np.ndarray) or e.ndim != 2 or e.shape[0] != K or e.shape[1] < 1
                or e.dtype != np.uint64 or not e.flags.c_contiguous):
            raise ValueError("exponents must be a C-contiguous (K, Ne) uint64 array, Ne >= 1")
        out = self._out(K)
        if K == 0:
            return out
        cdef int Ne = e.shape[1]
        cdef const uint64_t[:, ::1] av = a, evv = e
        cdef uint64_t[:, ::1] ov = out
        cdef int rc
        with nogil:
            rc = hpc_powm(&self.m, _p(av), _p(evv), Ne, <mp_limb_t*>&ov[0, 0], K)
        _check(rc)
        return out

    def multiexp(self, idx, bases_mont, e, bint out_mont=False):
        """(out, mults): out[o] = prod_t (prod_g bases[idx[o,t,g]])^e[t].

        idx: (K, T, G) int64, -1 = absent; bases_mont: (NB, L) Montgomery form;
        e: (T,) uint64 shared by every output.
        """
        self._shape_ok(bases_mont)
        if (not isinstance(idx, np.ndarray) or idx.ndim != 3 or idx.dtype != np.int64
                or not idx.flags.c_contiguous):
            raise ValueError("idx must be a C-contiguous int64 array of shape (K, T, G)")
        cdef size_t K = idx.shape[0], T = idx.shape[1], G = idx.shape[2]
        e = _u64_vector(e, T, "multiexp: one exponent per term expected")
        cdef long NB = bases_mont.shape[0]
        if K and T and G and (idx.max() >= NB or idx.min() < -1):
            raise IndexError("base index out of range")
        out = self._out(K)
        if K == 0:
            return out, 0
        if T == 0 or G == 0 or NB == 0:
            idx = np.full((K, 1, 1), -1, dtype=np.int64)
            e = np.zeros(1, dtype=np.uint64)
            T = G = 1
            bases_mont = np.ones((1, self.L), dtype=np.uint64)
        cdef const uint64_t[:, ::1] bv = bases_mont
        cdef const int64_t[:, :, ::1] iv = idx
        cdef const uint64_t[::1] ev = e
        cdef uint64_t[:, ::1] ov = out
        cdef uint64_t mults = 0
        cdef int rc
        cdef int om = out_mont
        with nogil:
            rc = hpc_multiexp(&self.m, _p(bv), &iv[0, 0, 0], K, T, G, &ev[0], om,
                              <mp_limb_t*>&ov[0, 0], &mults)
        _check(rc)
        return out, mults


cdef class FixedBase:
    """Comb table for h^x with a fixed base h (Montgomery form inside)."""
    cdef hpc_fbtab t
    cdef readonly Mod mod
    cdef readonly int ebits, window

    def __cinit__(self, Mod mod not None, h, int ebits, int window):
        if not 1 <= window <= FB_MAX_WINDOW:
            raise ValueError(f"window must be 1..{FB_MAX_WINDOW} bits, got {window}")
        if ebits < 1:
            raise ValueError("ebits must be >= 1")
        cdef long nwin = (ebits + window - 1) // window
        if nwin > FB_MAX_WINDOWS:
            raise ValueError(f"{ebits}-bit exponents need {nwin} windows of {window} bits; "
                             f"at most {FB_MAX_WINDOWS} (use a wider window)")
        if nwin * ((1 << window) - 1) * mod.L * 8 > FB_MAX_BYTES:
            raise ValueError(f"a window of {window} bits makes a table above "
                             f"{FB_MAX_BYTES >> 20} MiB")
        self.mod = mod
        self.ebits = ebits
        self.window = window
        cdef const uint64_t[::1] hv = limbs_of(int(h) % mod.modulus, mod.L)
        cdef int rc
        with nogil:
            rc = hpc_fb_init(&self.t, &mod.m, <const mp_limb_t*>&hv[0], ebits, window)
        _check(rc)

    def __dealloc__(self):
        hpc_fb_free(&self.t)


cdef class OwnerKey:
    """Decryption and fast encryption state of a private key (never pickled)."""
    cdef hpc_priv k
    cdef readonly int Ln, Ln2
    cdef readonly bint has_tables, fast
    cdef bint ready

    def __cinit__(self, p, q, gp=None, gq=None, int window=8, alpha_p=None, alpha_q=None):
        """alpha_p | p - 1, alpha_q | q - 1 (fast-decryption keys): the orders of the
        encryption randomness, and then gp, gq generate the subgroups of those orders."""
        p = int(p); q = int(q)
        if p < q:
            p, q, gp, gq, alpha_p, alpha_q = q, p, gq, gp, alpha_q, alpha_p
        _odd_modulus_limbs(p, "p")
        _odd_modulus_limbs(q, "q")
        if p == q:
            raise ValueError("p and q must differ")
        if math.gcd(p * q, (p - 1) * (q - 1)) != 1:
            raise ValueError("not a Paillier key: gcd(n, (p-1)(q-1)) != 1")
        if (gp is None) != (gq is None):
            raise ValueError("give both generators or neither")
        if gp is not None and not (1 < int(gp) < p and 1 < int(gq) < q):
            raise ValueError("generators must lie in 2..p-1 and 2..q-1")
        if gp is not None and not 1 <= window <= FB_MAX_WINDOW:
            raise ValueError(f"window must be 1..{FB_MAX_WINDOW} bits, got {window}")
        if (alpha_p is None) != (alpha_q is None):
            raise ValueError("give both subgroup orders or neither")
        if alpha_p is not None:
            alpha_p = int(alpha_p); alpha_q = int(alpha_q)
            if gp is None:
                raise ValueError("fast-decryption keys need their subgroup generators")
            if not (1 < alpha_p and (p - 1) % alpha_p == 0 and 1 < alpha_q and (q - 1) % alpha_q == 0):
                raise ValueError("alpha_p must divide p - 1 and alpha_q must divide q - 1")
            if pow(int(gp), alpha_p, p) != 1 or pow(int(gq), alpha_q, q) != 1:
                raise ValueError("the generators do not lie in the subgroups of order alpha")
        cdef int Lp = nlimbs(p), Lq = nlimbs(q)
        _sized(nlimbs(p * p))
        _sized(nlimbs(q * q))
        cdef const uint64_t[::1] pv = limbs_of(p, Lp)
        cdef const uint64_t[::1] qv = limbs_of(q, Lq)
        cdef const uint64_t[::1] gpv
        cdef const uint64_t[::1] gqv
        cdef const mp_limb_t *gpp = NULL
        cdef const mp_limb_t *gqp = NULL
        if gp is not None and gq is not None:
            gpv = limbs_of(int(gp), Lp)
            gqv = limbs_of(int(gq), Lq)
            gpp = <const mp_limb_t*>&gpv[0]
            gqp = <const mp_limb_t*>&gqv[0]
        cdef const uint64_t[::1] apv
        cdef const uint64_t[::1] aqv
        cdef const mp_limb_t *app = NULL
        cdef const mp_limb_t *aqp = NULL
        cdef int Lap = 0, Laq = 0
        if alpha_p is not None:
            Lap = nlimbs(alpha_p)
            Laq = nlimbs(alpha_q)
            apv = limbs_of(alpha_p, Lap)
            aqv = limbs_of(alpha_q, Laq)
            app = <const mp_limb_t*>&apv[0]
            aqp = <const mp_limb_t*>&aqv[0]
        cdef int rc
        with nogil:
            rc = hpc_priv_init(&self.k, <const mp_limb_t*>&pv[0], Lp, <const mp_limb_t*>&qv[0], Lq,
                               gpp, gqp, window, app, Lap, aqp, Laq)
        if rc == HPC_ENOINV:
            raise ValueError("not a Paillier key: p, q and n = pq are not invertible where needed")
        _check(rc)
        self.ready = True
        self.Ln = self.k.Ln
        self.Ln2 = self.k.Ln2
        self.has_tables = self.k.has_tables
        self.fast = self.k.fast

    def __dealloc__(self):
        if self.ready:
            hpc_priv_free(&self.k)

    def __reduce__(self):
        raise TypeError("private key state cannot be pickled; save the key explicitly")

    def encrypt(self, res):
        _limb_array(res, self.Ln, "residues")
        cdef size_t K = res.shape[0]
        out = np.empty((K, self.Ln2), dtype=np.uint64)
        if K == 0:
            return out
        cdef const uint64_t[:, ::1] rv = res
        cdef uint64_t[:, ::1] ov = out
        cdef int rc
        with nogil:
            rc = hpc_owner_encrypt(&self.k, _p(rv), <mp_limb_t*>&ov[0, 0], K)
        _check(rc)
        return out

    def decrypt(self, ct, *, bint vartime=False, bint count_fallbacks=False):
        """Residues mod n of (K, Ln2) ciphertexts, in constant time.

        ``vartime=True`` runs the older variable-time path (for benchmarks only).
        ``count_fallbacks=True`` returns (residues, count) where count is how many
        ciphertexts a fast-decryption key had to decrypt the full way."""
        _limb_array(ct, self.Ln2, "ciphertexts")
        cdef size_t K = ct.shape[0], fb = 0
        out = np.empty((K, self.Ln), dtype=np.uint64)
        if K == 0:
            return (out, 0) if count_fallbacks else out
        cdef const uint64_t[:, ::1] cv = ct
        cdef uint64_t[:, ::1] ov = out
        cdef int rc
        cdef int flags = HPC_VARTIME if vartime else 0
        with nogil:
            rc = hpc_decrypt(&self.k, _p(cv), <mp_limb_t*>&ov[0, 0], K, flags, &fb)
        _check(rc)
        return (out, fb) if count_fallbacks else out

    def decrypt_vartime(self, ct):
        """The older variable-time decryption, kept only so benchmarks can compare."""
        return self.decrypt(ct, vartime=True)

    def decrypt_horner(self, ct, size_t group, unsigned shift, *, bint vartime=False):
        """Residues of sum_j m[g*group+j] 2^(j*shift), one per group (constant time
        unless ``vartime``)."""
        _limb_array(ct, self.Ln2, "ciphertexts")
        cdef size_t K = ct.shape[0]
        if group < 1 or (K and group > K):
            raise ValueError("group must be 1..K")
        if shift < 1 or shift > 64 * self.Ln:
            raise ValueError("shift must be 1..bits of n")
        cdef size_t ng = (K + group - 1) // group
        out = np.empty((ng, self.Ln), dtype=np.uint64)
        if K == 0:
            return out
        cdef const uint64_t[:, ::1] cv = ct
        cdef uint64_t[:, ::1] ov = out
        cdef int rc
        cdef int flags = HPC_VARTIME if vartime else 0
        cdef size_t fb = 0
        with nogil:
            rc = hpc_decrypt_horner(&self.k, _p(cv), K, group, shift, <mp_limb_t*>&ov[0, 0],
                                    flags, &fb)
        _check(rc)
        return out


def pub_encrypt(Mod mn2 not None, n, res):
    """Textbook encryption (1 + m n) r^n mod n^2 with r uniform in Z_n^*."""
    n = int(n)
    cdef int Ln = _odd_modulus_limbs(n, "n")
    if mn2.modulus != n * n:
        raise ValueError("the Montgomery context is not for n^2")
    _limb_array(res, Ln, "residues")
    cdef size_t K = res.shape[0]
    out = np.empty((K, mn2.L), dtype=np.uint64)
    if K == 0:
        return out
    cdef const uint64_t[::1] nv = limbs_of(n, Ln)
    cdef const uint64_t[:, ::1] rv = res
    cdef uint64_t[:, ::1] ov = out
    cdef int rc
    with nogil:
        rc = hpc_pub_encrypt(&mn2.m, <const mp_limb_t*>&nv[0], Ln, _p(rv), <mp_limb_t*>&ov[0, 0], K)
    _check(rc)
    return out


def pub_encrypt_short(Mod mn2 not None, FixedBase table not None, n, int abits, res):
    """Short-exponent encryption (1 + m n) hs^a, a uniform below 2^abits."""
    n = int(n)
    cdef int Ln = _odd_modulus_limbs(n, "n")
    if mn2.modulus != n * n:
        raise ValueError("the Montgomery context is not for n^2")
    if table.mod.modulus != mn2.modulus:
        raise ValueError("the fixed-base table was built for another modulus")
    _limb_array(res, Ln, "residues")
    if abits < 1 or abits > table.ebits:
        raise ValueError("abits must be 1..the table's exponent bits")
    cdef size_t K = res.shape[0]
    out = np.empty((K, mn2.L), dtype=np.uint64)
    if K == 0:
        return out
    cdef const uint64_t[::1] nv = limbs_of(n, Ln)
    cdef const uint64_t[:, ::1] rv = res
    cdef uint64_t[:, ::1] ov = out
    cdef int rc
    with nogil:
        rc = hpc_pub_encrypt_short(&mn2.m, &table.t, <const mp_limb_t*>&nv[0], Ln, abits, _p(rv),
                                   <mp_limb_t*>&ov[0, 0], K)
    _check(rc)
    return out


def res_from_i64(v, n):
    """Residues mod n of a 1-D int64 array (negative v -> n - |v|)."""
    n = int(n)
    cdef int Ln = _odd_modulus_limbs(n, "n")
    if n <= 1 << 64:
        raise ValueError("n must exceed 2^64 (residues of int64 values)")
    v = np.ascontiguousarray(v, dtype=np.int64).reshape(-1)
    cdef size_t K = v.shape[0]
    out = np.empty((K, Ln), dtype=np.uint64)
    if K == 0:
        return out
    cdef const uint64_t[::1] nv = limbs_of(n, Ln)
    cdef const int64_t[::1] vv = v
    cdef uint64_t[:, ::1] ov = out
    cdef int rc
    with nogil:
        rc = hpc_res_from_i64(&vv[0], <const mp_limb_t*>&nv[0], Ln, <mp_limb_t*>&ov[0, 0], K)
    _check(rc)
    return out


def res_to_i64(res, n):
    """(values, overflow_count): centred residues as int64."""
    n = int(n)
    cdef int Ln = _odd_modulus_limbs(n, "n")
    _limb_array(res, Ln, "residues")
    cdef size_t K = res.shape[0], ov_count = 0
    out = np.empty(K, dtype=np.int64)
    if K == 0:
        return out, 0
    cdef const uint64_t[::1] nv = limbs_of(n, Ln)
    cdef const uint64_t[:, ::1] rv = res
    cdef int64_t[::1] ov = out
    cdef int rc
    with nogil:
        rc = hpc_res_to_i64(_p(rv), <const mp_limb_t*>&nv[0], Ln, &ov[0], K, &ov_count)
    _check(rc)
    return out, ov_count


def pack_i64(v, unsigned w, n):
    """(K, P) signed slots of w <= 62 bits -> (K, Ln) residues of sum v_s 2^(w s)."""
    if w < 2 or w > 62:
        raise ValueError("slot width must be 2..62 bits")
    n = int(n)
    cdef int Ln = _odd_modulus_limbs(n, "n")
    v = np.ascontiguousarray(v, dtype=np.int64)
    if v.ndim != 2:
        raise ValueError("expected (K, P) slots")
    cdef size_t K = v.shape[0], P = v.shape[1]
    out = np.empty((K, Ln), dtype=np.uint64)
    if K == 0 or P == 0:
        out[:] = 0
        return out
    cdef const uint64_t[::1] nv = limbs_of(n, Ln)
    cdef const int64_t[:, ::1] vv = v
    cdef uint64_t[:, ::1] ov = out
    cdef int rc
    with nogil:
        rc = hpc_pack_i64(&vv[0, 0], P, w, <const mp_limb_t*>&nv[0], Ln, <mp_limb_t*>&ov[0, 0], K)
    _check(rc)
    return out


def unpack_i64(res, n, size_t P, unsigned w):
    """(K, Ln) residues -> (K, P) signed slots of w <= 62 bits."""
    if w < 2 or w > 62:
        raise ValueError("slot width must be 2..62 bits")
    n = int(n)
    cdef int Ln = _odd_modulus_limbs(n, "n")
    _limb_array(res, Ln, "residues")
    cdef size_t K = res.shape[0]
    out = np.empty((K, P), dtype=np.int64)
    if K == 0 or P == 0:
        return out
    cdef const uint64_t[::1] nv = limbs_of(n, Ln)
    cdef const uint64_t[:, ::1] rv = res
    cdef int64_t[:, ::1] ov = out
    cdef int rc
    with nogil:
        rc = hpc_unpack_i64(_p(rv), <const mp_limb_t*>&nv[0], Ln, P, w, &ov[0, 0], K)
    _check(rc)
    return out


def gm(res, n, int L2):
    """Trivial encryptions 1 + m n (no randomness) of residues m < n."""
    n = int(n)
    cdef int Ln = _odd_modulus_limbs(n, "n")
    if L2 != nlimbs(n * n):
        raise ValueError(f"L2 must be the limb count of n^2 ({nlimbs(n * n)})")
    _limb_array(res, Ln, "residues")
    cdef size_t K = res.shape[0]
    out = np.empty((K, L2), dtype=np.uint64)
    if K == 0:
        return out
    cdef const uint64_t[::1] nv = limbs_of(n, Ln)
    cdef const uint64_t[:, ::1] rv = res
    cdef uint64_t[:, ::1] ov = out
    cdef int rc
    with nogil:
        rc = hpc_gm(_p(rv), <const mp_limb_t*>&nv[0], Ln, L2, <mp_limb_t*>&ov[0, 0], K)
    _check(rc)
    return out
