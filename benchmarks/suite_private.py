"""Private retrieval cost: one encrypted query against 1,000 and 10,000 gallery vectors.

Both sides on this machine, the real byte formats in between (no HTTP): the
client quantises and encrypts a V-word query (every coordinate), the server
parses and range-checks it, scores every gallery vector on the ciphertexts,
packs and re-randomises the reply; the client decrypts and unpacks.  Gallery
vectors are synthetic with the sparsity of the real photos' vectors (about
150-400 nonzero words of 1024, values 1..15 skewed towards small ones) - cost
depends only on those counts.  The decrypted scores are checked against the
plaintext inner products on every run.

Reported: wall and process CPU time (all threads) per phase, request and
reply bytes, and the server's cost per image in bare Montgomery products
(server CPU per image / the core's measured cost of one product).
"""

from __future__ import annotations

import time

import numpy as np

import hepaillier_core as hc
from hepaillier_core import _core
from hesift.gallery.private.scoring import SparseVectors, encrypted_scores, plain_scores
from hesift.gallery.private.vocabulary import QMAX
from hesift.gallery.private.wire import decode_query, decode_reply, encode_query, encode_reply

from .table import markdown_table

SIZES = {True: (200, 1000), False: (1000, 10000)}
WORDS = 1024
NNZ = (150, 400)


def synthetic_gallery(N: int, V: int = WORDS, seed: int = 0) -> SparseVectors:
    rng = np.random.default_rng(seed)
    nnz = rng.integers(NNZ[0], NNZ[1] + 1, N)
    indptr = np.zeros(N + 1, np.int64)
    np.cumsum(nnz, out=indptr[1:])
    cols = np.concatenate([np.sort(rng.choice(V, k, replace=False)) for k in nnz]).astype(np.int32)
    vals = np.minimum(15, rng.geometric(0.35, int(indptr[-1]))).astype(np.uint8)
    return SparseVectors(indptr, cols, vals, V)


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def one_query(pub, priv, g: SparseVectors, rng) -> dict:
    V = g.V
    version = "00" * 32
    q = np.minimum(QMAX, rng.geometric(0.02, V) - 1) * (rng.random(V) < 0.3)
    body, w_enc, c_enc = _timed(lambda: encode_query(
        pub.n, pub.bits, version, priv.encrypt_residues(_core.res_from_i64(q, pub.n))))
    stats: dict = {}

    def serve() -> bytes:
        msg = decode_query(body, V=V)
        key = hc.PublicKey(msg.n)
        if key.mod.check_range(msg.ciphertexts) >= 0:
            raise AssertionError("range")
        ct, w, P = encrypted_scores(key, msg.ciphertexts, g, QMAX, stats=stats)
        return encode_reply(w, P, g.N, version, ct)

    reply, w_srv, c_srv = _timed(serve)

    def client() -> np.ndarray:
        msg = decode_reply(reply, L=pub.L)
        res = priv.owner.decrypt(msg.ciphertexts)
        return _core.unpack_i64(res, pub.n, msg.P, msg.w).reshape(-1)[:g.N]

    scores, w_dec, c_dec = _timed(client)
    if not np.array_equal(scores, plain_scores(q, g)):
        raise AssertionError("decrypted scores differ from the plaintext scores")
    return {"images": g.N, "words": V, "request_bytes": len(body), "reply_bytes": len(reply),
            "encrypt_wall": w_enc, "encrypt_cpu": c_enc, "server_wall": w_srv,
            "server_cpu": c_srv, "decrypt_wall": w_dec, "decrypt_cpu": c_dec,
            "total_wall": w_enc + w_srv + w_dec, "nnz_per_image": stats["nnz"] / g.N,
            "mults_per_image": stats["mults"] / g.N, "w": stats["w"], "P": stats["P"],
            "reply_ciphertexts": stats["ciphertexts"], "exact": True}


def bare_product_cpu(pub, K: int = 64, s: int = 200) -> float:
    """CPU seconds of one Montgomery product in the core's batch kernels (squarings in
    SIMD lanes, K values squared s times), measured with process time, not wall."""
    rng = np.random.default_rng(0)
    a = _core.res_from_i64(rng.integers(2, 1 << 62, K), pub.nsquare)
    best = float("inf")
    for _ in range(3):
        c = time.process_time()
        _out, m = pub.mod.pow2k(a, s)
        best = min(best, (time.process_time() - c) / max(1, int(m)))
    return best


def run(quick: bool = False, bits: int = 2048) -> dict:
    pub, priv = hc.generate_keypair(bits)
    priv.precompute()  # the key owner's tables are built once per key, not per query
    mont = bare_product_cpu(pub)
    rng = np.random.default_rng(1)
    rows = []
    for N in SIZES[quick]:
        g = synthetic_gallery(N)
        r = one_query(pub, priv, g, rng)
        r["server_cpu_per_image_in_products"] = r["server_cpu"] / N / mont
        rows.append(r)
    return {"bits": bits, "mont_mul_s": mont, "workers": hc.get_workers(), "rows": rows,
            "quick": quick}


def table(res: dict) -> str:
    hdr = ["gallery images", "request", "reply", "client encrypt (wall / CPU)",
           "server (wall / CPU)", "client decrypt (wall / CPU)", "query total (wall / CPU)",
           "nonzeros / image", "products / image (counted)",
           "server CPU / image in bare products"]
    rows = []
    for r in res["rows"]:
        rows.append([
            f"{r['images']:,}", f"{r['request_bytes'] / 1024:.0f} KiB",
            f"{r['reply_bytes'] / 1024:.1f} KiB ({r['reply_ciphertexts']} ct)",
            f"{r['encrypt_wall']:.2f} s / {r['encrypt_cpu']:.2f} s",
            f"{r['server_wall']:.2f} s / {r['server_cpu']:.2f} s",
            f"{r['decrypt_wall'] * 1000:.0f} ms / {r['decrypt_cpu'] * 1000:.0f} ms",
            f"{r['total_wall']:.2f} s / {r['encrypt_cpu'] + r['server_cpu'] + r['decrypt_cpu']:.2f} s",
            f"{r['nnz_per_image']:.0f}", f"{r['mults_per_image']:.0f}",
            f"{r['server_cpu_per_image_in_products']:.0f}"])
    return "\n".join([
        f"### Private retrieval: one encrypted query ({res['bits']}-bit key, "
        f"{res['rows'][0]['words']} words, {res['workers']} workers)", "",
        markdown_table(hdr, rows), "",
        f"Bare Montgomery product at n^2 ({2 * res['bits']} bits): "
        f"{res['mont_mul_s'] * 1e6:.2f} µs of CPU (batched squarings in the core's lanes, "
        "process time, this run). "
        f"Slots: {res['rows'][0]['w']} bits, {res['rows'][0]['P']} scores per ciphertext. "
        "Products / image counts the server's Montgomery products (table, one per nonzero, "
        "Horner packing) divided by the images; the last column divides the server's "
        "CPU time per image by the bare product cost (gathers, conversions, parsing and "
        "re-randomisation included). Decrypted scores equal the plaintext inner products "
        "(checked on every run). Wall times on a shared machine include other load; CPU "
        "times are the process's (all threads).", ""])
