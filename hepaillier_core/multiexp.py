"""Planning Straus multi-exponentiations for linear filters.

A filter output is prod_taps base[tap]^weight[tap].  Taps with the same
|weight| share one exponentiation (their bases, inverted for negative
weights, are multiplied first), so a symmetric Gaussian costs half the
exponentiations and a box filter none.  This module turns (weights, base
indices) into the (idx, exponents) arrays the C kernel takes, and runs them
in tiles so index arrays stay small.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .parallel import run_batched

_MAX_IDX_ENTRIES = 1 << 23  # entries of one tile's index array (64 MiB)

#: Montgomery products performed by filters since the last reset (for the
#: benchmarks' "multiplications per output pixel" figure).
COUNTERS = {"mont_mults": 0}


def reset_counters() -> None:
    COUNTERS["mont_mults"] = 0


class TapPlan:
    """How taps map onto Straus terms: term[t] = tap's |weight| class, slot g."""

    def __init__(self, weights: np.ndarray):
        w = np.asarray(weights, dtype=object).ravel()
        if any(abs(int(v)) >= (1 << 64) for v in w):
            raise ValueError("filter weights must be below 2^64 in magnitude")
        w = np.array([int(v) for v in w], dtype=np.int64) if w.size else np.zeros(0, np.int64)
        self.weights = w
        nz = np.nonzero(w)[0]
        self.taps = nz
        mags = np.abs(w[nz]).astype(np.uint64)
        self.exponents, term = np.unique(mags, return_inverse=True)
        self.term = term.astype(np.int64)
        self.slot = np.zeros(len(nz), dtype=np.int64)
        counts = np.zeros(len(self.exponents), dtype=np.int64)
        for i, t in enumerate(self.term):
            self.slot[i] = counts[t]
            counts[t] += 1
        self.G = int(counts.max()) if len(counts) else 1
        self.negative = w[nz] < 0
        self.any_negative = bool(self.negative.any())

    @property
    def T(self) -> int:
        return max(1, len(self.exponents))

    def l1(self) -> int:
        return int(sum(abs(int(v)) for v in self.weights))

    def build_idx(self, base_idx: np.ndarray, neg_offset: int) -> np.ndarray:
        """base_idx: (K, ntaps_total) input index per tap (-1 absent) -> (K, T, G)."""
        K = base_idx.shape[0]
        idx = np.full((K, self.T, self.G), -1, dtype=np.int64)
        if len(self.taps) == 0:
            return idx
        sel = base_idx[:, self.taps]
        sel = np.where((sel >= 0) & self.negative[None, :], sel + neg_offset, sel)
        idx[:, self.term, self.slot] = sel
        return idx

    def exps(self) -> np.ndarray:
        if len(self.exponents) == 0:
            return np.zeros(1, dtype=np.uint64)
        return self.exponents.astype(np.uint64)


def run_tiled(mod, bases_mont: np.ndarray, plan: TapPlan, K: int,
              base_idx_for: Callable[[int, int], np.ndarray], *, workers=None,
              progress=None) -> tuple[np.ndarray, int]:
    """Evaluate K outputs in tiles; base_idx_for(lo, hi) gives (hi-lo, ntaps) indices
    into the positive bases (inverted bases follow them at offset len/2)."""
    L = mod.L
    out = np.empty((K, L), dtype=np.uint64)
    per = max(1, plan.T * plan.G)
    tile = max(1, _MAX_IDX_ENTRIES // per)
    neg_offset = bases_mont.shape[0] // 2 if plan.any_negative else 0
    mults = 0
    e = plan.exps()
    from .parallel import chunk_bounds, get_executor, resolve_workers, run_tasks

    for lo in range(0, K, tile):
        hi = min(K, lo + tile)
        idx = plan.build_idx(base_idx_for(lo, hi), neg_offset)
        if get_executor() == "process":
            # ship each worker only the ciphertexts its rows read (tile plus halo)
            bounds = chunk_bounds(hi - lo, resolve_workers(workers), 4)
            tasks = [(mod, *compact(idx[a:b], bases_mont), e) for a, b in bounds]
            parts = run_tasks(_multiexp_task, tasks, workers=workers, progress=progress,
                              sizes=[b - a for a, b in bounds])
            res = np.concatenate([p[0] for p in parts])
            m = sum(int(p[1]) for p in parts)
        else:
            res, m = run_batched(mod, "multiexp", [idx], [bases_mont, e], workers=workers,
                                 progress=progress, min_chunk=4)
        out[lo:hi] = res
        mults += m
    COUNTERS["mont_mults"] += mults
    return out, mults


def _multiexp_task(mod, idx, bases, e):
    return mod.multiexp(idx, bases, e)


def compact(idx: np.ndarray, bases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Re-index ``idx`` onto only the bases it uses (a tile plus its halo)."""
    used = np.unique(idx[idx >= 0])
    remap = np.full(bases.shape[0], -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    new = np.where(idx >= 0, remap[np.maximum(idx, 0)], -1)
    return np.ascontiguousarray(new), np.ascontiguousarray(bases[used])


def prepare_bases(pub, flat: np.ndarray, need_inverse: bool, workers=None) -> np.ndarray:
    """Montgomery-form bases, followed by their inverses when negative weights exist."""
    from .array import flat_invert

    mont = run_batched(pub.mod, "to_mont", [np.ascontiguousarray(flat)], workers=workers)
    COUNTERS["mont_mults"] += flat.shape[0] * (4 if need_inverse else 1)
    if not need_inverse:
        return mont
    inv = flat_invert(pub, np.ascontiguousarray(flat), workers)
    inv = run_batched(pub.mod, "to_mont", [inv], workers=workers)
    return np.concatenate([mont, inv])
