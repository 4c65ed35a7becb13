"""Private retrieval: exact encrypted scores, byte formats and limits, the HTTP protocol, privacy.

Independent references: scores are checked against a NumPy integer inner
product of the same quantised vectors; the packed reply is decrypted with
python-paillier-style big-int arithmetic (pow / mod) as well as the core; the
privacy test records every byte the server receives through a TCP relay.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

import hepaillier_core as hc
from hepaillier_core import _core
from hesift.gallery import Gallery, GalleryError, PrivateClient, PrivateIndex
from hesift.gallery.private import SparseVectors, encrypted_scores, plain_scores, query_size
from hesift.gallery.private.wire import (
    WireError,
    decode_params,
    decode_query,
    decode_reply,
    encode_query,
)
from hesift.web import private_api
from hesift.web.server import BackgroundServer, make_server

try:
    from gallery_helpers import FAST, NAMES, photo, png_bytes, rotated
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import FAST, NAMES, photo, png_bytes, rotated

BITS = 512


@pytest.fixture(scope="module")
def keys():
    return hc.generate_keypair(BITS, insecure=True)


def _random_gallery(rng, N, V, density=0.3):
    dense = np.where(rng.random((N, V)) < density, rng.integers(1, 16, (N, V)), 0)
    return SparseVectors.from_dense(dense)


def _decrypt_packed(priv, ct, w, P, N):
    """Independent decoder: Python big ints, CRT-free textbook decryption."""
    n, p, q = priv.public_key.n, priv.p, priv.q
    lam = (p - 1) * (q - 1)
    mu = pow(lam, -1, n)
    out = []
    for row in ct:
        c = _core.int_of(row)
        m = ((pow(c, lam, n * n) - 1) // n) * mu % n
        for _ in range(P):
            d = m & ((1 << w) - 1)
            out.append(d)
            m >>= w
        assert m == 0
    return np.array(out[:N], dtype=object), out[N:]


@pytest.mark.parametrize("N,V", [(1, 8), (37, 64), (300, 200)])
def test_encrypted_scores_equal_plaintext_bit_for_bit(keys, N, V):
    pub, priv = keys
    rng = np.random.default_rng(N)
    g = _random_gallery(rng, N, V)
    q = rng.integers(0, 1024, V)
    q[:3] = 0  # zeros are encrypted like everything else
    ct_q = priv.encrypt_residues(_core.res_from_i64(q, pub.n))
    ct, w, P = encrypted_scores(pub, ct_q, g, 1023)
    assert ct.shape == (-(-N // P), pub.L)
    got, rest = _decrypt_packed(priv, ct, w, P, N)
    ref = q.astype(object) @ g.dense().T.astype(object)  # Python ints: no overflow possible
    assert list(got) == list(ref) and all(r == 0 for r in rest)
    assert np.array_equal(plain_scores(q, g), np.array(ref, dtype=np.int64))


def test_extreme_values_fill_the_slots_exactly(keys):
    """Every coordinate at its maximum: the score equals the static bound, no carry."""
    pub, priv = keys
    V, N = 40, 9
    g = SparseVectors.from_dense(np.full((N, V), 15))
    q = np.full(V, 1023)
    ct, w, P = encrypted_scores(pub, priv.encrypt_residues(_core.res_from_i64(q, pub.n)), g, 1023)
    got, _ = _decrypt_packed(priv, ct, w, P, N)
    assert all(v == 1023 * 15 * V for v in got)
    assert (1023 * 15 * V).bit_length() == w - 1


def test_reply_is_rerandomised(keys):
    pub, priv = keys
    g = _random_gallery(np.random.default_rng(0), 5, 16)
    ct_q = priv.encrypt_residues(_core.res_from_i64(np.arange(16), pub.n))
    a, *_ = encrypted_scores(pub, ct_q, g, 1023)
    b, *_ = encrypted_scores(pub, ct_q, g, 1023)
    assert not np.array_equal(a, b)  # same plaintexts, fresh randomness
    c, *_ = encrypted_scores(pub, ct_q, g, 1023, rerandomise=False)
    d, *_ = encrypted_scores(pub, ct_q, g, 1023, rerandomise=False)
    assert np.array_equal(c, d)
    assert np.array_equal(priv.owner.decrypt(a), priv.owner.decrypt(c))


def test_query_message_is_fixed_size_and_checked(keys):
    pub, _ = keys
    V = 32
    ct = np.ones((V, pub.L), np.uint64)
    ver = "ab" * 32
    msg = encode_query(pub.n, BITS, ver, ct)
    assert len(msg) == query_size(BITS, V) == 48 + BITS // 8 + V * pub.L * 8
    m = decode_query(msg, V=V, allowed_bits=(BITS,))
    assert m.n == pub.n and m.version == ver and np.array_equal(m.ciphertexts, ct)
    for bad, why in [(msg[:-1], "bytes"), (msg + b"\0", "bytes"), (b"XXXX" + msg[4:], "magic"),
                     (msg[:100], "bytes")]:
        with pytest.raises(WireError, match=why):
            decode_query(bad, V=V, allowed_bits=(BITS,))
    with pytest.raises(WireError, match="coordinates"):
        decode_query(msg, V=V + 1, allowed_bits=(BITS,))
    with pytest.raises(WireError, match="not accepted"):
        decode_query(msg, V=V)  # 512-bit keys are refused by default
    even = encode_query(pub.n + 1, BITS, ver, ct)
    with pytest.raises(WireError, match="odd"):
        decode_query(even, V=V, allowed_bits=(BITS,))


def test_reply_and_params_parsers_refuse_damage():
    with pytest.raises(WireError):
        decode_reply(b"HSR1" + b"\0" * 10, L=16)
    with pytest.raises(WireError, match="magic"):
        decode_params(b"nope" + b"\0" * 20)
    with pytest.raises(WireError, match="header length"):
        decode_params(b"HSP1" + (1 << 30).to_bytes(4, "little"))


# -- the served protocol -----------------------------------------------------------------
@pytest.fixture(scope="module")
def served(tmp_path_factory):
    g = Gallery(tmp_path_factory.mktemp("priv") / "g.sqlite3", extractor=FAST, max_side=None)
    for n in NAMES:
        g.add(photo(n), name=n)
    from hesift.web import state

    idx = PrivateIndex(g, words=256, allowed_bits=(BITS,), fetch_count=4)
    srv = make_server(g, port=0)  # configures Django and sets the served gallery
    private_api.set_index(idx)
    with BackgroundServer(srv) as bs:
        yield g, idx, bs.url
    private_api.set_index(None)
    state.set_gallery(None)


def _post(url, body, ctype="application/octet-stream"):
    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_private_query_ranks_like_the_gallery(served, keys):
    g, idx, url = served
    c = PrivateClient(url, keypair=keys, extractor=FAST)
    for name in ("rocket", "coffee"):
        q = rotated(photo(name), 20, 0.85)
        res = c.query(q, k=5)
        assert [r.rank for r in res] == [1, 2, 3, 4, 5]
        assert res[0].name == name and res[0].related and res[0].inliers >= 8
        local = g.query(q, k=1)[0]
        assert local.name == name
        assert c.draw_match(c.last_query, res[0]).ndim == 3
        nofetch = c.query(png_bytes(q), k=5, fetch=False)
        assert nofetch[0].name == name and nofetch[0].inliers == 0
        assert 0 < nofetch[0].score <= 1 and nofetch[0].to_dict()["similarity"] > 0


def test_decrypted_scores_match_the_servers_plaintext_vectors(served, keys):
    g, idx, url = served
    c = PrivateClient(url, keypair=keys, extractor=FAST)
    _qf, sc = c.scores(photo("chelsea"))
    assert np.array_equal(sc.raw, plain_scores(sc.q, idx.state().vectors))


def test_endpoint_errors_are_one_line(served, keys):
    g, idx, url = served
    p = idx.params()
    pub, priv = keys
    good = encode_query(pub.n, BITS, p.version, np.ones((p.V, pub.L), np.uint64))
    s, body = _post(url + "/api/private/query", good[:-8])
    assert s == 400 and body.count(b"\n") == 1
    s, body = _post(url + "/api/private/query", good + b"\0" * (10 << 20))
    assert s == 413 and b"limit" in body and body.count(b"\n") == 1
    stale = encode_query(pub.n, BITS, "00" * 32, np.ones((p.V, pub.L), np.uint64))
    s, body = _post(url + "/api/private/query", stale)
    assert s == 409 and b"params" in body
    zero = encode_query(pub.n, BITS, p.version, np.zeros((p.V, pub.L), np.uint64))
    s, body = _post(url + "/api/private/query", zero)
    assert s == 400 and b"ciphertext #0" in body
    s, body = _post(url + "/api/private/features", json.dumps(
        {"version": p.version, "ids": [int(p.ids[0])]}).encode(), "application/json")
    assert s == 400 and b"exactly 4" in body
    s, body = _post(url + "/api/private/features", b"{", "application/json")
    assert s == 400
    with urllib.request.urlopen(url + "/api/private/params") as r:
        assert decode_params(r.read()).version == p.version


def test_client_refetches_params_after_the_gallery_changes(served, keys, tmp_path):
    g, idx, url = served
    c = PrivateClient(url, keypair=keys, extractor=FAST)
    old = c.params().version
    g.add(photo("moon"), name="moon")
    try:
        res = c.query(rotated(photo("moon"), 15, 0.9), k=3)
        assert c.params().version != old and res[0].name == "moon"
    finally:
        g.remove("moon")


def test_client_refuses_other_features_and_bad_urls(served, keys):
    from hesift.gallery import ReferenceExtractor

    _g, _idx, url = served
    c = PrivateClient(url, keypair=keys, extractor=ReferenceExtractor(min_features=0))
    with pytest.raises(GalleryError, match="cannot be compared"):
        c.query(photo("camera"))
    with pytest.raises(ValueError):
        PrivateClient("ftp://x")
    with pytest.raises(ValueError, match="not secure"):
        PrivateClient(url, key_bits=512)
    with pytest.raises(GalleryError, match="cannot reach"):
        PrivateClient("http://127.0.0.1:9", keypair=keys).params()


# -- privacy: every byte the server receives ------------------------------------------------------
class _Relay:
    """A TCP relay in front of the server that records the client -> server byte stream."""

    def __init__(self, target_url: str) -> None:
        host, port = target_url.split("//")[1].split(":")
        self.target = (host, int(port))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.received = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(self.target)
            threading.Thread(target=self._pipe, args=(conn, up, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, conn, False), daemon=True).start()

    def _pipe(self, src, dst, record: bool) -> None:
        try:
            while data := src.recv(65536):
                if record:
                    with self._lock:
                        self.received += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


def _split_requests(stream: bytes) -> list[tuple[bytes, dict, bytes]]:
    out, pos = [], 0
    while pos < len(stream):
        end = stream.index(b"\r\n\r\n", pos)
        head = stream[pos:end].decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in head[1:])}
        n = int(headers.get("content-length", 0))
        out.append((head[0].encode(), headers, stream[end + 4:end + 4 + n]))
        pos = end + 4 + n
    return out


def test_the_server_receives_only_key_ciphertexts_and_fixed_metadata(served, keys):
    g, idx, url = served
    pub, priv = keys
    relay = _Relay(url)
    try:
        c = PrivateClient(relay.url, keypair=keys, extractor=FAST)
        p = c.params()
        sizes = []
        for name in ("astronaut", "coins"):
            before = len(relay.received)
            qf, sc = c.scores(photo(name))
            reqs = _split_requests(bytes(relay.received[before:]))
            assert [r[0].split()[:2] for r in reqs] == [[b"POST", b"/api/private/query"]]
            line, headers, body = reqs[0]
            assert set(headers) <= {"host", "user-agent", "accept-encoding", "content-type",
                                    "content-length", "connection"}
            sizes.append(len(relay.received) - before)
            # the body is exactly: fixed header, the client's n, V ciphertexts
            assert len(body) == query_size(BITS, p.V)
            assert body[:16] == b"HSQ1" + BITS.to_bytes(4, "little") + p.V.to_bytes(4, "little") \
                + bytes(4)
            assert body[16:48] == bytes.fromhex(p.version)
            assert int.from_bytes(body[48:48 + BITS // 8], "big") == pub.n
            ct = np.frombuffer(body[48 + BITS // 8:], "<u8").reshape(p.V, pub.L).copy()
            # decrypts (with the client's key) to the quantised vector, zeros included
            dec = _core.res_to_i64(priv.owner.decrypt(ct), pub.n)[0]
            assert np.array_equal(dec, sc.q) and (sc.q == 0).any()
            # randomised encryptions: no two equal (zeros neither), none trivial (1 + m n)
            assert len({r.tobytes() for r in ct}) == p.V
            assert all((_core.int_of(r) - 1) % pub.n for r in ct)
            assert pub.mod.check_range(ct) == -1
            # nothing of the photo's features or word indices appears in the bytes
            raw = bytes(relay.received[before:])
            assert qf.descriptors.astype("<f4").tobytes()[:64] not in raw
            assert qf.keypoints.astype("<f4").tobytes()[:28] not in raw
            nz = np.nonzero(sc.q)[0].astype("<i4").tobytes()[:32]
            assert nz not in raw and np.nonzero(sc.q)[0].astype("<i8").tobytes()[:32] not in raw
            assert qf.gray.tobytes()[:64] not in raw
        assert sizes[0] == sizes[1]  # two different photos: the same number of bytes
    finally:
        relay.close()


# -- CLI ----------------------------------------------------------------------------------------------
def test_cli_private_query(served, tmp_path, capsys):
    from hesift.cli import gallery_cmd

    _g, _idx, url = served
    img = tmp_path / "q.png"
    img.write_bytes(png_bytes(rotated(photo("coffee"), 15, 0.9)))
    argv = ["gallery", "query", str(img), "--server", url, "--private", "--key-bits", str(BITS),
            "--insecure-key", "--top", "3", "--json"]
    assert gallery_cmd.main(argv) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rank"] for r in rows] == [1, 2, 3] and rows[0]["name"] == "coffee"
    assert rows[0]["inliers"] >= 8 and "similarity" in rows[0]
    assert gallery_cmd.main(argv[:-1] + ["--no-fetch"]) == 0
    assert capsys.readouterr().out.startswith("1. coffee")
    assert gallery_cmd.main(["gallery", "query", str(img), "--server", url]) == 2  # usage
    assert "--private" in capsys.readouterr().err
