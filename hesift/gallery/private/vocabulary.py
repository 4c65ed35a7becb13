"""The visual vocabulary and the quantised bag-of-words vectors of private retrieval.

Server side: a seeded k-means on (a deterministic sample of) the gallery's SIFT
descriptors gives ``V`` visual words; ``idf_j = log((N + 1) / (df_j + 1))``
down-weights words that many gallery images contain.  A vector is
``sqrt(tf_j) * idf_j`` (the square root tames bursts of one repeated
texture), L2-normalised, then quantised:

- a gallery vector to integers ``0..KMAX`` relative to its own largest weight
  (its quantised norm is published, so scores can be turned into cosines);
- a query vector to integers ``0..qmax`` the same way (a common factor for all
  its scores, so rankings are unchanged).

The client needs only the vocabulary, idf and ``qmax`` to describe its photo the
way the gallery does; its SIFT never leaves the machine.
"""

from __future__ import annotations

import numpy as np

from .scoring import KMAX

__all__ = ["QMAX", "assign_words", "bow_weights", "quantise", "train_vocabulary"]

#: Query coordinates are quantised to 0..QMAX (10 bits): precision costs the
#: server nothing (it never multiplies by query values), only slot width.
QMAX = 1023
_TRAIN_SAMPLE = 100_000
_ASSIGN_BLOCK = 8192


def train_vocabulary(descriptors: np.ndarray, words: int, *, seed: int = 0,
                     iterations: int = 20) -> np.ndarray:
    """(words, 128) float32 centres: k-means++ / Lloyd (OpenCV) with a fixed seed."""
    import cv2

    d = np.ascontiguousarray(descriptors, np.float32)
    if d.ndim != 2 or len(d) == 0:
        raise ValueError("no descriptors to train a vocabulary on")
    rng = np.random.default_rng(seed)
    if len(d) > _TRAIN_SAMPLE:
        d = np.ascontiguousarray(d[np.sort(rng.choice(len(d), _TRAIN_SAMPLE, replace=False))])
    k = int(min(words, len(d)))
    cv2.setRNGSeed(seed)
    crit = (cv2.TERM_CRITERIA_MAX_ITER + cv2.TERM_CRITERIA_EPS, iterations, 1e-3)
    _c, _labels, centres = cv2.kmeans(d, k, None, crit, 1, cv2.KMEANS_PP_CENTERS)
    return np.ascontiguousarray(centres, np.float32)


def assign_words(descriptors: np.ndarray, vocabulary: np.ndarray) -> np.ndarray:
    """Index of the nearest visual word of every descriptor (exact L2, blocked)."""
    d = np.asarray(descriptors, np.float32)
    if len(d) == 0:
        return np.zeros(0, np.int64)
    c = np.asarray(vocabulary, np.float32)
    cn = (c.astype(np.float64) ** 2).sum(1)
    out = np.empty(len(d), np.int64)
    for lo in range(0, len(d), _ASSIGN_BLOCK):
        blk = d[lo:lo + _ASSIGN_BLOCK]
        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 does not change the argmin
        dist = cn[None, :] - 2.0 * (blk.astype(np.float64) @ c.T.astype(np.float64))
        out[lo:lo + _ASSIGN_BLOCK] = np.argmin(dist, axis=1)
    return out


def bow_weights(words: np.ndarray, idf: np.ndarray) -> np.ndarray:
    """L2-normalised sqrt(tf) * idf weights (float64, length V)."""
    V = len(idf)
    tf = np.bincount(np.asarray(words, np.int64), minlength=V)[:V].astype(np.float64)
    w = np.sqrt(tf) * np.asarray(idf, np.float64)
    norm = np.linalg.norm(w)
    return w / norm if norm > 0 else w


def idf_of(word_lists: list[np.ndarray], V: int) -> np.ndarray:
    """log((N + 1) / (df + 1)) per word, float32."""
    df = np.zeros(V, np.int64)
    for words in word_lists:
        df[np.unique(words)] += 1
    return np.log((len(word_lists) + 1) / (df + 1.0)).astype(np.float32)


def quantise(w: np.ndarray, top: int) -> np.ndarray:
    """Integers 0..top proportional to ``w`` (its largest entry maps to ``top``)."""
    w = np.asarray(w, np.float64)
    m = w.max(initial=0.0)
    if m <= 0:
        return np.zeros(len(w), np.int64)
    return np.clip(np.rint(w / m * top), 0, top).astype(np.int64)


def gallery_vector(words: np.ndarray, idf: np.ndarray) -> np.ndarray:
    return quantise(bow_weights(words, idf), KMAX)


def query_vector(words: np.ndarray, idf: np.ndarray, qmax: int = QMAX) -> np.ndarray:
    return quantise(bow_weights(words, idf), qmax)
