"""Paillier keys (g = n + 1): generation, persistence, python-paillier interop.

The public key is all an evaluator needs.  The private key holds p and q,
decrypts with CRT, and encrypts fast with fixed-base tables (see
``primes``).  Private key state never pickles; it leaves the object only
through an explicit ``save`` to a file created with mode 0600.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import gmpy2
import numpy as np

from . import _core
from .files import atomic_write
from .primes import structured_prime, subgroup_prime, verify_generator
from .subgroup import check_order, exponent_bits, public_base, subgroup_generator

STANDARD_BITS = (2048, 3072, 4096)  # below 2048 (1024 included) needs insecure=True
MAX_KEY_BITS = 16384  # larger n (e.g. from an untrusted header) is refused before any work
_PUBLIC_KIND = "hesift-paillier-public-key"
_PRIVATE_KIND = "hesift-paillier-private-key"


def _read_json(path: str | os.PathLike, kind: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise FileNotFoundError(f"key file not found: {path}") from None
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not a valid key file (bad JSON: {e.msg})") from None
    if not isinstance(obj, dict) or obj.get("kind") != kind:
        found = obj.get("kind") if isinstance(obj, dict) else type(obj).__name__
        raise ValueError(f"{path}: expected a {kind} file, found {found!r}")
    return obj


def _hex_int(obj: dict, field: str) -> int:
    try:
        return int(obj[field], 16)
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"key file field {field!r} is missing or not hex") from None


class PublicKey:
    """Paillier public key n (g = n + 1). Enough to encrypt and to evaluate.

    ``subgroup=(h, exponent_bits)`` marks a fast-decryption key: every encryption
    uses r = h^x with x uniform below 2^exponent_bits (h of order alpha_p alpha_q).
    """

    def __init__(self, n: int, subgroup: tuple[int, int] | None = None):
        n = int(n)
        if n < 15 or n % 2 == 0:
            raise ValueError("n must be an odd composite > 15")
        if n.bit_length() > MAX_KEY_BITS:
            raise ValueError(f"n has {n.bit_length()} bits, over the {MAX_KEY_BITS}-bit limit")
        self.n = n
        self.nsquare = n * n
        self.bits = n.bit_length()
        self.Ln = _core.nlimbs(n)
        self.L = _core.nlimbs(self.nsquare)
        self.max_plain = (n - 1) // 2
        self.fingerprint = hashlib.sha256(n.to_bytes((self.bits + 7) // 8, "big")).hexdigest()[:16]
        self._mod: _core.Mod | None = None
        self._short: tuple[_core.FixedBase, int] | None = None
        self._lock = threading.Lock()
        self.subgroup: tuple[int, int] | None = None
        if subgroup is not None:
            h, ebits = int(subgroup[0]), int(subgroup[1])
            if not (1 < h < self.nsquare and math.gcd(h, n) == 1):
                raise ValueError("subgroup base h must be a unit mod n^2 other than 1")
            if not 64 <= ebits <= self.bits:
                raise ValueError("subgroup exponent bits out of range")
            self.subgroup = (h, ebits)

    @property
    def fast_decrypt(self) -> bool:
        """True for a fast-decryption (subgroup) key."""
        return self.subgroup is not None

    # --- plumbing ------------------------------------------------------
    @property
    def mod(self) -> _core.Mod:
        """Montgomery context for n^2 (shared by every op under this key)."""
        if self._mod is None:
            with self._lock:
                if self._mod is None:
                    self._mod = _core.Mod(self.nsquare)
        return self._mod

    def _short_table(self) -> tuple[_core.FixedBase, int]:
        if self._short is None:
            mod = self.mod  # before the (non-reentrant) lock: the property takes it too
            with self._lock:
                if self._short is None:
                    if self.subgroup is not None:
                        hs, abits = self.subgroup
                    else:
                        y = secrets.randbelow(self.n - 2) + 2
                        hs = pow((-(y * y)) % self.n, self.n, self.nsquare)
                        abits = max(256, self.bits // 2)
                    self._short = (_core.FixedBase(mod, hs, abits, 8), abits)
        return self._short

    def encrypt_residues(
        self, res: np.ndarray, *, short_exponent: bool = False, workers=None, progress=None
    ) -> np.ndarray:
        """Encrypt residues mod n given as (K, Ln) limbs -> (K, L) ciphertext limbs."""
        from .parallel import run_batched

        short_exponent = short_exponent or self.subgroup is not None
        if short_exponent:  # a fast-decryption key's randomness always comes from its subgroup
            table, abits = self._short_table()
            enc = _ShortEncryptor(self.mod, table, self.n, abits)
        else:
            enc = _PublicEncryptor(self.mod, self.n)
        return run_batched(enc, "encrypt", [res], workers=workers, progress=progress,
                           allow_process=not short_exponent)

    def trivial(self, res: np.ndarray) -> np.ndarray:
        """1 + m n: a deterministic encryption, only for adding known plaintexts."""
        return _core.gm(np.ascontiguousarray(res), self.n, self.L)

    # --- the user API ----------------------------------------------------
    def encrypt(self, values, scale: int = 1, *, pack: bool = False, short_exponent: bool = False,
                workers: int | None = None, executor=None, progress=False, **pack_options):
        """Encrypt an int array (or floats with a fixed-point ``scale``).

        ``short_exponent=True`` uses r = hs^a with a of |n|/2 bits (as HEU and
        IPCL do): much faster, but its security rests on the extra
        small-exponent assumption of Damgård–Jurik–Nielsen; off by default.
        Fast-decryption keys always encrypt with their subgroup's short exponents.
        ``pack=True`` packs a 2-D image, many pixels per ciphertext.
        ``executor``: 'thread', 'process' or a ``dask.distributed.Client``.
        """
        from .encrypting import encrypt_any
        from .parallel import using

        with using(executor):
            return encrypt_any(self, None, values, scale, pack=pack,
                               short_exponent=short_exponent, workers=workers,
                               progress=progress, **pack_options)

    # --- persistence -----------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"kind": _PUBLIC_KIND, "bits": self.bits, "n": format(self.n, "x"),
                               "fingerprint": self.fingerprint}
        if self.subgroup is not None:
            obj["fast_decrypt"] = {"h": format(self.subgroup[0], "x"),
                                   "exponent_bits": self.subgroup[1]}
        return obj

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> PublicKey:
        if obj.get("kind") != _PUBLIC_KIND:
            raise ValueError(f"expected a {_PUBLIC_KIND}, found {obj.get('kind')!r}")
        sub = obj.get("fast_decrypt")
        subgroup = None
        if sub is not None:
            if not isinstance(sub, dict) or not isinstance(sub.get("exponent_bits"), int):
                raise ValueError("key file field 'fast_decrypt' is malformed")
            subgroup = (_hex_int(sub, "h"), sub["exponent_bits"])
        key = cls(_hex_int(obj, "n"), subgroup)
        if obj.get("fingerprint") not in (None, key.fingerprint):
            raise ValueError("public key file is corrupted: fingerprint does not match n")
        return key

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json()).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        try:
            return cls.from_json(json.loads(data))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ValueError("not a serialized public key") from None

    def save(self, path: str | os.PathLike) -> None:
        data = json.dumps(self.to_json(), indent=1).encode()
        atomic_write(path, lambda f: f.write(data), 0o644)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PublicKey:
        return cls.from_json(_read_json(path, _PUBLIC_KIND))

    def to_phe(self):
        import phe

        return phe.PaillierPublicKey(self.n)

    @classmethod
    def from_phe(cls, key) -> PublicKey:
        if int(key.g) != int(key.n) + 1:
            raise ValueError("only keys with g = n + 1 interoperate")
        return cls(int(key.n))

    # --- identity ----------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.n == self.n

    def __hash__(self) -> int:
        return hash(("PublicKey", self.n))

    def __repr__(self) -> str:
        return f"<PublicKey {self.bits}-bit {self.fingerprint}>"

    def __reduce__(self):
        return (PublicKey, (self.n, self.subgroup))


class _PublicEncryptor:
    """Picklable bundle for public-key encryption in worker processes."""

    def __init__(self, mod, n):
        self.mod, self.n = mod, n

    def encrypt(self, res):
        return _core.pub_encrypt(self.mod, self.n, np.ascontiguousarray(res))

    def task_key(self) -> tuple:
        return ("public-encryptor", self.n)


class _ShortEncryptor:
    def __init__(self, mod, table, n, abits):
        self.mod, self.table, self.n, self.abits = mod, table, n, abits

    def encrypt(self, res):
        return _core.pub_encrypt_short(self.mod, self.table, self.n, self.abits,
                                       np.ascontiguousarray(res))

    def __reduce__(self):  # tables are rebuilt per process only through threads
        raise TypeError("short-exponent tables run on threads")


def _table_window(prime_bits: int, exp_bits: int | None = None) -> int:
    """Largest comb window whose table for one prime stays within 96 MiB (the
    key owner trades memory for encryption speed: 2048-bit keys use window 12).
    ``exp_bits``: the exponent's size when it is not the prime's (subgroup keys)."""
    entry = _core.nlimbs(1 << (2 * prime_bits)) * 8
    exp_bits = exp_bits or prime_bits
    best = 4
    for w in range(4, 13):
        size = -(-exp_bits // w) * ((1 << w) - 1) * entry
        if size <= 96 << 20:
            best = w
    return best


def _make_owner(p: int, q: int, gen, alphas) -> _core.OwnerKey:
    """The C state of a private key (looked up through ``_core`` at call time, so
    ``forbid_private_keys`` can refuse it)."""
    if gen is None:
        return _core.OwnerKey(p, q)
    gp, gq, _, _ = gen
    if alphas is None:
        return _core.OwnerKey(p, q, gp, gq, _table_window(p.bit_length()))
    ap, aq = alphas
    w = _table_window(p.bit_length(), ap.bit_length())
    return _core.OwnerKey(p, q, subgroup_generator(p, gp, ap), subgroup_generator(q, gq, aq), w,
                          ap, aq)


_PRIVATE_KEYS = {"forbidden": False}


def forbid_private_keys() -> None:
    """One-way, process-wide switch for evaluator processes: from now on constructing a
    ``PrivateKey`` (directly, by ``load``/``from_phe`` or ``generate_keypair``) or the C
    decryption state raises RuntimeError.  There is no way back in the same process."""
    _PRIVATE_KEYS["forbidden"] = True

    def refuse(*args: Any, **kwargs: Any) -> None:
        _refuse_private()

    _core.OwnerKey = refuse  # the C decryption state is built only through this name


def private_keys_forbidden() -> bool:
    """True in a process that called :func:`forbid_private_keys`."""
    return bool(_PRIVATE_KEYS["forbidden"])


def _refuse_private() -> None:
    if _PRIVATE_KEYS["forbidden"]:
        raise RuntimeError("this process is an evaluator: private keys are forbidden here "
                           "(hepaillier_core.forbid_private_keys)")


class PrivateKey:
    """Paillier private key (p, q): decrypts, and encrypts fast for its owner."""

    def __init__(self, public_key: PublicKey, p: int, q: int, *, gp: int | None = None,
                 gq: int | None = None, p_factors: list[int] | None = None,
                 q_factors: list[int] | None = None, alpha_p: int | None = None,
                 alpha_q: int | None = None):
        _refuse_private()
        p, q = int(p), int(q)
        if p == q or p * q != public_key.n:
            raise ValueError("p * q does not equal the public key's n")
        if p < q:
            p, q, gp, gq, p_factors, q_factors = q, p, gq, gp, q_factors, p_factors
            alpha_p, alpha_q = alpha_q, alpha_p
        if math.gcd(public_key.n, (p - 1) * (q - 1)) != 1:
            raise ValueError("invalid Paillier key: gcd(n, phi(n)) != 1")
        self.public_key = public_key
        self.p, self.q = p, q
        self._gen = None
        if gp is not None and gq is not None:
            self._gen = (int(gp), int(gq), list(p_factors or []), list(q_factors or []))
        self._alphas: tuple[int, int] | None = None
        if (alpha_p is None) != (alpha_q is None):
            raise ValueError("give both subgroup orders or neither")
        if alpha_p is not None:
            if self._gen is None:
                raise ValueError("a fast-decryption key needs its generators")
            ap, aq = int(alpha_p), int(alpha_q)
            check_order(ap, p, "alpha_p")
            check_order(aq, q, "alpha_q")
            h = public_base(p, q, self._gen[0], self._gen[1], ap, aq)
            if public_key.subgroup is None or public_key.subgroup[0] != h:
                raise ValueError("the public key does not carry this key's subgroup base h")
            self._alphas = (ap, aq)
        elif public_key.subgroup is not None:
            raise ValueError("a fast-decryption public key needs the subgroup orders")
        self._owner: _core.OwnerKey | None = None
        self._lock = threading.Lock()

    @property
    def owner(self) -> _core.OwnerKey:
        """C state for decryption and table-based encryption (built on first use)."""
        if self._owner is None:
            with self._lock:
                if self._owner is None:
                    self._owner = _make_owner(self.p, self.q, self._gen, self._alphas)
        return self._owner

    @property
    def fast_decrypt(self) -> bool:
        """True for a fast-decryption (subgroup) key."""
        return self._alphas is not None

    def precompute(self) -> PrivateKey:
        """Build the decryption state and encryption tables now (else on first use)."""
        _ = self.owner
        return self

    @property
    def has_fast_encryption(self) -> bool:
        """True when the key carries certified generators (keys made here)."""
        return self._gen is not None

    def task_owner(self) -> tuple[Any, bool]:
        """(object running private-key kernels, may it leave this process).

        The local C state, except when the caller allowed private-key work on a
        process pool or cluster (``hc.using(..., allow_private=True)``): then a
        picklable stand-in that carries p and q and rebuilds the state there.
        """
        from .parallel import private_allowed

        if private_allowed():
            return _ShippedOwner(self), True
        return self.owner, False

    def encrypt_residues(self, res: np.ndarray, *, workers=None, progress=None) -> np.ndarray:
        from .parallel import run_batched

        owner, ship = self.task_owner()
        return run_batched(owner, "encrypt", [np.ascontiguousarray(res)], workers=workers,
                           allow_process=ship, progress=progress)

    def encrypt(self, values, scale: int = 1, *, pack: bool = False, workers: int | None = None,
                executor=None, allow_private: bool = False, progress=False, **pack_options):
        """Encrypt as the key owner: exactly the textbook distribution, much faster.

        ``pack=True`` packs a 2-D image, many pixels per ciphertext (see
        ``PackedImage``); options: bits_per_slot, bound, pad, pad_mode,
        headroom, subsample_levels.  The work stays on local threads even when
        ``executor`` (or ``hc.set_executor``) is a process pool or a Dask
        cluster, unless ``allow_private=True``, which sends p and q there.
        Not constant-time (the comb reads its table at secret digits): run it
        only on a machine the key owner trusts; decryption is constant-time.
        """
        from .encrypting import encrypt_any
        from .parallel import using

        with using(executor, allow_private=allow_private):
            return encrypt_any(self.public_key, self, values, scale, pack=pack,
                               short_exponent=False, workers=workers, progress=progress,
                               **pack_options)

    def decrypt(self, x, *, workers: int | None = None, executor=None,
                allow_private: bool = False, progress=False) -> np.ndarray:
        """Decrypt an EncryptedArray or PackedImage to a NumPy array.

        int64 when every value fits, Python ints (object) otherwise; float64
        when the array carries a fixed-point scale other than 1.  Runs on local
        threads unless ``allow_private=True`` with a process/Dask ``executor``.
        """
        from .decrypting import decrypt_any
        from .parallel import using

        with using(executor, allow_private=allow_private):
            return decrypt_any(self, x, workers=workers, progress=progress)

    def decrypt_image(self, x, dtype=np.uint8, *, workers: int | None = None, executor=None,
                      allow_private: bool = False, progress=False) -> np.ndarray:
        """Decrypt to a picture: round(value / scale) clipped to 0..255 as uint8,
        or value / scale as float when ``dtype`` is a float type."""
        from .decrypting import decrypt_image
        from .parallel import using

        with using(executor, allow_private=allow_private):
            return decrypt_image(self, x, dtype, workers=workers, progress=progress)

    # --- persistence -------------------------------------------------------
    def _to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"kind": _PRIVATE_KIND, "bits": self.public_key.bits,
                               "n": format(self.public_key.n, "x"), "p": format(self.p, "x"),
                               "q": format(self.q, "x"),
                               "fingerprint": self.public_key.fingerprint}
        if self._gen is not None:
            gp, gq, pf, qf = self._gen
            obj.update(gp=format(gp, "x"), gq=format(gq, "x"),
                       p_factors=[format(f, "x") for f in pf],
                       q_factors=[format(f, "x") for f in qf])
        if self._alphas is not None:
            obj["fast_decrypt"] = {"alpha_p": format(self._alphas[0], "x"),
                                   "alpha_q": format(self._alphas[1], "x")}
        return obj

    def save(self, path: str | os.PathLike) -> None:
        """Write the private key as JSON to a file created with mode 0600."""
        data = json.dumps(self._to_json(), indent=1).encode()
        atomic_write(path, lambda f: f.write(data), 0o600)

    @classmethod
    def load(cls, path: str | os.PathLike) -> PrivateKey:
        obj = _read_json(path, _PRIVATE_KIND)
        p, q = _hex_int(obj, "p"), _hex_int(obj, "q")
        fast = obj.get("fast_decrypt")
        alphas = None
        if fast is not None:
            if not isinstance(fast, dict) or "gp" not in obj:
                raise ValueError(f"{path}: corrupted key file (malformed fast_decrypt)")
            alphas = (_hex_int(fast, "alpha_p"), _hex_int(fast, "alpha_q"))
        pub = PublicKey(_hex_int(obj, "n"))
        if obj.get("fingerprint") not in (None, pub.fingerprint):
            raise ValueError(f"{path}: corrupted key file (fingerprint does not match n)")
        if p * q != pub.n or not gmpy2.is_prime(p, 40) or not gmpy2.is_prime(q, 40):
            raise ValueError(f"{path}: corrupted key file (p, q do not factor n)")
        kw: dict[str, Any] = {}
        if "gp" in obj:
            gp, gq = _hex_int(obj, "gp"), _hex_int(obj, "gq")
            pf = [int(f, 16) for f in obj.get("p_factors", [])]
            qf = [int(f, 16) for f in obj.get("q_factors", [])]
            if not (verify_generator(gp, p, pf) and verify_generator(gq, q, qf)):
                raise ValueError(f"{path}: corrupted key file (generator check failed)")
            kw = dict(gp=gp, gq=gq, p_factors=pf, q_factors=qf)
        if alphas is not None:
            try:
                check_order(alphas[0], p, "alpha_p")
                check_order(alphas[1], q, "alpha_q")
            except ValueError as e:
                raise ValueError(f"{path}: corrupted key file ({e})") from None
            h = public_base(p, q, kw["gp"], kw["gq"], *alphas)
            pub = PublicKey(pub.n, (h, exponent_bits(*alphas)))
            kw.update(alpha_p=alphas[0], alpha_q=alphas[1])
        return cls(pub, p, q, **kw)

    def to_phe(self):
        import phe

        return phe.PaillierPrivateKey(self.public_key.to_phe(), self.p, self.q)

    @classmethod
    def from_phe(cls, key) -> PrivateKey:
        """Import a python-paillier key (encryption then uses the exact but slower
        Teichmüller sampler: phe's primes come with no certified generator)."""
        return cls(PublicKey.from_phe(key.public_key), int(key.p), int(key.q))

    def __repr__(self) -> str:
        return f"<PrivateKey for {self.public_key!r}>"

    def __reduce__(self):
        raise TypeError("private keys cannot be pickled; use PrivateKey.save(path) explicitly")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and other.public_key == self.public_key

    def __hash__(self) -> int:
        return hash(("PrivateKey", self.public_key.n))


class _ShippedOwner:
    """The key owner's kernels on another process: p and q travel, the C state is
    rebuilt there once (only when the caller passed ``allow_private=True``)."""

    def __init__(self, priv: PrivateKey):
        self.p, self.q, self.gen, self.alphas = priv.p, priv.q, priv._gen, priv._alphas
        self.fingerprint = priv.public_key.fingerprint
        self._owner: _core.OwnerKey | None = None
        self._lock = threading.Lock()

    def task_key(self) -> tuple:
        return ("owner", self.fingerprint)

    def __getstate__(self):
        return {"p": self.p, "q": self.q, "gen": self.gen, "fingerprint": self.fingerprint}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._owner, self._lock = None, threading.Lock()

    @property
    def owner(self) -> _core.OwnerKey:
        if self._owner is None:
            with self._lock:
                if self._owner is None:
                    self._owner = _make_owner(self.p, self.q, self.gen, self.alphas)
        return self._owner

    def encrypt(self, res: np.ndarray) -> np.ndarray:
        return self.owner.encrypt(res)

    def decrypt(self, ct: np.ndarray) -> np.ndarray:
        return self.owner.decrypt(ct)

    def horner(self, grouped: np.ndarray, group: int, w: int) -> np.ndarray:
        flat = np.ascontiguousarray(grouped.reshape(-1, grouped.shape[-1]))
        return self.owner.decrypt_horner(flat, group, w)


def generate_keypair(bits: int = 2048, *, insecure: bool = False,
                     fast_decrypt: bool = False) -> tuple[PublicKey, PrivateKey]:
    """A fresh (PublicKey, PrivateKey) with an n of exactly ``bits`` bits.

    ``bits`` is 2048 (default), 3072 or 4096; smaller sizes (1024 and down to
    128) need ``insecure=True`` and are for tests only (1024-bit RSA-size moduli
    are below every current recommendation).

    ``fast_decrypt=True`` makes a subgroup key (Paillier's scheme 3): primes with
    256-bit prime factors alpha_p | p - 1 and alpha_q | q - 1, encryption randomness
    of order alpha_p alpha_q, decryption ~4x faster at 2048 bits.  Its security rests
    on an extra assumption (see the README's "Fast-decryption keys"); off by default.
    """
    _refuse_private()
    if not isinstance(bits, int) or isinstance(bits, bool):
        raise TypeError("bits must be an int")
    if bits not in STANDARD_BITS:
        if not insecure:
            raise ValueError(f"bits must be one of {STANDARD_BITS} (smaller only with insecure=True)")
        if bits < 128 or bits % 2 or bits > 8192:
            raise ValueError("insecure test keys must have an even bit size in 128..8192")
    half = bits // 2
    if fast_decrypt:
        return _generate_fast(bits)
    while True:
        p, gp, pf = structured_prime(half)
        q, gq, qf = structured_prime(half)
        n = p * q
        if p != q and n.bit_length() == bits and math.gcd(n, (p - 1) * (q - 1)) == 1:
            break
    pub = PublicKey(n)
    return pub, PrivateKey(pub, p, q, gp=gp, gq=gq, p_factors=pf, q_factors=qf)


def _generate_fast(bits: int) -> tuple[PublicKey, PrivateKey]:
    half = bits // 2
    while True:
        p, gp, pf, ap = subgroup_prime(half)
        q, gq, qf, aq = subgroup_prime(half)
        n = p * q
        if (p != q and ap != aq and n.bit_length() == bits
                and math.gcd(n, (p - 1) * (q - 1)) == 1):
            break
    if p < q:
        p, q, gp, gq, pf, qf, ap, aq = q, p, gq, gp, qf, pf, aq, ap
    pub = PublicKey(n, (public_base(p, q, gp, gq, ap, aq), exponent_bits(ap, aq)))
    return pub, PrivateKey(pub, p, q, gp=gp, gq=gq, p_factors=pf, q_factors=qf, alpha_p=ap,
                           alpha_q=aq)
