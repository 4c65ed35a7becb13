"""Time and memory of encrypted work, estimated before it starts.

One cost model for every entry point that encrypts an image (``hesift filter``,
``hesift sift``, ``hesift gallery add``, the web page).  Work is counted in
Montgomery products of the two modulus sizes the pipelines use:

- ``p2``: products mod p² or q² (``key_bits`` wide): key-owner encryption (a
  fixed-base comb over both primes), CRT decryption, key generation;
- ``n2``: products mod n² (``2 * key_bits`` wide): the evaluator's filters.

The *count* of products per ciphertext is a property of the algorithms
(exponent lengths, windows, taps); the *cost* of one product is measured once
per process on this machine (``Mod.bench_mont_mul``, the kernel the batch
paths run: AVX2 lanes or scalar GMP), so the same model fits a fast and a slow
CPU.  CPU seconds are divided by the workers that can run at once for the
wall-clock figure.  The coefficients below were fitted on 2048-bit runs of
each pipeline (docs/cli.md has the check: estimate vs measured at 256², 512²,
1024²) and are kept as product counts, never as seconds.

:func:`check` refuses an estimate above ``max_time`` / ``max_memory`` with a
message that names the knobs (``--max-time``, ``--max-memory``, ``--max-side``).
"""

from __future__ import annotations

import math
import os
import secrets
import threading
import time
from dataclasses import dataclass, field

from hesift.errors import SizeRefusedError

__all__ = [
    "DEFAULT_MAX_TIME",
    "Estimate",
    "EstimateRefused",
    "check",
    "ciphertexts_per_plane",
    "estimate_decrypt",
    "estimate_encrypt",
    "estimate_evaluator",
    "estimate_filter",
    "estimate_gallery_add",
    "estimate_sift",
    "format_seconds",
    "parse_duration",
    "product_seconds",
    "resize_to_max_side",
]

#: Default --max-time: refuse work estimated above one hour (raise it to go on).
DEFAULT_MAX_TIME = 3600.0

# --- product counts (fitted on 2048-bit runs with the measured kernels -- AVX-512 IFMA
# products, constant-time decryption in the IFMA lanes -- see the module doc) ---------------------------
ENC_P2_PER_CT = 450.0  # key-owner packed encryption: comb exponent mod p² and q², CRT
DEC_P2_PER_KEY_BIT = 1.3  # filter result: CRT decryption plus unpacking the slots
SIFT_DEC = 1.16  # HESIFT DoG row ciphertext: CRT decryption straight into int64 slots
FAST_DECRYPT_EXPONENT_BITS = 256  # fast-decryption (subgroup) keys: exponent per prime
COMB_P2_PER_KEY_BIT = 2700.0  # first use of a key: the fixed-base comb tables of both primes
KEYGEN_P2_PER_KEY_BIT = 290.0  # prime search (structured primes) and the key's own tables
FILTER_N2_PER_TAP = 13.0  # evaluator: one distinct |tap| of one filter pass, per output ct
FILTER_N2_FIXED = 20.0  # evaluator: slot shifts, inverses and sums per output ciphertext
SIFT_EVAL_PER_PRODUCT = 1.86  # HESIFT evaluator: n2-product cost per counted tap product
SIFT_PLAIN_S_PER_PX = 4e-6  # key owner's plaintext SIFT steps, CPU seconds per base pixel
COMB_WINDOW = 12


class EstimateRefused(SizeRefusedError):
    """The estimated work is over a limit; the message names the knobs to change."""


@dataclass
class Estimate:
    """Predicted cost of one piece of work."""

    what: str
    cpu_seconds: float
    seconds: float  # wall clock with ``workers`` running at once
    memory: int  # peak bytes of ciphertexts and tables
    workers: int
    stages: dict[str, float] = field(default_factory=dict)  # wall seconds per stage
    note: str = ""

    def describe(self) -> str:
        """One line: 'estimate: about 2 min 10 s (4.3 CPU-min on 2 workers), 310 MiB'."""
        from hesift.io import human_bytes

        parts = ", ".join(f"{k} {format_seconds(v)}" for k, v in self.stages.items() if v >= 0.05)
        return (f"estimate for {self.what}: about {format_seconds(self.seconds)} "
                f"({format_seconds(self.cpu_seconds)} CPU on {self.workers} worker"
                f"{'s' if self.workers != 1 else ''}), {human_bytes(self.memory)} of memory"
                + (f" [{parts}]" if parts else "") + (f"; {self.note}" if self.note else ""))

    def versus(self, actual_seconds: float) -> str:
        """'took 2 min 3 s (estimate 2 min 10 s, ratio 0.95)'."""
        r = actual_seconds / self.seconds if self.seconds > 0 else float("inf")
        return (f"took {format_seconds(actual_seconds)} (estimated {format_seconds(self.seconds)}, "
                f"actual/estimate {r:.2f})")

    def to_dict(self) -> dict:
        return {"what": self.what, "seconds": round(self.seconds, 3),
                "cpu_seconds": round(self.cpu_seconds, 3), "memory": int(self.memory),
                "workers": self.workers, "stages": {k: round(v, 3) for k, v in self.stages.items()}}

    def __add__(self, other: Estimate) -> Estimate:
        stages = dict(self.stages)
        for k, v in other.stages.items():
            stages[k] = stages.get(k, 0.0) + v
        return Estimate(self.what, self.cpu_seconds + other.cpu_seconds,
                        self.seconds + other.seconds, max(self.memory, other.memory),
                        max(self.workers, other.workers), stages, self.note or other.note)


# --- the calibrated unit ------------------------------------------------------------

_units: dict[tuple[int, int], float] = {}
_units_lock = threading.Lock()


def product_seconds(bits: int) -> float:
    """CPU seconds of one Montgomery product at a ``bits``-wide odd modulus, measured once
    per process on this machine.  With ``hc.kernel_info()`` (the core times every kernel
    per modulus size and picks the fastest) it is the chosen kernel's own calibrated
    product time; otherwise ``Mod.bench_mont_mul`` timed with this thread's CPU clock,
    best of three ~5 ms runs (a busy machine does not inflate either)."""
    from hepaillier_core._core import Mod

    bits = int(bits)
    key = (bits, _simd_state())
    with _units_lock:
        if key not in _units:
            m = Mod(secrets.randbits(bits) | 1 | (1 << (bits - 1)))  # calibrates this size
            _units[key] = _kernel_info_product(int(m.L)) or _bench_product(m, bits)
        return _units[key]


def _kernel_info_product(limbs: int) -> float | None:
    try:
        import hepaillier_core as hc

        info = hc.kernel_info()
    except (AttributeError, ImportError):
        return None
    rec = info.get("sizes", {}).get(limbs)
    if not rec:
        return None
    kernel = info.get("override") or rec["chosen"].get("mul")
    ns = rec["ns_per_item"].get("mul", {}).get(kernel)
    return float(ns) * 1e-9 if ns else None


def _bench_product(m, bits: int) -> float:
    lanes = max(1, int(getattr(m, "lanes", 1)))
    iters = max(100, int(4e9 / (bits * bits)))  # ~5 ms per run at any size
    m.bench_mont_mul(min(iters, 200))  # warm up
    best = float("inf")
    for _ in range(3):
        t0 = time.thread_time()
        m.bench_mont_mul(iters)
        best = min(best, (time.thread_time() - t0) / (iters * lanes))
    return best


def _simd_state() -> str:
    """Which kernels may run (a forced kernel or SIMD switch changes the unit)."""
    import hepaillier_core as hc

    try:
        return str(hc.kernel_info().get("override"))
    except Exception:  # pragma: no cover - an older core without kernel_info
        try:
            return str(hc.simd_available())
        except Exception:
            return ""


def effective_workers(workers: int | None) -> int:
    """How many of the crypto workers can run at once (never more than the cores)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = max(1, cores or 1)
    if workers is None:
        import hepaillier_core as hc

        workers = hc.get_workers()
    return max(1, min(int(workers), cores))


# --- counting ciphertexts -----------------------------------------------------------


def ciphertexts_per_plane(height: int, width: int, key_bits: int, bits_per_slot: int,
                          pad: int, headroom: int = 64, pack: bool = True) -> int:
    """Ciphertexts of one encrypted plane (the packed layout of hepaillier_core)."""
    if not pack:
        return height * width
    slots = max(1, (int(key_bits) - 2) // max(1, int(bits_per_slot)))
    per_row = -(-(width + 2 * pad + headroom) // slots)
    return (height + 2 * pad) * per_row


def distinct_taps(taps) -> int:
    """Taps that cost an exponentiation: equal |weights| share one (a symmetric kernel of
    2r+1 taps costs r+1), zero taps cost nothing."""
    import numpy as np

    a = np.abs(np.asarray(taps, dtype=np.int64).ravel())
    return len(set(a[a != 0].tolist()))


def ciphertext_bytes(key_bits: int) -> int:
    return 8 * math.ceil(2 * key_bits / 64)


def comb_bytes(key_bits: int) -> int:
    """The key owner's fixed-base tables (both primes), built on the key's first use."""
    half = key_bits // 2
    return 2 * math.ceil(half / COMB_WINDOW) * (1 << COMB_WINDOW) * (key_bits // 8)


def _finish(what: str, p2: dict[str, float], n2: dict[str, float], plain: dict[str, float],
            key_bits: int, memory: int, workers: int | None, note: str = "") -> Estimate:
    u2, u4 = product_seconds(key_bits), product_seconds(2 * key_bits)
    cpu: dict[str, float] = {}
    for k, v in p2.items():
        cpu[k] = cpu.get(k, 0.0) + v * u2
    for k, v in n2.items():
        cpu[k] = cpu.get(k, 0.0) + v * u4
    for k, v in plain.items():
        cpu[k] = cpu.get(k, 0.0) + v
    w = effective_workers(workers)
    share = machine_share(w)
    serial = {"keygen", "plaintext"}  # single-threaded stages
    stages = {k: v / min(share, 1.0) if k in serial else v / share for k, v in cpu.items()}
    if share < w * 0.8:
        load = os.getloadavg()[0]
        note = (note + "; " if note else "") + (
            f"the machine is busy (load {load:.1f}): ~{share:.1f} cores for this run")
    return Estimate(what, sum(cpu.values()), sum(stages.values()), int(memory), w, stages, note)


def machine_share(workers: int) -> float:
    """Cores this run can expect: ``workers``, less what other runnable processes take
    (the 1-minute load average shares the cores with them)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = max(1, cores or 1)
    try:
        load = max(0.0, os.getloadavg()[0])
    except OSError:  # pragma: no cover - no load average on this platform
        load = 0.0
    if load + workers <= cores:
        return float(workers)
    return max(0.05, cores * workers / (load + workers))


# --- the pipelines ------------------------------------------------------------------


def estimate_filter(height: int, width: int, channels: int, *, key_bits: int, taps: int,
                    passes: int, outputs: int, bits_per_slot: int, pad: int, pack: bool = True,
                    rounds: int = 1, fresh_key: bool = True, fast_decrypt: bool = False,
                    workers: int | None = None, what: str = "filter") -> Estimate:
    """One-shot filter: (keygen) + encrypt + evaluate + decrypt, ``rounds`` times
    (morphology open/close decrypt, threshold and re-encrypt once in between).

    ``taps``: distinct non-zero |taps| per pass (0 for point operations), ``passes``:
    filter passes per output plane, ``outputs``: output planes per input plane."""
    ct = ciphertexts_per_plane(height, width, key_bits, bits_per_slot, pad, pack=pack)
    n_in = ct * channels
    n_out = n_in * outputs
    p2 = {"encrypt": rounds * n_in * ENC_P2_PER_CT,
          "decrypt": rounds * n_out * _decrypt_units(key_bits, fast_decrypt, DEC_P2_PER_KEY_BIT)}
    if fresh_key:
        p2["keygen"] = KEYGEN_P2_PER_KEY_BIT * key_bits
    p2["encrypt"] += COMB_P2_PER_KEY_BIT * key_bits
    n2 = {"filter": rounds * n_out * (FILTER_N2_FIXED + FILTER_N2_PER_TAP * taps * passes)}
    memory = ciphertext_bytes(key_bits) * (2 * n_in + 2 * n_out) + comb_bytes(key_bits)
    return _finish(what, p2, n2, {}, key_bits, memory, workers)


def estimate_encrypt(height: int, width: int, channels: int, *, key_bits: int,
                     bits_per_slot: int, pad: int, pack: bool = True,
                     workers: int | None = None, what: str = "encrypt") -> Estimate:
    """Key-owner encryption of an image (with the comb tables a loaded key builds first)."""
    ct = ciphertexts_per_plane(height, width, key_bits, bits_per_slot, pad, pack=pack) * channels
    per_ct = ENC_P2_PER_CT if pack else ENC_P2_PER_CT / 4  # unpacked: one small value per ct
    p2 = {"encrypt": ct * per_ct + COMB_P2_PER_KEY_BIT * key_bits}
    memory = ciphertext_bytes(key_bits) * 2 * ct + comb_bytes(key_bits)
    return _finish(what, p2, {}, {}, key_bits, memory, workers)


def estimate_decrypt(ciphertexts: int, *, key_bits: int, fast_decrypt: bool = False,
                     workers: int | None = None, what: str = "decrypt") -> Estimate:
    """Key-owner decryption of ``ciphertexts`` full ciphertexts."""
    p2 = {"decrypt": ciphertexts * _decrypt_units(key_bits, fast_decrypt, DEC_P2_PER_KEY_BIT)}
    memory = ciphertext_bytes(key_bits) * 2 * ciphertexts
    return _finish(what, p2, {}, {}, key_bits, memory, workers)


def estimate_evaluator(ciphertexts: int, *, key_bits: int, taps: int, passes: int,
                       outputs: int, workers: int | None = None,
                       what: str = "filter (evaluator)") -> Estimate:
    """The evaluator's step alone on ``ciphertexts`` input ciphertexts (all planes)."""
    n_out = ciphertexts * outputs
    n2 = {"filter": n_out * (FILTER_N2_FIXED + FILTER_N2_PER_TAP * taps * passes)}
    memory = ciphertext_bytes(key_bits) * (ciphertexts + 2 * n_out)
    return _finish(what, {}, n2, {}, key_bits, memory, workers)


def estimate_sift(height: int, width: int, *, key_bits: int, params=None,
                  fresh_key: bool = True, fast_decrypt: bool = False,
                  workers: int | None = None, what: str = "HESIFT") -> Estimate:
    """HESIFT on a ``height`` x ``width`` grey image: per octave the key owner encrypts the
    base, the evaluator runs one separable filter per Gaussian level, the key owner
    decrypts the DoG levels and finishes the features in plaintext.  The counts
    (decryptions, evaluator products, peak ciphertexts) are exact, from the octave plans
    (:func:`hesift.sift.cost.sift_cost`)."""
    from hesift.sift.cost import sift_cost
    from hesift.sift.params import SiftParams, plans_for

    params = params or SiftParams()
    counts = sift_cost((height, width), params, key_bits)
    up = 2 if params.enable_upsample else 1
    p2 = {"encrypt": COMB_P2_PER_KEY_BIT * key_bits,
          "decrypt": counts.decryptions * _decrypt_units(key_bits, fast_decrypt, SIFT_DEC)}
    if fresh_key:
        p2["keygen"] = KEYGEN_P2_PER_KEY_BIT * key_bits
    pixels = 0
    for plan in plans_for(params, (height * up, width * up)):
        h, w = plan.shape
        pixels += h * w
        p2["encrypt"] += ENC_P2_PER_CT * ciphertexts_per_plane(
            h, w, key_bits, plan.bits_per_slot, plan.pad, headroom=2 * plan.pad)
    n2 = {"evaluate": counts.products * SIFT_EVAL_PER_PRODUCT}
    memory = counts.peak_bytes + comb_bytes(key_bits) + pixels * 8 * 12
    plain = {"plaintext": pixels * SIFT_PLAIN_S_PER_PX}
    return _finish(what, p2, n2, plain, key_bits, memory, workers)


def _decrypt_units(key_bits: int, fast_decrypt: bool, per_key_bit: float) -> float:
    """p2-products of one decryption: exponents of key_bits/2 bits per prime, or of the
    256-bit subgroup order with a fast-decryption key."""
    units = per_key_bit * key_bits
    if fast_decrypt:
        units *= min(1.0, FAST_DECRYPT_EXPONENT_BITS / (key_bits / 2))
    return units


def estimate_gallery_add(height: int, width: int, *, key_bits: int, max_side: int | None,
                         params=None, fresh_key: bool = False, fast_decrypt: bool = False,
                         workers: int | None = None, what: str = "gallery add") -> Estimate:
    """Encrypted feature extraction of one gallery image (after the gallery's downscale)."""
    from hesift.gallery.features import _gallery_params
    from hesift.sift.params import SiftParams

    h, w = scaled_size(height, width, max_side)
    if params is None:
        kw = {k: v for k, v in _gallery_params({}).items() if k in SiftParams.__dataclass_fields__}
        params = SiftParams(**kw)
    est = estimate_sift(h, w, key_bits=key_bits, params=params, fresh_key=fresh_key,
                        fast_decrypt=fast_decrypt, workers=workers, what=what)
    if (h, w) != (height, width):
        est.note = f"downscaled {width}x{height} -> {w}x{h} first"
    return est


# --- sizes ---------------------------------------------------------------------------


def scaled_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """(h, w) after shrinking so the longer side is at most ``max_side`` (never enlarged)."""
    if not max_side or max(height, width) <= max_side:
        return height, width
    s = max_side / max(height, width)
    return max(1, round(height * s)), max(1, round(width * s))


def resize_to_max_side(img, max_side: int | None):
    """(image, scale): ``img`` shrunk with area averaging so its longer side <= max_side."""
    import cv2

    h, w = img.shape[:2]
    nh, nw = scaled_size(h, w, max_side)
    if (nh, nw) == (h, w):
        return img, 1.0
    return cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA), nw / w


# --- limits ----------------------------------------------------------------------------


def check(est: Estimate, *, max_time: float | None = DEFAULT_MAX_TIME,
          max_memory: int | None = None, can_downscale: bool = True) -> None:
    """Refuse (EstimateRefused) when the estimate is over either limit.

    ``max_memory`` None means half of the memory available now."""
    from hesift.io import available_memory, human_bytes

    limit_mem = available_memory() // 2 if max_memory is None else int(max_memory)
    fixes = "--max-side N to downscale first, " if can_downscale else ""
    over_time = bool(max_time) and est.seconds > max_time  # None or 0: no time limit
    also = (f" (and about {format_seconds(est.seconds)}, over --max-time "
            f"{format_seconds(max_time)})") if over_time else ""
    if est.memory > limit_mem:
        raise EstimateRefused(
            f"{est.what} would need about {human_bytes(est.memory)} of memory, over --max-memory "
            f"{human_bytes(limit_mem)}{also}; use {fixes}a smaller image or key, or raise "
            "--max-memory")
    if over_time:
        raise EstimateRefused(
            f"{est.what} would take about {format_seconds(est.seconds)}, over --max-time "
            f"{format_seconds(max_time)}; use {fixes}a smaller image or key, or raise --max-time")


# --- formatting / parsing ----------------------------------------------------------


def format_seconds(s: float) -> str:
    """12.3 -> '12 s', 125 -> '2 min 5 s', 7300 -> '2 h 2 min'."""
    if s < 10:
        return f"{s:.1f} s"
    s = round(s)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s" if s % 60 else f"{s // 60} min"
    return f"{s // 3600} h {(s % 3600) // 60} min"


def parse_duration(text: str) -> float:
    """'90', '90s', '15m', '2h', '1h30m' -> seconds; ValueError otherwise."""
    t = str(text).strip().lower().replace(" ", "")
    if not t:
        raise ValueError("empty duration")
    try:
        return float(t)
    except ValueError:
        pass
    total, num = 0.0, ""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
    for ch in t:
        if ch.isdigit() or ch == ".":
            num += ch
        elif ch in units and num:
            total += float(num) * units[ch]
            num = ""
        else:
            raise ValueError(f"not a duration: {text!r} (e.g. 90s, 15m, 2h)")
    if num:
        raise ValueError(f"not a duration: {text!r} (e.g. 90s, 15m, 2h)")
    return total


class Timer:
    """Wall and CPU seconds since creation (``actual()`` for the estimate's comparison)."""

    def __init__(self) -> None:
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()

    def wall(self) -> float:
        return time.perf_counter() - self.wall0

    def cpu(self) -> float:
        return time.process_time() - self.cpu0
