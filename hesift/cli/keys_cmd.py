"""Key-owner commands: ``keygen``, ``encrypt``, ``decrypt``.

The private key never leaves these commands; the evaluator's ``filter``
command needs only the public key file written beside it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hesift import io as hio
from hesift.cli import CLIError, add_runtime_options, apply_runtime_options
from hesift.errors import UnreadableInputError, WrongKeyError

KEY_SIZES = (2048, 3072, 4096)  # 1024 and below need --insecure
DEFAULT_PAD = 8
DEFAULT_SLOT_BITS = 40  # fits every op at full precision on an 8-bit image
BINARY_SLOT_BITS = 16  # neighbourhood counts of structuring elements up to 16383 pixels


# --- shared helpers (also used by filters_cmd and demo_cmd) ----------------------------


@contextlib.contextmanager
def spinner(desc: str, enabled: bool) -> Iterator[None]:
    """An elapsed-time bar on stderr for steps with no measurable progress."""
    if not enabled:
        yield
        return
    from tqdm import tqdm

    bar = tqdm(desc=desc, bar_format="{desc}: {elapsed}", file=sys.stderr, leave=False)
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(0.2):
            bar.refresh()

    t = threading.Thread(target=tick, daemon=True)
    t.start()
    try:
        yield
    finally:
        stop.set()
        t.join()
        bar.close()


def public_key_path(private_path: str | Path) -> Path:
    """key.json -> key.pub.json (the public key written beside the private one)."""
    p = Path(private_path)
    stem = p.name[: -len(".json")] if p.name.endswith(".json") else p.name
    return p.with_name(f"{stem}.pub.json")


def load_private(path: str) -> Any:
    """Load a private key file, with a one-line error for the usual mistakes."""
    import hepaillier_core as hc

    try:
        return hc.PrivateKey.load(path)
    except ValueError as e:
        if "public" in str(e):
            raise WrongKeyError(f"{path} is a public key; this step needs the private key") from None
        raise UnreadableInputError(str(e)) from None


def load_public(path: str) -> Any:
    """Load a public key file; refuse a private key (the evaluator must not hold one)."""
    import hepaillier_core as hc

    try:
        return hc.PublicKey.load(path)
    except ValueError as e:
        if "private" in str(e):
            raise WrongKeyError(
                f"{path} is a private key; the evaluator takes only the public key "
                f"({public_key_path(path).name})"
            ) from None
        raise UnreadableInputError(str(e)) from None


def add_fast_decrypt_flag(p: argparse.ArgumentParser) -> None:
    """--fast-decrypt for every command that generates a key."""
    p.add_argument("--fast-decrypt", action="store_true",
                   help="subgroup key: ~4x faster decryption, extra security assumption "
                        "(see README, 'Fast-decryption keys')")


def make_keypair(bits: int, insecure: bool, progress: bool,
                 fast_decrypt: bool = False) -> tuple[Any, Any]:
    """Generate a key pair, refusing sizes below 2048 unless ``insecure``
    (``fast_decrypt``: a subgroup key, see ``hc.generate_keypair``)."""
    import hepaillier_core as hc

    if bits not in KEY_SIZES and not insecure:
        raise CLIError(f"--key-bits must be one of {KEY_SIZES} (smaller sizes need --insecure)")
    if insecure and not 256 <= bits <= 4096:
        raise CLIError(f"--key-bits must be in 256..4096, got {bits}")
    with spinner(f"generating a {bits}-bit key", progress):
        return hc.generate_keypair(bits, insecure=insecure or bits not in KEY_SIZES,
                                   fast_decrypt=fast_decrypt)


def encrypt_image(
    priv: Any,
    img: np.ndarray,
    *,
    pack: bool = True,
    pad: int = DEFAULT_PAD,
    bits_per_slot: int | None = DEFAULT_SLOT_BITS,
    binary: bool = False,
    progress: bool = False,
    max_memory: int | None = None,
) -> hio.EncryptedImage:
    """Key owner: encrypt each plane of ``img`` (uint8, or 0/1 if ``binary``)."""
    planes, names = hio.planes_of(img)
    h, w = planes[0].shape
    est = hio.estimate_ciphertext_bytes(
        h, w, len(planes), key_bits=priv.public_key.bits, pack=pack,
        bits_per_slot=bits_per_slot or 33, pad=pad,
    )
    hio.check_size(est, max_memory, packed=pack)
    opts: dict[str, Any] = {}
    if pack:
        opts = {"pack": True, "pad": pad, "pad_mode": "reflect",
                "bound": 1 if binary else 255}
        if bits_per_slot:
            opts["bits_per_slot"] = bits_per_slot
    enc = [priv.encrypt(p, progress=progress, **opts) for p in planes]
    encoding = {"pack": pack, "pad": pad if pack else 0, "pad_mode": "reflect",
                "bits_per_slot": int(enc[0].bits_per_slot) if pack else None,
                "binary": binary}
    return hio.EncryptedImage(enc, names, {"kind": "image", "encoding": encoding, "ops": []})


def decrypt_plane(priv: Any, x: Any, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Key owner: one decryption giving (uint8 picture, float values) of a plane."""
    s = int(x.scale)
    v = np.asarray(priv.decrypt(x.with_scale(1), progress=progress))
    if v.dtype == object:
        v = np.clip(v, -(1 << 62), 1 << 62).astype(np.int64)
    pic = np.clip(np.floor_divide(2 * v + s, 2 * s), 0, 255).astype(np.uint8)  # round half up
    return pic, v.astype(np.float64) / s


def render(priv: Any, enc: hio.EncryptedImage, progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Key owner: (picture uint8, float values) of an encrypted result, by its kind."""
    from hesift.filters import decrypt, morphology

    kind = enc.meta.get("kind", "image")
    if kind not in ("image", "signed", "gradient", "counts"):
        raise CLIError(f"unknown result kind {kind!r} in the file's metadata")
    dec = [decrypt_plane(priv, p, progress) for p in enc.planes]
    pics, vals = [d[0] for d in dec], [d[1] for d in dec]
    if kind == "image":
        pic = _stack(pics)
        if enc.meta.get("encoding", {}).get("binary") and not enc.meta.get("ops"):
            pic = (pic > 0).astype(np.uint8) * np.uint8(255)
        return pic, _stack(vals)
    if kind == "signed":
        return decrypt.to_display(_stack(vals)), _stack(vals)
    if kind == "gradient":
        mags = [np.hypot(vals[i], vals[i + 1]) for i in range(0, len(vals), 2)]
        return decrypt.to_display(_stack(mags)), _stack(vals)
    th = enc.meta["threshold"]
    se = np.asarray(th["se"], dtype=np.int64)
    binary = _stack([morphology.threshold_counts(v.astype(np.int64), th["op"], se) for v in vals])
    return binary * np.uint8(255), binary.astype(np.float64)


def _stack(planes: list[np.ndarray]) -> np.ndarray:
    return planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)


def emit_json(obj: dict) -> None:
    """One JSON object on stdout (data output for --json)."""
    print(json.dumps(obj, indent=None, sort_keys=True))


# --- keygen ---------------------------------------------------------------------------


def cmd_keygen(args: argparse.Namespace) -> int:
    progress = apply_runtime_options(args)
    out = Path(args.output)
    pub_out = Path(args.pubkey_output) if args.pubkey_output else public_key_path(out)
    if out.resolve() == pub_out.resolve():
        raise CLIError("the public key path must differ from the private key path")
    for p in (out, pub_out):
        if p.exists() and not args.force:
            raise CLIError(f"{p} exists; use --force to overwrite it")
        if not p.resolve().parent.is_dir():
            raise CLIError(f"output directory {str(p.parent)!r} does not exist")
    t0 = time.perf_counter()
    pub, priv = make_keypair(args.bits, args.insecure, progress, args.fast_decrypt)
    secs = time.perf_counter() - t0
    pub.save(pub_out)
    priv.save(out)
    info = {"private_key": str(out), "public_key": str(pub_out), "bits": pub.bits,
            "fast_decrypt": pub.fast_decrypt, "fingerprint": pub.fingerprint,
            "seconds": round(secs, 3)}
    if args.json:
        emit_json(info)
    else:
        print(f"wrote {out} (private, mode 0600) and {pub_out} (public); "
              f"{pub.bits}-bit key {pub.fingerprint} in {secs:.1f}s", file=sys.stderr)
    return 0


# --- encrypt --------------------------------------------------------------------------


def cmd_encrypt(args: argparse.Namespace) -> int:
    progress = apply_runtime_options(args)
    hio.check_input_file(args.image)  # a missing input is named before any output complaint
    _check_output(args.output, (".npz",))
    priv = load_private(args.key)
    img = hio.load_image(args.image, grey=args.grey or args.binary)
    if args.binary:
        from hesift.filters import binarize

        img = binarize(img, args.threshold)
    if args.pad < 0 or args.pad > 64:
        raise CLIError(f"--pad must be in 0..64, got {args.pad}")
    from hesift import estimate as E
    from hesift.cli.limits import announce

    cost = E.estimate_encrypt(img.shape[0], img.shape[1], 1 if img.ndim == 2 else 3,
                              key_bits=int(priv.public_key.bits),
                              bits_per_slot=BINARY_SLOT_BITS if args.binary else args.bits_per_slot,
                              pad=args.pad, pack=args.pack, workers=args.workers,
                              what=f"encrypting {img.shape[1]}x{img.shape[0]}")
    announce(cost, args, can_downscale=False)
    t0 = time.perf_counter()
    enc = encrypt_image(
        priv, img, pack=args.pack, pad=args.pad,
        bits_per_slot=args.bits_per_slot if not args.binary else BINARY_SLOT_BITS,
        binary=args.binary, progress=progress, max_memory=args.max_memory,
    )
    enc.save(args.output)
    secs = time.perf_counter() - t0
    info = {"output": args.output, "shape": list(img.shape), "planes": enc.names,
            "packed": args.pack, "bytes": Path(args.output).stat().st_size,
            "fingerprint": enc.fingerprint, "seconds": round(secs, 3)}
    if args.json:
        emit_json(info)
    else:
        print(f"wrote {args.output}: {'x'.join(map(str, img.shape))} "
              f"{'packed' if args.pack else 'unpacked'}, {hio.human_bytes(info['bytes'])}, "
              f"{secs:.1f}s", file=sys.stderr)
    return 0


# --- decrypt --------------------------------------------------------------------------


def cmd_decrypt(args: argparse.Namespace) -> int:
    progress = apply_runtime_options(args)
    suffix = Path(args.output).suffix.lower()
    hio.check_input_file(args.input)
    _check_output(args.output, hio.IMAGE_SUFFIXES + (".npy", ".npz"))
    priv = load_private(args.key)
    enc = hio.EncryptedImage.load(args.input, priv.public_key)
    from hesift import estimate as E
    from hesift.cli.limits import announce

    n_ct = sum(int(np.prod(p.data.shape[:-1])) for p in enc.planes)
    announce(E.estimate_decrypt(n_ct, key_bits=int(priv.public_key.bits), workers=args.workers,
                                fast_decrypt=bool(getattr(priv.public_key, "fast_decrypt", False)),
                                what=f"decrypting {n_ct} ciphertexts"), args, can_downscale=False)
    t0 = time.perf_counter()
    pending = list(enc.meta.get("pending", []))
    if suffix == ".npz":
        if enc.meta.get("kind") != "counts":
            raise CLIError("decrypting to .npz re-encrypts a thresholded morphology pass; "
                           "this file holds no morphology counts")
        pic, _ = render(priv, enc, progress)
        nxt = reencrypt_binary(priv, enc, (pic > 0).astype(np.uint8), progress)
        nxt.save(args.output)
        what = "re-encrypted the thresholded binary image"
    else:
        if pending:
            raise CLIError(
                f"this file is pass 1 of '{enc.meta.get('morph')}': decrypt it to an .npz "
                f"(the key owner thresholds and re-encrypts), then run 'hesift filter "
                f"{enc.meta.get('morph')}' on that file"
            )
        pic, vals = render(priv, enc, progress)
        if suffix == ".npy":
            with hio.atomic_path(args.output) as tmp, open(tmp, "wb") as fh:
                np.save(fh, vals)
        else:
            hio.save_image(args.output, pic)
        what = "decrypted"
    secs = time.perf_counter() - t0
    if args.json:
        emit_json({"output": args.output, "kind": enc.meta.get("kind"), "shape": list(enc.shape),
                   "planes": enc.names, "seconds": round(secs, 3)})
    else:
        print(f"{what} {args.input} -> {args.output} in {secs:.1f}s", file=sys.stderr)
    return 0


def reencrypt_binary(priv: Any, enc: hio.EncryptedImage, binary: np.ndarray,
                     progress: bool = False) -> hio.EncryptedImage:
    """Key owner: threshold result of a morphology pass, encrypted for the next pass."""
    e = enc.meta.get("encoding", {})
    img = binary if binary.ndim == 2 else binary[:, :, 0]
    out = encrypt_image(priv, img, pack=bool(e.get("pack", True)), pad=int(e.get("pad", 0)),
                        bits_per_slot=e.get("bits_per_slot") or BINARY_SLOT_BITS, binary=True,
                        progress=progress)
    out.meta.update(pending=enc.meta.get("pending", []), morph=enc.meta.get("morph"),
                    ops=enc.meta.get("ops", []))
    return out


def _check_output(path: str, suffixes: tuple[str, ...]) -> None:
    suffix = Path(path).suffix.lower()
    if suffix not in suffixes:
        raise CLIError(f"output {path!r} must end in one of {', '.join(suffixes)}")
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise CLIError(f"output directory {str(parent)!r} does not exist")


def _memory(text: str) -> int:
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    t = text.strip().lower().rstrip("ib").rstrip("b")
    try:
        if t and t[-1] in units:
            return int(float(t[:-1]) * units[t[-1]])
        return int(float(t))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 2G, 500M)") from None


def add_memory_option(p: argparse.ArgumentParser) -> None:
    """--max-memory: refuse images whose ciphertexts would not fit."""
    p.add_argument("--max-memory", type=_memory, default=None, metavar="SIZE",
                   help="refuse images whose ciphertexts exceed this (default: half the free RAM)")


def register(sub: Any) -> None:
    """Add keygen, encrypt and decrypt."""
    p = sub.add_parser("keygen", help="generate a key pair (private 0600 + public beside it)")
    p.add_argument("--key-bits", dest="bits", type=int, default=2048,
                   help="modulus size in bits (default 2048)")
    p.add_argument("--bits", dest="bits", type=int, default=argparse.SUPPRESS,
                   help=argparse.SUPPRESS)  # the old name, kept as a hidden alias
    p.add_argument("-o", "--output", required=True, help="private key file, e.g. key.json")
    p.add_argument("--pubkey-output", help="public key file (default: KEY.pub.json)")
    p.add_argument("--insecure", action="store_true", help="allow toy key sizes (tests only)")
    add_fast_decrypt_flag(p)
    p.add_argument("--force", action="store_true", help="overwrite existing key files")
    add_runtime_options(p)
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("encrypt", help="key owner: encrypt an image to .npz")
    p.add_argument("image", help="image file (PNG, JPEG, ...)")
    p.add_argument("-o", "--output", required=True, help="encrypted file (.npz)")
    p.add_argument("--key", required=True, help="private key (the key owner encrypts fast)")
    p.add_argument("--pack", action=argparse.BooleanOptionalAction, default=True,
                   help="pack many pixels per ciphertext (default: yes)")
    p.add_argument("--grey", action="store_true", help="convert colour to one grey plane")
    p.add_argument("--binary", action="store_true",
                   help="binarise (for morphology): foreground = value > --threshold")
    p.add_argument("--threshold", type=int, default=None, help="binarisation threshold (default Otsu)")
    p.add_argument("--pad", type=int, default=DEFAULT_PAD,
                   help=f"packed: reflect-pad by this many pixels (default {DEFAULT_PAD})")
    p.add_argument("--bits-per-slot", type=int, default=DEFAULT_SLOT_BITS,
                   help=f"packed: slot width in bits (default {DEFAULT_SLOT_BITS})")
    add_memory_option(p)
    _limit_options(p)
    add_runtime_options(p)
    p.set_defaults(func=cmd_encrypt)

    p = sub.add_parser("decrypt", help="key owner: decrypt a result to a picture")
    p.add_argument("input", help="encrypted file (.npz)")
    p.add_argument("-o", "--output", required=True,
                   help="picture (.png, .jpg, ...), float values (.npy), or .npz to re-encrypt "
                        "a thresholded morphology pass")
    p.add_argument("--key", required=True, help="private key")
    add_memory_option(p)
    _limit_options(p)
    add_runtime_options(p)
    p.set_defaults(func=cmd_decrypt)


def _limit_options(p: argparse.ArgumentParser) -> None:
    from hesift.cli.limits import add_limit_options

    add_limit_options(p, side=False)
