"""Image files in and out, the encrypted-image container, and size checks.

Everything a user can hand us goes through here and fails with
:class:`InputError` (one readable line) rather than a traceback.  Files are
written atomically: to a temporary file in the destination directory, then
renamed, so an interrupted or failed run never leaves a partial output.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hepaillier_core.files import default_mode, replace_durably
from hesift.errors import (
    InputError,
    MissingInputError,
    SizeRefusedError,
    UnreadableInputError,
    WrongKeyError,
)

from .imagehead import MAX_PIXELS as IMAGEHEAD_MAX_PIXELS
from .imagehead import ImageHeaderError, check_image

FORMAT = "hesift-encrypted-image"
VERSION = 1
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm")
# refuse absurd images (decompression bombs) from their header, before decoding
MAX_PIXELS = IMAGEHEAD_MAX_PIXELS


# --- atomic output -------------------------------------------------------------------


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, mode: int | None = None) -> Iterator[Path]:
    """Yield a temp path beside ``path`` (same suffix); rename onto ``path`` on success."""
    dest = Path(path)
    if dest.is_dir():
        raise InputError(f"output {str(dest)!r} is a directory")
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output directory {str(parent)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=f".tmp{dest.suffix}", dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    if mode is None:
        # ordinary outputs get the usual permissions (mkstemp makes 0600)
        mode = default_mode()
    try:
        os.chmod(tmp_path, mode)
        yield tmp_path
        os.chmod(tmp_path, mode)
        replace_durably(tmp_path, dest)  # fsync file, rename, fsync folder
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


# --- images -------------------------------------------------------------------------


def check_input_file(path: str | os.PathLike) -> Path:
    """The path of a readable, non-empty input file; MissingInputError / UnreadableInputError."""
    p = Path(path)
    if not p.exists():
        raise MissingInputError(f"cannot read {str(p)!r}: no such file")
    if p.is_dir():
        raise UnreadableInputError(f"cannot read {str(p)!r}: it is a directory")
    if not os.access(p, os.R_OK):
        raise UnreadableInputError(f"cannot read {str(p)!r}: permission denied")
    if p.stat().st_size == 0:
        raise UnreadableInputError(f"cannot read {str(p)!r}: the file is empty")
    return p


def load_image(path: str | os.PathLike, *, grey: bool = False) -> np.ndarray:
    """Read an image file as uint8 H x W (grey) or H x W x 3 (RGB); alpha is dropped.

    16-bit images are reduced to 8 bits (value >> 8).  Greyscale files stay
    one plane unless ``grey`` is False and the file is colour.
    """
    import cv2

    p = check_input_file(path)
    data = np.fromfile(p, dtype=np.uint8)
    try:  # size, depth and channels from the header, before any decoding (bombs)
        check_image(data, max_pixels=MAX_PIXELS)
    except ImageHeaderError as e:
        raise _header_error(p, e) from None
    try:
        a = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:  # e.g. OpenCV's own pixel cap (OPENCV_IO_MAX_IMAGE_PIXELS)
        a = None
    if a is None:
        raise UnreadableInputError(f"cannot read {str(p)!r}: not an image file OpenCV can decode")
    if a.size == 0 or min(a.shape[:2]) == 0:
        raise UnreadableInputError(f"{str(p)!r}: the image is empty")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise SizeRefusedError(f"{str(p)!r}: {a.shape[1]}x{a.shape[0]} pixels is over the {MAX_PIXELS} limit")
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise UnreadableInputError(f"{str(p)!r}: unsupported pixel type {a.dtype} (need 8 or 16 bit)")
    if a.ndim == 3:
        if a.shape[2] == 1:
            a = a[:, :, 0]
        elif a.shape[2] == 4:
            a = cv2.cvtColor(a, cv2.COLOR_BGRA2RGB)
        else:
            a = cv2.cvtColor(a, cv2.COLOR_BGR2RGB)
    if a.ndim == 3 and (grey or is_grey(a)):
        a = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY) if not is_grey(a) else a[:, :, 0].copy()
    return np.ascontiguousarray(a)


def image_shape(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of an image file from its header alone (no decoding)."""
    p = _check_input_file(path)
    head = p.read_bytes()  # the header check follows chunks to the end (truncation, forgery)
    try:
        h = check_image(head, max_pixels=MAX_PIXELS)
    except ImageHeaderError as e:
        raise _header_error(p, e) from None
    return h.height, h.width


def _header_error(p: Path, e: Exception) -> InputError:
    if str(e).startswith("image is too large"):
        return SizeRefusedError(f"{str(p)!r}: {e}")
    return UnreadableInputError(f"cannot read {str(p)!r}: {e}")


def is_grey(a: np.ndarray) -> bool:
    """True for a 2-D image or a colour image whose channels are all equal."""
    return a.ndim == 2 or bool((a[:, :, 0] == a[:, :, 1]).all() and (a[:, :, 1] == a[:, :, 2]).all())


def validate_image(a: np.ndarray, what: str = "image") -> np.ndarray:
    """Check an in-memory image: uint8-compatible, 2-D or H x W x 3, non-empty."""
    a = np.asarray(a)
    if a.size == 0 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] != 3):
        raise InputError(f"{what} must be a non-empty H x W or H x W x 3 array, got {a.shape}")
    if a.dtype != np.uint8:
        if a.dtype.kind not in "iub" or a.min() < 0 or a.max() > 255:
            raise InputError(f"{what} must hold integers 0..255, got dtype {a.dtype}")
        a = a.astype(np.uint8)
    return a


def save_image(path: str | os.PathLike, a: np.ndarray) -> None:
    """Write uint8 grey or RGB atomically; the suffix picks the format."""
    import cv2

    dest = Path(path)
    if dest.suffix.lower() not in IMAGE_SUFFIXES:
        raise InputError(
            f"output {str(dest)!r}: unknown image type; use one of {', '.join(IMAGE_SUFFIXES)}"
        )
    a = validate_image(a, "output image")
    bgr = cv2.cvtColor(a, cv2.COLOR_RGB2BGR) if a.ndim == 3 else a
    ok, buf = cv2.imencode(dest.suffix.lower(), bgr)
    if not ok:
        raise InputError(f"could not encode {str(dest)!r}")
    with atomic_path(dest) as tmp:
        tmp.write_bytes(buf.tobytes())


def planes_of(a: np.ndarray) -> tuple[list[np.ndarray], list[str]]:
    """Split an image into int64 planes and their names (Y, or R G B)."""
    if a.ndim == 2:
        return [a.astype(np.int64)], ["Y"]
    return [a[:, :, i].astype(np.int64) for i in range(3)], ["R", "G", "B"]


# --- size estimates -----------------------------------------------------------------


def ciphertext_bytes(key_bits: int) -> int:
    """Bytes of one ciphertext (an integer mod n**2, stored as 64-bit limbs)."""
    return 8 * math.ceil(2 * key_bits / 64)


def estimate_ciphertext_bytes(
    height: int,
    width: int,
    channels: int = 1,
    *,
    key_bits: int = 2048,
    pack: bool = True,
    bits_per_slot: int = 32,
    pad: int = 0,
    headroom: int = 64,
) -> int:
    """Bytes of ciphertexts an encrypted image will take (approximate for packed)."""
    ct = ciphertext_bytes(key_bits)
    if not pack:
        return height * width * channels * ct
    slots = max(1, (key_bits - 2) // bits_per_slot)
    cols = width + 2 * pad + headroom
    per_row = math.ceil(cols / slots)
    return channels * (height + 2 * pad) * per_row * ct


def available_memory() -> int:
    """Bytes of memory available now (Linux MemAvailable; else 4 GiB)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 4 << 30


def human_bytes(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TiB"


def check_size(
    estimate: int, limit: int | None = None, *, copies: int = 3, packed: bool = False
) -> None:
    """Refuse (InputError) when ``copies`` x ``estimate`` bytes exceed the limit.

    ``copies`` covers the input, the output and a working copy of a filter.
    """
    limit = available_memory() // 2 if limit is None else int(limit)
    if estimate * copies > limit:
        raise SizeRefusedError(
            f"the encrypted image would take about {human_bytes(estimate)} "
            f"({estimate:,} bytes; {human_bytes(estimate * copies)} while filtering), over the limit of "
            f"{human_bytes(limit)}; use {'' if packed else '--pack, '}a smaller image or --max-memory"
        )


# --- encrypted container ------------------------------------------------------------


@dataclass
class EncryptedImage:
    """Encrypted planes (one per channel/component) plus JSON metadata.

    The metadata says how the key owner turns the planes back into a picture
    (``kind``), how they were encoded (``encoding``: pack, pad, slot width),
    the key fingerprint, the ops applied and any morphology pass still pending.
    It never contains plaintext or key material.
    """

    planes: list[Any]
    names: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.planes or len(self.planes) != len(self.names):
            raise InputError("an encrypted image needs one name per plane and at least one plane")

    @property
    def public_key(self) -> Any:
        return self.planes[0].public_key

    @property
    def fingerprint(self) -> str:
        return str(self.public_key.fingerprint)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(int(s) for s in self.planes[0].shape)  # type: ignore[return-value]

    def nbytes(self) -> int:
        """Serialised size of the planes."""
        return sum(len(p.to_bytes()) for p in self.planes)

    def save(self, path: str | os.PathLike) -> None:
        """Write an .npz (planes as to_bytes() blobs + JSON metadata), atomically."""
        meta = dict(self.meta, format=FORMAT, version=VERSION, names=list(self.names),
                    fingerprint=self.fingerprint, shape=list(self.shape))
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        for i, p in enumerate(self.planes):
            arrays[f"plane_{i:03d}"] = np.frombuffer(p.to_bytes(), dtype=np.uint8)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, public_key: Any = None, *,
             max_bytes: int | None = None) -> EncryptedImage:
        """Read a container; refuse foreign files and a key that does not match.

        Untrusted input: every declared size is checked against the file and
        the cap ``max_bytes`` before allocation (``hepaillier_core.limits``).
        """
        import hepaillier_core as hc
        from hepaillier_core.limits import parse_json, read_npz

        p = check_input_file(path)
        try:
            arrays = read_npz(p, what=str(p), dtypes=("|u1",), max_bytes=max_bytes)
            if "meta" not in arrays:
                raise UnreadableInputError(f"{str(p)!r} is not a hesift encrypted image (no metadata)")
            meta = parse_json(arrays["meta"].tobytes(), what=f"{str(p)!r} metadata")
            blobs = [arrays[k].tobytes() for k in sorted(f for f in arrays if f.startswith("plane_"))]
        except InputError:
            raise
        except ValueError as e:
            if "over the limit" in str(e):
                raise SizeRefusedError(f"{str(p)!r}: {_short(e)}") from None
            raise UnreadableInputError(f"{str(p)!r} is not a hesift encrypted image ({_short(e)})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise UnreadableInputError(f"{str(p)!r} is not a hesift encrypted image")
        if meta.get("version") != VERSION:
            raise UnreadableInputError(f"{str(p)!r}: unsupported container version {meta.get('version')}")
        names = meta.get("names", [])
        if (not isinstance(names, list) or not all(isinstance(n, str) for n in names)
                or len(blobs) != len(names) or not blobs):
            raise UnreadableInputError(f"{str(p)!r} is damaged: {len(blobs)} planes for {len(names)} names")
        if public_key is not None and meta.get("fingerprint") != public_key.fingerprint:
            raise WrongKeyError(
                f"{str(p)!r} was encrypted under key {meta.get('fingerprint')}, "
                f"but the key given is {public_key.fingerprint}"
            )
        planes = []
        for i, b in enumerate(blobs):
            try:
                planes.append(hc.from_bytes(b, max_bytes=max_bytes))
            except Exception as e:  # the core's own validation of a corrupt blob
                raise UnreadableInputError(f"{str(p)!r}: plane {i} is corrupt ({_short(e)})") from None
        for x in planes:
            if str(x.public_key.fingerprint) != meta.get("fingerprint"):
                raise UnreadableInputError(f"{str(p)!r} is damaged: plane key does not match its metadata")
        return cls(planes, list(names), {k: v for k, v in meta.items() if k not in _RESERVED})


_RESERVED = ("format", "version", "names", "fingerprint", "shape")


def _short(e: BaseException) -> str:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return msg[:200]


def is_container(path: str | os.PathLike) -> bool:
    """True when ``path`` looks like an .npz (zip) file rather than a picture."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def image_to_bytes(a: np.ndarray, suffix: str = ".png") -> bytes:
    """Encode a uint8 image in memory (for the web page and tests)."""
    import cv2

    a = validate_image(a)
    bgr = cv2.cvtColor(a, cv2.COLOR_RGB2BGR) if a.ndim == 3 else a
    ok, buf = cv2.imencode(suffix, bgr)
    if not ok:
        raise InputError(f"could not encode image as {suffix}")
    return buf.tobytes()


_check_input_file = check_input_file  # the old private name
