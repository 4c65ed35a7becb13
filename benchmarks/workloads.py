"""Shared workloads: the test photo, the 5x5 Gaussian and the packed filter pipeline."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import hepaillier_core as hc

Case = tuple[Callable[[], object], int]


def camera(rows: int = 512, cols: int = 512) -> np.ndarray:
    """scikit-image's 512x512 'camera' photo (uint8), top-left crop of rows x cols."""
    from skimage import data

    return np.ascontiguousarray(data.camera()[:rows, :cols])


def gauss5() -> np.ndarray:
    """5-tap Gaussian (sigma 1) with 8-bit taps summing to 256: the benchmark filter."""
    try:
        from hesift.kernels import gaussian_taps

        return gaussian_taps(1.0, 8, radius=2)
    except ImportError:  # hesift is optional for the core benchmarks
        return np.array([14, 62, 104, 62, 14], dtype=np.int64)


def plain_sepfilter(img: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """The same integer filter on the plaintext (OpenCV, zero border, exact in float64)."""
    import cv2

    k = taps.astype(np.float64)
    out = cv2.sepFilter2D(img.astype(np.float64), cv2.CV_64F, k, k,
                          borderType=cv2.BORDER_CONSTANT)
    return np.rint(out).astype(np.int64)


class PackedPipeline:
    """Key owner encrypts packed, evaluator filters, key owner decrypts: timed steps."""

    def __init__(self, priv, img: np.ndarray, taps: np.ndarray, workers: int,
                 **pack_options: int):
        self.priv, self.img, self.taps, self.workers = priv, img, taps, workers
        self.pack_options = pack_options
        self.x = self.encrypt()
        self.y = self.filter()

    def encrypt(self):
        return self.priv.encrypt(self.img, pack=True, workers=self.workers, **self.pack_options)

    def filter(self):
        return hc.sepfilter2d(self.x, self.taps, self.taps, workers=self.workers)

    def decrypt(self) -> np.ndarray:
        return self.priv.decrypt(self.y, workers=self.workers)

    def cases(self, tag: str) -> dict[str, Case]:
        px = int(self.img.size)
        return {f"{tag}:enc": (self.encrypt, px), f"{tag}:filter": (self.filter, px),
                f"{tag}:dec": (self.decrypt, px)}

    def check(self) -> bool:
        """Decrypted result equals the plaintext filter, bit for bit."""
        return bool(np.array_equal(self.decrypt(), plain_sepfilter(self.img, self.taps)))

    def counted_mults(self) -> int:
        """Montgomery products the multi-exponentiation kernels report for one filter."""
        hc.reset_counters()
        self.filter()
        return int(hc.COUNTERS["mont_mults"])


def planned_packing(taps: np.ndarray, pixel_bound: int = 255) -> dict[str, int]:
    """Slot width and canvas headroom for exactly one separable filter with ``taps``
    (what a key owner who knows the pipeline declares instead of the defaults)."""
    out_bound = pixel_bound * int(np.abs(taps).sum()) ** 2
    return {"bits_per_slot": out_bound.bit_length() + 1, "headroom": len(taps) - 1}


def raw_case(pub, iters: int = 2000) -> Case:
    """A bare-Montgomery-product micro-benchmark as a timed case (seconds per product).

    With AVX2 lanes one iteration is a four-lane product, i.e. four products."""
    return (lambda: pub.mod.bench_mont_mul(iters), iters * pub.mod.lanes)
