"""Decompression bombs are refused from the image header, before decoding (issue 15.1).

The bomb is made here: a 14000 x 14000 16-bit RGB PNG of zeros (1.2 GB of
pixels) compresses to about 1 MB.  Each entry point (CLI loader, gallery
loader, web upload) parses it in a child process limited to 1.5 GB of address
space that reports its peak-memory growth; before the header check the CLI
and the web page decoded it (gigabytes, tens of seconds).
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import textwrap
import zlib

import cv2
import numpy as np
import pytest

from hesift import imagehead
from hesift.imagehead import ImageHeaderError, check_image, read_header


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_bomb(w: int = 14000, h: int = 14000, depth: int = 16) -> bytes:
    """A valid RGB PNG of zeros, built from one repeated, independently compressed
    block (a full flush resets deflate's state), so making it takes a fraction of a
    second instead of compressing a gigabyte."""
    row = bytes(1 + w * 3 * depth // 8)
    rows_per_block = 100
    assert h % rows_per_block == 0
    block = row * rows_per_block
    c = zlib.compressobj(9)
    first = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(block) + c.flush(zlib.Z_FULL_FLUSH)
    tail = c.flush()[:-4]  # final empty block; its checksum covers only two blocks
    adler = ((len(block) * (h // rows_per_block)) % 65521) << 16 | 1  # adler32 of all zeros
    stream = first + again * (h // rows_per_block - 1) + tail + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", w, h, depth, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", stream)
            + _chunk(b"IEND", b""))


def test_the_bomb_is_a_real_png():
    small = png_bomb(300, 200, 16)  # same construction, small enough to decode here
    assert zlib.decompress(small[41:-16]) == bytes(200 * (1 + 300 * 6))
    img = cv2.imdecode(np.frombuffer(small, np.uint8), cv2.IMREAD_UNCHANGED)
    assert img.shape == (200, 300, 3) and img.dtype == np.uint16 and not img.any()
    big = png_bomb()
    assert 0.5e6 < len(big) < 2e6
    assert read_header(big) == imagehead.ImageHeader("PNG", 14000, 14000, 3, 16,
                                                     14000 * (1 + 14000 * 6))


_CHILD = textwrap.dedent("""
    import json, resource, sys
    resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))
    kind, path = sys.argv[1], sys.argv[2]
    from hesift import io as hio
    from hesift.gallery import images
    data = open(path, "rb").read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    err = None
    try:
        if kind == "cli":
            hio.load_image(path)
        elif kind == "gallery":
            images.load_image(data)
        elif kind == "web":
            from hesift.gallery import Gallery
            from hesift.web import settings, state
            settings.configure()
            state.set_gallery(Gallery(sys.argv[3]))
            from django.test import Client
            r = Client().post("/add/", {"images": open(path, "rb")})
            err = f"{r.status_code} " + r.content.decode()
    except ValueError as e:
        err = str(e)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"error": err, "grew_mib": (after - before) / 1024}))
""")


def _child(kind: str, *args) -> dict:
    r = subprocess.run([sys.executable, "-c", _CHILD, kind, *map(str, args)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def bomb_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("bomb") / "bomb.png"
    p.write_bytes(png_bomb())
    return p


@pytest.mark.parametrize("kind", ["cli", "gallery"])
def test_bomb_refused_before_decoding(kind, bomb_file):
    out = _child(kind, bomb_file)
    assert out["error"] and "14000x14000" in out["error"] and "\n" not in out["error"], out
    assert out["grew_mib"] < 20, out


def test_bomb_refused_by_the_web_page(bomb_file, tmp_path):
    out = _child("web", bomb_file, tmp_path / "g.sqlite")
    assert out["error"].startswith("400 ") and "14000x14000" in out["error"], out["error"][:300]
    assert out["grew_mib"] < 60, out


def test_opencv_pixel_cap_is_set():
    r = subprocess.run([sys.executable, "-c", "import hesift, os; "
                        "print(os.environ['OPENCV_IO_MAX_IMAGE_PIXELS'])"],
                       capture_output=True, text=True, timeout=60)
    assert int(r.stdout) == imagehead.MAX_PIXELS


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp", ".tif", ".webp", ".pgm", ".ppm"])
@pytest.mark.parametrize("shape", [(37, 53), (37, 53, 3)])
def test_headers_agree_with_opencv(ext, shape):
    """Independent check: our header reader against what OpenCV decodes."""
    if ext == ".pgm" and len(shape) == 3 or ext == ".ppm" and len(shape) == 2:
        pytest.skip("PGM is grey, PPM colour")
    img = (np.arange(np.prod(shape)) % 251).astype(np.uint8).reshape(shape)
    ok, buf = cv2.imencode(ext, img)
    assert ok
    h = check_image(buf.tobytes())
    dec = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    assert (h.height, h.width) == dec.shape[:2]
    assert h.channels >= (dec.shape[2] if dec.ndim == 3 else 1)
    for16 = cv2.imencode(".png", img.astype(np.uint16) * 257)[1].tobytes()
    assert read_header(for16).bits == 16


def test_refusals_are_one_line():
    cases = [b"", b"hello", b"\x89PNG\r\n\x1a\n" + b"\0" * 4, b"\xff\xd8\xff\xe0\0\x02" * 3,
             b"BM" + b"\0" * 20, b"II*\0\x08\0\0\0\xff\xff", b"RIFF\0\0\0\0WEBPVP8 ",
             b"P5\n99999999999 2\n255\n", png_bomb(200, 100)[:20]]
    for c in cases:
        with pytest.raises(ImageHeaderError) as e:
            check_image(c)
        assert "\n" not in str(e.value)
    with pytest.raises(ImageHeaderError, match="too large"):
        check_image(png_bomb(200, 100), max_pixels=19_999)


def test_header_larger_than_any_compression_allows():
    """A 48x48 PNG or JPEG whose header is edited to 9000x9000 (under the pixel cap):
    refused from the ratio of declared size to file size, before a decoder allocates."""
    img = (np.arange(48 * 48 * 3) % 251).astype(np.uint8).reshape(48, 48, 3)
    png = bytearray(cv2.imencode(".png", img)[1].tobytes())
    png[16:24] = struct.pack(">II", 9000, 9000)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    with pytest.raises(ImageHeaderError, match="far too short"):
        check_image(bytes(png))
    jpg = bytearray(cv2.imencode(".jpg", img)[1].tobytes())
    i = next(i for i in range(2, len(jpg)) if jpg[i] == 0xFF and jpg[i + 1] in (0xC0, 0xC2))
    jpg[i + 5:i + 9] = struct.pack(">HH", 9000, 9000)
    with pytest.raises(ImageHeaderError, match="far too short"):
        check_image(bytes(jpg))
    for ext in (".png", ".jpg"):  # real photographs pass
        from hesift import data

        check_image(cv2.imencode(ext, data.photo("astronaut", 512))[1].tobytes())
        flat = np.full((2000, 2000, 3), 7, np.uint8)
        check_image(cv2.imencode(ext, flat)[1].tobytes())


def test_png_chunk_longer_than_the_file_is_refused():
    """OpenCV 5 allocates a PNG chunk's declared length before reading it: a 4-byte edit
    of the IDAT length in a 48x32 PNG made imdecode take 4 GiB (found by tests/test_fuzz)."""
    img = (np.arange(48 * 32 * 3) % 251).astype(np.uint8).reshape(32, 48, 3)
    png = bytearray(cv2.imencode(".png", img)[1].tobytes())
    i = png.index(b"IDAT") - 4
    png[i:i + 4] = struct.pack(">I", 0xFFFF0E49)
    with pytest.raises(ImageHeaderError, match="runs past the end"):
        check_image(bytes(png))
    with pytest.raises(ImageHeaderError, match="truncated"):
        check_image(cv2.imencode(".png", img)[1].tobytes()[:60])
