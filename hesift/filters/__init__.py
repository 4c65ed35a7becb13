"""Image operations on Paillier-encrypted images (evaluator: public key only).

Every op takes an encrypted 2-D plane, packed (``hc.PackedImage``) or not
(``hc.EncryptedArray``), or a list of planes (colour, one per channel), and
returns the same kind.  Results carry their fixed-point ``scale``; the key
owner gets pictures back with :func:`decrypt_image`.

Runs encrypted (evaluator): Gaussian/box/user-kernel smoothing, Sobel/Scharr/
Prewitt/Roberts x and y derivatives, Laplacian, unsharp mask / high-boost,
negate/brightness/contrast/blend, and the neighbourhood counts of binary
morphology.  Runs after decryption (key owner): gradient magnitude and
orientation, and the thresholds that turn counts into erode/dilate/open/
close/gradient (see :mod:`hesift.filters.morphology` for what that reveals).
"""

from __future__ import annotations

from .decrypt import decrypt_counts, decrypt_image, decrypt_values, to_display
from .edges import (
    gradient_magnitude,
    gradient_orientation,
    laplacian,
    prewitt,
    roberts,
    scharr,
    sobel,
)
from .morphology import (
    apply_morphology,
    binarize,
    closing,
    dilate,
    erode,
    morph_gradient,
    neighbourhood_counts,
    opening,
    threshold_counts,
)
from .point import blend, brightness, contrast, negate
from .sharpen import high_boost, high_boost_kernel, unsharp_mask
from .smoothing import box, filter2d, gaussian

__all__ = [
    "binarize",
    "blend",
    "box",
    "brightness",
    "closing",
    "contrast",
    "decrypt_counts",
    "decrypt_image",
    "decrypt_values",
    "dilate",
    "erode",
    "filter2d",
    "gaussian",
    "gradient_magnitude",
    "gradient_orientation",
    "high_boost",
    "high_boost_kernel",
    "laplacian",
    "morph_gradient",
    "apply_morphology",
    "negate",
    "neighbourhood_counts",
    "opening",
    "prewitt",
    "roberts",
    "scharr",
    "sobel",
    "threshold_counts",
    "to_display",
    "unsharp_mask",
]
