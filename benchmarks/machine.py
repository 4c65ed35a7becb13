"""The header of every run: machine, core count and library versions."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

from hepaillier_core.kernels import cpu_model


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def heu_available() -> tuple[bool, str]:
    """(importable, version or reason) for SecretFlow HEU."""
    try:
        import heu  # noqa: F401
        from heu import phe as _  # noqa: F401
    except Exception as e:  # any import failure means "not available"
        return False, f"not importable ({type(e).__name__}: {e})"
    return True, _version("sf-heu") or "unknown"


def machine_info() -> dict:
    """Everything the header prints, as a JSON-able dict."""
    import gmpy2
    import numpy

    try:
        import cv2

        cv = cv2.__version__
    except ImportError:
        cv = None
    heu_ok, heu_ver = heu_available()
    try:
        load = os.getloadavg()
    except OSError:
        load = None
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "gmpy2": gmpy2.version(),
        "gmp": gmpy2.mp_version(),
        "phe": _version("phe"),
        "heu": heu_ver if heu_ok else None,
        "heu_status": heu_ver,
        "opencv": cv,
        "hesift": _version("hesift"),
        "loadavg_at_start": load,
    }


def kernel_choice(key_bits: int) -> dict:
    """hepaillier_core's kernel choice for a key of this size (measured now if not yet)."""
    from hepaillier_core import kernels

    for L in (key_bits // 64, key_bits // 32):  # n and p^2, n^2
        kernels.ensure(L)
    return kernels.kernel_info()


def header_text(info: dict, key_bits: int, quick: bool) -> str:
    """Human-readable header lines."""
    from hepaillier_core import kernels

    info.setdefault("kernels", kernel_choice(key_bits))
    load = info.get("loadavg_at_start")
    load_s = ", ".join(f"{v:.2f}" for v in load) if load else "n/a"
    heu = info["heu"] or f"n/a — SecretFlow HEU {info['heu_status']}"
    return "\n".join([
        f"Machine: {info['cpu']}, {info['cores']} cores ({info['platform']}); "
        f"load average at start {load_s}",
        f"Versions: Python {info['python']}, NumPy {info['numpy']}, gmpy2 {info['gmpy2']} "
        f"({info['gmp']}), phe {info['phe'] or 'n/a'}, sf-heu {heu}, "
        f"OpenCV {info['opencv'] or 'n/a'}, hesift {info['hesift'] or 'n/a'}",
        f"Key size: {key_bits} bits (scaling suite also 1024/3072). Mode: "
        f"{'quick' if quick else 'full'}; all times are medians over repeats.",
        "Kernels (issue 16, chosen by measurement, per modulus size and family): "
        + kernels.summary(info["kernels"]),
    ])
