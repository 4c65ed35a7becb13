"""convolve2d / sepfilter2d / sepfilter2d_differences / subsample2 for unpacked and packed
encrypted images.

Output pixel (i, j) is the correlation sum_{u,v} k[u,v] x[i+u-r, j+v-c] with
r, c = kh // 2, kw // 2 (``flip=True`` gives true convolution).  Unpacked
arrays support 'constant', 'reflect' (OpenCV BORDER_REFLECT_101) and
'replicate' borders and 'same', 'valid' and 'full' output.  Packed images are
canvases: the key owner chose their border when padding before encryption,
so only 'constant' applies (see ``PackedImage``).
"""

from __future__ import annotations

import numpy as np

from .array import EncryptedArray, check_plain_bound
from .encoding import as_int_weights
from .multiexp import TapPlan, prepare_bases, run_tiled
from .packed import (
    PackedImage,
    RawPacked,
    check_slot_interval,
    correlate_packed,
    correlate_raw,
    difference_raw,
    filter_interval,
    interval_of,
    subsample_packed,
)
from .parallel import make_progress, using

BORDERS = ("constant", "reflect", "replicate")
MODES = ("same", "valid", "full")


def _kernel2d(kernel, what: str = "kernel") -> np.ndarray:
    k = as_int_weights(kernel, what)
    if k.ndim == 1:
        k = k[None, :]
    if k.ndim != 2 or k.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D or 2-D integer array")
    if k.dtype == object:
        raise ValueError(f"{what} weights must be below 2^63 in magnitude")
    return k.astype(np.int64)


def _taps1d(k, what: str) -> np.ndarray:
    arr = as_int_weights(k, what)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{what} must be a non-empty 1-D integer array")
    if arr.dtype == object:
        raise ValueError(f"{what} weights must be below 2^63 in magnitude")
    return arr.astype(np.int64)


def _map_index(pos: np.ndarray, n: int, border: str) -> np.ndarray:
    if border == "constant":
        return np.where((pos >= 0) & (pos < n), pos, -1)
    if border == "replicate":
        return np.clip(pos, 0, n - 1)
    if n == 1:
        return np.zeros_like(pos)
    period = 2 * (n - 1)
    p = np.mod(pos, period)
    return np.where(p < n, p, period - p)


def _correlate_unpacked(x: EncryptedArray, k: np.ndarray, border: str, mode: str,
                        workers=None, progress=False) -> EncryptedArray:
    pub = x.public_key
    if x.ndim != 2:
        raise ValueError(f"convolution needs a 2-D encrypted array, got shape {x.shape}")
    H, W = x.shape
    kh, kw = k.shape
    if mode == "same":
        Ho, Wo, di, dj = H, W, -(kh // 2), -(kw // 2)
    elif mode == "valid":
        Ho, Wo, di, dj = H - kh + 1, W - kw + 1, 0, 0
        if Ho <= 0 or Wo <= 0:
            raise ValueError(f"'valid' output is empty: kernel {k.shape} is larger than {x.shape}")
    else:
        if border != "constant":
            raise ValueError("mode='full' needs border='constant'")
        Ho, Wo, di, dj = H + kh - 1, W + kw - 1, -(kh - 1), -(kw - 1)
    plan = TapPlan(k)
    bound = check_plain_bound(pub, x.bound * plan.l1(), "this filter")
    bases = prepare_bases(pub, x.data.reshape(-1, pub.L), plan.any_negative, workers)
    uu, vv = np.meshgrid(np.arange(kh), np.arange(kw), indexing="ij")
    du, dv = uu.ravel() + di, vv.ravel() + dj

    def base_idx_for(lo: int, hi: int) -> np.ndarray:
        o = np.arange(lo, hi, dtype=np.int64)
        i, j = o // Wo, o % Wo
        ri = _map_index(i[:, None] + du[None, :], H, border)
        cj = _map_index(j[:, None] + dv[None, :], W, border)
        return np.where((ri >= 0) & (cj >= 0), ri * W + cj, -1)

    cb, done = make_progress(progress, Ho * Wo, "filter")
    try:
        out, _ = run_tiled(pub.mod, bases, plan, Ho * Wo, base_idx_for, workers=workers,
                           progress=cb)
    finally:
        done()
    return EncryptedArray(pub, out.reshape(Ho, Wo, pub.L), x.scale, bound, check=False)


def _rect_layout(lay, kh: int, kw: int, mode: str):
    """Re-frame the logical image after a 'same' filter for 'valid' / 'full' output."""
    from dataclasses import replace

    r, c = kh // 2, kw // 2
    if mode == "same":
        return lay
    if mode == "valid":
        H, W = lay.height - kh + 1, lay.width - kw + 1
        if H <= 0 or W <= 0:
            raise ValueError("'valid' output is empty: the kernel is larger than the image")
        return replace(lay, height=H, width=W, y0=lay.y0 + r, x0=lay.x0 + c)
    new = replace(lay, height=lay.height + kh - 1, width=lay.width + kw - 1,
                  y0=lay.y0 - (kh - 1 - r), x0=lay.x0 - (kw - 1 - c))
    if new.y0 < 0 or new.x0 < new.c_lo:
        raise ValueError("'full' output reaches outside the packed canvas")
    return new


def _packed_rect(img: PackedImage, kh: int, kw: int, mode: str) -> PackedImage:
    lay = _rect_layout(img.layout, kh, kw, mode)
    if lay is img.layout:
        return img
    return PackedImage(img.public_key, img.data, lay, img.scale, interval=img.interval,
                       check=False)


def _check_args(x, border: str, mode: str) -> None:
    if not isinstance(x, (EncryptedArray, PackedImage)):
        raise TypeError(f"expected an EncryptedArray or PackedImage, got {type(x).__name__}")
    if border not in BORDERS:
        raise ValueError(f"border must be one of {BORDERS}, got {border!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if isinstance(x, PackedImage) and border != "constant":
        raise ValueError("packed images take their border from the key owner's padding "
                         "(encrypt with pad=..., pad_mode='reflect'); use border='constant'")


def convolve2d(x, kernel, border: str = "constant", mode: str = "same", flip: bool = False, *,
               workers: int | None = None, executor=None, progress=False):
    """Correlate an encrypted 2-D image with an integer kernel (any size and sign).

    out[i, j] = sum_{u,v} kernel[u, v] * x[i + u - kh//2, j + v - kw//2];
    ``flip=True`` flips the kernel (true convolution).  Output shape: 'same'
    (default) = input, 'valid' = (H-kh+1, W-kw+1), 'full' = (H+kh-1, W+kw-1).
    ``executor``: 'thread', 'process' or a ``dask.distributed.Client`` for this
    call (default: ``hc.set_executor``'s).
    """
    with using(executor):
        return _convolve2d(x, kernel, border, mode, flip, workers, progress)


def _convolve2d(x, kernel, border, mode, flip, workers, progress):
    _check_args(x, border, mode)
    k = _kernel2d(kernel)
    if flip:
        k = k[::-1, ::-1].copy()
    if isinstance(x, PackedImage):
        out = correlate_packed(x, k, workers=workers, progress=progress)
        return _packed_rect(out, k.shape[0], k.shape[1], mode)
    return _correlate_unpacked(x, k, border, mode, workers, progress)


def sepfilter2d(x, kx, ky, border: str = "constant", mode: str = "same", flip: bool = False, *,
                workers: int | None = None, executor=None, progress=False):
    """Separable filter: ``kx`` along columns (x), then ``ky`` along rows (y).

    Equal to convolve2d with the outer product ky[:, None] * kx[None, :], at
    a cost proportional to len(kx) + len(ky) instead of their product.
    """
    with using(executor):
        return _sepfilter2d(x, kx, ky, border, mode, flip, workers, progress)


def _sepfilter2d(x, kx, ky, border, mode, flip, workers, progress):
    _check_args(x, border, mode)
    hx, hy = _taps1d(kx, "kx"), _taps1d(ky, "ky")
    if flip:
        hx, hy = hx[::-1].copy(), hy[::-1].copy()
    if isinstance(x, PackedImage):
        pub, lay = x.public_key, x.layout
        mid = check_slot_interval(pub, lay, filter_interval(x.interval, hx[None, :]),
                                  "this filter")
        out = check_slot_interval(pub, lay, filter_interval(mid, hy[:, None]), "this filter")
        raw = _sep_packed(x, hx, hy, mode, workers, progress)
        return PackedImage(pub, raw.data, raw.layout, x.scale, interval=out, check=False)
    out = _correlate_unpacked(x, hx[None, :], border, mode, workers, progress)
    return _correlate_unpacked(out, hy[:, None], border, mode, workers, progress)


def _sep_packed(x: PackedImage, hx: np.ndarray, hy: np.ndarray, mode: str, workers,
                progress) -> RawPacked:
    """Both passes of a separable filter on a packed image, slot ranges unchecked (the
    callers check them first); the horizontal pass reuses x's cached bases."""
    from dataclasses import replace

    mid = correlate_raw(x, hx[None, :], workers=workers, progress=progress)
    rows = None
    kh = len(hy)
    if mode == "valid":
        # compute only the rows a 'valid' output keeps (the vertical pass's other
        # output rows would be dropped right away)
        lay = mid.layout
        h = lay.height - kh + 1
        if h <= 0 or lay.width - len(hx) + 1 <= 0:
            raise ValueError("'valid' output is empty: the kernel is larger than the image")
        rows, kh = (lay.y0 + kh - 1, lay.y0 + kh - 1 + h), 1
    out = correlate_raw(mid, hy[:, None], workers=workers, progress=progress, rows=rows)
    return replace(out, layout=_rect_layout(out.layout, kh, len(hx), mode))


def _kernel_pairs(kernels) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kx, ky) per entry (1-D taps stand for both), zero-extended around their anchors
    (index len // 2) to one common length per axis."""
    try:
        entries = list(kernels)
    except TypeError:
        raise TypeError("kernels must be a sequence of 1-D taps or (kx, ky) pairs") from None
    if len(entries) < 2:
        raise ValueError(f"differences need at least 2 kernels, got {len(entries)}")
    pairs = []
    for i, k in enumerate(entries):
        if isinstance(k, tuple) and len(k) == 2 and all(np.ndim(p) == 1 for p in k):
            pairs.append((_taps1d(k[0], f"kernels[{i}][0]"), _taps1d(k[1], f"kernels[{i}][1]")))
        else:
            t = _taps1d(k, f"kernels[{i}]")
            pairs.append((t, t))

    def extend(taps: list[np.ndarray]) -> list[np.ndarray]:
        left = max(len(t) // 2 for t in taps)
        right = max(len(t) - 1 - len(t) // 2 for t in taps)
        return [np.pad(t, (left - len(t) // 2, right - (len(t) - 1 - len(t) // 2)))
                for t in taps]

    xs, ys = extend([p[0] for p in pairs]), extend([p[1] for p in pairs])
    return list(zip(xs, ys))


def sepfilter2d_difference_intervals(interval: tuple[int, int],
                                     kernels) -> list[tuple[int, int]]:
    """Exact [lo, hi] of every blur_{i+1} - blur_i of ``sepfilter2d_differences`` for
    inputs in ``interval`` (lo <= 0 <= hi): the range of the input filtered with the
    2-D kernel ky_{i+1} kx_{i+1}^T - ky_i kx_i^T (each zero-extended to the common size),
    positive entries taking the input's range and negative ones its mirror."""
    lo, hi = interval_of(interval=interval)
    outer = [np.outer(ky.astype(object), kx.astype(object)) for kx, ky in _kernel_pairs(kernels)]
    return [filter_interval((lo, hi), b - a) for a, b in zip(outer[:-1], outer[1:])]


def sepfilter2d_differences(x, kernels, mode: str = "same", border: str = "constant", *,
                            workers: int | None = None, executor=None,
                            progress=False) -> list:
    """Blur ``x`` with each separable kernel and return the neighbouring differences
    [blur_1 - blur_0, blur_2 - blur_1, ...] (a difference-of-Gaussians stack).

    ``kernels``: a sequence of 1-D integer taps (used along x and y) or (kx, ky) pairs,
    as ``sepfilter2d`` takes them.  All kernels are first zero-extended around their
    anchors (index len // 2) to one common size, so every blur has one shape ('valid'
    and 'full' refer to that size); zero taps cost nothing.

    On a ``PackedImage`` only the differences are checked against the slot width, each
    with its exact range (``sepfilter2d_difference_intervals``: far narrower than the
    blurs' own when the kernels are close), before any work; the blurs themselves may
    exceed their slots.  That is sound because every packed operation is linear over
    Z_n: a blur whose slots overflow still holds the exact integer sum_s v_s B^s, so a
    difference decodes exactly iff its own slot values fit (checked) and the canvas
    columns right of the data stay zero (checked as for every filter).  A blur is never
    returned, so its overflowing slots are never decoded.  Work equals one
    ``sepfilter2d`` per kernel (the horizontal passes share the input's prepared
    bases) plus one subtraction per difference; one blur is held at a time.

    On an ``EncryptedArray`` (``border`` as in ``sepfilter2d``) the blurs and differences
    are ordinary array operations with their usual |x| bounds.
    """
    with using(executor):
        _check_args(x, border, mode)
        pairs = _kernel_pairs(kernels)
        if isinstance(x, PackedImage):
            return _packed_differences(x, pairs, mode, workers, progress)
        levels = (_sepfilter2d(x, kx, ky, border, mode, False, workers, progress)
                  for kx, ky in pairs)
        prev, out = next(levels), []
        for cur in levels:
            out.append(cur - prev)
            prev = cur
        return out


def _packed_differences(x: PackedImage, pairs, mode, workers, progress) -> list[PackedImage]:
    pub = x.public_key
    intervals = sepfilter2d_difference_intervals(x.interval, pairs)
    for i, iv in enumerate(intervals):  # refuse before any work
        check_slot_interval(pub, x.layout, iv, f"difference {i} (blur {i + 1} - blur {i})")
    prev, out = None, []
    for i, (kx, ky) in enumerate(pairs):
        cur = _sep_packed(x, kx, ky, mode, workers, progress)
        if prev is not None:
            out.append(difference_raw(cur, prev, intervals[i - 1], x.scale,
                                      f"difference {i - 1}", workers))
        prev = cur
    return out


def subsample2(x):
    """Keep even rows and columns (x[::2, ::2]) of an encrypted 2-D image."""
    if isinstance(x, PackedImage):
        return subsample_packed(x)
    if isinstance(x, EncryptedArray):
        if x.ndim != 2:
            raise ValueError(f"subsample2 needs a 2-D array, got shape {x.shape}")
        return x[::2, ::2]
    raise TypeError(f"expected an EncryptedArray or PackedImage, got {type(x).__name__}")
