"""Private retrieval: the gallery server ranks its images against a query it cannot read.

Client: :class:`PrivateClient` (key owner).  Server: :class:`PrivateIndex`
(public key and ciphertexts only).  Byte formats: :mod:`.wire`; the encrypted
scoring: :mod:`.scoring`; the vocabulary: :mod:`.vocabulary`.  Protocol and
what each side sees: docs/private_retrieval.md.
"""

from .client import SIMILAR, PrivateClient, PrivateScores
from .scoring import SparseVectors, encrypted_scores, plain_scores
from .server import EmptyGallery, PrivateIndex, StaleParams
from .wire import Params, WireError, query_size

__all__ = [
    "SIMILAR",
    "EmptyGallery",
    "Params",
    "PrivateClient",
    "PrivateIndex",
    "PrivateScores",
    "SparseVectors",
    "StaleParams",
    "WireError",
    "encrypted_scores",
    "plain_scores",
    "query_size",
]
