"""Image headers read before decoding: size, depth and channels, refused over a cap.

A decompression bomb (a 1 MB PNG declaring 14000x14000 16-bit RGB) costs
gigabytes only once decoded, so every place an image enters (CLI, gallery,
web page) calls :func:`check_image` on the encoded bytes first.  Only formats
whose header we read are accepted: PNG, JPEG, BMP, TIFF, WebP, GIF and
PNM/PAM; anything else is refused, never handed to a decoder blind.

``OPENCV_IO_MAX_IMAGE_PIXELS`` (OpenCV's own cap, read when cv2 loads) is set
by ``import hesift`` to the same limit, as a second line of defence.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

MAX_PIXELS = 100_000_000  # the default cap: 10000 x 10000
#: Largest possible ratio of uncompressed stream to file size: deflate cannot
#: exceed 1032:1; baseline or progressive JPEG needs at least one bit per 8x8
#: block and component (<= 1024:1 with 4:2:0 chroma).  A header declaring more
#: than that is a forgery or a truncated file, refused before a decoder
#: allocates the declared size.
MAX_RATIO = {"PNG": 1032, "JPEG": 2048}


class ImageHeaderError(ValueError):
    """The bytes are not an image we accept (one readable line)."""


@dataclass(frozen=True)
class ImageHeader:
    format: str
    width: int
    height: int
    channels: int  # upper bound of what a decoder returns
    bits: int  # per sample
    raw_bytes: int = 0  # the format's uncompressed stream (PNG, JPEG), for the ratio check

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def decoded_bytes(self) -> int:
        return self.pixels * self.channels * (2 if self.bits > 8 else 1)


def check_image(data: bytes, *, max_pixels: int = MAX_PIXELS) -> ImageHeader:
    """Read the header and refuse empty, oversized or too-deep images before decoding."""
    h = read_header(data)
    if h.width < 1 or h.height < 1:
        raise ImageHeaderError(f"{h.format} image declares no pixels ({h.width}x{h.height})")
    if h.pixels > max_pixels:
        raise ImageHeaderError(f"image is too large: {h.width}x{h.height} pixels "
                               f"(limit {max_pixels:,})")
    if h.bits > 16 or h.channels > 4:
        raise ImageHeaderError(f"unsupported {h.format} image: {h.channels} channels of "
                               f"{h.bits} bits (at most 4 channels of 16 bits)")
    ratio = MAX_RATIO.get(h.format)
    if ratio and h.raw_bytes > ratio * len(memoryview(data).cast("B")) + 4096:
        raise ImageHeaderError(f"{h.format} file is far too short for its declared "
                               f"{h.width}x{h.height} pixels (truncated or forged)")
    return h


def read_header(data: bytes | bytearray | memoryview) -> ImageHeader:
    """Width, height, channels and bits per sample from the first bytes of an image.

    Reads at most the first 64 KiB, except for TIFF, whose directory may sit
    anywhere in the file, and PNG, whose chunk lengths are all checked (no copy
    is made of the rest).
    """
    whole = memoryview(data).cast("B")
    head = bytes(whole[:1 << 16])
    for magic, reader in _READERS:
        if any(head.startswith(m) for m in magic):
            try:
                return reader(whole if magic in _WHOLE else head)
            except (struct.error, IndexError, ValueError) as e:
                if isinstance(e, ImageHeaderError):
                    raise
                raise ImageHeaderError("not an image: its header is truncated or corrupt") from None
    raise ImageHeaderError("not an image (supported: PNG, JPEG, BMP, TIFF, WebP, GIF, PNM)")


def _png(d: bytes) -> ImageHeader:
    if d[12:16] != b"IHDR":
        raise ImageHeaderError("not an image: PNG without an IHDR header")
    w, h, depth, ctype = struct.unpack(">IIBB", d[16:26])
    channels = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}.get(ctype)
    samples = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}.get(ctype, 1)
    if channels is None or depth not in (1, 2, 4, 8, 16):
        raise ImageHeaderError("not an image: PNG header is corrupt (colour type / bit depth)")
    raw = h * (1 + (w * samples * depth + 7) // 8)
    _png_chunks(d)
    return ImageHeader("PNG", w, h, channels, depth, raw)


def _png_chunks(d) -> None:
    """Every chunk must fit in the file: OpenCV's PNG reader allocates a chunk's declared
    length before reading it (a 4-byte edit made it allocate 4 GiB)."""
    pos, end = 8, len(d)
    while pos < end:
        if pos + 12 > end:
            raise ImageHeaderError("not an image: PNG is truncated inside a chunk header")
        (length,) = struct.unpack(">I", d[pos:pos + 4])
        if length > end - pos - 12:
            raise ImageHeaderError("not an image: a PNG chunk runs past the end of the file "
                                   "(truncated or forged)")
        kind = bytes(d[pos + 4:pos + 8])
        pos += 12 + length
        if kind == b"IEND":
            return


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(d: bytes) -> ImageHeader:
    i = 2
    while i + 4 <= len(d):
        if d[i] != 0xFF:
            raise ImageHeaderError("not an image: JPEG header is corrupt")
        marker = d[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):
            i += 2
            continue
        (seg,) = struct.unpack(">H", d[i + 2:i + 4])
        if marker in _SOF:
            bits, h, w, comps = struct.unpack(">BHHB", d[i + 4:i + 10])
            return ImageHeader("JPEG", w, h, comps, bits, w * h * comps)
        if marker in (0xD9, 0xDA) or seg < 2:
            break
        i += 2 + seg
    raise ImageHeaderError("not an image: JPEG without a frame header (SOF) in its first 64 KiB")


def _bmp(d: bytes) -> ImageHeader:
    (dib,) = struct.unpack("<I", d[14:18])
    if dib == 12:
        w, h, _planes, bpp = struct.unpack("<HHHH", d[18:26])
    elif dib >= 40:
        w, h, _planes, bpp = struct.unpack("<iiHH", d[18:30])
    else:
        raise ImageHeaderError("not an image: BMP header is corrupt")
    return ImageHeader("BMP", abs(w), abs(h), 4 if bpp == 32 else 3, 8)


_TIFF = (b"II*\x00", b"MM\x00*")
_PNG = (b"\x89PNG\r\n\x1a\n",)


def _tiff(d: bytes) -> ImageHeader:
    e = "<" if bytes(d[:2]) == b"II" else ">"
    (off,) = struct.unpack(e + "I", d[4:8])
    (count,) = struct.unpack(e + "H", d[off:off + 2])
    tags: dict[int, list[int]] = {}
    sizes = {1: 1, 3: 2, 4: 4}
    for k in range(count):
        p = off + 2 + 12 * k
        tag, typ, n, raw = struct.unpack(e + "HHI4s", d[p:p + 12])
        if tag not in (256, 257, 258, 277) or typ not in sizes or n > 64:
            continue
        size = sizes[typ]
        if size * n <= 4:
            buf = raw
        else:
            (at,) = struct.unpack(e + "I", raw)
            buf = d[at:at + size * n]
        fmt = e + {1: "B", 2: "H", 4: "I"}[size] * n
        tags[tag] = list(struct.unpack(fmt, buf[:size * n]))
    if 256 not in tags or 257 not in tags:
        raise ImageHeaderError("not an image: TIFF without width/height tags")
    bits = max(tags.get(258, [1]))
    spp = tags.get(277, [1])[0]
    return ImageHeader("TIFF", tags[256][0], tags[257][0], spp, bits)


def _webp(d: bytes) -> ImageHeader:
    if d[8:12] != b"WEBP":
        raise ImageHeaderError("not an image: RIFF file that is not WebP")
    chunk = d[12:16]
    if chunk == b"VP8 ":
        if d[23:26] != b"\x9d\x01\x2a":
            raise ImageHeaderError("not an image: WebP (VP8) header is corrupt")
        w, h = struct.unpack("<HH", d[26:30])
        return ImageHeader("WebP", w & 0x3FFF, h & 0x3FFF, 4, 8)
    if chunk == b"VP8L":
        if d[20] != 0x2F:
            raise ImageHeaderError("not an image: WebP (VP8L) header is corrupt")
        (b,) = struct.unpack("<I", d[21:25])
        return ImageHeader("WebP", (b & 0x3FFF) + 1, ((b >> 14) & 0x3FFF) + 1, 4, 8)
    if chunk == b"VP8X":
        w = int.from_bytes(d[24:27], "little") + 1
        h = int.from_bytes(d[27:30], "little") + 1
        return ImageHeader("WebP", w, h, 4, 8)
    raise ImageHeaderError("not an image: WebP header is corrupt")


def _gif(d: bytes) -> ImageHeader:
    w, h = struct.unpack("<HH", d[6:10])
    return ImageHeader("GIF", w, h, 4, 8)


_PNM_TOKEN = re.compile(rb"(?:\s|#[^\n]*\n)*(\d+)")


def _pnm(d: bytes) -> ImageHeader:
    kind = d[1:2]
    if kind == b"7":
        head = d[:4096].split(b"ENDHDR", 1)[0]
        f = dict(re.findall(rb"^(WIDTH|HEIGHT|DEPTH|MAXVAL)\s+(\d+)", head, re.M))
        w, h = int(f.get(b"WIDTH", 0)), int(f.get(b"HEIGHT", 0))
        ch, maxval = int(f.get(b"DEPTH", 1)), int(f.get(b"MAXVAL", 255))
    else:
        pos, vals = 2, []
        for _ in range(2 if kind in (b"1", b"4") else 3):
            m = _PNM_TOKEN.match(d, pos)
            if not m or len(m.group(1)) > 9:
                raise ImageHeaderError("not an image: PNM header is corrupt")
            vals.append(int(m.group(1)))
            pos = m.end()
        w, h = vals[0], vals[1]
        maxval = vals[2] if len(vals) > 2 else 1
        ch = 3 if kind in (b"3", b"6") else 1
    return ImageHeader("PNM", w, h, ch, 16 if maxval > 255 else 8)


_READERS = (
    (_PNG, _png),
    ((b"\xff\xd8\xff",), _jpeg),
    ((b"BM",), _bmp),
    (_TIFF, _tiff),
    ((b"RIFF",), _webp),
    ((b"GIF87a", b"GIF89a"), _gif),
    (tuple(b"P" + bytes([c]) for c in b"1234567"), _pnm),
)


_WHOLE = (_TIFF, _PNG)
