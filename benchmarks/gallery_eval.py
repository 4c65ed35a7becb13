"""Retrieval evaluation of hesift.Gallery on real photographs (scikit-image's bundled data).

Gallery: 21 distinct photos - 15 bundled photographs plus non-overlapping crops
of three large ones (Hubble halves, retina quadrants, motorcycle halves).
Queries: 6 transformed versions of every gallery photo (rotation, scale,
crop, brightness/contrast, blur, perspective).  Unrelated queries: photos that
are not in the gallery (other retina regions, synthetic images, noise).

Features come from ``sift_reference``, the plaintext twin of HESIFT: it is
bit-identical to HESIFT (same keypoints and descriptors, asserted by the sift
tests) and ~100x faster, so the retrieval numbers are HESIFT's numbers.

Query-time scaling (25/50/100 images): the extra distractors are
non-overlapping retina tiles, mirror images of the gallery photos and tiles,
and mirrored, rotated tiles of large photos.  Queries are never mirrored, and
SIFT does not match an image with its mirror image, so distractors only make
retrieval harder.  Times exclude feature extraction of the query (reported
separately) since that depends on the key size, not on the gallery.

Run: ``python -m benchmarks.gallery_eval [--quick]``; writes docs/gallery_eval.md.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import skimage.data as skd

from hesift.gallery import DEFAULT_MAX_SIDE, Gallery, QueryFeatures, ReferenceExtractor
from hesift.gallery.gallery import extract_features
from hesift.matching import MIN_INLIERS

DOC = Path(__file__).resolve().parent.parent / "docs" / "gallery_eval.md"
TRANSFORMS = ("rotate30", "scale0.5", "crop60", "bright", "blur", "perspective")
QUICK_TRANSFORMS = ("rotate30", "perspective")


def _rgb(a: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(a, cv2.COLOR_RGB2BGR) if a.ndim == 3 else a


def gallery_photos() -> dict[str, np.ndarray]:
    """21 distinct real photographs (no two share scene content)."""
    return dict(_gallery_photos())


@functools.cache
def _gallery_photos() -> dict[str, np.ndarray]:
    p = {n: _rgb(getattr(skd, n)()) for n in (
        "astronaut", "camera", "chelsea", "clock", "coffee", "coins", "moon", "rocket", "page",
        "text", "brick", "grass", "gravel", "cell", "immunohistochemistry")}
    hub = _rgb(skd.hubble_deep_field())
    p["hubble-left"], p["hubble-right"] = hub[:, :500], hub[:, 500:]
    ret = _rgb(skd.retina())
    p["retina-tl"], p["retina-br"] = ret[:705, :705], ret[706:, 706:]
    moto = _rgb(skd.stereo_motorcycle()[0])
    p["motorcycle-left"], p["motorcycle-right"] = moto[:, :370], moto[:, 371:]
    return p


def _tiles(img: np.ndarray, n: int) -> list[np.ndarray]:
    h, w = img.shape[:2]
    return [img[i * h // n:(i + 1) * h // n, j * w // n:(j + 1) * w // n]
            for i in range(n) for j in range(n)]


def distractors() -> dict[str, np.ndarray]:
    """Extra images for the 50/100 galleries (see the module docstring)."""
    ret = _rgb(skd.retina())
    tiles = _tiles(ret[:705, 706:], 3) + _tiles(ret[706:, :705], 3)
    out = {f"retina-tile{i}": t for i, t in enumerate(tiles)}
    photos = gallery_photos()
    for name, img in photos.items():
        out[f"{name}-mirror"] = img[:, ::-1]
    for i, t in enumerate(tiles):
        out[f"retina-tile{i}-mirror"] = t[:, ::-1]
    for name in ("astronaut", "coffee", "chelsea", "rocket", "hubble-left", "retina-tl"):
        for i, t in enumerate(_tiles(photos[name][::-1, :], 2)):
            out[f"{name}-vflip-tile{i}"] = np.ascontiguousarray(np.rot90(t))
    return out


def unrelated() -> dict[str, np.ndarray]:
    """Queries with no counterpart in the 21-image gallery."""
    ret = _rgb(skd.retina())
    out = {f"retina-other{i}": t for i, t in enumerate(_tiles(ret[:705, 706:], 2))}
    for n in ("colorwheel", "logo", "horse", "microaneurysms", "shepp_logan_phantom"):
        a = getattr(skd, n)()
        out[n] = _rgb(a[..., :3] if a.ndim == 3 else a)
    rng = np.random.default_rng(0)
    out["noise"] = cv2.GaussianBlur(rng.integers(0, 256, (400, 400), dtype=np.uint8), (0, 0), 2)
    return out


def transform(img: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    h, w = img.shape[:2]
    if kind == "rotate30":
        m = cv2.getRotationMatrix2D((w / 2, h / 2), 30, 1.0)
        return cv2.warpAffine(img, m, (w, h), borderMode=cv2.BORDER_CONSTANT)
    if kind == "scale0.5":
        return cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    if kind == "crop60":
        ch, cw = int(h * 0.6), int(w * 0.6)
        y, x = (h - ch) // 3, (w - cw) // 2
        return img[y:y + ch, x:x + cw]
    if kind == "bright":
        return cv2.convertScaleAbs(img, alpha=1.2, beta=35)
    if kind == "blur":
        return cv2.GaussianBlur(img, (0, 0), 2.0)
    if kind == "perspective":
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        d = 0.12
        dst = np.float32([[w * d, h * d * 0.5], [w * (1 - d * 0.3), 0], [w, h], [0, h * (1 - d)]])
        return cv2.warpPerspective(img, cv2.getPerspectiveTransform(src, dst), (w, h))
    raise ValueError(kind)


@functools.cache
def _sift_code_version() -> str:
    """Hash of the hesift.sift sources: cached features die with any change to them."""
    import hashlib

    import hesift.sift

    h = hashlib.sha256()
    for f in sorted(Path(hesift.sift.__file__).parent.glob("*.py")):
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def _features(img: np.ndarray, cache_dir: str | None = None,
              max_side: int = DEFAULT_MAX_SIDE, sift: tuple = ()) -> QueryFeatures:
    """Features as the gallery computes them; optionally memoised on disk by pixel hash."""
    extractor = ReferenceExtractor(**dict(sift))
    if cache_dir is None:
        return extract_features(img, extractor, max_side)
    import hashlib
    import pickle

    key = hashlib.sha256(img.tobytes() + str(img.shape).encode()).hexdigest()
    tag = "".join(f"-{k}{v}" for k, v in sift)
    f = Path(cache_dir) / f"{key}-{max_side}{tag}-{_sift_code_version()}.pkl"
    if f.exists():
        return pickle.loads(f.read_bytes())
    feats = extract_features(img, extractor, max_side)
    f.write_bytes(pickle.dumps(feats))
    return feats


class _Precomputed:
    """Extractor replaying features computed in parallel beforehand (keyed by grey pixels)."""

    def __init__(self, feats: dict[bytes, QueryFeatures], sift: tuple):
        self.feats = feats
        self.feature_id = ReferenceExtractor(**dict(sift)).feature_id

    def __call__(self, gray):
        f = self.feats[gray.tobytes() + str(gray.shape).encode()]
        return f.keypoints, f.descriptors


def _key(f: QueryFeatures) -> bytes:
    return f.gray.tobytes() + str(f.gray.shape).encode()


def _extract_all(
    images: list[np.ndarray], workers: int, cache_dir: str | None, max_side: int, sift: tuple
) -> list[QueryFeatures]:
    n = len(images)
    with ProcessPoolExecutor(workers) as ex:
        return list(ex.map(_features, images, [cache_dir] * n, [max_side] * n, [sift] * n,
                           chunksize=2))


def _extraction_seconds(images: list[np.ndarray], max_side: int, sift: tuple) -> float:
    """Single-core seconds per image of sift_reference (never cached)."""
    t = time.perf_counter()
    for img in images:
        _features(img, None, max_side, sift)
    return (time.perf_counter() - t) / len(images)


def run(quick: bool = False, workers: int | None = None, cache_dir: str | None = None,
        max_side: int = DEFAULT_MAX_SIDE, sift_params: dict | None = None) -> dict:
    """Evaluate retrieval; returns a dict of metrics (see ``format_table``).

    ``sift_params`` go to sift_reference (HESIFT's defaults when None).
    """
    sift = tuple(sorted((sift_params or {}).items()))
    workers = workers or min(2, os.cpu_count() or 1)
    photos = gallery_photos()
    kinds = QUICK_TRANSFORMS if quick else TRANSFORMS
    unrel = unrelated()
    if quick:
        unrel = dict(list(unrel.items())[:3])
    extra = distractors()
    names = list(photos)
    if quick:
        # a smoke run that fits the runner's 5-minute --quick budget: 10 photos, 320 px
        names = names[:10]
        max_side = min(max_side, 320)
    sizes = (len(names),) if quick else (25, 50, 100)
    extra_names = list(extra)[: max(sizes) - len(names)]
    queries = [(n, k, transform(photos[n], k)) for n in names for k in kinds]

    all_imgs = [photos[n] for n in names] + [extra[n] for n in extra_names]
    all_imgs += [q for *_, q in queries] + list(unrel.values())
    if cache_dir:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
    feats = _extract_all(all_imgs, workers, cache_dir, max_side, sift)
    sec_per_image = _extraction_seconds([photos[n] for n in names[:3]], max_side, sift)
    g_feats = feats[: len(names) + len(extra_names)]
    q_feats = feats[len(g_feats): len(g_feats) + len(queries)]
    u_feats = feats[len(g_feats) + len(queries):]
    replay = _Precomputed({_key(f): f for f in g_feats}, sift)

    out: dict = {"quick": quick, "gallery_size": len(names), "queries": len(queries),
                 "transforms": list(kinds), "unrelated_queries": len(unrel),
                 "extract_s_per_image": sec_per_image, "max_side": max_side,
                 "sift_params": dict(sift),
                 "per_transform": {}, "failures": [], "timing": []}
    with tempfile.TemporaryDirectory() as tmp:
        g = Gallery(Path(tmp) / "eval.sqlite3", extractor=replay, max_side=max_side)
        for n in names:
            g.add(photos[n], name=n)
        true_scores, top1, top5, weakest = [], 0, 0, []
        for (n, kind, _), qf in zip(queries, q_feats, strict=True):
            res = g.query(qf, k=5)
            ranked = [r.name for r in res]
            ok1, ok5 = ranked[0] == n, n in ranked
            top1 += ok1
            top5 += ok5
            pt = out["per_transform"].setdefault(kind, {"n": 0, "top1": 0, "top5": 0})
            pt["n"] += 1
            pt["top1"] += ok1
            pt["top5"] += ok5
            true_scores.append(next((r.score for r in res if r.name == n), 0.0))
            weakest.append((true_scores[-1], n, kind, ranked[:2]))
            if not ok1:
                out["failures"].append({"image": n, "transform": kind, "got": ranked[:3],
                                        "scores": [r.score for r in res[:3]]})
        out["weakest"] = sorted(weakest)[:5]
        out["gallery_features"] = {e.name: e.num_features for e in g}
        unrel_res = [g.query(uf, k=1)[0] for uf in u_feats]
        unrel_scores = [r.score for r in unrel_res]
        out["unrelated"] = {n: (r.name, r.score) for n, r in zip(unrel, unrel_res, strict=True)}
        # best wrong-image score among related queries, too
        out.update(
            top1=top1 / len(queries), top5=top5 / len(queries),
            true_score_min=min(true_scores), true_score_median=statistics.median(true_scores),
            related_detected=sum(t >= MIN_INLIERS for t in true_scores) / len(true_scores),
            unrelated_score_max=max(unrel_scores), unrelated_score_median=statistics.median(unrel_scores),
        )
        # query time versus gallery size
        big = Gallery(Path(tmp) / "scale.sqlite3", extractor=replay, max_side=max_side)
        pool = [(n, photos[n]) for n in names] + [(n, extra[n]) for n in extra_names]
        added = 0
        sample = q_feats[:: max(1, len(q_feats) // 30)]
        for size in sizes:
            while added < size:
                big.add(pool[added][1], name=pool[added][0])
                added += 1
            t = time.perf_counter()
            big.query(sample[0], k=5)  # (re)build the index
            build = time.perf_counter() - t
            times, hits = [], 0
            for qf in sample:
                t = time.perf_counter()
                res = big.query(qf, k=5)
                times.append(time.perf_counter() - t)
            misses = []
            for (n, kind, _), qf in zip(queries, q_feats, strict=True):
                got = big.query(qf, k=1)[0].name
                hits += got == n
                if got != n:
                    misses.append(f"{n}/{kind} -> {got}")
            n_desc = sum(e.num_features for e in big)
            out["timing"].append({
                "images": size, "descriptors": n_desc, "index_build_s": build,
                "query_ms_median": 1000 * statistics.median(times),
                "query_ms_max": 1000 * max(times), "top1": hits / len(queries), "misses": misses,
            })
    return out


def format_table(r: dict) -> str:
    lines = [
        f"# Gallery retrieval evaluation{' (quick)' if r['quick'] else ''}",
        "",
        "Generated by `python -m benchmarks.gallery_eval` (see the script's docstring for the",
        "data). Features: `sift_reference`, the bit-identical plaintext twin of HESIFT, at",
        f"max side {r['max_side']} px, SIFT parameters {r.get('sift_params') or 'default'}. "
        f"Score = RANSAC inliers; 'related' needs >= {MIN_INLIERS}.",
        "",
        f"Gallery: {r['gallery_size']} distinct photographs; {r['queries']} transformed queries; "
        f"{r['unrelated_queries']} unrelated queries.",
        "",
        "| metric | value |",
        "| --- | --- |",
        f"| top-1 accuracy | {100 * r['top1']:.1f}% |",
        f"| true image in top 5 | {100 * r['top5']:.1f}% |",
        f"| score of the true image: min / median | {r['true_score_min']:.0f} / {r['true_score_median']:.0f} |",
        f"| best score of an unrelated query: max / median | {r['unrelated_score_max']:.0f} / {r['unrelated_score_median']:.0f} |",
        f"| related queries scoring >= {MIN_INLIERS} ('related') | {100 * r['related_detected']:.1f}% |",
        f"| feature extraction (sift_reference), s per image, 1 core | {r['extract_s_per_image']:.2f} |",
        "",
        "| transform | queries | top-1 | top-5 |",
        "| --- | --- | --- | --- |",
    ]
    for k, v in r["per_transform"].items():
        lines.append(f"| {k} | {v['n']} | {v['top1']}/{v['n']} | {v['top5']}/{v['n']} |")
    lines += ["", "Query time (index search + voting + RANSAC, features already extracted; one",
              "thread; on a shared machine the medians are the reliable figure, maxima include",
              "scheduling noise):", "",
              "| gallery images | descriptors | index build (s) | query median (ms) | query max (ms) | top-1 |",
              "| --- | --- | --- | --- | --- | --- |"]
    for t in r["timing"]:
        lines.append(f"| {t['images']} | {t['descriptors']} | {t['index_build_s']:.2f} | "
                     f"{t['query_ms_median']:.0f} | {t['query_ms_max']:.0f} | {100 * t['top1']:.1f}% |")
    few = sorted(r["gallery_features"].items(), key=lambda kv: kv[1])[:3]
    lines += ["", "Gallery photos with the fewest features: "
              + ", ".join(f"{n} ({k})" for n, k in few) + ".", ""]
    lines += ["Lowest true-image scores (score, image, transform, top 2):", ""]
    lines += [f"- {w[0]:.0f} {w[1]} / {w[2]}: {w[3]}" for w in r["weakest"]]
    for t in r["timing"]:
        if t["misses"]:
            lines.append(f"- {t['images']}-image gallery top-1 misses: {', '.join(t['misses'])}")
    if r["failures"]:
        lines += ["", "Top-1 misses:", ""]
        lines += [f"- {f['image']} / {f['transform']}: got {f['got']} scores {f['scores']}"
                  for f in r["failures"]]
    return "\n".join(lines) + "\n"


table = format_table  # the name benchmarks.suite_external looks for


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer transforms and sizes")
    ap.add_argument("--no-write", action="store_true", help="do not write docs/gallery_eval.md")
    ap.add_argument("--cache", metavar="DIR", help="memoise features in DIR across runs")
    ap.add_argument("--max-side", type=int, default=DEFAULT_MAX_SIDE,
                    help="downscale images to this longer side (default: the gallery's default)")
    ap.add_argument("--contrast-threshold", type=float, default=None,
                    help="SIFT contrastThreshold (default: HESIFT's, 0.04)")
    ap.add_argument("--min-features", type=int, default=None,
                    help="SIFT min_features top-up (default: the gallery extractor's)")
    ap.add_argument("--contrast-floor", type=float, default=None,
                    help="SIFT contrast_floor of the top-up (default: the extractor's)")
    args = ap.parse_args(argv)
    sift = {} if args.contrast_threshold is None else {"contrastThreshold": args.contrast_threshold}
    if args.min_features is not None:
        sift["min_features"] = args.min_features
    if args.contrast_floor is not None:
        sift["contrast_floor"] = args.contrast_floor
    r = run(quick=args.quick, cache_dir=args.cache, max_side=args.max_side, sift_params=sift)
    table = format_table(r)
    print(table)
    if not args.no_write:
        DOC.write_text(table)
        print(f"written to {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
