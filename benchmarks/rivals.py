"""The other libraries we compare against: python-paillier (phe) and SecretFlow HEU.

phe is used as its users use it: one ``EncryptedNumber`` at a time in a
Python loop, on the *same* key as ours (``PrivateKey.to_phe``).  HEU is used
through its fastest Python path, the ``heu.numpy`` batch API (one call per
array; its own C++ thread pool), with its ZPaillier scheme and a fresh key of
the same size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


def phe_module():
    """python-paillier, or None when it is not installed."""
    try:
        import phe
    except ImportError:
        return None
    return phe


@dataclass
class HeuKit:
    """A HEU ZPaillier kit and the objects a benchmark needs from it."""

    kit: object
    encryptor: object
    decryptor: object
    evaluator: object
    params: object
    setup_seconds: float

    def array(self, values: np.ndarray):
        """Plaintext array of int64 values (integer encoder, scale 1)."""
        return self.kit.array(np.ascontiguousarray(values, dtype=np.int64), self.params)

    def cpu_per_wall(self, values: np.ndarray) -> float:
        """CPU seconds per wall second of one batch encryption: HEU's parallelism here."""
        pt = self.array(values)
        c0, t0 = time.process_time(), time.perf_counter()
        self.encryptor.encrypt(pt)
        return (time.process_time() - c0) / max(1e-9, time.perf_counter() - t0)


def heu_kit(bits: int) -> tuple[HeuKit | None, str]:
    """(kit, description) for HEU ZPaillier, or (None, reason) when unavailable."""
    try:
        from heu import numpy as hnp
        from heu import phe as hphe
    except Exception as e:  # not installed / no wheel for this platform
        return None, f"SecretFlow HEU not available ({type(e).__name__}: {e})"
    t0 = time.perf_counter()
    kit = hnp.setup(hphe.SchemaType.ZPaillier, bits)
    dt = time.perf_counter() - t0
    hk = HeuKit(kit, kit.encryptor(), kit.decryptor(), kit.evaluator(),
                hphe.IntegerEncoderParams(1), dt)
    return hk, "HEU ZPaillier via heu.numpy batch API (encrypt/decrypt/add/mul on arrays)"
