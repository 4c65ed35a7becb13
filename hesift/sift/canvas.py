"""How the key owner lays an octave's base out on the packed canvas (row folding).

A packed canvas row of M ciphertexts holds M * P columns; the evaluator's
separable blur needs every image row reflect-padded by R on both sides and
R more empty columns of headroom per side for the filter's output shift, so
one image row per canvas row decrypts (W + 4R) / W times the ideal number of
slots, rounded up to whole ciphertexts (1.15-1.6x for SIFT's octaves).

Folding puts k image-row bands side by side in one canvas row: band j holds
rows [j*Hk, (j+1)*Hk) of the image (plus R halo rows above and below for the
vertical blur), each band reflect-padded by R horizontally.  Neighbouring
bands share the headroom, so a canvas row costs k * (W + 2R) + 2R columns for
k image rows, and k is chosen so the canvas fills whole ciphertexts.  The
evaluator just filters the canvas (``mode="valid"``: exactly the Hk rows
whose vertical window lies inside the canvas are kept, so only those are
decrypted); the key owner unfolds the decrypted bands.  k = 1 is the plain
layout (the padded base, one image row per canvas row).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Decrypting a canvas row's ciphertexts for every DoG level costs about 6 times
#: one filter pass over that row for every level (2048-bit key, AVX2 lanes:
#: 0.72 ms per decryption vs ~0.6 ms per canvas ciphertext and pass; see
#: docs/sift.md): the weight that trades decrypted rows against halo rows.
DECRYPT_WEIGHT = 6


@dataclass(frozen=True)
class FoldedCanvas:
    """Geometry of one octave's canvas: image (H, W), blur radius R, k bands of Hk rows."""

    H: int
    W: int
    R: int
    k: int

    @property
    def band_rows(self) -> int:
        return -(-self.H // self.k)

    @property
    def pitch(self) -> int:
        """Columns of one band: the image row and its reflect padding."""
        return self.W + 2 * self.R

    @property
    def shape(self) -> tuple[int, int]:
        """The canvas the key owner encrypts (no padding added by the core)."""
        return self.band_rows + 2 * self.R, self.k * self.pitch

    @property
    def headroom(self) -> int:
        """Empty columns the evaluator's horizontal pass grows into."""
        return 2 * self.R

    @property
    def valid_shape(self) -> tuple[int, int]:
        """Shape of each filtered level after ``mode="valid"`` (what gets decrypted)."""
        h, w = self.shape
        return h - 2 * self.R, w - 2 * self.R

    def build(self, base: np.ndarray) -> np.ndarray:
        """The folded canvas of ``base`` (H, W): bands side by side, reflect-101 padded."""
        if base.shape != (self.H, self.W):
            raise ValueError(f"base has shape {base.shape}, the canvas expects {(self.H, self.W)}")
        hk, r = self.band_rows, self.R
        cols = _reflect(np.arange(-r, self.W + r), self.W)
        bands = []
        for j in range(self.k):
            rows = _reflect(np.arange(j * hk - r, (j + 1) * hk + r), self.H)
            bands.append(base[np.ix_(rows, cols)])
        return np.ascontiguousarray(np.concatenate(bands, axis=1))

    def unfold(self, valid: np.ndarray) -> np.ndarray:
        """(H, W) image from a decrypted ``valid_shape`` level (bands stacked back)."""
        if valid.shape != self.valid_shape:
            raise ValueError(f"level has shape {valid.shape}, expected {self.valid_shape}")
        p = self.pitch
        bands = [valid[:, j * p : j * p + self.W] for j in range(self.k)]
        return np.ascontiguousarray(np.concatenate(bands, axis=0)[: self.H])

    def ciphertexts_per_row(self, slots: int) -> int:
        """M: ciphertexts per canvas row for ``slots`` slots per ciphertext."""
        return -(-(self.k * self.pitch + self.headroom) // slots)

    def decrypted(self, slots: int) -> int:
        """Ciphertexts decrypted per level: the valid rows times M."""
        return self.band_rows * self.ciphertexts_per_row(slots)

    def ratio(self, slots: int) -> float:
        """Decrypted slots over image pixels (1.0 = every decrypted slot is a pixel)."""
        return self.decrypted(slots) * slots / (self.H * self.W)


def _reflect(pos: np.ndarray, n: int) -> np.ndarray:
    """BORDER_REFLECT_101 source index of any position (also far outside the image)."""
    if n == 1:
        return np.zeros_like(pos)
    period = 2 * n - 2
    p = np.mod(pos, period)
    return np.where(p < n, p, period - p)


def slots_per_ciphertext(key_bits: int, bits_per_slot: int) -> int:
    """P: the core packs (key_bits - 2) // w slots into one ciphertext."""
    return (key_bits - 2) // bits_per_slot


def choose_canvas(shape: tuple[int, int], R: int, key_bits: int, bits_per_slot: int,
                  fold: bool = True) -> FoldedCanvas:
    """The fold k with the least estimated work (or k = 1 when ``fold`` is off).

    Work per canvas row of M ciphertexts: the Hk decrypted rows (weighted by
    DECRYPT_WEIGHT), the horizontal pass over Hk + 2R rows and the valid
    vertical pass over Hk rows.
    """
    H, W = shape
    if not fold:
        return FoldedCanvas(H, W, R, 1)
    P = slots_per_ciphertext(key_bits, bits_per_slot)
    best = None
    for k in range(1, H + 1):
        c = FoldedCanvas(H, W, R, k)
        M = c.ciphertexts_per_row(P)
        cost = M * (DECRYPT_WEIGHT * c.band_rows + c.shape[0] + c.band_rows)
        if best is None or cost < best[0]:
            best = (cost, c)
    return best[1]


def ideal_ciphertexts(shape: tuple[int, int], key_bits: int, bits_per_slot: int) -> float:
    """Ciphertexts one level would need if every decrypted bit were an image slot bit."""
    return shape[0] * shape[1] * bits_per_slot / (key_bits - 2)


__all__ = ["FoldedCanvas", "choose_canvas", "ideal_ciphertexts", "slots_per_ciphertext"]
