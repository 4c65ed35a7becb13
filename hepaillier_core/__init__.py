"""hepaillier_core: Paillier encryption over NumPy arrays, with a GMP core.

Keys (g = n + 1, interoperable with python-paillier), ``EncryptedArray``
(one value per ciphertext, NumPy-like), ``PackedImage`` (many pixels per
ciphertext), batched filters and parallel workers.  See docs/core_api.md.
"""

from .array import EncryptedArray, concatenate, stack
from .convolution import convolve2d, sepfilter2d, subsample2
from .keys import PrivateKey, PublicKey, generate_keypair
from .multiexp import COUNTERS, reset_counters
from .packed import Layout, PackedImage, required_bits
from .parallel import get_executor, get_workers, set_executor, set_workers
from .serialization import from_bytes, load, save, to_bytes

__version__ = "0.1.0"

__all__ = [
    "COUNTERS",
    "EncryptedArray",
    "Layout",
    "PackedImage",
    "PrivateKey",
    "PublicKey",
    "concatenate",
    "convolve2d",
    "from_bytes",
    "generate_keypair",
    "get_executor",
    "get_workers",
    "load",
    "required_bits",
    "reset_counters",
    "save",
    "sepfilter2d",
    "set_executor",
    "set_workers",
    "stack",
    "subsample2",
    "to_bytes",
]
