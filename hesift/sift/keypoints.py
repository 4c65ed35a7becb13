"""Keypoint records as OpenCV packs them, plus OpenCV's final sort/dedupe/retainBest."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_FLT_EPSILON = float(np.finfo(np.float32).eps)


@dataclass
class KeypointSet:
    """Struct-of-arrays keypoints (float32 like cv2.KeyPoint) with their descriptors."""

    x: np.ndarray
    y: np.ndarray
    size: np.ndarray
    angle: np.ndarray
    response: np.ndarray
    octave: np.ndarray  # int64, OpenCV's packed octave | layer << 8 | xi << 16
    desc: np.ndarray  # (N, 128) float32

    @classmethod
    def empty(cls) -> KeypointSet:
        f = np.zeros(0, dtype=np.float32)
        return cls(f, f, f, f, f, np.zeros(0, dtype=np.int64), np.zeros((0, 128), np.float32))

    def __len__(self) -> int:
        return len(self.x)

    def take(self, idx: np.ndarray) -> KeypointSet:
        return KeypointSet(*(getattr(self, k)[idx] for k in self.__dataclass_fields__))

    @staticmethod
    def concat(parts: list[KeypointSet]) -> KeypointSet:
        if not parts:
            return KeypointSet.empty()
        return KeypointSet(
            *(np.concatenate([getattr(p, k) for p in parts]) for k in KeypointSet.__dataclass_fields__)
        )

    def to_cv(self) -> list[cv2.KeyPoint]:
        return [
            cv2.KeyPoint(float(x), float(y), float(s), float(a), float(r), int(o), -1)
            for x, y, s, a, r, o in zip(self.x, self.y, self.size, self.angle, self.response, self.octave)
        ]


def octave_code(octave: int, layer: np.ndarray, xi: np.ndarray) -> np.ndarray:
    """octv + (layer << 8) + (cvRound((xi + 0.5) * 255) << 16)."""
    return octave + (layer.astype(np.int64) << 8) + (np.rint((xi + 0.5) * 255).astype(np.int64) << 16)


def shift_first_octave(code: np.ndarray, first_octave: int) -> np.ndarray:
    """OpenCV's (octave & ~255) | ((octave + firstOctave) & 255) after up-sampling."""
    return (code & ~255) | ((code + first_octave) & 255)


def unpack_octave(code: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(signed octave, layer, scale to octave-local pixels) as OpenCV's unpackOctave."""
    o = code & 255
    o = np.where(o < 128, o, o - 256)
    layer = (code >> 8) & 255
    scale = np.where(o >= 0, 1.0 / np.exp2(np.maximum(o, 0)), np.exp2(np.maximum(-o, 0))).astype(np.float32)
    return o, layer, scale


def sort_dedupe(kp: KeypointSet) -> KeypointSet:
    """KeyPointsFilter::removeDuplicatedSorted: sort (x, y, -size, angle, -response, -octave),
    then drop keypoints equal to their predecessor in x, y, size and angle."""
    n = len(kp)
    if n < 2:
        return kp
    order = np.lexsort((np.arange(n), -kp.octave, -kp.response, kp.angle, -kp.size, kp.y, kp.x))
    s = kp.take(order)
    same = (s.x[1:] == s.x[:-1]) & (s.y[1:] == s.y[:-1]) & (s.size[1:] == s.size[:-1]) & (s.angle[1:] == s.angle[:-1])
    return s.take(np.concatenate([[True], ~same]))


def retain_best(kp: KeypointSet, n_points: int) -> KeypointSet:
    """KeyPointsFilter::retainBest: the n strongest, plus ties with the n-th (order kept)."""
    if n_points <= 0 or len(kp) <= n_points:
        return kp
    thr = np.sort(kp.response)[::-1][n_points - 1]
    return kp.take(np.flatnonzero(kp.response >= thr))


def top_up(kp: KeypointSet, strong_response: float, n_min: int) -> KeypointSet:
    """Keypoints with response >= strong_response, plus the strongest others until
    there are ``n_min`` (order kept; ties with the last one taken are kept too)."""
    strong = kp.response >= strong_response
    missing = n_min - int(strong.sum())
    if missing <= 0:
        return kp.take(np.flatnonzero(strong))
    weak = np.flatnonzero(~strong)
    if len(weak) > missing:
        thr = np.sort(kp.response[weak])[::-1][missing - 1]
        weak = weak[kp.response[weak] >= thr]
    return kp.take(np.sort(np.concatenate([np.flatnonzero(strong), weak])))
