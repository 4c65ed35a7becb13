"""``hesift filter OP``: the evaluator on an encrypted file, or both roles on a picture.

``hesift filter OP enc.npz -o out.npz --pubkey pub.json`` runs the evaluator:
it reads ciphertexts and the public key only.  ``hesift filter OP photo.png
-o out.png --key-bits N`` runs key owner and evaluator in one process (the
evaluator step still receives only the public key and ciphertexts).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from hesift import estimate as E
from hesift import io as hio
from hesift.cli import CLIError, add_runtime_options, apply_runtime_options
from hesift.cli.evaluator_cmd import add_client_options, remote_from_args
from hesift.cli.keys_cmd import (
    add_fast_decrypt_flag,
    add_memory_option,
    emit_json,
    encrypt_image,
    load_private,
    load_public,
    make_keypair,
    reencrypt_binary,
    render,
    spinner,
)
from hesift.cli.limits import add_limit_options, announce, downscale
from hesift.filters import registry
from hesift.filters.registry import COUNTS, IMAGE

PARAM_NAMES = ("sigma", "size", "shape", "amount", "offset", "alpha", "pivot", "ksize",
               "kernel", "frac_bits")


def op_params(args: argparse.Namespace, progress: bool) -> dict:
    """Operation parameters from the command line (defaults from the registry)."""
    given = {k: getattr(args, k, None) for k in PARAM_NAMES}
    if given["kernel"] is not None:
        given["kernel"] = _read_kernel(given["kernel"])
    p = registry.params(**given)
    if not (0 < p["sigma"] <= 20):
        raise CLIError(f"--sigma must be in (0, 20], got {p['sigma']}")
    if not (1 <= int(p["size"]) <= 31):
        raise CLIError(f"--size must be in 1..31, got {p['size']}")
    p["progress"] = progress
    return p


def _read_kernel(text: str) -> np.ndarray:
    from hesift.kernels import parse_kernel

    if text.startswith("@"):
        path = Path(text[1:])
        if path.suffix == ".npy":
            from hepaillier_core.limits import read_npy

            try:
                with open(path, "rb") as f:
                    return read_npy(f, path.stat().st_size, what=f"kernel {path}",
                                    dtypes=("<i8", "<i4", "<f8", "<f4"), max_bytes=1 << 20)
            except OSError as e:
                raise CLIError(f"cannot read kernel {path}: {e.strerror}") from None
            except ValueError as e:
                raise CLIError(f"cannot read {e}") from None
        try:
            text = path.read_text()
        except OSError as e:
            raise CLIError(f"cannot read kernel {path}: {e.strerror}") from None
    return parse_kernel(text)


def _json_params(p: dict) -> dict:
    out = {}
    for k in PARAM_NAMES:
        v = p.get(k)
        out[k] = v.tolist() if isinstance(v, np.ndarray) else v
    return out


def evaluate(spec: registry.OpSpec, enc: hio.EncryptedImage, p: dict,
             remote: Any = None) -> hio.EncryptedImage:
    """Evaluator: apply one op to every plane (ciphertexts and public key only), here or
    on the ``remote`` evaluator service (``hesift.remote.RemoteEvaluator``)."""
    meta = enc.meta
    encoding = meta.get("encoding", {})
    pending = list(meta.get("pending", []))
    if spec.kind == COUNTS:
        if not encoding.get("binary"):
            raise CLIError(f"{spec.name} needs a binary image: encrypt it with --binary")
        if meta.get("kind") != IMAGE:
            raise CLIError(f"{spec.name}: the input holds {meta.get('kind')} data, not an image")
        if pending and meta.get("morph") != spec.name:
            raise CLIError(f"this file continues '{meta.get('morph')}', not '{spec.name}'")
        stage = len(spec.stages) - len(pending) if pending else 0
        se = registry.element_of(p)
        se_meta = meta.get("se")
        if pending and se_meta is not None and not np.array_equal(np.asarray(se_meta), se):
            raise CLIError("the second pass must use the same --size/--shape as the first")
    else:
        if meta.get("kind") != IMAGE or pending:
            raise CLIError(
                f"the input holds {meta.get('kind')} output"
                f"{' with a pending morphology pass' if pending else ''}; decrypt it instead"
            )
        stage = 0
    _warn_border(spec, p, encoding)
    if remote is None:
        planes = registry.apply(spec, enc.planes, p)
    else:
        with spinner(f"{spec.name} on {remote.url}", bool(p.get("progress"))):
            planes = remote.apply_op(spec, enc.planes, p)
    names = [f"{n}{s}" for n in enc.names for s in spec.suffixes]
    new_meta: dict[str, Any] = {
        "kind": spec.kind,
        "encoding": encoding,
        "ops": list(meta.get("ops", [])) + [{"op": spec.name, "params": _json_params(p)}],
    }
    if spec.kind == COUNTS:
        se = registry.element_of(p)
        new_meta.update(
            threshold={"op": spec.stages[stage], "se": se.tolist()},
            pending=list(spec.stages[stage + 1:]), morph=spec.name, se=se.tolist(),
        )
    return hio.EncryptedImage(planes, names, new_meta)


def _warn_border(spec: registry.OpSpec, p: dict, encoding: dict) -> None:
    r = spec.radius(p)
    if encoding.get("pack") and r > int(encoding.get("pad", 0)):
        print(f"hesift: note: {spec.name} reaches {r} pixels but the image was padded by "
              f"{encoding.get('pad')}; the outer {r} pixels see zeros beyond the padding",
              file=sys.stderr)


def cmd_filter(args: argparse.Namespace) -> int:
    progress = apply_runtime_options(args)
    hio.check_input_file(args.input)  # a missing input is named before any output complaint
    spec = registry.get(args.op)
    p = op_params(args, progress)
    p["workers"] = args.workers
    remote = remote_from_args(args)
    if hio.is_container(args.input):
        return _evaluator(args, spec, p, remote)
    if Path(args.input).suffix.lower() == ".npz":  # name the bad input, not the output
        from hesift.errors import UnreadableInputError

        raise UnreadableInputError(f"{args.input!r} is not a hesift encrypted image "
                                   "(not an .npz archive)")
    return _one_shot(args, spec, p, progress, remote)


def _evaluator(args: argparse.Namespace, spec: registry.OpSpec, p: dict, remote: Any = None) -> int:
    if Path(args.output).suffix.lower() != ".npz":
        raise CLIError("filtering an encrypted file writes an encrypted file: use -o OUT.npz")
    if args.key:
        raise CLIError("filtering an encrypted file is the evaluator's step: it takes no private "
                       "key (drop --key; the file carries its public key, --pubkey only checks it)")
    pub = load_public(args.pubkey) if args.pubkey else None  # optional: the file carries n
    enc = hio.EncryptedImage.load(args.input, pub)
    r = int(spec.radius(p))
    n_ct = sum(int(np.prod(x.data.shape[:-1])) for x in enc.planes)
    announce(E.estimate_evaluator(n_ct, key_bits=int(enc.public_key.bits),
                                  taps=r + 1 if r else 0, passes=2 if r else 0,
                                  outputs=len(spec.suffixes), workers=args.workers,
                                  what=f"{spec.name} on {n_ct} ciphertexts (evaluator)"),
             args, can_downscale=False)
    t0 = time.perf_counter()
    out = evaluate(spec, enc, p, remote)
    out.save(args.output)
    secs = time.perf_counter() - t0
    info = {"op": spec.name, "output": args.output, "kind": out.meta["kind"],
            "planes": out.names, "pending": out.meta.get("pending", []),
            "seconds": round(secs, 3)}
    if args.json:
        emit_json(info)
    else:
        more = (f"; key owner: decrypt to .npz, then run 'filter {spec.name}' on it again"
                if info["pending"] else "")
        print(f"{spec.name}: wrote {args.output} ({out.meta['kind']}) in {secs:.1f}s{more}",
              file=sys.stderr)
    return 0


def plan_encoding(spec: registry.OpSpec, p: dict) -> tuple[int, int, bool]:
    """(pad, bits_per_slot, binary) a key owner should encrypt with for this op."""
    binary = spec.kind == COUNTS
    bits = max(registry.slot_bits(spec, p, 1 if binary else 255), 4)
    if bits > 60:
        raise CLIError(f"{spec.name}: these parameters need {bits}-bit slots (values would "
                       "overflow); lower --amount/--alpha/--offset or the kernel taps")
    return max(spec.radius(p), 1), bits, binary


def _one_shot(args: argparse.Namespace, spec: registry.OpSpec, p: dict, progress: bool,
              remote: Any = None) -> int:
    suffix = Path(args.output).suffix.lower()
    if suffix not in hio.IMAGE_SUFFIXES + (".npy",):
        raise CLIError(f"one-shot filtering writes a picture: -o OUT.png (got {args.output!r})")
    if not Path(args.output).resolve().parent.is_dir():
        raise CLIError(f"output directory {str(Path(args.output).parent)!r} does not exist")
    if args.pubkey:
        raise CLIError("a plain image needs the key owner: give --key key.json or --key-bits N")
    times: dict[str, float] = {}
    timer = E.Timer()
    img = downscale(hio.load_image(args.input, grey=args.grey or spec.kind == COUNTS), args,
                    spec.name)
    pad, bits, binary = plan_encoding(spec, p)
    if binary:
        from hesift.filters import binarize

        img = binarize(img, args.threshold)
    chans = 1 if img.ndim == 2 else 3
    priv = load_private(args.key) if args.key else None
    key_bits = int(priv.public_key.bits) if priv is not None else args.key_bits
    est = hio.estimate_ciphertext_bytes(img.shape[0], img.shape[1], chans, key_bits=key_bits,
                                        pack=args.pack, bits_per_slot=bits, pad=pad)
    hio.check_size(est, args.max_memory, packed=args.pack)
    fast = bool(getattr(priv.public_key, "fast_decrypt", False) if priv is not None
                else getattr(args, "fast_decrypt", False))
    cost = estimate_one_shot(spec, p, img.shape[0], img.shape[1], chans, key_bits=key_bits,
                             bits=bits, pad=pad, pack=args.pack, fresh_key=priv is None,
                             fast_decrypt=fast, workers=args.workers)
    announce(cost, args)
    t = time.perf_counter()
    if priv is not None:
        pub = priv.public_key
    else:
        pub, priv = make_keypair(key_bits, args.insecure, progress, args.fast_decrypt)
    times["keygen"] = time.perf_counter() - t

    t = time.perf_counter()
    enc = encrypt_image(priv, img, pack=args.pack, pad=pad, bits_per_slot=bits, binary=binary,
                        progress=progress, max_memory=args.max_memory)
    times["encrypt"] = time.perf_counter() - t
    times["filter"] = times["decrypt"] = 0.0
    while True:
        t = time.perf_counter()
        out = evaluate(spec, _as_evaluator_sees(enc, pub), p, remote)
        times["filter"] += time.perf_counter() - t
        t = time.perf_counter()
        if out.meta.get("pending"):
            pic, _ = render(priv, out, progress)
            enc = reencrypt_binary(priv, out, (pic > 0).astype(np.uint8), progress)
            times["decrypt"] += time.perf_counter() - t
            continue
        pic, vals = render(priv, out, progress)
        times["decrypt"] += time.perf_counter() - t
        break
    if suffix == ".npy":
        with hio.atomic_path(args.output) as tmp, open(tmp, "wb") as fh:
            np.save(fh, vals)
    else:
        hio.save_image(args.output, pic)
    info = {"op": spec.name, "input": args.input, "output": args.output,
            "shape": list(img.shape), "key_bits": int(pub.bits), "packed": args.pack,
            "ciphertext_bytes": enc.nbytes(), "seconds": {k: round(v, 3) for k, v in times.items()},
            "estimate": cost.to_dict(), "wall_seconds": round(timer.wall(), 3),
            "cpu_seconds": round(timer.cpu(), 3)}
    if remote is not None:
        info["evaluator"] = remote.url
        info["bytes_up"], info["bytes_down"] = remote.stats["bytes_up"], remote.stats["bytes_down"]
    if args.json:
        emit_json(info)
    else:
        total = sum(times.values())
        print(f"{spec.name}: wrote {args.output} in {total:.1f}s "
              + " ".join(f"{k} {v:.1f}s" for k, v in times.items()), file=sys.stderr)
    print(f"hesift: {spec.name}: {cost.versus(timer.wall())}", file=sys.stderr)
    return 0


def estimate_one_shot(spec: registry.OpSpec, p: dict, height: int, width: int, channels: int, *,
                      key_bits: int, bits: int, pad: int, pack: bool = True,
                      fresh_key: bool = True, fast_decrypt: bool = False,
                      workers: int | None = None) -> E.Estimate:
    """The cost model's estimate of a one-shot filter (keygen, encrypt, filter, decrypt)."""
    r = int(spec.radius(p))
    taps, passes = (r + 1, 2) if r else (0, 0)  # symmetric taps share an exponentiation
    rounds = max(1, len(spec.stages)) if spec.kind == COUNTS else 1
    return E.estimate_filter(height, width, channels, key_bits=key_bits, taps=taps,
                             passes=passes, outputs=len(spec.suffixes), bits_per_slot=bits,
                             pad=pad, pack=pack, rounds=rounds, fresh_key=fresh_key,
                             fast_decrypt=fast_decrypt, workers=workers, what=f"{spec.name} on {width}x{height}"
                             + (f"x{channels}" if channels > 1 else ""))


def _as_evaluator_sees(enc: hio.EncryptedImage, pub: Any) -> hio.EncryptedImage:
    """Check the evaluator's view holds nothing but ciphertexts under ``pub``."""
    if enc.fingerprint != pub.fingerprint:
        raise CLIError("internal: ciphertexts and public key disagree")
    return enc


def register(sub: Any) -> None:
    """Add the ``filter`` subcommand."""
    ops = ", ".join(registry.OPS)
    p = sub.add_parser(
        "filter",
        help="apply an operation to an encrypted file (evaluator) or a picture (both roles)",
        description=f"Operations: {ops}.  On an encrypted .npz the evaluator needs only "
                    "--pubkey; on a picture the key owner and evaluator run in one process.",
    )
    p.add_argument("op", choices=list(registry.OPS), metavar="OP", help=f"one of: {ops}")
    p.add_argument("input", help="encrypted file (.npz) or picture")
    p.add_argument("-o", "--output", required=True, help="out.npz (evaluator) or out.png")
    p.add_argument("--pubkey", help="evaluator on an encrypted file: check it was encrypted "
                                    "under this public key (optional: the file carries it)")
    p.add_argument("--key", help="private key (one-shot on a picture; default: a fresh key)")
    p.add_argument("--key-bits", type=int, default=2048, help="one-shot: fresh key size (2048)")
    p.add_argument("--insecure", action="store_true", help="allow toy key sizes (tests only)")
    add_fast_decrypt_flag(p)
    p.add_argument("--pack", action=argparse.BooleanOptionalAction, default=True,
                   help="one-shot: pack pixels into slots (default: yes)")
    p.add_argument("--grey", action="store_true", help="one-shot: convert colour to grey")
    p.add_argument("--threshold", type=int, default=None,
                   help="one-shot morphology: binarisation threshold (default Otsu)")
    g = p.add_argument_group("operation parameters")
    g.add_argument("--sigma", type=float, help="gaussian/sharpen sigma (1.0)")
    g.add_argument("--size", type=int, help="box / structuring element size (3)")
    g.add_argument("--shape", choices=("rect", "cross", "ellipse"), help="structuring element (rect)")
    g.add_argument("--amount", type=float, help="sharpen amount (1.0)")
    g.add_argument("--offset", type=float, help="brightness offset in grey levels (40)")
    g.add_argument("--alpha", type=float, help="contrast factor (1.5)")
    g.add_argument("--pivot", type=float, help="contrast pivot grey level (128)")
    g.add_argument("--ksize", type=int, choices=(1, 3), help="laplacian aperture (1)")
    g.add_argument("--kernel", help="op 'kernel': taps '1 2 1; 2 4 2; 1 2 1' or @file(.txt|.npy)")
    g.add_argument("--frac-bits", type=int, help="fixed-point bits of quantised taps (auto)")
    add_memory_option(p)
    add_client_options(p)
    add_limit_options(p)
    add_runtime_options(p)
    p.set_defaults(func=cmd_filter)
