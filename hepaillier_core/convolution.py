"""convolve2d / sepfilter2d / subsample2 for unpacked and packed encrypted images.

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
from .packed import PackedImage, correlate_packed, subsample_packed
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


def _packed_rect(img: PackedImage, kh: int, kw: int, mode: str) -> PackedImage:
    """Re-frame the logical image after a 'same' filter for 'valid' / 'full' output."""
    from dataclasses import replace

    lay = img.layout
    r, c = kh // 2, kw // 2
    if mode == "same":
        return img
    if mode == "valid":
        H, W = lay.height - kh + 1, lay.width - kw + 1
        if H <= 0 or W <= 0:
            raise ValueError("'valid' output is empty: the kernel is larger than the image")
        new = replace(lay, height=H, width=W, y0=lay.y0 + r, x0=lay.x0 + c)
    else:
        new = replace(lay, height=lay.height + kh - 1, width=lay.width + kw - 1,
                      y0=lay.y0 - (kh - 1 - r), x0=lay.x0 - (kw - 1 - c))
        if new.y0 < 0 or new.x0 < new.c_lo:
            raise ValueError("'full' output reaches outside the packed canvas")
    return PackedImage(img.public_key, img.data, new, img.scale, interval=img.interval,
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
        out = correlate_packed(x, hx[None, :], workers=workers, progress=progress)
        if mode == "valid":
            # compute only the rows a 'valid' output keeps (the vertical pass's other
            # output rows would be dropped right away)
            kh, lay = len(hy), out.layout
            h = lay.height - kh + 1
            if h <= 0 or lay.width - len(hx) + 1 <= 0:
                raise ValueError("'valid' output is empty: the kernel is larger than the image")
            out = correlate_packed(out, hy[:, None], workers=workers, progress=progress,
                                   rows=(lay.y0 + kh - 1, lay.y0 + kh - 1 + h))
            return _packed_rect(out, 1, len(hx), mode)
        out = correlate_packed(out, hy[:, None], workers=workers, progress=progress)
        return _packed_rect(out, len(hy), len(hx), mode)
    out = _correlate_unpacked(x, hx[None, :], border, mode, workers, progress)
    return _correlate_unpacked(out, hy[:, None], border, mode, workers, progress)


def subsample2(x):
    """Keep even rows and columns (x[::2, ::2]) of an encrypted 2-D image."""
    if isinstance(x, PackedImage):
        return subsample_packed(x)
    if isinstance(x, EncryptedArray):
        if x.ndim != 2:
            raise ValueError(f"subsample2 needs a 2-D array, got shape {x.shape}")
        return x[::2, ::2]
    raise TypeError(f"expected an EncryptedArray or PackedImage, got {type(x).__name__}")
