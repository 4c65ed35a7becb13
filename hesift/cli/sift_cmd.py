"""``hesift sift IMG``: HESIFT on a picture; the evaluator here or on a server.

The evaluator gets only the public key and ciphertexts: an object in this
process, or with ``--evaluator URL`` a ``hesift evaluator`` service on another
machine.  The key owner (this command) decrypts the DoG levels and finishes
the features.  ``--plaintext`` runs the identical plaintext pipeline instead
(no keys, same output).  The cost model's estimate is printed first; work over
--max-time / --max-memory is refused, and --max-side N downscales the picture
first.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from hesift.cli import CLIError, add_runtime_options, apply_runtime_options
from hesift.cli.evaluator_cmd import add_client_options, remote_from_args
from hesift.cli.keys_cmd import add_memory_option
from hesift.cli.limits import add_limit_options, announce, downscale

DEFAULT_KEY_BITS = 2048


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "sift",
        help="SIFT keypoints/descriptors with the scale space computed on ciphertexts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("image", metavar="IMG", help="input picture (any format OpenCV reads)")
    p.add_argument("--draw", metavar="OUT.png", help="write the picture with keypoints drawn")
    p.add_argument("--dog", metavar="OUT.png", help="write the decrypted DoG scale space")
    p.add_argument("--encrypted-view", metavar="OUT.png",
                   help="write the evaluator's view of octave 0's encrypted DoG levels")
    p.add_argument("--features", metavar="OUT.npz",
                   help="save keypoints (x, y, size, angle, response, octave) and descriptors")
    p.add_argument("--key-bits", type=int, default=DEFAULT_KEY_BITS, metavar="N",
                   help=f"Paillier key size (default {DEFAULT_KEY_BITS})")
    p.add_argument("--insecure", action="store_true", help="allow small test keys (< 2048 bits)")
    from hesift.cli.keys_cmd import add_fast_decrypt_flag

    add_fast_decrypt_flag(p)
    p.add_argument("--plaintext", dest="reference", action="store_true",
                   help="run the identical plaintext pipeline (no encryption, NO privacy)")
    p.add_argument("--reference", dest="reference", action="store_true",
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the old name
    p.add_argument("--nfeatures", type=int, default=0)
    p.add_argument("--n-octave-layers", type=int, default=3)
    p.add_argument("--contrast-threshold", type=float, default=0.04)
    p.add_argument("--edge-threshold", type=float, default=10.0)
    p.add_argument("--sigma", type=float, default=1.6)
    p.add_argument("--no-upsample", action="store_true", help="skip the x2 up-sampled octave")
    add_client_options(p)
    add_memory_option(p)
    add_limit_options(p)
    add_runtime_options(p)
    p.set_defaults(func=cmd_sift)


def _estimate(args: argparse.Namespace, shape: tuple[int, int], params):
    """The cost model's estimate of HESIFT on a ``shape`` grey image, printed, and refused
    over --max-time / --max-memory (called with the header's shape, before decoding)."""
    from hesift import estimate as E

    h, w = shape
    cost = E.estimate_sift(h, w, key_bits=args.key_bits, params=params, workers=args.workers,
                           fast_decrypt=bool(getattr(args, "fast_decrypt", False)),
                           what=f"HESIFT on {w}x{h}")
    announce(cost, args)
    return cost


def _save(path: str, img: np.ndarray) -> None:
    from hesift import io as hio

    hio.save_image(path, img)


def cmd_sift(args: argparse.Namespace) -> int:
    from hesift import estimate as E
    from hesift import io as hio
    from hesift.cli.keys_cmd import emit_json, make_keypair
    from hesift.sift import pictures
    from hesift.sift.image import to_grey
    from hesift.sift.params import SiftParams
    from hesift.sift.reference import run_reference

    progress = apply_runtime_options(args)
    timer = E.Timer()
    try:
        params = SiftParams(args.nfeatures, args.n_octave_layers, args.contrast_threshold,
                            args.edge_threshold, args.sigma, not args.no_upsample)
    except ValueError as e:
        raise CLIError(str(e)) from None
    if args.reference and args.encrypted_view:
        raise CLIError("--encrypted-view needs an encrypted run (drop --plaintext)")
    if args.reference and args.evaluator:
        raise CLIError("--evaluator needs an encrypted run (drop --plaintext)")
    remote = remote_from_args(args)
    cost = None
    if not args.reference:  # time and memory from the header, before decoding the picture
        h, w = E.scaled_size(*hio.image_shape(args.image), getattr(args, "max_side", None))
        cost = _estimate(args, (h, w), params)
    grey = downscale(to_grey(hio.load_image(args.image, grey=True)), args, "sift")
    t0 = time.perf_counter()
    stats: dict = {}
    if args.reference:
        kps, dogs = run_reference(grey, params, keep_dogs=True)
        enc_dogs = []
    else:
        from hesift.sift.protocol import run_local

        keys = make_keypair(args.key_bits, args.insecure, progress, args.fast_decrypt)
        kps = run_local(grey, params, keys, workers=args.workers, progress=progress, stats=stats,
                        owner_kwargs={"keep_levels": bool(args.dog or args.encrypted_view)},
                        evaluator=remote)
        owner = stats.pop("owner")
        dogs, enc_dogs = owner.decrypted_dogs, owner.encrypted_dogs
    seconds = time.perf_counter() - t0
    cv_kps = kps.to_cv()
    if args.draw:
        _save(args.draw, pictures.draw_keypoints(grey, cv_kps))
    if args.dog:
        _save(args.dog, pictures.dog_mosaic(dogs))
    if args.encrypted_view:
        _save(args.encrypted_view, pictures.ciphertext_mosaic(enc_dogs))
    if args.features:
        from hesift.io import atomic_path

        with atomic_path(args.features) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, keypoints=np.stack([kps.x, kps.y, kps.size, kps.angle, kps.response,
                                             kps.octave.astype(np.float32)], axis=1),
                     descriptors=kps.desc)
    summary = {
        "image": args.image,
        "shape": list(grey.shape),
        "keypoints": len(kps),
        "encrypted": not args.reference,
        "key_bits": None if args.reference else args.key_bits,
        "seconds": round(seconds, 3),
        "estimate_seconds": None if cost is None else round(cost.seconds, 1),
        "timings": {k: round(v, 3) for k, v in stats.items() if isinstance(v, float)},
        "estimate": cost.to_dict() if cost is not None else None,
        "wall_seconds": round(timer.wall(), 3),
        "cpu_seconds": round(timer.cpu(), 3),
    }
    if remote is not None:
        summary["evaluator"] = remote.url
        summary["bytes_up"], summary["bytes_down"] = (remote.stats["bytes_up"],
                                                      remote.stats["bytes_down"])
    if args.json:
        emit_json(summary)
    else:
        mode = "plaintext reference" if args.reference else f"encrypted, {args.key_bits}-bit key"
        if remote is not None:
            mode += f", evaluator {remote.url}"
        print(f"{args.image}: {len(kps)} keypoints ({mode}, {seconds:.1f} s)", file=sys.stdout)
        for k, v in summary["timings"].items():
            print(f"  {k:>10}: {v:.2f} s")
    if cost is not None:
        print(f"hesift: sift: {cost.versus(timer.wall())}", file=sys.stderr)
    return 0
