"""What a HESIFT run will cost, from the octave plans, before any work.

Counts are exact, not fitted: the packed canvas of every octave (rows x
ciphertexts per row) follows from the same plans the key owner uses, and the
number of decryptions is (levels - 1) DoG levels x logical rows x ciphertexts
per row (it matches ``benchmarks.sift_cost`` exactly: 12960 / 41120 / 148640
at 128² / 256² / 512²); the evaluator's products are, per blurred level and
output ciphertext, two passes of (taps + 14) modular products (the taps plus
the squarings of their ~13-bit exponents).  Time is those counts times the
cost of one decryption and one product measured on the key itself, divided by
the workers, plus a fixed overhead per octave.  ``hesift sift --json`` reports
the estimate beside the measured time.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass

import numpy as np

from hesift.sift.params import SiftParams, plans_for

#: Python and set-up time per octave (seconds; dominates only for tiny images)
OCTAVE_OVERHEAD = 0.5
#: ciphertexts alive at once: base, every Gaussian level and every DoG level, plus
#: the evaluator's Montgomery-form copies of the base
COPIES = 2


@dataclass(frozen=True)
class SiftCost:
    decryptions: int
    products: int
    octaves: int
    peak_ciphertexts: int
    ciphertext_bytes: int

    @property
    def peak_bytes(self) -> int:
        return self.peak_ciphertexts * self.ciphertext_bytes

    def seconds(self, unit: tuple[float, float], workers: int) -> float:
        """Wall time from (CPU s per decryption, CPU s per product) on ``workers`` cores."""
        cpu = self.decryptions * unit[0] + self.products * unit[1]
        return cpu / max(1, workers) + OCTAVE_OVERHEAD * self.octaves


def sift_cost(shape: tuple[int, int], params: SiftParams, key_bits: int) -> SiftCost:
    """Ciphertext counts of HESIFT on a ``shape`` grey image with ``key_bits`` keys."""
    h, w = int(shape[0]), int(shape[1])
    base = (2 * h, 2 * w) if params.enable_upsample else (h, w)
    decryptions = products = peak = 0
    plans = plans_for(params, base)
    for plan in plans:
        oh, ow = plan.shape
        pad, slot = plan.pad, plan.bits_per_slot
        slots = max(1, (key_bits - 2) // slot)
        per_row = -(-(ow + 2 * pad + 2 * pad) // slots)  # canvas + headroom (2 pad)
        levels = len(plan.taps)
        decryptions += (levels - 1) * oh * per_row
        products += sum((oh + 2 * pad) * per_row * 2 * (len(t) + 14)
                        for t in plan.taps if t is not None)
        peak = max(peak, (oh + 2 * pad) * per_row * (2 * levels))
    ct_bytes = 8 * math.ceil(2 * key_bits / 64)
    return SiftCost(decryptions, products, len(plans), peak * COPIES, ct_bytes)


def unit_costs(private_key, samples: int = 8) -> tuple[float, float]:
    """CPU seconds of one decryption and of one product mod n^2, measured on this key
    (the constant-time decryption does not depend on the value decrypted)."""
    from hepaillier_core.array import trivial_encrypt

    pub = private_key.public_key
    ct = trivial_encrypt(pub, np.arange(max(samples, 64), dtype=np.int64))
    owner = private_key.owner
    owner.decrypt(ct[:1])  # warm-up
    t0 = time.process_time()
    owner.decrypt(ct[:samples])
    dec = (time.process_time() - t0) / samples
    t0 = time.process_time()
    for _ in range(10):
        pub.mod.mulmod(ct, ct)
    return dec, (time.process_time() - t0) / (10 * ct.shape[0])


def default_workers(workers: int | None) -> int:
    return workers or os.cpu_count() or 1
