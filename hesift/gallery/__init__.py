"""Persistent image gallery (SQLite) with FLANN-indexed top-k retrieval."""

from .features import HESIFTExtractor, ReferenceExtractor
from .gallery import DEFAULT_MAX_SIDE, Gallery, QueryFeatures, QueryResult
from .images import ImageError, load_image
from .private import PrivateClient, PrivateIndex
from .store import Entry, GalleryError

__all__ = [
    "DEFAULT_MAX_SIDE",
    "Entry",
    "Gallery",
    "GalleryError",
    "HESIFTExtractor",
    "ImageError",
    "PrivateClient",
    "PrivateIndex",
    "QueryFeatures",
    "QueryResult",
    "ReferenceExtractor",
    "load_image",
]
