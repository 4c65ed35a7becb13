"""Encrypted inner products of one query with every gallery vector, packed into few ciphertexts.

The server holds the gallery's quantised global vectors ``g_i`` (small
non-negative integers, sparse) and receives ``E(q_j)`` for every coordinate j of
the client's quantised vector.  For each image it computes
``E(<q, g_i>) = prod_j E(q_j)^(g_ij)`` and packs ``P`` scores per ciphertext
as digits of ``B = 2^w``: ``E(sum_s score_s B^s)``.

Cost, all batched in the C core (no per-term Python big-int arithmetic):

- once per query: a table ``E(q_j)^k`` for ``k = 1..kmax`` (V*(kmax-1) products);
- per image: one Montgomery product per nonzero coordinate (``multiexp`` with a
  single exponent 1 is a product over an index array); images are sorted by
  their number of nonzeros so the four SIMD lanes of the kernel stay busy;
- per image: ``w`` squarings and one product to fold it into its packed
  ciphertext (Horner over the slots, all blocks at once);
- per reply ciphertext: one re-randomisation (times a fresh ``E(0)``), so the
  reply's randomness says nothing about the gallery vectors.

``w`` comes from a static bound: ``qmax * max_i sum_j g_ij`` plus a sign bit,
so no slot can overflow into the next; the bound is checked before any work.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hepaillier_core import _core
from hepaillier_core.parallel import run_batched

__all__ = ["SparseVectors", "encrypted_scores", "plain_scores", "slot_layout"]

#: Largest gallery coordinate: each table row holds E(q_j)^k for k = 1..KMAX.
KMAX = 15
_CHUNK = 2048  # images per multiexp call (bounds the index array and the outputs)


@dataclass(frozen=True)
class SparseVectors:
    """N non-negative integer vectors of length V in CSR form (values 1..kmax)."""

    indptr: np.ndarray  # (N+1,) int64
    cols: np.ndarray  # (nnz,) int32, sorted per row
    vals: np.ndarray  # (nnz,) uint8, 1..kmax
    V: int

    @classmethod
    def from_dense(cls, dense: np.ndarray) -> SparseVectors:
        d = np.asarray(dense)
        if d.ndim != 2 or (d.size and (d.min() < 0 or d.max() > KMAX)):
            raise ValueError(f"gallery vectors must be a 2-D array of integers in 0..{KMAX}")
        rows, cols = np.nonzero(d)
        indptr = np.zeros(d.shape[0] + 1, np.int64)
        np.cumsum(np.bincount(rows, minlength=d.shape[0]), out=indptr[1:])
        return cls(indptr, cols.astype(np.int32), d[rows, cols].astype(np.uint8), int(d.shape[1]))

    @property
    def N(self) -> int:
        return len(self.indptr) - 1

    def nnz(self) -> np.ndarray:
        return np.diff(self.indptr)

    def row_sums(self) -> np.ndarray:
        if self.N == 0:
            return np.zeros(0, np.int64)
        sums = np.add.reduceat(self.vals.astype(np.int64), self.indptr[:-1]) if len(self.vals) else None
        out = np.zeros(self.N, np.int64)
        if sums is not None:
            out[:] = np.where(self.nnz() > 0, sums, 0)
        return out

    def dense(self) -> np.ndarray:
        out = np.zeros((self.N, self.V), np.int64)
        rows = np.repeat(np.arange(self.N), self.nnz())
        out[rows, self.cols] = self.vals
        return out


def plain_scores(q: np.ndarray, g: SparseVectors) -> np.ndarray:
    """The exact integer scores <q, g_i> (the reference the encrypted path must equal)."""
    q = np.asarray(q, np.int64)
    if q.shape != (g.V,):
        raise ValueError(f"query has {q.shape} coordinates, the gallery {g.V}")
    prods = q[g.cols].astype(np.int64) * g.vals.astype(np.int64)
    out = np.zeros(g.N, np.int64)
    rows = np.repeat(np.arange(g.N), g.nnz())
    np.add.at(out, rows, prods)
    return out


def slot_layout(key_bits: int, qmax: int, g: SparseVectors) -> tuple[int, int, int]:
    """(w, P, bound): slot width, slots per ciphertext and the static score bound."""
    bound = int(qmax) * int(g.row_sums().max(initial=0))
    w = max(2, bound.bit_length() + 1)  # + sign bit: slots decode as signed digits
    if w > 62:
        raise ValueError(f"score bound {bound} needs {w}-bit slots (at most 62)")
    P = (key_bits - 2) // w
    if P < 1:
        raise ValueError("the key is too small for one score per ciphertext")
    return w, P, bound


class _Scorer:
    """Picklable bundle: the Montgomery context and the query's power table."""

    def __init__(self, mod: _core.Mod, table: np.ndarray) -> None:
        self.mod, self.table = mod, table

    def products(self, idx: np.ndarray) -> tuple[np.ndarray, int]:
        return self.mod.multiexp(idx, self.table, np.ones(1, np.uint64))


def _power_table(pub, q_ct: np.ndarray, kmax: int, workers) -> np.ndarray:
    """Rows j*kmax + (k-1) = E(q_j)^k in Montgomery form."""
    mod = pub.mod
    V = q_ct.shape[0]
    powers = np.empty((V, kmax, pub.L), np.uint64)
    powers[:, 0] = q_ct
    for k in range(1, kmax):
        powers[:, k] = run_batched(mod, "mulmod", [np.ascontiguousarray(powers[:, k - 1]), q_ct],
                                   workers=workers)
    flat = powers.reshape(V * kmax, pub.L)
    return run_batched(mod, "to_mont", [flat], workers=workers)


def _index_rows(g: SparseVectors, rows: np.ndarray, kmax: int) -> np.ndarray:
    """(len(rows), 1, G) table indices of the rows' nonzeros, -1 padded."""
    nnz = g.nnz()[rows]
    G = max(1, int(nnz.max(initial=0)))
    idx = np.full((len(rows), 1, G), -1, np.int64)
    starts = g.indptr[rows]
    pos = np.arange(G)[None, :]
    mask = pos < nnz[:, None]
    flat = (starts[:, None] + pos)[mask]
    idx[:, 0, :][mask] = g.cols[flat].astype(np.int64) * kmax + g.vals[flat].astype(np.int64) - 1
    return idx


def encrypted_scores(pub, q_ct: np.ndarray, g: SparseVectors, qmax: int, *, workers=None,
                     rerandomise: bool = True, stats: dict | None = None) -> tuple[np.ndarray, int, int]:
    """(ciphertexts (C, L), w, P): slot s of ciphertext c holds E(<q, g_{c*P+s}>).

    ``q_ct`` are the client's (V, L) ciphertexts of coordinates in 0..qmax (the
    server cannot check that; a client that lies only garbles its own scores).
    """
    if q_ct.shape != (g.V, pub.L) or q_ct.dtype != np.uint64:
        raise ValueError(f"expected ({g.V}, {pub.L}) uint64 ciphertexts")
    if g.vals.size and int(g.vals.max()) > KMAX:
        raise ValueError(f"gallery coordinates above {KMAX}")
    w, P, _bound = slot_layout(pub.bits, qmax, g)
    N, mod = g.N, pub.mod
    C = -(-N // P)
    mults = 0
    q_ct = np.ascontiguousarray(q_ct)
    table = _power_table(pub, q_ct, KMAX, workers)
    mults += g.V * (2 * (KMAX - 1) + 1)
    scorer = _Scorer(mod, table)
    # per-image products, images of similar sparsity together (lanes stay busy)
    per_image = np.empty((C * P, pub.L), np.uint64)
    per_image[N:] = 0
    per_image[N:, 0] = 1  # empty slots of the last ciphertext: E(0) trivially
    order = np.argsort(g.nnz(), kind="stable")
    for lo in range(0, N, _CHUNK):
        rows = order[lo:lo + _CHUNK]
        out, m = run_batched(scorer, "products", [_index_rows(g, rows, KMAX)], workers=workers,
                             min_chunk=4)
        per_image[rows] = out
        mults += int(m)
    # Horner over slots, every packed ciphertext at once: acc = acc^B * S_s
    slots = per_image.reshape(C, P, pub.L)
    acc = np.ascontiguousarray(slots[:, P - 1])
    for s in range(P - 2, -1, -1):
        acc, m = run_batched(mod, "pow2k", [acc], [w], workers=workers)
        acc = run_batched(mod, "mulmod", [acc, np.ascontiguousarray(slots[:, s])], workers=workers)
        mults += int(m) + 3 * C
    if rerandomise:
        zero = pub.encrypt_residues(np.zeros((C, pub.Ln), np.uint64), workers=workers)
        acc = run_batched(mod, "mulmod", [acc, zero], workers=workers)
    if stats is not None:
        stats.update(mults=mults, table_mults=g.V * (2 * (KMAX - 1) + 1), nnz=int(g.nnz().sum()),
                     ciphertexts=C, w=w, P=P)
    return acc, w, P
