"""Integer filter kernels with exact fixed-point sums.

Encrypted filters can only use integer weights, so every kernel here is an
int64 array.  Gaussian taps are quantised so they sum to exactly 2**frac_bits
(the rounding residue goes to the centre tap, or is spread over the largest
remainders): every blur then has the same scale and a difference of two
blurs has no brightness bias (DESIGN §6).
"""

from __future__ import annotations

import math

import numpy as np


def gaussian_radius(sigma: float) -> int:
    """Kernel radius OpenCV picks for a float image: ksize = round(8 sigma + 1) | 1."""
    if not sigma > 0 or not math.isfinite(sigma):
        raise ValueError(f"sigma must be a positive finite number, got {sigma!r}")
    ksize = int(round(sigma * 8 + 1)) | 1
    return ksize // 2


#: How gaussian_taps turns real taps into integers summing to 2**frac_bits.
ROUNDINGS = ("centre", "largest_remainder", "matched_variance")


def gaussian_taps(sigma: float, frac_bits: int, radius: int | None = None, *,
                  rounding: str = "centre") -> np.ndarray:
    """Symmetric 1-D Gaussian taps (int64) summing to exactly 2**frac_bits.

    ``rounding="centre"``: every tap rounded to nearest, the residue put on the
    centre tap (the filters' historic quantiser).  ``"largest_remainder"``: the
    residue is spread symmetrically over the taps with the largest rounding
    remainders (Hamilton's method), so every tap is within one unit of its
    exact value and the centre carries no extra un-blurred weight; with a
    symmetric sum of 2**f the centre tap must be even, and the even neighbour
    of the exact centre giving the smaller squared error is taken.
    ``"matched_variance"``: the same floor-or-ceil choice per tap (so every tap
    is still within one unit of its exact value), but which taps round up is
    chosen so the kernel's second moment sum(q x^2) is as close as possible to
    the exact kernel's (ties: largest remainders); a difference of two blurs
    (a DoG) then keeps its exact scale, which low f otherwise perturbs.
    """
    if not 1 <= frac_bits <= 30:
        raise ValueError(f"frac_bits must be in 1..30, got {frac_bits}")
    if rounding not in ROUNDINGS:
        raise ValueError(f"rounding must be one of {ROUNDINGS}, got {rounding!r}")
    r = gaussian_radius(sigma) if radius is None else int(radius)
    if r < 0:
        raise ValueError("radius must be >= 0")
    x = np.arange(-r, r + 1, dtype=np.float64)
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    g /= g.sum()
    total = 1 << frac_bits
    if rounding != "centre":
        return _symmetric_rounding(0.5 * (g[r:] + g[r::-1]) * total, total,
                                   rounding == "matched_variance")
    q = np.floor(g * total + 0.5).astype(np.int64)
    q[r] += total - int(q.sum())
    if q[r] < 0:
        raise ValueError("frac_bits too small for this sigma: the centre tap went negative")
    return q


def _symmetric_rounding(half: np.ndarray, total: int, match_variance: bool) -> np.ndarray:
    """Symmetric integer taps summing to ``total`` (even) from the exact one-sided
    targets ``half`` (centre first): each side tap its target's floor or ceiling."""
    r = len(half) - 1
    t0, side = float(half[0]), half[1:]
    fl = np.floor(side).astype(np.int64)
    frac = side - fl
    order = np.lexsort((np.arange(r), -frac))  # largest remainder first, inner taps on ties
    x2 = np.arange(1, r + 1, dtype=np.int64) ** 2
    target = float((side * x2).sum() - (fl * x2).sum())  # sum of x^2 over the taps rounded up
    best = None
    for c in sorted({2 * math.floor(t0 / 2), 2 * math.floor(t0 / 2) + 2}):
        deficit = (total - c) // 2 - int(fl.sum())
        if c < 0 or not 0 <= deficit <= r:
            continue
        up = _closest_monotone_subset(fl, x2, 1.0 - 2.0 * frac, deficit, target) \
            if match_variance else order[:deficit]
        if up is None:
            continue
        q = fl.copy()
        q[up] += 1
        err = (c - t0) ** 2 + 2.0 * float(((q - side) ** 2).sum())
        key = (abs(int(x2[up].sum()) - target), err) if match_variance else (err,)
        if best is None or key < best[0]:
            best = (key, c, q)
    if best is None:  # unreachable for a normalised kernel; kept as a hard refusal
        raise ValueError("no symmetric rounding sums to the requested total")
    _, c, q = best
    return np.concatenate([q[::-1], [c], q]).astype(np.int64)


def _closest_monotone_subset(fl: np.ndarray, weights: np.ndarray, cost: np.ndarray, count: int,
                             target: float) -> np.ndarray | None:
    """Which ``count`` side taps to round up so their ``weights`` (x^2) sum closest to
    ``target`` (ties: least summed ``cost``), keeping the taps non-increasing outwards
    (a tap whose floor equals its inner neighbour's may round up only if that one does).
    Dynamic programming over (count, sum, outer neighbour rounded up), outermost first."""
    n, smax = len(weights), int(weights.sum())
    inf = np.inf
    dp = np.full((2, count + 1, smax + 1), inf)  # [outer neighbour up?, count, sum]
    dp[0, 0, 0] = 0.0
    took = np.zeros((n, 2, count + 1, smax + 1), dtype=np.int8)  # 0 none, 1 from down, 2 from up
    for i in range(n - 1, -1, -1):
        w = int(weights[i])
        forced = i + 1 < n and fl[i] == fl[i + 1]  # outer neighbour up forces this one up
        new = np.full_like(dp, inf)
        # round down: allowed unless forced by an outer neighbour that went up
        down = dp[0] if forced else np.minimum(dp[0], dp[1])
        new[0] = down
        took[i, 0] = np.where(np.isfinite(down), np.where(forced | (dp[0] <= dp[1]), 1, 2), 0)
        # round up: from either state
        src = np.minimum(dp[0], dp[1])
        cand = np.full((count + 1, smax + 1), inf)
        cand[1:, w:] = src[:-1, : smax + 1 - w] + cost[i]
        new[1] = cand
        frm = np.where(dp[0] <= dp[1], 1, 2)
        took_up = np.zeros((count + 1, smax + 1), dtype=np.int8)
        took_up[1:, w:] = frm[:-1, : smax + 1 - w]
        took[i, 1] = np.where(np.isfinite(cand), took_up, 0)
        dp = new
    final = np.minimum(dp[0, count], dp[1, count])
    sums = np.flatnonzero(np.isfinite(final))
    if len(sums) == 0:
        return None
    s = int(min(sums, key=lambda v: (abs(v - target), final[v])))
    state, k, chosen = (0 if dp[0, count, s] <= dp[1, count, s] else 1), count, []
    for i in range(n):  # innermost first: undo the outermost-first DP
        prev = took[i, state, k, s] - 1
        if state == 1:
            chosen.append(i)
            s -= int(weights[i])
            k -= 1
        state = prev
    return np.array(chosen, dtype=np.int64)


def box_taps(size: int) -> np.ndarray:
    """1-D box of ones (sum = size)."""
    if size < 1:
        raise ValueError("box size must be >= 1")
    return np.ones(int(size), dtype=np.int64)


# --- derivative, Laplacian and morphology kernels (integer, OpenCV conventions) ---

#: Separable derivative filters: (derivative taps, smoothing taps).  The
#: derivative runs along the differentiated axis, the smoothing across it, so
#: ``sobel_x = outer(smooth, deriv)`` equals ``cv2.Sobel(img, dx=1, dy=0, ksize=3)``.
DERIVATIVE_TAPS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "sobel": ((-1, 0, 1), (1, 2, 1)),
    "scharr": ((-1, 0, 1), (3, 10, 3)),
    "prewitt": ((-1, 0, 1), (1, 1, 1)),
}


def derivative_taps(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(derivative, smoothing) 1-D int64 taps of a separable gradient filter."""
    try:
        d, s = DERIVATIVE_TAPS[name]
    except KeyError:
        raise ValueError(
            f"unknown derivative filter {name!r}; choose from {sorted(DERIVATIVE_TAPS)}"
        ) from None
    return np.array(d, dtype=np.int64), np.array(s, dtype=np.int64)


def roberts_kernels() -> tuple[np.ndarray, np.ndarray]:
    """Roberts cross 2x2 kernels (anchor at [1, 1], as cv2.filter2D places it)."""
    kx = np.array([[1, 0], [0, -1]], dtype=np.int64)
    ky = np.array([[0, 1], [-1, 0]], dtype=np.int64)
    return kx, ky


def laplacian_kernel(ksize: int = 1) -> np.ndarray:
    """The kernel cv2.Laplacian uses for ksize 1 (4-neighbour) or 3."""
    if ksize == 1:
        return np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.int64)
    if ksize == 3:
        return np.array([[2, 0, 2], [0, -8, 0], [2, 0, 2]], dtype=np.int64)
    raise ValueError(f"laplacian ksize must be 1 or 3, got {ksize}")


SE_SHAPES = ("rect", "cross", "ellipse")


def structuring_element(shape: str = "rect", size: int | tuple[int, int] = 3) -> np.ndarray:
    """0/1 int64 structuring element, identical to cv2.getStructuringElement."""
    import cv2

    shapes = {"rect": cv2.MORPH_RECT, "cross": cv2.MORPH_CROSS, "ellipse": cv2.MORPH_ELLIPSE}
    if shape not in shapes:
        raise ValueError(f"unknown structuring element shape {shape!r}; choose from {SE_SHAPES}")
    h, w = (size, size) if isinstance(size, int) else size
    if not (1 <= h <= 99 and 1 <= w <= 99):
        raise ValueError(f"structuring element size must be in 1..99, got {h}x{w}")
    se = cv2.getStructuringElement(shapes[shape], (int(w), int(h)))
    return se.astype(np.int64)


def as_int_kernel(kernel, *, ndim: int = 2) -> np.ndarray:
    """Validate a user kernel: finite integers, non-empty, ``ndim`` dimensions."""
    k = np.asarray(kernel)
    if k.ndim != ndim or k.size == 0:
        raise ValueError(f"kernel must be a non-empty {ndim}-D array, got shape {k.shape}")
    if k.dtype.kind == "f":
        if not np.all(np.isfinite(k)) or not np.all(k == np.round(k)):
            raise ValueError("kernel has non-integer taps; quantise it (see filter2d frac_bits)")
    elif k.dtype.kind not in "iub":
        raise ValueError(f"kernel must be numeric, got dtype {k.dtype}")
    if np.abs(k).max(initial=0) >= 2**31:
        raise ValueError("kernel taps must be below 2**31 in magnitude")
    return k.astype(np.int64)


def parse_kernel(text: str) -> np.ndarray:
    """Parse "1 2 1; 2 4 2; 1 2 1" (rows by ';', taps by spaces or commas)."""
    rows = [r.replace(",", " ").split() for r in text.strip().split(";") if r.strip()]
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError(f"kernel {text!r}: rows must be non-empty and of equal length")
    try:
        values = [[float(v) for v in r] for r in rows]
    except ValueError:
        raise ValueError(f"kernel {text!r}: taps must be numbers") from None
    return np.array(values, dtype=np.float64)
