"""``hesift demo``: every encrypted operation on a bundled photo, as one panel PNG.

Key owner and evaluator run in one process but stay separate: the evaluator
steps see only the public key and ciphertexts.  To stay fast at 2048 bits
the image is packed (68 pixels per ciphertext), the Gaussian is shared by blur
and sharpen, the binary image uses narrow slots, and the core's decryption
shares one modular exponentiation among ciphertexts whose values are small.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hesift import io as hio
from hesift.cli import CLIError, add_runtime_options, apply_runtime_options
from hesift.cli.keys_cmd import add_fast_decrypt_flag, emit_json, make_keypair, spinner

PAD = 4  # largest radius used (Gaussian sigma 1 -> 4)
SLOT_BITS = 30  # sharpen (8-bit taps) needs 27; 10-bit results share decryptions by 3
BINARY_SLOT_BITS = 6  # neighbourhood counts 0..9
HEADROOM = 8  # 256 + 2*4 + 8 = 272 = 4 ciphertexts of 68 slots per row


def ciphertext_view(x: Any, shape: tuple[int, int]) -> np.ndarray:
    """The last H*W bytes of the serialised ciphertexts, as a picture (noise)."""
    raw = np.frombuffer(x.to_bytes(), dtype=np.uint8)
    n = shape[0] * shape[1]
    return raw[-n:].reshape(shape) if raw.size >= n else np.resize(raw, shape)


def run_demo(
    photo: str = "camera",
    size: int = 256,
    key_bits: int = 2048,
    *,
    insecure: bool = False,
    progress: bool = False,
    fast_decrypt: bool = False,
) -> tuple[list[tuple[str, np.ndarray]], dict]:
    """Run every operation; returns (titled panels, timings/info)."""
    from hesift import data
    from hesift import filters as F

    t_all = time.perf_counter()
    cpu_all = time.process_time()  # all threads of this process
    times: dict[str, float] = {}

    def lap(name: str, t0: float) -> None:
        times[name] = times.get(name, 0.0) + time.perf_counter() - t0

    img = data.photo(photo, size, grey=True)
    binary = F.binarize(img)

    # --- key owner: keys and encryption ------------------------------------------------
    t = time.perf_counter()
    pub, priv = make_keypair(key_bits, insecure, progress, fast_decrypt)
    lap("keygen", t)
    t = time.perf_counter()
    with spinner("encrypting", progress):
        enc = dict(pack=True, pad=PAD, pad_mode="reflect", bits_per_slot=SLOT_BITS,
                   headroom=HEADROOM)
        x = priv.encrypt(img.astype(np.int64), bound=255, **enc)
        encb = dict(enc, bits_per_slot=BINARY_SLOT_BITS)
        xb = priv.encrypt(binary.astype(np.int64), bound=1, **encb)
    lap("encrypt", t)

    # --- evaluator: public key and ciphertexts only ------------------------------------
    t = time.perf_counter()
    with spinner("filtering (evaluator)", progress):
        g = F.gaussian(x, 1.0, frac_bits=8)
        sx, sy = F.sobel(x)
        cx, cy = F.scharr(x)
        px, py = F.prewitt(x)
        rx, ry = F.roberts(x)
        results = {
            "gaussian": [g],
            "box": [F.box(x, 3)],
            "sharpen": [F.unsharp_mask(x, 1.0, 1, frac_bits=8, blurred=g)],
            "sobel": [sx, sy],
            "scharr": [cx, cy],
            "prewitt": [px, py],
            "roberts": [rx, ry],
            "laplacian": [F.laplacian(x)],
            "negate": [F.negate(x)],
            "brightness": [F.brightness(x, 40)],
            "contrast": [F.contrast(x, 1.5, 128, frac_bits=1)],
        }
        counts = F.neighbourhood_counts(xb)
    lap("filter", t)

    # --- key owner: decrypt -----------------------------------------------------------
    t = time.perf_counter()
    with spinner("decrypting", progress):
        vals = {name: [np.asarray(priv.decrypt_image(r, np.float64)) for r in rs]
                for name, rs in results.items()}
        c = np.asarray(priv.decrypt(counts)).astype(np.int64)
    eroded = F.threshold_counts(c, "erode")
    dilated = F.threshold_counts(c, "dilate")
    lap("decrypt", t)

    # --- one more round for open/close: key owner re-encrypts, evaluator counts --------
    t = time.perf_counter()
    with spinner("open/close round", progress):
        e2 = priv.encrypt(eroded.astype(np.int64), bound=1, **encb)
        d2 = priv.encrypt(dilated.astype(np.int64), bound=1, **encb)
        c_open = F.neighbourhood_counts(e2)   # evaluator
        c_close = F.neighbourhood_counts(d2)  # evaluator
        co = np.asarray(priv.decrypt(c_open)).astype(np.int64)
        cc = np.asarray(priv.decrypt(c_close)).astype(np.int64)
    lap("morphology round 2", t)

    def pic(v: np.ndarray) -> np.ndarray:
        return np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8)

    def mag(name: str) -> np.ndarray:
        """Key owner: |g|, stretched so its 99th percentile is white (display only)."""
        a, b = vals[name]
        m = np.hypot(a, b)
        top = max(float(np.percentile(m, 99)), 1.0)
        return np.clip(m * (255.0 / top), 0, 255).astype(np.uint8)

    panels = [
        ("original", img),
        ("ciphertexts (bytes)", ciphertext_view(x, img.shape)),
        ("gaussian s=1", pic(vals["gaussian"][0])),
        ("box 3x3", pic(vals["box"][0])),
        ("sharpen (unsharp)", pic(vals["sharpen"][0])),
        ("sobel |g|", mag("sobel")),
        ("scharr |g|", mag("scharr")),
        ("prewitt |g|", mag("prewitt")),
        ("roberts |g|", mag("roberts")),
        ("laplacian 2|L|", F.to_display(vals["laplacian"][0] * 2)),
        ("negate", pic(vals["negate"][0])),
        ("brightness +40", pic(vals["brightness"][0])),
        ("contrast x1.5", pic(vals["contrast"][0])),
        ("binary (Otsu)", binary * np.uint8(255)),
        ("erode 3x3", eroded * np.uint8(255)),
        ("dilate 3x3", dilated * np.uint8(255)),
        ("open 3x3", F.threshold_counts(co, "dilate") * np.uint8(255)),
        ("close 3x3", F.threshold_counts(cc, "erode") * np.uint8(255)),
        ("morph. gradient", F.threshold_counts(c, "gradient") * np.uint8(255)),
    ]
    info = {
        "photo": photo, "shape": list(img.shape), "key_bits": int(pub.bits),
        "ciphertexts_per_plane": int(x.num_ciphertexts), "slots": int(x.slots),
        "ciphertext_bytes": int(x.nbytes), "seconds": {k: round(v, 2) for k, v in times.items()},
    }
    info["seconds"]["total"] = round(time.perf_counter() - t_all, 2)
    info["cpu_seconds"] = round(time.process_time() - cpu_all, 2)
    return panels, info


def draw_panel(panels: list[tuple[str, np.ndarray]], path: str, title: str) -> None:
    """Grid of titled greyscale images, written atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 5
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 2.6, rows * 2.8))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, im) in zip(axes.ravel(), panels, strict=False):
        ax.imshow(im, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with hio.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)


def cmd_demo(args: argparse.Namespace) -> int:
    progress = apply_runtime_options(args)
    if Path(args.output).suffix.lower() != ".png":
        raise CLIError(f"the panel is a PNG: -o {Path(args.output).stem}.png")
    if not Path(args.output).resolve().parent.is_dir():
        raise CLIError(f"output directory {str(Path(args.output).parent)!r} does not exist")
    panels, info = run_demo(args.photo, args.size, args.key_bits,
                            insecure=args.insecure, progress=progress,
                            fast_decrypt=args.fast_decrypt)
    secs = info["seconds"]
    title = (f"hesift demo: {args.photo} {args.size}x{args.size}, {info['key_bits']}-bit Paillier, "
             f"packed {info['slots']} px/ciphertext; {secs['total']:.1f}s "
             f"({info['cpu_seconds']:.0f} CPU-s) "
             f"(encrypt {secs['encrypt']:.1f}s, evaluate {secs['filter']:.1f}s, "
             f"decrypt {secs['decrypt'] + secs['morphology round 2']:.1f}s)")
    draw_panel(panels, args.output, title)
    info["output"] = args.output
    if args.json:
        emit_json(info)
    else:
        print(f"wrote {args.output}; " + ", ".join(f"{k} {v}s" for k, v in secs.items()),
              file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    """Add the ``demo`` subcommand."""
    from hesift import data

    p = sub.add_parser("demo", help="run every encrypted operation on a photo; write a panel PNG")
    p.add_argument("-o", "--output", default="hesift-demo.png", help="panel PNG (hesift-demo.png)")
    p.add_argument("--key-bits", type=int, default=2048, help="key size (2048)")
    p.add_argument("--insecure", action="store_true", help="allow toy key sizes (tests only)")
    add_fast_decrypt_flag(p)
    p.add_argument("--photo", default="camera", choices=data.names(), help="bundled photo")
    p.add_argument("--size", type=int, default=256, help="photo side in pixels (256)")
    add_runtime_options(p)
    p.set_defaults(func=cmd_demo)
