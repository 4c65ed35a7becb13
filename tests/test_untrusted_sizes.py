"""Untrusted bytes: declared sizes are checked before anything is allocated (issue 15.2).

Each forged input is parsed in a child process that reports its peak-memory
growth (``resource.getrusage(...).ru_maxrss`` before and after the parse), so
"allocates nothing big" is measured, not assumed.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import hepaillier_core as hc
from hepaillier_core import limits
from hesift.sift.messages import MAGIC, OctaveJob, OctaveResult, pack_message

# a child that parses a file with one loader and reports the error and peak growth
_CHILD = textwrap.dedent("""
    import json, resource, sys
    import hepaillier_core as hc
    from hesift import io as hio
    from hesift.sift.messages import OctaveJob
    kind, path = sys.argv[1], sys.argv[2]
    data = open(path, "rb").read()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    err = None
    try:
        if kind == "from_bytes":
            hc.from_bytes(data)
        elif kind == "load":
            hc.load(path)
        elif kind == "container":
            hio.EncryptedImage.load(path)
        elif kind == "job":
            OctaveJob.from_bytes(data, None)
    except ValueError as e:
        err = str(e)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"error": err, "grew_mib": (after - before) / 1024}))
""")

GROWTH_CAP_MIB = 40  # what a refused message may cost beyond its own bytes


def _parse_in_child(kind: str, path) -> dict:
    r = subprocess.run([sys.executable, "-c", _CHILD, kind, str(path)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    return json.loads(r.stdout.strip().splitlines()[-1])


def _npy_header(shape, descr="<u8") -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": tuple(shape)})
    return buf.getvalue()


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a, allow_pickle=False)
    return buf.getvalue()


def _meta_of(x) -> dict:
    return json.loads(limits.read_npz(hc.to_bytes(x), what="t")["meta"].tobytes())


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, body in members.items():
            z.writestr(name, body)
    return out.getvalue()


@pytest.fixture(scope="module")
def small():
    pub, priv = hc.generate_keypair(256, insecure=True)
    return pub, priv, pub.encrypt(np.arange(6).reshape(2, 3))


def _forged_header_message(x, rows: int, body_bytes: int) -> bytes:
    meta = _meta_of(x)
    meta["shape"] = [rows]
    data = _npy_header((rows, x.public_key.L)) + b"\x01" * body_bytes
    return _zip({"meta.npy": _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8)),
                 "data.npy": data})


def test_terabyte_declaration_in_a_1mb_message_allocates_nothing(small, tmp_path):
    """Old code: bare MemoryError (numpy allocates the declared 10^12 rows first)."""
    msg = _forged_header_message(small[2], 10**12, 1 << 20)
    assert 1 << 20 < len(msg) < 2 << 20
    with pytest.raises(ValueError, match="declares .* over the limit"):
        hc.from_bytes(msg)
    f = tmp_path / "forged.npz"
    f.write_bytes(msg)
    for kind in ("from_bytes", "load"):
        out = _parse_in_child(kind, f)
        assert out["error"] and "\n" not in out["error"], out
        assert out["grew_mib"] < GROWTH_CAP_MIB, out


def test_declared_rows_must_match_the_body(small):
    msg = _forged_header_message(small[2], 3000, 1000)  # fits the cap, not the body
    with pytest.raises(ValueError, match="truncated or forged"):
        hc.from_bytes(msg)


def _deflate_bomb(x, rows: int) -> bytes:
    """A valid savez_compressed-style member of `rows` zero ciphertexts, streamed (small RAM)."""
    meta = _meta_of(x)
    meta["shape"] = [rows]
    out = io.BytesIO()
    L = x.public_key.L
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("meta.npy", _npy(np.frombuffer(json.dumps(meta).encode(), np.uint8)))
        with z.open("data.npy", "w", force_zip64=True) as f:
            f.write(_npy_header((rows, L)))
            chunk = bytes(1 << 20)
            left = rows * L * 8
            while left:
                f.write(chunk[: min(left, len(chunk))])
                left -= min(left, len(chunk))
    return out.getvalue()


def test_compressed_member_cannot_inflate(small, tmp_path):
    """Old code: a 0.13 MB deflated member inflated to 128 MiB before the range check."""
    rows = (128 << 20) // (small[0].L * 8)
    bomb = _deflate_bomb(small[2], rows)
    assert len(bomb) < 1 << 20
    f = tmp_path / "bomb.npz"
    f.write_bytes(bomb)
    out = _parse_in_child("load", f)
    assert out["error"], out
    assert out["grew_mib"] < GROWTH_CAP_MIB, out


def test_hesift_message_with_forged_blob(small, tmp_path):
    pub, _priv, x = small
    blob = _forged_header_message(x, 10**12, 1 << 20)
    msg = pack_message({"kind": OctaveJob.KIND, "octave": 0, "taps": [[1], [1], [1]]}, [blob])
    f = tmp_path / "job.bin"
    f.write_bytes(msg)
    out = _parse_in_child("job", f)
    assert out["error"] and "over the limit" in out["error"], out
    assert out["grew_mib"] < GROWTH_CAP_MIB, out


def test_hesift_message_header_lies(small):
    hb = json.dumps({"kind": OctaveResult.KIND, "octave": 0, "blob_sizes": [10**15]}).encode()
    msg = MAGIC + len(hb).to_bytes(4, "big") + hb + b"x" * 100
    with pytest.raises(ValueError, match="HESIFT message"):
        OctaveResult.from_bytes(msg, small[0])
    nested = b"[" * 200_000 + b"]" * 200_000  # old code: RecursionError
    msg = MAGIC + len(nested).to_bytes(4, "big") + nested
    with pytest.raises(ValueError, match="not valid JSON"):
        OctaveResult.from_bytes(msg, small[0])


def test_container_with_forged_plane(small, tmp_path):
    from hesift import io as hio

    x = small[2]
    good = hio.EncryptedImage([x], ["Y"], {})
    p = tmp_path / "img.npz"
    good.save(p)
    meta = limits.read_npz(p, what="t", dtypes=("|u1",))["meta"]
    plane = _forged_header_message(x, 10**12, 1 << 20)
    p.write_bytes(_zip({"meta.npy": _npy(meta),
                        "plane_000.npy": _npy(np.frombuffer(plane, np.uint8))}))
    with pytest.raises(hio.InputError, match="over the limit"):
        hio.EncryptedImage.load(p)
    out = _parse_in_child("container", p)
    assert out["error"] and out["grew_mib"] < GROWTH_CAP_MIB, out


def test_cap_is_overridable(small, monkeypatch):
    x = small[2]
    msg = hc.to_bytes(x)
    assert hc.from_bytes(msg).shape == x.shape
    with pytest.raises(ValueError, match="over the limit"):
        hc.from_bytes(msg, max_bytes=len(msg) - 1)
    assert hc.from_bytes(msg, max_bytes=len(msg)).shape == x.shape
    monkeypatch.setenv(limits.MAX_BYTES_ENV, "100")
    with pytest.raises(ValueError, match="over the limit"):
        hc.from_bytes(msg)
    assert hc.from_bytes(msg, max_bytes=10**6).shape == x.shape  # an explicit limit wins
    packed = hc.to_bytes(x.public_key.encrypt(np.ones((3, 4), np.int64), pack=True))
    job = pack_message({"kind": OctaveResult.KIND, "octave": 0}, [packed])
    monkeypatch.delenv(limits.MAX_BYTES_ENV)
    assert len(OctaveResult.from_bytes(job, x.public_key, max_bytes=len(job)).dogs) == 1
    with pytest.raises(ValueError, match="over the limit"):
        OctaveResult.from_bytes(job, x.public_key, max_bytes=len(job) - 1)


def test_npz_refusals(small):
    x = small[2]
    arrays = limits.read_npz(hc.to_bytes(x), what="t")
    meta, data = _npy(arrays["meta"]), _npy(arrays["data"])
    cases = {
        "compressed": _zip({"meta.npy": meta, "data.npy": data}, zipfile.ZIP_DEFLATED),
        "object dtype": _zip({"meta.npy": meta, "data.npy": _npy_header((1,), "|O") + b"x" * 8}),
        "fortran": _zip({"meta.npy": meta, "data.npy": _npy(np.asfortranarray(arrays["data"]))}),
        "extra member": _zip({"meta.npy": meta, "data.npy": data, "x.npy": meta}),
        "trailing bytes": _zip({"meta.npy": meta, "data.npy": data + b"\0" * 8}),
        "not a zip": b"PK\x03\x04" + b"\0" * 100,
        "huge n": _zip({"meta.npy": _npy(np.frombuffer(json.dumps(
            dict(_meta_of(x), n="f" * 100_000)).encode(), np.uint8)), "data.npy": data}),
    }
    for what, msg in cases.items():
        with pytest.raises(ValueError) as e:
            hc.from_bytes(msg)
        assert "\n" not in str(e.value), what


def test_stored_feature_arrays_are_checked():
    from hesift.gallery.features import npy_bytes, npy_load

    a = np.arange(14, dtype=np.float32).reshape(2, 7)
    assert np.array_equal(npy_load(npy_bytes(a)), a)
    with pytest.raises(ValueError, match="over the limit|truncated"):
        npy_load(_npy_header((10**12, 128), "<f4") + b"\0" * 64)
