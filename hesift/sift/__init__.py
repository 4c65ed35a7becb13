"""HESIFT: SIFT whose Gaussian/DoG scale space is computed on Paillier ciphertexts."""

from hesift.sift.api import HESIFT, sift_reference
from hesift.sift.params import SiftParams

__all__ = ["HESIFT", "sift_reference", "SiftParams", "KeyOwner", "Evaluator"]


def __getattr__(name: str):
    # the two-party classes need hepaillier_core; import them only when asked
    if name in ("KeyOwner", "Evaluator"):
        from hesift.sift import protocol

        return getattr(protocol, name)
    raise AttributeError(f"module 'hesift.sift' has no attribute {name!r}")
