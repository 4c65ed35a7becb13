"""hesift: image processing and SIFT on Paillier-encrypted images.

Public API (imported lazily so `import hesift` stays cheap):

- ``hesift.filters``  encrypted smoothing, edges, sharpening, morphology, point ops
- ``hesift.HESIFT``, ``hesift.sift_reference``, ``hesift.KeyOwner``, ``hesift.Evaluator``
- ``hesift.match``, ``hesift.Gallery``
- ``hesift.RemoteEvaluator``: the evaluator as a service (``hesift evaluator``), see
  ``hesift.remote`` and docs/deployment.md
"""

from __future__ import annotations

import importlib
import os

from .imagehead import MAX_PIXELS as _MAX_PIXELS

# OpenCV's own decoder cap, read once when cv2 loads: a second line of defence
# behind hesift.imagehead's header checks (an explicit setting wins).
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(_MAX_PIXELS))

__version__ = "0.1.0"

_LAZY = {
    "filters": ("hesift.filters", None),
    "kernels": ("hesift.kernels", None),
    "HESIFT": ("hesift.sift", "HESIFT"),
    "sift_reference": ("hesift.sift", "sift_reference"),
    "KeyOwner": ("hesift.sift", "KeyOwner"),
    "Evaluator": ("hesift.sift", "Evaluator"),
    "match": ("hesift.matching", "match"),
    "MatchResult": ("hesift.matching", "MatchResult"),
    "Gallery": ("hesift.gallery", "Gallery"),
    "RemoteEvaluator": ("hesift.remote", "RemoteEvaluator"),
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    try:
        module, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'hesift' has no attribute {name!r}") from None
    mod = importlib.import_module(module)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value
