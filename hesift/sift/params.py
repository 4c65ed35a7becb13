"""SIFT parameters and the per-octave integer plan both parties agree on.

Every number the encrypted pipeline needs (blur taps, padding, fixed-point
scales, slot widths) is derived here from the parameters and the image size
alone, so the key owner, the evaluator and the plaintext reference can never
disagree about it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from hesift.kernels import ROUNDINGS, gaussian_taps

#: OpenCV's constants (sift.simd.hpp).
SIFT_INIT_SIGMA = 0.5
SIFT_IMG_BORDER = 5
SIFT_MAX_INTERP_STEPS = 5
SIFT_ORI_HIST_BINS = 36
SIFT_ORI_SIG_FCTR = 1.5
SIFT_ORI_RADIUS = 4.5
SIFT_ORI_PEAK_RATIO = 0.8
SIFT_DESCR_WIDTH = 4
SIFT_DESCR_HIST_BINS = 8
SIFT_DESCR_SCL_FCTR = 3.0
SIFT_DESCR_MAG_THR = 0.2
SIFT_INT_DESCR_FCTR = 512.0

#: Default fractional bits of the quantised Gaussian taps, chosen with
#: benchmarks/sift_quality.py (docs/sift.md): tap bits are what the detector is
#: sensitive to (f = 10-11 shift OpenCV's keypoint counts by 2-6%), base bits are
#: not, so the slot bits are saved on octave 0's base instead.
DEFAULT_FRAC_BITS = 12
#: Default rounding of the Gaussian taps (hesift.kernels.ROUNDINGS).
DEFAULT_QUANTISER = "largest_remainder"
LAYOUTS = ("folded", "padded")
SLOT_BOUNDS = ("exact", "interval", "abs")
#: Fractional bits kept when the key owner rounds an octave's next base.
DEFAULT_BASE_FRAC_BITS = 4
#: Fractional bits kept of octave 0's x2 up-sampled base (4 would be exact): its
#: rounding adds noise of at most 0.03 grey levels to a DoG, while each bit
#: dropped saves one slot bit on octave 0, three quarters of all decryptions.
DEFAULT_UPSAMPLE_FRAC_BITS = 2


@dataclass(frozen=True)
class SiftParams:
    """OpenCV's SIFT parameters plus the two fixed-point choices of the integer pipeline."""

    nfeatures: int = 0
    nOctaveLayers: int = 3
    contrastThreshold: float = 0.04
    edgeThreshold: float = 10.0
    sigma: float = 1.6
    enable_upsample: bool = True
    frac_bits: int = DEFAULT_FRAC_BITS
    base_frac_bits: int = DEFAULT_BASE_FRAC_BITS
    upsample_frac_bits: int = DEFAULT_UPSAMPLE_FRAC_BITS
    """Fractional bits kept of octave 0's x2 up-sampled base (4: exact; fewer round
    half up, one slot bit less each)."""
    min_features: int = 0
    """0: OpenCV's detector.  N > 0: when fewer than N keypoints pass
    contrastThreshold, top up with the strongest ones down to
    ``contrast_floor * contrastThreshold`` (low-texture images keep enough
    features to be matched; textured images are unchanged)."""
    contrast_floor: float = 0.1
    quantiser: str = DEFAULT_QUANTISER
    """How the Gaussian taps are rounded to sum to 2**frac_bits: "largest_remainder"
    (the residue spread symmetrically over the taps with the largest remainders) or
    "centre" (the residue on the centre tap; the quantiser before issue 14)."""
    layout: str = "folded"
    """Canvas layout of the encrypted octave bases (hesift.sift.canvas): "folded"
    (image-row bands side by side, chosen to fill whole ciphertexts) or "padded"
    (one image row per canvas row, the layout before issue 14)."""
    slot_bounds: str = "exact"
    """How the slot width is derived: "exact" (each DoG's exact range, from its 2-D
    difference kernel: only the DoGs are decrypted, so only they must fit), "interval"
    (levels in [0, L], DoGs in [-L, L]) or "abs" (|DoG| <= 2L, the sum of both levels'
    |x| bounds: one bit wider than "interval")."""

    @classmethod
    def legacy(cls, **kw) -> SiftParams:
        """The fixed-point configuration before issue 14 (f = 12, centre-residue taps,
        exact 4-bit bases, padded layout, |x| slot bounds): for side-by-side measurements."""
        return cls(**{"frac_bits": 12, "quantiser": "centre", "layout": "padded",
                      "slot_bounds": "abs", "upsample_frac_bits": 4, "base_frac_bits": 4, **kw})

    def __post_init__(self) -> None:
        checks = [
            (isinstance(self.nfeatures, (int, np.integer)) and self.nfeatures >= 0,
             "nfeatures must be an int >= 0"),
            (isinstance(self.nOctaveLayers, (int, np.integer)) and 1 <= self.nOctaveLayers <= 10,
             "nOctaveLayers must be an int in 1..10"),
            (_finite(self.contrastThreshold) and self.contrastThreshold >= 0,
             "contrastThreshold must be a finite number >= 0"),
            (_finite(self.edgeThreshold) and self.edgeThreshold > 0,
             "edgeThreshold must be a finite number > 0"),
            (_finite(self.sigma) and self.sigma > 0, "sigma must be a finite number > 0"),
            (isinstance(self.frac_bits, (int, np.integer)) and 2 <= self.frac_bits <= 14,
             "frac_bits must be an int in 2..14"),
            (isinstance(self.base_frac_bits, (int, np.integer)) and 0 <= self.base_frac_bits <= 8,
             "base_frac_bits must be an int in 0..8"),
            (isinstance(self.upsample_frac_bits, (int, np.integer)) and 0 <= self.upsample_frac_bits <= 4,
             "upsample_frac_bits must be an int in 0..4"),
            (isinstance(self.min_features, (int, np.integer)) and self.min_features >= 0,
             "min_features must be an int >= 0"),
            (_finite(self.contrast_floor) and 0 < self.contrast_floor <= 1,
             "contrast_floor must be a number in (0, 1]"),
            (self.quantiser in ROUNDINGS, f"quantiser must be one of {ROUNDINGS}"),
            (self.layout in LAYOUTS, f"layout must be one of {LAYOUTS}"),
            (self.slot_bounds in SLOT_BOUNDS, f"slot_bounds must be one of {SLOT_BOUNDS}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    @property
    def detect_contrast(self) -> float:
        """The contrast threshold the detector runs at (lower when topping up is on)."""
        if self.min_features:
            return self.contrastThreshold * self.contrast_floor
        return self.contrastThreshold

    @property
    def n_levels(self) -> int:
        """Gaussian levels per octave (OpenCV: nOctaveLayers + 3)."""
        return self.nOctaveLayers + 3

    def level_sigmas(self) -> list[float]:
        """Total blur of each level in octave-local pixels: sigma * k**i."""
        k = 2.0 ** (1.0 / self.nOctaveLayers)
        return [self.sigma * k**i for i in range(self.n_levels)]


def _finite(x: object) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and math.isfinite(float(x))


@dataclass(frozen=True)
class OctavePlan:
    """What one octave's encrypted job computes, in integers.

    The base image B (values in [0, base_bound], meaning B / base_scale grey
    levels) is blurred once per level with ``taps[i]`` along x and y; level i
    then carries the scale ``base_scale * 2**(2 f)``.  ``taps[0]`` is None for
    octaves > 0, whose level 0 is the base itself (times 2**(2 f)).
    """

    octave: int
    shape: tuple[int, int]
    base_scale: int
    frac_bits: int
    taps: tuple[np.ndarray | None, ...] = field(repr=False)
    slot_bounds: str = "exact"

    @property
    def base_bound(self) -> int:
        return 255 * self.base_scale

    @property
    def level_scale(self) -> int:
        return self.base_scale << (2 * self.frac_bits)

    @property
    def level_bound(self) -> int:
        """Every Gaussian level lies in [0, level_bound] (non-negative taps summing to 2**2f)."""
        return self.base_bound << (2 * self.frac_bits)

    def full_taps(self) -> list[np.ndarray]:
        """Taps of every level, the identity [2**f] standing for an un-blurred level 0."""
        ident = np.array([1 << self.frac_bits], dtype=np.int64)
        return [ident if t is None else t for t in self.taps]

    @property
    def pad(self) -> int:
        """Reflect-101 padding the base needs: the largest blur radius of the octave."""
        return max((len(t) // 2 for t in self.taps if t is not None), default=0)

    @property
    def base_interval(self) -> tuple[int, int]:
        """What the key owner declares for its encrypted base."""
        if self.slot_bounds == "abs":
            return (-self.base_bound, self.base_bound)
        return (0, self.base_bound)

    @cached_property
    def dog_intervals(self) -> tuple[tuple[int, int], ...]:
        """Exact [lo, hi] of every DoG level: the base's range through the 2-D kernel
        t_{i+1} t_{i+1}^T - t_i t_i^T (the core's own computation,
        ``hepaillier_core.sepfilter2d_difference_intervals``)."""
        from hepaillier_core import sepfilter2d_difference_intervals

        return tuple(sepfilter2d_difference_intervals((0, self.base_bound), self.full_taps()))

    @property
    def bits_per_slot(self) -> int:
        """Slot width of the decrypted DoG levels (magnitude bits plus a sign bit).

        "exact" (default): the widest exact DoG range of the octave
        (``dog_intervals``; the evaluator's core checks the same ranges and never
        decodes the Gaussian levels, which may overflow these slots).  "interval":
        every level in [0, L] (non-negative base and taps) and G_{i+1} - G_i in
        [-L, L].  "abs" (before issue 14): the difference bounded by the sum of both
        levels' |x| bounds, 2L, one more bit.
        """
        if self.slot_bounds == "exact":
            lb = max(max(-lo, hi) for lo, hi in self.dog_intervals)
        else:
            lb = self.level_bound if self.slot_bounds == "interval" else 2 * self.level_bound
        return max(2, lb.bit_length() + 1)


def n_octaves(base_shape: tuple[int, int], upsampled: bool) -> int:
    """OpenCV: cvRound(log2(min side of the (upsampled) base) - 2) - firstOctave."""
    m = min(base_shape)
    return int(round(math.log(m) / math.log(2.0) - 2)) + (1 if upsampled else 0)


def octave_shape(base_shape: tuple[int, int], octave: int) -> tuple[int, int]:
    h, w = base_shape
    return (h >> octave, w >> octave)


def octave_has_interior(shape: tuple[int, int]) -> bool:
    """An octave (and every later one) can hold keypoints only if it has interior pixels."""
    return min(shape) > 2 * SIFT_IMG_BORDER


def trimmed_taps(sigma: float, frac_bits: int, rounding: str = "centre") -> np.ndarray:
    """gaussian_taps with zero taps dropped from both ends (they cost padding, not accuracy)."""
    t = gaussian_taps(sigma, frac_bits, rounding=rounding)
    nz = np.flatnonzero(t)
    r = len(t) // 2
    keep = max(r - int(nz[0]), 0)
    return t[r - keep : r + keep + 1].copy()


def octave0_frac_bits(params: SiftParams) -> int:
    """Fractional bits of octave 0's base: the x2 up-sampling is exact with 4."""
    return params.upsample_frac_bits if params.enable_upsample else 0


def make_plan(params: SiftParams, base_shape: tuple[int, int], octave: int) -> OctavePlan:
    """The integer plan of one octave (base_shape: shape of octave 0's base)."""
    f, q = params.frac_bits, params.quantiser
    sig = params.level_sigmas()
    if octave == 0:
        beta = SIFT_INIT_SIGMA * (2.0 if params.enable_upsample else 1.0)
        rho0 = math.sqrt(max(sig[0] ** 2 - beta**2, 0.01))
        rhos = [math.sqrt(rho0**2 + s**2 - sig[0] ** 2) for s in sig]
        taps: list[np.ndarray | None] = [trimmed_taps(r, f, q) for r in rhos]
        base_scale = 1 << octave0_frac_bits(params)
    else:
        taps = [None] + [trimmed_taps(math.sqrt(s**2 - sig[0] ** 2), f, q)
                        for s in sig[1:]]
        base_scale = 1 << params.base_frac_bits
    return OctavePlan(
        octave=octave,
        shape=octave_shape(base_shape, octave),
        base_scale=base_scale,
        frac_bits=f,
        taps=tuple(taps),
        slot_bounds=params.slot_bounds,
    )


def plans_for(params: SiftParams, base_shape: tuple[int, int]) -> list[OctavePlan]:
    """Plans of every octave that can hold keypoints (later, smaller ones cannot)."""
    out = []
    for o in range(n_octaves(base_shape, params.enable_upsample)):
        shape = octave_shape(base_shape, o)
        if not octave_has_interior(shape):
            break
        out.append(make_plan(params, base_shape, o))
    return out
