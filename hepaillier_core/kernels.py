"""Which kernel runs each family of operations, chosen by measurement.

The C core has up to three candidates for Montgomery arithmetic: the scalar
GMP path, four AVX2 lanes and eight AVX-512 IFMA lanes.  Which is fastest
depends on the CPU (the AVX2 lanes lose to the scalar path on a first-generation
Zen, IFMA wins where it exists), so a CPU flag is not enough.  The first time
a modulus size (limb count) gets a context, this module times every candidate
on that size for each family -- products, squarings, the folding reduction,
conversions to and from Montgomery form -- and records the fastest in the C
dispatcher.  Results are bit-identical whichever runs; only speed differs.

Measurement: CPU time of the calling thread, candidates interleaved round by
round, the minimum of a few short repeats (the machine may be shared), about
a millisecond per family and size.  Explicit overrides beat measurement:
``set_kernel("scalar" | "avx2" | "ifma")``, ``set_simd(False | True)`` and the
environment variables ``HEPAILLIER_KERNEL`` and ``HEPAILLIER_SIMD``.
"""

from __future__ import annotations

import random
import threading
import time

from . import _core

FAMILIES: tuple[str, ...] = _core.FAMILIES
KERNELS: tuple[str, ...] = _core.KERNELS

#: Moduli below this many limbs have no lane kernels (hpc_vec.h).
MIN_LIMBS = 8
#: Timing rounds per family (candidates interleaved inside each round).
ROUNDS = 3
#: CPU seconds one candidate's timing run aims at.
TARGET_S = 150e-6

_lock = threading.RLock()
_sizes: dict[int, dict] = {}
_busy: set[int] = set()


def cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (platform.processor() as a fallback)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


def _calibration_modulus(L: int) -> int:
    rng = random.Random(0x5EED + L)
    return rng.getrandbits(64 * L) | (1 << (64 * L - 1)) | 1


def _measure(mod: _core.Mod, family: str) -> dict[str, float]:
    """CPU seconds per item of `family` for every usable candidate."""
    cands = [k for k in KERNELS if mod.kernel_usable(k, family)]
    iters = {}
    for k in cands:  # a short first run sizes the repeats
        t = mod.bench_kernel(k, family, 2, 1)
        batch = 8 if family in ("fold", "conv") else 1
        iters[k] = max(1, min(2000, int(TARGET_S / max(t * batch, 1e-9))))
    best: dict[str, float] = {}
    for r in range(ROUNDS):
        order = cands[r % len(cands):] + cands[: r % len(cands)]  # rotate who goes first
        for k in order:
            t = mod.bench_kernel(k, family, iters[k], 1)
            if t > 0 and (k not in best or t < best[k]):
                best[k] = t
    return best


def calibrate(L: int, force: bool = False) -> dict:
    """Measure the candidates for moduli of L limbs and record the choice."""
    with _lock:
        if (L in _sizes and not force) or L in _busy:
            return _sizes.get(L, {})
        _busy.add(L)
        try:
            t0 = time.process_time()
            mod = _core.Mod(_calibration_modulus(L), measure=False)
            seconds = {f: _measure(mod, f) for f in FAMILIES}
            chosen = {}
            for f, times in seconds.items():
                chosen[f] = min(times, key=times.get) if times else "scalar"
                _core.kernel_choose(L, f, chosen[f])
            _sizes[L] = {
                "bits": 64 * L,
                "chosen": chosen,
                "seconds": seconds,
                "calibration_s": time.process_time() - t0,
            }
        finally:
            _busy.discard(L)
        return _sizes[L]


def ensure(L: int) -> None:
    """Calibrate L-limb moduli once per process (the C layer calls this)."""
    if L >= MIN_LIMBS and L not in _sizes and _core.simd_available():
        calibrate(L)


def chosen(L: int, family: str) -> str:
    """The kernel the measurement picked for `family` on L-limb moduli (overrides aside)."""
    rec = _sizes.get(L)
    if rec is not None:
        return rec["chosen"][family]
    return available()[-1] if L >= MIN_LIMBS else "scalar"


def available() -> list[str]:
    """Candidates this CPU and build can run (before any override)."""
    out = ["scalar"]
    if _core.simd_available():
        out.append("avx2")
        if _core.ifma_supported():
            out.append("ifma")
    return out


def set_kernel(kind: str | None) -> None:
    """Run every family on `kind` ("scalar", "avx2", "ifma") where it can, or
    on the measured choice again (None).  Results are identical either way."""
    if kind is not None and kind not in KERNELS:
        raise ValueError(f"unknown kernel {kind!r}; expected one of {KERNELS} or None")
    _core.kernel_force(kind)


def set_simd(on: bool | None) -> None:
    """False: the scalar path; True: the widest lane kernel the CPU has;
    None: the measured choice (the default)."""
    if on is None:
        set_kernel(None)
    elif not on:
        set_kernel("scalar")
    else:
        set_kernel(available()[-1])


def kernel_info() -> dict:
    """What runs where, and the timings behind each measured choice."""
    forced = _core.kernel_forced()
    sizes = {}
    for L, rec in sorted(_sizes.items()):
        sizes[L] = {
            "bits": rec["bits"],
            "chosen": dict(rec["chosen"]),
            "ns_per_item": {f: {k: round(t * 1e9, 1) for k, t in ts.items()}
                            for f, ts in rec["seconds"].items()},
            "calibration_ms": round(rec["calibration_s"] * 1e3, 2),
        }
    return {
        "cpu": cpu_model(),
        "available": available(),
        "override": forced,
        "scalar_reduction": ("GMP mpn_redc_1 (assembly)" if _core.scalar_redc_asm()
                             else "mpn_addmul_1 loop"),
        "sizes": sizes,
    }


def summary(info: dict | None = None) -> str:
    """One line per measured size: the chosen kernel of each family."""
    info = info or kernel_info()
    head = f"kernels: {', '.join(info['available'])} available"
    if info["override"]:
        head += f"; override: {info['override']}"
    lines = [head + f"; scalar reduction {info['scalar_reduction']}"]
    for L, rec in info["sizes"].items():
        parts = []
        for f in FAMILIES:
            ns = rec["ns_per_item"].get(f, {})
            times = "/".join(f"{k} {v / 1e3:.2f}" for k, v in ns.items())
            parts.append(f"{f} {rec['chosen'][f]} ({times} µs)")
        lines.append(f"  {rec['bits']}-bit ({L} limbs, measured in {rec['calibration_ms']} ms): "
                     + "; ".join(parts))
    return "\n".join(lines)


_core.set_size_hook(ensure)
