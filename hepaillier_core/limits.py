"""Reading untrusted bytes: every declared size is checked before anything is allocated.

One way to do it, used by every parser of the project (``from_bytes``/``load``
of encrypted arrays, the HESIFT byte messages, the encrypted-image container,
the gallery's stored arrays) and by the network services with their own
limits:

* ``check_declared(declared, available, what=..., max_bytes=...)`` — a size a
  header declares must not exceed the cap, nor the bytes that actually follow.
* ``read_npz`` / ``read_npy`` — NumPy containers read member by member: only
  uncompressed members (so a member can never inflate beyond the body), only
  the dtypes the caller names, C order, and the shape in each ``.npy`` header
  checked against the member's length *before* its buffer is allocated.
* ``parse_json`` — bounded JSON (deep nesting and over-long numbers become a
  ``ValueError`` too).

The cap, in bytes, is ``max_bytes`` when a caller passes one, else the
environment variable ``HEPAILLIER_MAX_BYTES``, else ``DEFAULT_MAX_BYTES``
(8 GiB: a local file may be large; a service should pass a much smaller
limit for its request bodies).  Every failure is a one-line ``ValueError``.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Iterable
from typing import Any, BinaryIO

import numpy as np

DEFAULT_MAX_BYTES = 8 << 30
MAX_BYTES_ENV = "HEPAILLIER_MAX_BYTES"
MAX_JSON_BYTES = 1 << 20  # metadata and message headers
MAX_MEMBERS = 4096
_NPY_HEADER_MAX = 10_000  # numpy's own default for trusted headers


def byte_cap(override: int | None = None) -> int:
    """The cap in bytes: ``override``, else $HEPAILLIER_MAX_BYTES, else DEFAULT_MAX_BYTES."""
    if override is not None:
        cap = int(override)
    else:
        env = os.environ.get(MAX_BYTES_ENV, "").strip()
        try:
            cap = int(env) if env else DEFAULT_MAX_BYTES
        except ValueError:
            raise ValueError(f"{MAX_BYTES_ENV} must be a number of bytes, got {env!r}") from None
    if cap < 0:
        raise ValueError(f"max_bytes must be >= 0, got {cap}")
    return cap


def _fmt(n: int) -> str:
    for unit, s in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= 1 << s:
            return f"{n / (1 << s):.1f} {unit}"
    return f"{n} B"


def check_declared(declared: int, available: int | None, *, what: str,
                   max_bytes: int | None = None) -> int:
    """Refuse a declared size over the cap, or over the ``available`` bytes of the body.

    Call it before allocating anything of size ``declared``; returns it.
    """
    cap = byte_cap(max_bytes)
    if declared < 0:
        raise ValueError(f"{what}: declares a negative size")
    if declared > cap:
        raise ValueError(f"{what}: declares {_fmt(declared)}, over the limit of {_fmt(cap)} "
                         f"(max_bytes / {MAX_BYTES_ENV})")
    if available is not None and declared > available:
        raise ValueError(f"{what}: declares {_fmt(declared)} but only {_fmt(available)} follow "
                         "(truncated or forged)")
    return declared


def shape_nbytes(shape: Any, itemsize: int, *, what: str) -> int:
    """Bytes of an array of ``shape`` (exact Python ints: no overflow), shape validated."""
    if not isinstance(shape, (tuple, list)) or len(shape) > 32:
        raise ValueError(f"{what}: malformed shape")
    total = int(itemsize)
    for s in shape:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0:
            raise ValueError(f"{what}: malformed shape {shape!r}"[:200])
        total *= int(s)
    return total


def parse_json(data: bytes | str, *, what: str, limit: int = MAX_JSON_BYTES) -> Any:
    """json.loads of at most ``limit`` bytes; any failure is a one-line ValueError."""
    if len(data) > limit:
        raise ValueError(f"{what}: {_fmt(len(data))} of JSON, over the limit of {_fmt(limit)}")
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError, TypeError):
        raise ValueError(f"{what}: not valid JSON") from None


def read_npy(f: BinaryIO, size: int, *, what: str, dtypes: Iterable[str] = ("<u8", "|u1"),
             max_bytes: int | None = None) -> np.ndarray:
    """Read one ``.npy`` of exactly ``size`` bytes from ``f``: header, checks, then the buffer."""
    allowed = {np.dtype(d) for d in dtypes}
    try:
        start = f.tell()
        major, _minor = np.lib.format.read_magic(f)
        if major == 1:
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(
                f, max_header_size=_NPY_HEADER_MAX)
        elif major in (2, 3):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(
                f, max_header_size=_NPY_HEADER_MAX)
        else:
            raise ValueError
    except (ValueError, SyntaxError, TypeError, EOFError, OSError, RecursionError,
            MemoryError, zipfile.BadZipFile):
        raise ValueError(f"{what}: not a valid .npy array") from None
    if dtype not in allowed or dtype.hasobject:
        raise ValueError(f"{what}: unexpected element type {dtype.str!r}")
    if fortran:
        raise ValueError(f"{what}: Fortran-ordered arrays are not accepted")
    header_len = f.tell() - start
    nbytes = shape_nbytes(shape, dtype.itemsize, what=what)
    check_declared(nbytes, size - header_len, what=what, max_bytes=max_bytes)
    if nbytes != size - header_len:
        raise ValueError(f"{what}: {size - header_len} bytes of data for a declared "
                         f"{nbytes} (truncated or trailing bytes)")
    buf = bytearray(nbytes)
    try:
        got = f.readinto(buf) if nbytes else 0
        while got < nbytes:  # readinto may return short reads
            more = f.readinto(memoryview(buf)[got:])
            if not more:
                break
            got += more
    except (OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"{what}: corrupted array data ({_one_line(e)})") from None
    if got != nbytes:
        raise ValueError(f"{what}: truncated array data")
    return np.frombuffer(buf, dtype=dtype).reshape(shape)


def read_npz(src: bytes | bytearray | memoryview | str | os.PathLike, *, what: str,
             dtypes: Iterable[str] = ("<u8", "|u1"), max_bytes: int | None = None,
             max_members: int = MAX_MEMBERS) -> dict[str, np.ndarray]:
    """Every member of an ``.npz`` (name without ``.npy``), read with ``read_npy``.

    Only stored (uncompressed) members are accepted — what ``numpy.savez``
    writes — so nothing can inflate beyond the body, whose length is checked
    against the cap before the zip is opened.
    """
    if isinstance(src, (bytes, bytearray, memoryview)):
        available = len(src)
        fobj: Any = io.BytesIO(src)
    else:
        try:
            available = os.path.getsize(src)
        except OSError as e:
            raise ValueError(f"{what}: cannot read ({_one_line(e)})") from None
        fobj = os.fspath(src)
    check_declared(available, None, what=what, max_bytes=max_bytes)
    dtypes = tuple(dtypes)
    out: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(fobj) as z:
            infos = z.infolist()
            if len(infos) > max_members:
                raise ValueError(f"{what}: {len(infos)} members, over the limit of {max_members}")
            # members may not overlap: together they fit in the body (no zip bombs)
            check_declared(sum(i.file_size for i in infos), available,
                           what=f"{what} members", max_bytes=max_bytes)
            for info in infos:
                name = info.filename
                if not name.endswith(".npy") or name[:-4] in out or "/" in name:
                    raise ValueError(f"{what}: unexpected member {name[:80]!r}")
                if info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 0x1:
                    raise ValueError(f"{what}: compressed or encrypted members are not accepted")
                if info.compress_size != info.file_size:
                    raise ValueError(f"{what}: member {name[:80]!r} sizes disagree")
                check_declared(info.file_size, available - info.header_offset,
                               what=f"{what} member {name[:80]!r}", max_bytes=max_bytes)
                with z.open(info) as f:
                    out[name[:-4]] = read_npy(f, info.file_size, what=f"{what} ({name[:80]})",
                                              dtypes=dtypes, max_bytes=max_bytes)
    except ValueError as e:
        if str(e).startswith(what):
            raise
        raise ValueError(f"{what}: corrupted or truncated ({_one_line(e)})") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, KeyError,
            NotImplementedError, RuntimeError, OverflowError) as e:
        raise ValueError(f"{what}: corrupted or truncated ({_one_line(e)})") from None
    return out


def _one_line(e: BaseException) -> str:
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    return msg[:160]
