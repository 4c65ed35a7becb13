"""Core suite (issue 2): per-ciphertext throughput of the basic Paillier operations.

Ours (one worker and all workers) vs python-paillier (per-item Python loop,
same key) and SecretFlow HEU ZPaillier (batch ``heu.numpy`` API), all
interleaved in one run.  Every figure is a median over repeats of seconds
per ciphertext, printed as operations per second.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable

import numpy as np

import hepaillier_core as hc
from hepaillier_core.decrypting import horner_plan

from . import kernel_compare
from .machine import cpu_model
from .rivals import heu_kit, phe_module
from .table import markdown_table, pass_fail
from .timing import fmt_rate, fmt_ratio, fmt_time, interleaved
from .workloads import raw_case

# op -> (label, which rival the target compares with, target speed-up)
TARGETS = {"enc_owner": ("heu", 2.5), "dec_full": ("phe", 1.2), "add": ("phe", 2.0),
           "mul8": ("phe", 1.5)}

SIZES = {
    True: dict(n=64, n_fast=256, n_slow=6, n_dec=24, n_phe=6, n_phe_fast=64, n_heu=64,
               repeats=5),
    False: dict(n=384, n_fast=1024, n_slow=16, n_dec=96, n_phe=16, n_phe_fast=256, n_heu=256,
                repeats=9),
}


def _labels(bits: int) -> dict[str, str]:
    g32, _ = horner_plan(bits, (1 << 31) - 1)
    g8, _ = horner_plan(bits, 255)
    return {
        "enc_owner": "encrypt, key owner (`priv.encrypt`)",
        "enc_pub": "encrypt, public key, full r^n (`pub.encrypt`)",
        "enc_short": "encrypt, public key, short exponent",
        "dec_full": "decrypt, full-range values (key bits - 8): plain CRT",
        "dec_i32": f"decrypt, int32 values: decrypt-time packing ({g32}/decryption)",
        "dec_u8": f"decrypt, 8-bit values: decrypt-time packing ({g8}/decryption)",
        "dec_ct": "decrypt one ciphertext (CRT residues), constant-time (the default)",
        "dec_vt": "decrypt one ciphertext, old variable-time path (opt-out, benchmarks only)",
        "dec_u8_ct": f"decrypt, 8-bit values, packing ({g8}/decryption, whole groups), constant-time",
        "dec_u8_vt": "decrypt, 8-bit values, packing (whole groups), old variable-time path",
        "dec_fast": "decrypt one ciphertext, fast-decryption key (constant-time)",
        "dec_u8_fast": "decrypt, 8-bit values, packing (whole groups), fast-decryption key",
        "enc_owner_fast": "encrypt, key owner, fast-decryption key",
        "add": "ct + ct",
        "mul8": "ct × 8-bit int (1..255)",
        "mulneg": "ct × negative int (−255..−1)",
    }


def _with_workers(w: int, fn: Callable[[], object]) -> Callable[[], object]:
    """Run an operator-style call (no workers= argument) with ``w`` workers."""

    def call() -> object:
        old = hc.get_workers()
        hc.set_workers(w)
        try:
            return fn()
        finally:
            hc.set_workers(old)

    return call


def _private_cases(priv, fpriv, sz: dict, w: int) -> dict[str, tuple[Callable[[], object], int]]:
    """Constant-time vs variable-time decryption, standard vs fast-decryption keys: the
    residues straight from the key owner's kernels (no decoding), same values."""
    from hepaillier_core.parallel import run_batched

    rng = np.random.default_rng(3)
    nd, n = sz["n_dec"], sz["n"]
    pub, fpub = priv.public_key, fpriv.public_key
    big = [secrets.randbits(pub.bits - 8) for _ in range(nd)]
    cs = priv.encrypt(np.array(big, dtype=object)).data.reshape(-1, pub.L)
    cf = fpriv.encrypt(np.array(big, dtype=object)).data.reshape(-1, fpub.L)
    group, shift = horner_plan(pub.bits, 255)
    n8 = 2 * group  # whole groups, the same for every packed row
    a8 = rng.integers(0, 256, n8)
    c8 = priv.encrypt(a8).data.reshape(n8 // group, group, pub.L)
    f8 = fpriv.encrypt(a8).data.reshape(n8 // group, group, pub.L)
    own, fown = priv.owner, fpriv.owner

    def dec(obj, ct: np.ndarray) -> Callable[[], object]:
        return lambda: run_batched(obj, "decrypt", [ct], workers=w, allow_process=False)

    def packed(owner, grouped: np.ndarray, vt: bool = False) -> Callable[[], object]:
        return lambda: run_batched(_Packed(owner, group, shift, vt), "horner", [grouped],
                                   workers=w, allow_process=False)

    return {
        "dec_ct": (dec(own, cs), nd),
        "dec_vt": (dec(_VarTime(own), cs), nd),
        "dec_fast": (dec(fown, cf), nd),
        "dec_u8_ct": (packed(own, c8), n8),
        "dec_u8_vt": (packed(own, c8, True), n8),
        "dec_u8_fast": (packed(fown, f8), n8),
        "enc_owner_fast": (lambda: fpriv.encrypt(a8[:n], workers=w), n),
    }


class _VarTime:
    """The old variable-time decryption (HPC_VARTIME), for the side-by-side rows only."""

    def __init__(self, owner):
        self.owner = owner

    def decrypt(self, ct):
        return self.owner.decrypt(ct, vartime=True)


class _Packed:
    """Decrypt-time packing of whole groups (constant-time unless ``vartime``)."""

    def __init__(self, owner, group: int, shift: int, vartime: bool):
        self.owner, self.group, self.shift, self.vartime = owner, group, shift, vartime

    def horner(self, grouped):
        flat = np.ascontiguousarray(grouped.reshape(-1, grouped.shape[-1]))
        return self.owner.decrypt_horner(flat, self.group, self.shift, vartime=self.vartime)


def _ours_cases(pub, priv, sz: dict, w: int) -> dict[str, tuple[Callable[[], object], int]]:
    rng = np.random.default_rng(1)
    n = sz["n"]
    a8 = rng.integers(0, 256, n)
    a32 = rng.integers(-(1 << 31) + 1, 1 << 31, n)
    # full-range: 8 bits under the key (2040 bits at 2048), any key size
    big = np.array([secrets.randbits(pub.bits - 8) for _ in range(sz["n_dec"])], dtype=object)
    nf = sz["n_fast"]
    f8 = rng.integers(0, 256, nf)
    k8 = rng.integers(1, 256, nf)
    x, y = priv.encrypt(f8), priv.encrypt(f8[::-1].copy())
    x8, x32, xbig = priv.encrypt(a8), priv.encrypt(a32), priv.encrypt(big)
    return {
        "enc_owner": (lambda: priv.encrypt(a8, workers=w), n),
        "enc_pub": (lambda: pub.encrypt(a8[: sz["n_slow"]], workers=w), sz["n_slow"]),
        "enc_short": (lambda: pub.encrypt(a8, short_exponent=True, workers=w), n),
        "dec_full": (lambda: priv.decrypt(xbig, workers=w), len(big)),
        "dec_i32": (lambda: priv.decrypt(x32, workers=w), n),
        "dec_u8": (lambda: priv.decrypt(x8, workers=w), n),
        "add": (_with_workers(w, lambda: x + y), nf),
        "mul8": (_with_workers(w, lambda: x * k8), nf),
        "mulneg": (_with_workers(w, lambda: x * -k8), nf),
    }


def _phe_cases(priv, sz: dict) -> dict[str, tuple[Callable[[], object], int]]:
    phe = phe_module()
    if phe is None:
        return {}
    pk, sk = priv.public_key.to_phe(), priv.to_phe()
    rng = np.random.default_rng(2)
    m, mf = sz["n_phe"], sz["n_phe_fast"]
    a8 = [int(v) for v in rng.integers(0, 256, mf)]
    k8 = [int(v) for v in rng.integers(1, 256, mf)]
    big = [secrets.randbits(priv.public_key.bits - 8) for _ in range(m)]
    # ciphertexts made by our key owner (same key, phe decrypts them): saves phe's slow encrypt
    cx = priv.encrypt(np.array(a8)).to_phe()
    cy = priv.encrypt(np.array(a8[::-1])).to_phe()
    cbig = priv.encrypt(np.array(big, dtype=object)).to_phe()
    return {
        "enc": (lambda: [pk.encrypt(v) for v in a8[:m]], m),
        "dec_full": (lambda: [sk.decrypt(c) for c in cbig], m),
        "dec_small": (lambda: [sk.decrypt(c) for c in cx[:m]], m),
        "add": (lambda: [a + b for a, b in zip(cx, cy)], mf),
        "mul8": (lambda: [c * k for c, k in zip(cx, k8)], mf),
        "mulneg": (lambda: [c * -k for c, k in zip(cx, k8)], mf),
    }


def _heu_cases(hk, sz: dict) -> dict[str, tuple[Callable[[], object], int]]:
    rng = np.random.default_rng(3)
    n = sz["n_heu"]
    nd = max(8, n // 4)
    pt = hk.array(rng.integers(0, 256, n))
    k8 = rng.integers(1, 256, n)
    pk8, pkneg = hk.array(k8), hk.array(-k8)
    cx, cy = hk.encryptor.encrypt(pt), hk.encryptor.encrypt(pt)
    cdec = hk.encryptor.encrypt(hk.array(rng.integers(0, 256, nd)))
    ev = hk.evaluator
    return {
        "enc": (lambda: hk.encryptor.encrypt(pt), n),
        "dec": (lambda: hk.decryptor.decrypt(cdec), nd),
        "add": (lambda: ev.add(cx, cy), n),
        "mul8": (lambda: ev.mul(cx, pk8), n),
        "mulneg": (lambda: ev.mul(cx, pkneg), n),
    }


PHE_FOR = {"enc_owner": "enc", "enc_pub": "enc", "dec_full": "dec_full", "dec_i32": "dec_small",
           "dec_u8": "dec_small", "add": "add", "mul8": "mul8", "mulneg": "mulneg"}
HEU_FOR = {"enc_owner": "enc", "enc_short": "enc", "dec_full": "dec", "dec_i32": "dec",
           "dec_u8": "dec", "add": "add", "mul8": "mul8", "mulneg": "mulneg"}


def _counted_mults(pub, priv) -> dict[str, float]:
    """Montgomery products per output for the ops whose kernels report a count."""
    rng = np.random.default_rng(4)
    x = priv.encrypt(rng.integers(0, 256, 64))
    k8 = rng.integers(1, 256, 64).astype(np.uint64)
    _, m = pub.mod.pow_u64(x.data, k8)
    return {"add": 1.0, "mul8": m / 64, "mulneg": m / 64}


def run(quick: bool = False, bits: int = 2048) -> dict:
    """Measure every op; returns per-item medians, ratios and target verdicts."""
    sz = SIZES[quick]
    cores = hc.get_workers()
    pub, priv = hc.generate_keypair(bits, insecure=bits < 2048)  # --bits 1024: a labelled test size
    _, fpriv = hc.generate_keypair(bits, fast_decrypt=True, insecure=bits < 2048)
    cases: dict[str, tuple[Callable[[], object], int]] = {}
    for w in sorted({1, cores}):
        for op, case in _ours_cases(pub, priv, sz, w).items():
            cases[f"ours{w}:{op}"] = case
        for op, case in _private_cases(priv, fpriv, sz, w).items():
            cases[f"ours{w}:{op}"] = case
    for op, case in _phe_cases(priv, sz).items():
        cases[f"phe:{op}"] = case
    hk, heu_desc = heu_kit(bits)
    heu_threads = None
    if hk is not None:
        for op, case in _heu_cases(hk, sz).items():
            cases[f"heu:{op}"] = case
        heu_threads = hk.cpu_per_wall(np.arange(sz["n_heu"]) % 256)
    cases["raw"] = raw_case(pub)
    kern_ops = ("enc_owner", "dec_full", "add", "mul8", "mulneg")
    cases.update(kernel_compare.cases({op: cases[f"ours1:{op}"] for op in kern_ops}))
    t0 = time.perf_counter()
    meds = interleaved(cases, sz["repeats"])
    elapsed = time.perf_counter() - t0
    med = meds.cpu  # one-core figures: process CPU time (robust on a shared machine)
    raw = med["raw"]
    counted = _counted_mults(pub, priv)
    rows = []
    for op, label in _labels(bits).items():
        o1 = med.get(f"ours1:{op}")
        on = meds.wall.get(f"ours{cores}:{op}")  # several workers: wall clock
        ph = med.get(f"phe:{PHE_FOR[op]}") if op in PHE_FOR else None
        he = med.get(f"heu:{HEU_FOR[op]}") if op in HEU_FOR else None
        row = {"op": op, "label": label, "ours_1w_s": o1, "ours_all_s": on, "phe_s": ph,
               "heu_s": he, "vs_phe": ph / o1 if ph and o1 else None,
               "vs_heu": he / o1 if he and o1 else None,
               "raw_mult_equiv": o1 / raw if o1 else None, "counted_mults": counted.get(op)}
        if op in TARGETS:
            rival, target = TARGETS[op]
            got = row["vs_phe" if rival == "phe" else "vs_heu"]
            row["target"] = {"vs": rival, "min": target, "value": got,
                             "verdict": pass_fail(got, target)}
        rows.append(row)
    def ratio(a: str, b: str) -> float | None:
        x, y = med.get(f"ours1:{a}"), med.get(f"ours1:{b}")
        return x / y if x and y else None

    private = {"ct_over_vt": ratio("dec_ct", "dec_vt"),
               "ct_over_vt_packed": ratio("dec_u8_ct", "dec_u8_vt"),
               "standard_over_fast": ratio("dec_ct", "dec_fast"),
               "standard_over_fast_packed": ratio("dec_u8_ct", "dec_u8_fast"),
               "owner_enc_standard_over_fast": ratio("enc_owner", "enc_owner_fast")}
    labels = _labels(bits)
    Ln2, Lp2 = pub.mod.L, bits // 64  # n^2; p^2 (key-owner encryption, decryption)
    fam = {"enc_owner": (Lp2, "mul"), "dec_full": (Lp2, "mul"), "add": (Ln2, "fold"),
           "mul8": (Ln2, "mul"), "mulneg": (Ln2, "mul")}
    kern_rows = kernel_compare.rows(med, {op: f"ours1:{op}" for op in kern_ops},
                                    {op: labels[op] for op in kern_ops},
                                    {op: hc.kernels.chosen(*fam[op]) for op in kern_ops})
    return {"suite": "core", "bits": bits, "cores": cores, "quick": quick, "sizes": sz,
            "kernels": kern_rows, "kernel_info": hc.kernel_info(), "cpu": cpu_model(),
            "rows": rows, "private": private, "raw_mult_s": raw, "lanes": pub.mod.lanes,
            "heu": heu_desc if hk else None,
            "heu_status": heu_desc, "heu_cpu_per_wall": heu_threads,
            "heu_setup_s": hk.setup_seconds if hk else None, "phe": phe_module() is not None,
            "seconds": elapsed, "wall_medians": meds.wall, "cpu_medians": meds.cpu}


def table(res: dict) -> str:
    """The throughput table, the targets and the physical-limit view."""
    cores = res["cores"]
    heu = res["heu"] is not None
    rows = []
    for r in res["rows"]:
        rows.append([r["label"], fmt_rate(r["ours_1w_s"]), fmt_rate(r["ours_all_s"]),
                     fmt_rate(r["phe_s"]), fmt_rate(r["heu_s"]) if heu else "n/a",
                     fmt_ratio(r["vs_phe"]), fmt_ratio(r["vs_heu"]) if heu else "n/a"])
    out = [f"### Core operations, {res['bits']}-bit key (ops/s per ciphertext, median)", "",
           markdown_table(["operation", "ours 1 worker", f"ours {cores} workers",
                           "phe", "HEU ZPaillier", "ours(1)/phe", "ours(1)/HEU"], rows), ""]
    notes = ["One-worker, phe and HEU columns: median process CPU time per ciphertext (the "
             "machine is shared; CPU time is what other processes cannot inflate). "
             f"{cores}-worker column: median wall time.",
             "phe: python-paillier, one `EncryptedNumber` at a time in a Python loop, same key "
             "(it has no key-owner or short-exponent path, so its one `encrypt` is shown in both "
             "full-exponent rows)."]
    if heu:
        cpw = res["heu_cpu_per_wall"]
        notes.append(f"HEU: {res['heu']}; CPU/wall during its batch encrypt = {cpw:.2f} "
                     "(its thread pool), so its column is effectively one core here. HEU "
                     "ZPaillier encrypts with a short exponent (like our short-exponent row); "
                     "its decryption cost does not depend on the plaintext, so one measurement "
                     "fills all decrypt rows.")
    else:
        notes.append(f"HEU: {res['heu_status']}.")
    notes.append("Decrypt rows: the full-range row is one CRT decryption per ciphertext; the "
                 "int32/8-bit rows use hepaillier_core's decrypt-time packing (many ciphertexts "
                 "with small declared bounds are combined homomorphically and decrypted once), "
                 "which phe and HEU do not do.")
    out += [f"- {n}" for n in notes] + ["", "Targets (one core, same run):", ""]
    trows = []
    for r in res["rows"]:
        t = r.get("target")
        if t:
            trows.append([r["label"], f"≥ {t['min']}× {t['vs']}", fmt_ratio(t["value"]),
                          t["verdict"]])
    out += [markdown_table(["operation", "target", "measured", "verdict"], trows), ""]
    pv = res.get("private") or {}
    if pv:
        prow = [["constant-time / old variable-time decryption, one ciphertext", "≤ 1.3×",
                 fmt_ratio(pv["ct_over_vt"]), pass_fail(1.3 / pv["ct_over_vt"], 1.0)
                 if pv["ct_over_vt"] else "n/a"],
                ["constant-time / old variable-time, 8-bit packing (Horner)", "≤ 1.3×",
                 fmt_ratio(pv["ct_over_vt_packed"]), pass_fail(1.3 / pv["ct_over_vt_packed"], 1.0)
                 if pv["ct_over_vt_packed"] else "n/a"],
                ["standard / fast-decryption key, one ciphertext", "≥ 3×",
                 fmt_ratio(pv["standard_over_fast"]), pass_fail(pv["standard_over_fast"], 3.0)],
                ["standard / fast-decryption key, 8-bit packing", "—",
                 fmt_ratio(pv["standard_over_fast_packed"]), "—"],
                ["owner encryption, standard / fast-decryption key", "—",
                 fmt_ratio(pv["owner_enc_standard_over_fast"]), "—"]]
        out += ["Private-key paths (one core, CPU time, same run; the decryption rows above "
                "are constant-time):", "",
                markdown_table(["comparison", "target", "measured", "verdict"], prow), ""]
    raw = res["raw_mult_s"]
    lrows = []
    for r in res["rows"]:
        cm = r["counted_mults"]
        frac = cm * raw / r["ours_1w_s"] if cm and r["ours_1w_s"] else None
        lrows.append([r["label"], fmt_time(r["ours_1w_s"]), f"{r['raw_mult_equiv']:.1f}",
                      f"{cm:.1f}" if cm else "—", f"{frac:.2f}" if frac else "—"])
    unit = {8: "one lane's share of an eight-lane IFMA product",
            4: "one lane's share of a four-lane AVX2 product"}.get(res.get("lanes", 1), "scalar")
    out += [f"Physical limit: a bare Montgomery product mod n² ({2 * res['bits']} bits; {unit}) "
            f"takes {fmt_time(raw)} of CPU on one core here (`Mod.bench_mont_mul`, timed in the "
            "same rounds).", "",
            markdown_table(["operation", "time/op (1 worker)", "= bare products",
                            "products counted by the kernel", "achieved/raw rate"], lrows)]
    if res.get("kernels"):
        out += ["", kernel_compare.table(res["kernels"], res["cpu"],
                                         f"Core operations, {res['bits']}-bit key")]
    return "\n".join(out) + "\n"
