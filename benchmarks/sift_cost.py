"""Cost of HESIFT per stage (encrypt, evaluate, decrypt, plaintext) vs cv2.SIFT.

For each size (128, 256, 512 px square crops of scikit-image's astronaut, grey)
it runs both parties in one process with a 2048-bit key and reports stage
times, the share of decryption (the irreducible cost: the key owner must
read every DoG level), how many ciphertexts were decrypted vs the ideal for
the slot width (every decrypted bit a DoG bit), and the ratio to cv2.SIFT.
It also runs octave 0 of a small image unpacked (one pixel per ciphertext)
to show what packing buys.

Every size runs three times, interleaved: the integer pipeline before issue 14
(``SiftParams.legacy()``: f = 12, centre-residue taps, exact bases, one image row
per canvas row, |x| slot bounds) with a standard key, today's defaults (f = 12
largest-remainder taps, octave 0's base with 2 fractional bits, folded canvas,
exact DoG slot bounds) with the same key, and the defaults with a fast-decryption
key, so both savings are measured in one run on one machine.  Decrypted-ciphertext counts are deterministic; times are wall clock
and CPU (all threads of this process: the machine may be shared).

    python -m benchmarks.sift_cost [--quick] [--key-bits N] [--sizes 256 512] [--repeats 3] [--no-write]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data

from hesift.sift.image import octave0_base
from hesift.sift.intconv import pad_reflect101
from hesift.sift.params import SiftParams, plans_for
from hesift.sift.protocol import run_local
from hesift.sift.reference import reference_octave, run_reference

DOC = Path(__file__).resolve().parent.parent / "docs" / "sift_cost.md"


def grey_crop(size: int) -> np.ndarray:
    g = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    y0 = (g.shape[0] - size) // 2
    return np.ascontiguousarray(g[y0 : y0 + size, y0 : y0 + size])


def _best_of(fn, n: int = 3) -> float:
    best = float("inf")
    for _ in range(n):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def ideal_decryptions(grey: np.ndarray, params: SiftParams, key_bits: int) -> float:
    """Ciphertexts needed if every decrypted bit were a DoG bit of the plan's slot width."""
    base = octave0_base(grey, params)
    total = 0.0
    for plan in plans_for(params, base.shape):
        h, w = plan.shape
        total += (params.n_levels - 1) * h * w * plan.bits_per_slot / (key_bits - 2)
    return total


#: (parameters, fast-decryption key?) of each configuration, run interleaved per size:
#: "before" is the pipeline before issue 14, "after" today's defaults with a standard
#: key, "after-fast" today's defaults with a fast-decryption (subgroup) key.
CONFIGS = {"before": (SiftParams.legacy(), False), "after": (SiftParams(), False),
           "after-fast": (SiftParams(), True)}


def packed_row(size: int, keys, params: SiftParams, config: str = "after") -> dict:
    g = grey_crop(size)
    t_cv = _best_of(lambda: cv2.SIFT_create().detectAndCompute(g, None))
    t_ref = _best_of(lambda: run_reference(g, params), 1)
    st: dict = {}
    t, c = time.perf_counter(), time.process_time()
    kps = run_local(g, params, keys, stats=st)
    total, cpu_total = time.perf_counter() - t, time.process_time() - c
    owner = st.pop("owner")
    decrypts = st["decrypted_bits"] / keys[0].bits
    ideal = ideal_decryptions(g, params, keys[0].bits)
    cpu = st["cpu"]
    return {
        "config": config, "size": size, "keypoints": len(kps), "total": total,
        "encrypt": st["encrypt"], "evaluate": st["evaluate"], "decrypt": st["decrypt"],
        "plaintext": st["plaintext"], "decrypt_share": st["decrypt"] / total,
        "cpu_total": cpu_total, "cpu_decrypt": cpu["decrypt"], "cpu_evaluate": cpu["evaluate"],
        "cpu_encrypt": cpu["encrypt"],
        "decryptions": int(decrypts), "ideal_decryptions": ideal,
        "decrypt_ratio_to_ideal": decrypts / ideal,
        "bits_per_slot": owner.plans[0].bits_per_slot, "octaves": len(owner.plans),
        "folds": [c.k for c in owner.canvases], "frac_bits": params.frac_bits,
        "cv2_sift": t_cv, "reference": t_ref, "ratio_to_cv2": total / t_cv,
    }


def unpacked_vs_packed(size: int, keys, params: SiftParams) -> dict:
    """Octave 0 of a small image, packed (as HESIFT runs) vs one pixel per ciphertext."""
    import hepaillier_core as hc
    from hesift.sift.protocol import Evaluator, KeyOwner

    pub, priv = keys
    g = grey_crop(size)
    base = octave0_base(g, params)
    plan = plans_for(params, base.shape)[0]
    ref, _ = reference_octave(params, plan, base)
    out = {"size": size, "pixels": int(base.size)}

    owner, ev = KeyOwner(g, priv, params), Evaluator(pub)
    t = time.perf_counter()
    job = owner.next_job()
    out["packed_encrypt"] = time.perf_counter() - t
    t = time.perf_counter()
    res = ev.evaluate(job)
    out["packed_evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    dogs = np.stack([owner.canvases[0].unfold(priv.decrypt(d)) for d in res.dogs])
    out["packed_decrypt"] = time.perf_counter() - t
    assert np.array_equal(dogs, ref)

    r = plan.pad
    t = time.perf_counter()
    x = priv.encrypt(pad_reflect101(base, r))
    out["unpacked_encrypt"] = time.perf_counter() - t
    t = time.perf_counter()
    taps = plan.full_taps()
    levels = [hc.sepfilter2d(x, tp, tp)[r:-r, r:-r] for tp in taps]
    udogs = [b - a for a, b in zip(levels[:-1], levels[1:])]
    out["unpacked_evaluate"] = time.perf_counter() - t
    t = time.perf_counter()
    dec = np.stack([np.asarray(priv.decrypt(d), dtype=np.int64) for d in udogs])
    out["unpacked_decrypt"] = time.perf_counter() - t
    assert np.array_equal(dec, ref)
    for k in ("encrypt", "evaluate", "decrypt"):
        out[f"ratio_{k}"] = out[f"unpacked_{k}"] / out[f"packed_{k}"]
    out["ratio_total"] = sum(out[f"unpacked_{k}"] for k in ("encrypt", "evaluate", "decrypt")) / sum(
        out[f"packed_{k}"] for k in ("encrypt", "evaluate", "decrypt"))
    return out


def run(quick: bool = False, key_bits: int = 2048, sizes: list[int] | None = None,
        on_row=None, repeats: int = 3) -> dict:
    """Measure every size; ``on_row(partial_result)`` is called after each one (long runs)."""
    import hepaillier_core as hc

    from .machine import machine_info

    params = SiftParams()
    keyring = {}
    for fast in (False, True):
        keyring[fast] = hc.generate_keypair(key_bits, insecure=key_bits < 2048, fast_decrypt=fast)
        keyring[fast][1].precompute()  # the comb tables once, outside every timed stage
    keys = keyring[False]
    sizes = sizes or ([128] if quick else [128, 256, 512])
    res = {"key_bits": key_bits, "workers": hc.get_workers(), "rows": [],
           "frac_bits": params.frac_bits, "cpu": machine_info().get("cpu", "?")}
    res["unpacked"] = unpacked_vs_packed(16 if quick else 24, keys, params)
    res["repeats"] = repeats
    for name, (p, fast) in CONFIGS.items():  # warm-up: pools, kernels, tables (not timed)
        packed_row(48, keyring[fast], p, name)
    for s in sizes:
        for _ in range(repeats):  # rounds of every configuration, interleaved
            for name, (p, fast) in CONFIGS.items():
                res["rows"].append(packed_row(s, keyring[fast], p, name))
                res["comparison"] = compare(res["rows"])
                if on_row is not None:
                    on_row(res)
    res["comparison"] = compare(res["rows"])
    return res


def median_rows(rows: list[dict]) -> list[dict]:
    """Per (size, config): the run with the median CPU total, every timing replaced by
    the median over the runs (counts are identical across runs)."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["size"], r["config"]), []).append(r)
    out = []
    for group in groups.values():
        mid = dict(sorted(group, key=lambda r: r["cpu_total"])[len(group) // 2])
        for k in ("total", "encrypt", "evaluate", "decrypt", "plaintext", "cpu_total",
                  "cpu_decrypt", "cpu_evaluate", "cpu_encrypt", "cv2_sift"):
            mid[k] = float(np.median([r[k] for r in group]))
        mid["decrypt_share"] = mid["decrypt"] / mid["total"]
        mid["ratio_to_cv2"] = mid["total"] / mid["cv2_sift"]
        mid["runs"] = len(group)
        out.append(mid)
    return out


def compare(rows: list[dict]) -> list[dict]:
    """after / before and after-fast / before per size (medians over the rounds):
    decrypted ciphertexts, wall and CPU totals."""
    by = {(r["size"], r["config"]): r for r in median_rows(rows)}
    out = []
    for size in sorted({r["size"] for r in rows}):
        b = by.get((size, "before"))
        for name in ("after", "after-fast"):
            a = by.get((size, name))
            if not (a and b):
                continue
            out.append({"size": size, "config": name, "decryptions": a["decryptions"] / b["decryptions"],
                        "total": a["total"] / b["total"], "cpu_total": a["cpu_total"] / b["cpu_total"],
                        "cpu_decrypt": a["cpu_decrypt"] / b["cpu_decrypt"],
                        "cpu_evaluate": a["cpu_evaluate"] / b["cpu_evaluate"]})
    return out


def describe(p: SiftParams) -> str:
    """The fixed-point choices of a configuration, in words."""
    return (f"f = {p.frac_bits}, {p.quantiser} taps, {p.upsample_frac_bits}+{p.base_frac_bits} "
            f"base fraction bits, {p.layout} canvas, {p.slot_bounds} bounds")


def table(res: dict) -> str:
    lines = [
        f"Key: {res['key_bits']} bits, {res['workers']} workers, CPU {res.get('cpu', '?')}; "
        f"medians of {res.get('repeats', 1)} interleaved rounds per size.  "
        "before = `SiftParams.legacy()` (f = 12, centre-residue taps, exact bases, padded canvas, "
        f"|x| bounds), standard key; after = defaults ({describe(CONFIGS['after'][0])}), standard key; "
        "after-fast = defaults with a fast-decryption key.",
        "",
        "| size | config | keypoints | encrypt s | evaluate s | decrypt s | plaintext s | total s "
        "| CPU s (decrypt) | decrypt share | decryptions (ideal, ratio) | slot bits | cv2.SIFT s "
        "| total / cv2 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in median_rows(res["rows"]):
        lines.append(
            f"| {r['size']}x{r['size']} | {r.get('config', '')} | {r['keypoints']} | {r['encrypt']:.1f} | "
            f"{r['evaluate']:.1f} | {r['decrypt']:.1f} | {r['plaintext']:.2f} | {r['total']:.1f} | "
            f"{r.get('cpu_total', float('nan')):.1f} ({r.get('cpu_decrypt', float('nan')):.1f}) | "
            f"{r['decrypt_share']:.0%} | {r['decryptions']} ({r['ideal_decryptions']:.0f}, "
            f"{r['decryptions'] / r['ideal_decryptions']:.3f}x) | {r['bits_per_slot']} | "
            f"{r['cv2_sift'] * 1e3:.1f} ms | {r['ratio_to_cv2']:.0f}x |")
    if res.get("comparison"):
        lines += ["", "after / before and after-fast / before (same run):", "",
                  "| size | config | decrypted ciphertexts | wall total | CPU total | CPU decrypt "
                  "| CPU evaluate |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for c in res["comparison"]:
            lines.append(f"| {c['size']}x{c['size']} | {c.get('config', 'after')} | "
                         f"{c['decryptions']:.3f}x | {c['total']:.3f}x | "
                         f"{c['cpu_total']:.3f}x | {c['cpu_decrypt']:.3f}x | {c['cpu_evaluate']:.3f}x |")
    u = res["unpacked"]
    lines += [
        "",
        f"Packed vs unpacked, octave 0 of a {u['size']}x{u['size']} image ({u['pixels']} base pixels):",
        "",
        "| stage | packed s | unpacked s | unpacked / packed |",
        "| --- | --- | --- | --- |",
    ]
    for k in ("encrypt", "evaluate", "decrypt"):
        lines.append(f"| {k} | {u['packed_' + k]:.2f} | {u['unpacked_' + k]:.2f} | {u['ratio_' + k]:.1f}x |")
    lines.append(f"| total | | | {u['ratio_total']:.1f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="128x128 only")
    ap.add_argument("--key-bits", type=int, default=2048)
    ap.add_argument("--sizes", type=int, nargs="*", default=None)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds per size (medians)")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    def write(res: dict) -> None:
        if not a.no_write:
            DOC.write_text("# HESIFT cost per stage\n\nGenerated by `python -m benchmarks.sift_cost`.\n\n"
                           + table(res))

    res = run(a.quick, a.key_bits, a.sizes, on_row=write, repeats=a.repeats)
    print(table(res))


if __name__ == "__main__":
    main()
