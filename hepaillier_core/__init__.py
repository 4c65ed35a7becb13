"""hepaillier_core: Paillier encryption over NumPy arrays, with a GMP core.

Keys (g = n + 1, interoperable with python-paillier), ``EncryptedArray``
(one value per ciphertext, NumPy-like), ``PackedImage`` (many pixels per
ciphertext), batched filters and parallel workers.  See docs/core_api.md.
"""

import os as _os

from . import limits
from ._core import forbid_simd as _forbid_simd
from ._core import simd_available
from .array import EncryptedArray, concatenate, stack
from .convolution import (
    convolve2d,
    sepfilter2d,
    sepfilter2d_difference_intervals,
    sepfilter2d_differences,
    subsample2,
)
from .kernels import kernel_info, set_kernel, set_simd
from .keys import (
    PrivateKey,
    PublicKey,
    forbid_private_keys,
    generate_keypair,
    private_keys_forbidden,
)
from .multiexp import COUNTERS, reset_counters
from .packed import Layout, PackedImage, required_bits
from .parallel import get_client, get_executor, get_workers, set_executor, set_workers, using
from .serialization import from_bytes, load, save, to_bytes

__version__ = "0.1.0"

_simd_env = _os.environ.get("HEPAILLIER_SIMD", "").strip().lower()
if _simd_env in ("0", "off", "false", "no"):
    _forbid_simd()  # exactly the path of a CPU without AVX2 (results are identical)
elif _simd_env in ("1", "on", "true", "yes"):
    set_simd(True)  # the widest lanes, whatever measurement would say
if _os.environ.get("HEPAILLIER_KERNEL", "").strip():
    set_kernel(_os.environ["HEPAILLIER_KERNEL"].strip().lower())  # scalar, avx2 or ifma

__all__ = [
    "COUNTERS",
    "EncryptedArray",
    "Layout",
    "PackedImage",
    "PrivateKey",
    "PublicKey",
    "concatenate",
    "convolve2d",
    "forbid_private_keys",
    "from_bytes",
    "generate_keypair",
    "get_client",
    "get_executor",
    "get_workers",
    "kernel_info",
    "limits",
    "load",
    "private_keys_forbidden",
    "required_bits",
    "reset_counters",
    "save",
    "sepfilter2d",
    "sepfilter2d_difference_intervals",
    "sepfilter2d_differences",
    "set_simd",
    "set_executor",
    "set_kernel",
    "set_workers",
    "simd_available",
    "stack",
    "subsample2",
    "to_bytes",
    "using",
]
