"""Every remote flow against ``hesift evaluator`` started as a separate OS process.

The service runs with private keys forbidden (its health says so); results
over HTTP equal the in-process ones bit for bit; bad input gets its status and
one-line reason, memory stays bounded, and the next good request succeeds.
"""

from __future__ import annotations

import io
import json
import struct
import threading
import zipfile

import numpy as np
import pytest
from remote_helpers import evaluator_process, free_port
from test_sift_encrypted import crop, same_features

import hepaillier_core as hc
from hesift import HESIFT, data, sift_reference
from hesift import filters as F
from hesift.filters import registry
from hesift.remote import RemoteError, RemoteEvaluator, RemoteUnavailable, wire
from hesift.sift import KeyOwner

MAX_MB = 8


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluator")
    with evaluator_process(tmp, "--max-request-mb", str(MAX_MB), "--max-jobs", "2",
                           "--workers", "1") as svc:
        yield svc
    assert svc.proc.returncode == 0 or svc.proc.returncode == -15


@pytest.fixture(scope="module")
def remote(service):
    return RemoteEvaluator(service.url, service.token, retries=8, backoff=0.2)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return data.photo("camera", 96)[30:50, 20:44].astype(np.int64)


def encrypt(priv, a, layout, *, bits=40, pad=4, bound=None):
    if layout == "packed":
        return priv.encrypt(a, pack=True, pad=pad, pad_mode="reflect", bits_per_slot=bits,
                            bound=bound)
    return priv.encrypt(a)


def same_ct(a, b) -> bool:
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_ct(x, y) for x, y in zip(a, b))
    if type(a) is not type(b) or a.scale != b.scale or a.bound != b.bound:
        return False
    if isinstance(a, hc.PackedImage) and a.layout != b.layout:
        return False
    return np.array_equal(a.data, b.data)


def good_job(remote, keys) -> None:
    """A small genuine request that must succeed (the service is still healthy)."""
    pub, priv = keys
    x = priv.encrypt(np.arange(12).reshape(3, 4))
    (y,) = remote.filter("negate", x)
    assert np.array_equal(priv.decrypt(y), 255 - np.arange(12).reshape(3, 4))


# --- the boundary -------------------------------------------------------------------------


def test_health_and_private_keys_forbidden(remote):
    h = remote.health()
    assert h["service"] == "hesift-evaluator" and h["wire"] == wire.WIRE_VERSION
    assert h["private_keys"] == "forbidden" and h["auth"] == "bearer"
    assert h["limits"]["max_request_bytes"] == MAX_MB << 20 and h["limits"]["max_jobs"] == 2
    assert h["key_bits"]["max"] == 4096


def test_only_ciphertexts_and_public_key_travel(service, keys512, photo):
    pub, priv = keys512
    sent: list[bytes] = []
    r = RemoteEvaluator(service.url, service.token)
    orig = r._once

    def spy(method, path, parts, headers):
        sent.append(b"".join(parts) + json.dumps(headers).encode())
        return orig(method, path, parts, headers)

    r._once = spy
    F.gaussian(encrypt(priv, photo, "packed"), 1.0, evaluator=r)
    HESIFT(crop("astronaut", 30, 200, 40), keys512, evaluator=r)
    secrets = [str(priv.p).encode(), str(priv.q).encode(), format(priv.p, "x").encode(),
               format(priv.q, "x").encode(),
               priv.p.to_bytes((priv.p.bit_length() + 7) // 8, "little"),
               priv.q.to_bytes((priv.q.bit_length() + 7) // 8, "little")]
    assert len(sent) >= 3
    assert not any(s in b for s in secrets for b in sent), "a request carries the private key"


# --- remote == local, bit for bit ---------------------------------------------------------


@pytest.mark.parametrize("layout", ["unpacked", "packed"])
def test_every_cli_op_equals_local(remote, keys512, photo, layout):
    pub, priv = keys512
    x = encrypt(priv, photo, layout)
    b = encrypt(priv, F.binarize(photo.astype(np.uint8)), layout, bits=16, bound=1)
    extra = {"kernel": {"kernel": np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]])}}
    for name, spec in registry.OPS.items():
        p = registry.params(**extra.get(name, {}))
        src = b if spec.kind == registry.COUNTS else x
        got = remote.apply_op(spec, [src], p)
        assert same_ct(got, registry.apply(spec, [src], p)), f"{name} ({layout})"


@pytest.mark.parametrize("layout", ["unpacked", "packed"])
def test_filter_entry_points_equal_local(remote, keys512, photo, layout):
    pub, priv = keys512
    x = encrypt(priv, photo, layout)
    calls = [
        lambda e: F.gaussian(x, 1.3, evaluator=e),
        lambda e: F.gaussian(x, 0.8, frac_bits=7, evaluator=e),
        lambda e: F.box(x, 3, evaluator=e),
        lambda e: F.filter2d(x, np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]]), evaluator=e),
        lambda e: F.filter2d(x, np.array([[1, 2, 1]]), normalize=True, evaluator=e),
        lambda e: F.filter2d(x, np.array([[0.25, 0.5, 0.25]]), evaluator=e),
        lambda e: F.unsharp_mask(x, 1.0, 0.6, evaluator=e),
        lambda e: F.sobel(x, evaluator=e),
        lambda e: F.scharr(x, evaluator=e),
        lambda e: F.prewitt(x, evaluator=e),
        lambda e: F.roberts(x, evaluator=e),
        lambda e: F.laplacian(x, 3, evaluator=e),
        lambda e: F.negate(x, evaluator=e),
        lambda e: F.brightness(x, -17.5, evaluator=e),
        lambda e: F.contrast(x, 1.25, 90, evaluator=e),
        lambda e: F.gaussian([x, x], 1.0, evaluator=e),  # colour: a list of planes
    ]
    for i, call in enumerate(calls):
        assert same_ct(call(remote), call(None)), f"call {i} ({layout})"


@pytest.mark.parametrize("layout", ["unpacked", "packed"])
def test_morphology_both_rounds_remote(remote, keys512, photo, layout):
    pub, priv = keys512
    binary = F.binarize(photo.astype(np.uint8))
    x = encrypt(priv, binary, layout, bits=16, bound=1)
    se = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 1]])
    for op in ("erode", "gradient", "open", "close"):
        got = F.apply_morphology(x, op, priv, se, evaluator=remote)
        assert np.array_equal(got, F.apply_morphology(x, op, priv, se)), op


def test_unsupported_arguments_are_refused_not_changed(remote, keys512, photo):
    x = encrypt(keys512[1], photo, "unpacked")
    with pytest.raises(ValueError, match="radius"):
        F.gaussian(x, 1.0, radius=2, evaluator=remote)
    with pytest.raises(ValueError, match="border"):
        F.box(x, 3, border="constant", evaluator=remote)
    with pytest.raises(ValueError, match="high_boost"):
        F.high_boost(x, 2, evaluator=remote)


def test_hesift_remote_equals_reference(service, keys512, monkeypatch):
    g = crop("astronaut", 30, 200, 64)
    monkeypatch.setenv("HESIFT_EVALUATOR_TOKEN", service.token)
    got = HESIFT(g, keys512, evaluator=service.url)  # a bare URL string
    assert len(got[0]) >= 5 and same_features(got, sift_reference(g))


# --- bad input: status, one-line reason, bounded memory, next request fine ----------------


def _npy(shape, payload: bytes) -> bytes:
    from numpy.lib import format as npf

    buf = io.BytesIO()
    npf.write_array_header_1_0(buf, {"descr": "<u8", "fortran_order": False, "shape": shape})
    return buf.getvalue() + payload


def _forged_plane(x, data_npy: bytes) -> bytes:
    """x's own blob with its data member replaced."""
    z = zipfile.ZipFile(io.BytesIO(x.to_bytes()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as w:
        w.writestr("meta.npy", z.read("meta.npy"))
        w.writestr("data.npy", data_npy)
    return out.getvalue()


def _filter_body(op, blobs, params=None) -> bytes:
    return b"".join(wire.message_parts(
        {"kind": wire.FILTER_JOB, "wire": 1, "op": op, "params": params or {}}, blobs))


def test_bad_requests_get_status_and_reason(service, remote, keys512, other_keys, photo):
    pub, priv = keys512
    key = {wire.KEY_HEADER: wire.key_header_value(pub)}
    x = priv.encrypt(photo[:4, :5])
    good = _filter_body("gaussian", [x.to_bytes()])
    owner = KeyOwner(crop("astronaut", 30, 200, 32), priv)
    job = owner.next_job_bytes()
    huge_meta = json.dumps({"kind": wire.FILTER_JOB, "wire": 1, "op": "negate",
                            "blob_sizes": [1 << 40]}).encode()
    cases = [
        ("truncated body", "/v1/filter", good[: len(good) // 2], key, 400, "truncated"),
        ("not a message", "/v1/filter", b"GIF89a" + bytes(100), key, 400, "not a HESIFT"),
        ("wrong kind", "/v1/filter", job, key, 400, "expected a 'hesift.filter_job'"),
        ("filter job as octave", "/v1/sift/octave", good, key, 400, "hesift.octave_job"),
        ("another key", "/v1/filter", good,
         {wire.KEY_HEADER: wire.key_header_value(other_keys[0])}, 400, "encrypted under key"),
        ("octave under another key", "/v1/sift/octave", job,
         {wire.KEY_HEADER: wire.key_header_value(other_keys[0])}, 400, "encrypted under key"),
        ("no key", "/v1/filter", good, {}, 400, "X-Hesift-Public-Key"),
        ("key too big", "/v1/filter", good, {wire.KEY_HEADER: "f" * 3000}, 413, "bit limit"),
        ("blob sizes of a terabyte", "/v1/filter",
         wire.MAGIC + struct.pack(">I", len(huge_meta)) + huge_meta + b"x" * 10, key, 413,
         "over the limit"),
        ("shape of terabytes", "/v1/filter",
         _filter_body("negate", [_forged_plane(x, _npy((10**12, 5, pub.L), bytes(64)))]), key,
         413, "over the limit"),
        ("shape larger than its data", "/v1/filter",
         _filter_body("negate", [_forged_plane(x, _npy((4, 5, pub.L), bytes(64)))]), key, 400,
         "plane"),
        ("limbs disagree with n", "/v1/filter",
         _filter_body("negate", [_forged_plane(x, _npy((4, 5, pub.L + 1),
                                                        bytes(8 * 20 * (pub.L + 1))))]),
         key, 400, "limb"),
        ("unknown op", "/v1/filter", _filter_body("melt", [x.to_bytes()]), key, 400, "unknown operation"),
        ("bad parameter", "/v1/filter", _filter_body("gaussian", [x.to_bytes()], {"sigma": -1}),
         key, 400, "sigma"),
        ("unknown parameter", "/v1/filter",
         _filter_body("gaussian", [x.to_bytes()], {"__class__": 1}), key, 400, "unknown parameter"),
        ("overflowing op", "/v1/filter",
         _filter_body("kernel", [encrypt(priv, photo, "packed", bits=12).to_bytes()],
                      {"kernel": [[1 << 29, 1 << 29]]}), key, 400, "kernel"),
        ("wire version header", "/v1/filter", good, {**key, wire.WIRE_HEADER: "2"}, 422, "version"),
        ("message version", "/v1/filter", b"HESIFT2\n" + good[8:], key, 422, "version"),
        ("oversize body", "/v1/filter", bytes((MAX_MB << 20) + 4096), key, 413, "limit"),
        ("unknown path", "/v1/evaluate", good, key, 404, "no such endpoint"),
    ]
    before = service.rss_peak_kb()
    for name, path, body, headers, status, reason in cases:
        code, _, text = service.raw("POST", path, body, headers)
        statuses = status if isinstance(status, tuple) else (status,)
        assert code in statuses, f"{name}: {code} {text[:200]!r}"
        line = text.decode()
        assert line.count("\n") == 1 and reason.lower() in line.lower(), f"{name}: {line!r}"
        good_job(remote, keys512)
    assert service.raw("GET", "/v1/filter")[0] == 405
    code, headers, _ = service.raw("POST", "/v1/filter", good, key, auth=False)
    assert code == 401 and "bearer" in headers["www-authenticate"].lower()
    assert service.raw("POST", "/v1/filter", good, {**key, "Authorization": "Bearer wrong"},
                       auth=False)[0] == 403
    # a header declaring ten terabytes is refused before a byte of body is read
    code, _, _ = service.raw("POST", "/v1/filter", b"", {**key, "Content-Length": str(10 << 40)})
    assert code == 413
    assert service.alive()
    grew_mb = (service.rss_peak_kb() - before) / 1024
    assert grew_mb < 3 * MAX_MB + 64, f"peak memory grew by {grew_mb:.0f} MiB"
    good_job(remote, keys512)


def test_client_reports_service_errors(remote, keys512, other_keys):
    x = keys512[1].encrypt(np.arange(6).reshape(2, 3))
    with pytest.raises(RemoteError) as e:
        remote.filter("gaussian", x, sigma=50.0)
    assert e.value.status == 400 and "sigma" in str(e.value)
    with pytest.raises(RemoteError) as e:
        RemoteEvaluator(remote.url, "x" * 20).filter("negate", x)
    assert e.value.status == 403


def test_several_clients_at_once(service, keys512, other_keys, photo):
    """More clients than job slots: 503s are retried, every result is right."""
    results, errors = {}, []

    def client(i):
        try:
            pub, priv = (keys512, other_keys)[i % 2]
            r = RemoteEvaluator(service.url, service.token, retries=20, backoff=0.2)
            img = np.roll(photo, i, axis=1)
            x = encrypt(priv, img, "packed")
            (y,) = r.filter("box", x, size=3)
            results[i] = same_ct(y, F.box(x, 3))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors and results == {i: True for i in range(5)}


def test_dead_server_is_a_clear_error(keys512):
    r = RemoteEvaluator(f"http://127.0.0.1:{free_port()}", retries=2, backoff=0.05)
    x = keys512[1].encrypt(np.arange(4).reshape(2, 2))
    with pytest.raises(RemoteUnavailable, match="connection refused"):
        r.filter("negate", x)
    with pytest.raises(ValueError, match="http://host:port"):
        RemoteEvaluator("ftp://x")
