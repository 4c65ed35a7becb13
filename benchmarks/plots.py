"""Matplotlib PNG plots of the scaling (and conv) results, for docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

STEPS = (("enc", "encrypt"), ("filter", "filter"), ("dec", "decrypt"))


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _per_pixel(ax, data: dict, xs: list[float], xlabel: str) -> None:
    for key, name in STEPS:
        ax.plot(xs, [data[k][key] * 1e6 for k in data], marker="o", label=name)
    ax.plot(xs, [sum(d[k] for k, _ in STEPS) * 1e6 for d in data.values()], marker="s",
            color="k",
            label="total")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("µs per pixel (median)")
    ax.grid(True, alpha=0.3)
    ax.legend()


def scaling_plots(res: dict, out_dir: Path) -> list[Path]:
    """scaling_size.png, scaling_keysize.png, scaling_workers.png; returns the paths."""
    plt = _plt()
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    sides = [int(s) for s in res["by_size"]]
    _per_pixel(ax, res["by_size"], sides, "image side (px), square crop of the photo")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sides, [str(s) for s in sides])
    ax.set_title(f"Packed 5×5 Gaussian, {res['bits']}-bit key, 1 worker")
    paths.append(_save(fig, out_dir / "scaling_size.png"))
    fig, ax = plt.subplots(figsize=(6, 4))
    _per_pixel(ax, res["by_key"], [int(b) for b in res["by_key"]], "key size (bits of n)")
    ax.set_title(f"Packed pipeline vs key size ({res['sizes']['key_side']}² image, 1 worker)")
    paths.append(_save(fig, out_dir / "scaling_keysize.png"))
    fig, ax = plt.subplots(figsize=(6, 4))
    ws = [int(w) for w in res["by_workers"]]
    tot = [sum(d[k] for k, _ in STEPS) for d in res["by_workers"].values()]
    ax.plot(ws, [tot[0] / t for t in tot], marker="o", label="measured speed-up")
    ax.plot(ws, [d["cpu_per_wall"] for d in res["by_workers"].values()], marker="^",
            label="cores obtained (CPU/wall)")
    ax.plot(ws, ws, "--", color="grey", label="ideal")
    ax.set_xlabel("workers (threads)")
    ax.set_ylabel("speed-up vs 1 worker")
    ax.set_xticks(ws)
    ax.grid(True, alpha=0.3)
    ax.legend()
    side = res["sizes"]["worker_side"]
    ax.set_title(f"Packed pipeline, {side}² image, {res['cores']}-core machine")
    paths.append(_save(fig, out_dir / "scaling_workers.png"))
    return paths


def conv_plot(res: dict, out_dir: Path) -> Path:
    """conv_per_pixel.png: filter/encrypt/decrypt per pixel for (a), (b), (c), log scale."""
    plt = _plt()
    import numpy as np

    out_dir.mkdir(parents=True, exist_ok=True)
    med, f = res["median_s_per_pixel"], res["filter_s_per_pixel"]
    paths = [("(a) phe", "a"), ("(b) unpacked", "b"), ("(c) packed", "c"),
             ("(c') packed,\nplanned slots", "cp")]
    paths = [(n, p) for n, p in paths if f.get(p)]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    x = np.arange(len(paths))
    for i, (label, key) in enumerate((("filter", None), ("encrypt", "enc"), ("decrypt", "dec"))):
        vals = [(f[p] if key is None else med[f"{p}:{key}"]) * 1e6 for _, p in paths]
        ax.bar(x + (i - 1) * 0.27, vals, 0.27, label=label)
    ax.set_xticks(x, [n for n, _ in paths])
    ax.set_yscale("log")
    ax.set_ylabel("µs per pixel (median, 1 worker)")
    ax.set_title(f"5×5 Gaussian on a 512² photo, {res['bits']}-bit key")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend()
    return _save(fig, out_dir / "conv_per_pixel.png")


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path
