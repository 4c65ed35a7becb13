"""What a HESIFT run will cost, from the octave plans, before any work.

Counts are exact, not fitted: the packed canvas of every octave (rows x
ciphertexts per row, :mod:`hesift.sift.canvas`) follows from the same plans the
key owner uses, and the number of decryptions is (levels - 1) DoG levels x
decrypted rows x ciphertexts per row (it matches ``benchmarks.sift_cost``
exactly: 12960 / 41120 / 148640 at 128² / 256² / 512² with the configuration
before issue 14, ``SiftParams.legacy()``; at f = 10 with exact bases 8760 / 31800 /
120120 with interval slot bounds and 8440 / 30520 / 115000 with exact DoG bounds;
9580 / 33305 / 124780 with today's defaults, f = 12 and a 2-bit octave-0 base); the
evaluator's products are, per blurred level and output
ciphertext, one pass of (taps + 14) modular products over the canvas rows
(horizontal) and one over the kept rows (vertical, ``mode="valid"``): the taps
plus the squarings of their ~13-bit exponents.  :func:`hesift.estimate.estimate_sift`
turns these counts into time and memory with the product cost measured on this
machine (the one cost model of every command); ``hesift sift --json`` reports the
estimate beside the measured time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hesift.sift.canvas import choose_canvas
from hesift.sift.params import SiftParams, plans_for

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


def sift_cost(shape: tuple[int, int], params: SiftParams, key_bits: int) -> SiftCost:
    """Ciphertext counts of HESIFT on a ``shape`` grey image with ``key_bits`` keys."""
    h, w = int(shape[0]), int(shape[1])
    base = (2 * h, 2 * w) if params.enable_upsample else (h, w)
    decryptions = products = peak = 0
    plans = plans_for(params, base)
    for plan in plans:
        slot = plan.bits_per_slot
        slots = max(1, (key_bits - 2) // slot)
        canvas = choose_canvas(plan.shape, plan.pad, key_bits, slot,
                               fold=params.layout == "folded")
        per_row = canvas.ciphertexts_per_row(slots)
        rows, kept = canvas.shape[0], canvas.band_rows
        levels = len(plan.taps)
        decryptions += (levels - 1) * canvas.decrypted(slots)
        products += sum((rows + kept) * per_row * (len(t) + 14)
                        for t in plan.taps if t is not None)
        peak = max(peak, rows * per_row * (2 * levels))
    ct_bytes = 8 * math.ceil(2 * key_bits / 64)
    return SiftCost(decryptions, products, len(plans), peak * COPIES, ct_bytes)
