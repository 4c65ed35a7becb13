"""CLI commands: ``hesift gallery add|list|remove|query``, ``hesift match``, ``hesift serve``.

``register(subparsers)`` adds the parsers to the main ``hesift`` command; each
sets ``func(args) -> exit code``.  ``main(argv)`` runs them stand-alone.
Exit codes are the table of :mod:`hesift.errors` shared by every command
(docs/cli.md): 3 missing input, 4 unreadable input, 6 refused size, 7 the
gallery database is unavailable, 130 interrupted, 1 nothing found.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hesift.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_USAGE, exit_code_of
from hesift.gallery.store import db_exists, db_label, is_database_url

__all__ = ["DEFAULT_DB", "main", "register"]

#: Default gallery file, overridable with the HESIFT_GALLERY environment variable.
DEFAULT_DB = "hesift_gallery.sqlite3"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".pgm", ".ppm"}


def _err(msg: str, code: int = EXIT_FAILURE) -> int:
    print(f"hesift: error: {' '.join(str(msg).split())}", file=sys.stderr)
    return code


def _extractor(args: argparse.Namespace):
    from hesift.gallery import HESIFTExtractor, ReferenceExtractor

    if args.plaintext:
        if getattr(args, "evaluator", None):
            raise ValueError("--evaluator needs encrypted features (drop --plaintext)")
        return ReferenceExtractor()
    from hesift.cli.evaluator_cmd import remote_from_args

    return HESIFTExtractor(args.key_bits, insecure=args.insecure,
                           fast_decrypt=getattr(args, "fast_decrypt", False),
                           progress=getattr(args, "verbose_progress", False),
                           evaluator=remote_from_args(args))


def _open(args: argparse.Namespace):
    from hesift.gallery import Gallery

    return Gallery(args.db, extractor=_extractor(args),
                   max_side="auto" if args.max_side is None else args.max_side)


def _expand(paths: Sequence[str]) -> list[Path]:
    """Files as given; folders contribute their image files (sorted, not recursive)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out


def _image_sizes(files: Sequence[Path]) -> tuple[list[tuple[Path, int, int]], list[Exception]]:
    """(path, height, width) of every decodable file; the errors of the others (reported)."""
    from hesift.gallery import ImageError, load_image

    ok, bad = [], []
    for f in files:
        try:
            h, w = load_image(f).shape[:2]
        except (ImageError, OSError) as exc:
            bad.append(exc)
            print(f"skipped {f}: {exc}", file=sys.stderr)
            continue
        ok.append((f, int(h), int(w)))
    return ok, bad


def _estimate_images(args: argparse.Namespace, sizes: Sequence[tuple[int, int]],
                     max_side: int | None, what: str, fresh_key: bool = True):
    """The cost model's estimate of encrypted feature extraction for ``sizes`` (None for
    --plaintext), printed, and refused above --max-time / --max-memory."""
    if args.plaintext or not sizes:
        return None
    from hesift import estimate as E
    from hesift.cli.limits import announce

    total = None
    for i, (h, w) in enumerate(sizes):
        e = E.estimate_gallery_add(h, w, key_bits=args.key_bits, max_side=max_side,
                                   fresh_key=fresh_key and i == 0,
                                   fast_decrypt=bool(getattr(args, "fast_decrypt", False)),
                                   what=f"{what} ({len(sizes)} image{'s' if len(sizes) > 1 else ''})")
        total = e if total is None else total + e
    announce(total, args)
    return total


def _gallery_add(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from hesift import estimate as E
    from hesift.gallery import ImageError
    from hesift.remote.client import RemoteError

    files = _expand(args.paths)
    if not files:
        return _err("no image files given", EXIT_USAGE)
    sized, failures = _image_sizes(files)  # before the gallery file is created
    if not sized:
        return _err(f"none of the {len(files)} file(s) is a readable image; the gallery was "
                    "not created or changed", exit_code_of(failures[0]))
    if args.dask and getattr(args, "evaluator", None):
        return _err("--dask and --evaluator are alternatives: pick one", EXIT_USAGE)
    created = not db_exists(args.db)
    timer = E.Timer()
    gallery = None
    try:
        gallery = _open(args)
        cost = _estimate_images(args, [(h, w) for _, h, w in sized], gallery.max_side,
                                "gallery add")
        if args.dask:
            failures += _gallery_add_dask(args, gallery, [f for f, _h, _w in sized])
            sized = []
        bar = tqdm(sized, unit="img", desc="adding", disable=args.quiet or None, file=sys.stderr)
        for f, _h, _w in bar:
            bar.set_postfix_str(f.name[:30])
            try:
                e = gallery.add(f)
            except RemoteError:
                raise  # the evaluator service is gone: stop instead of skipping every image
            except (ImageError, OSError) as exc:
                failures.append(exc)
                tqdm.write(f"skipped {f}: {exc}", file=sys.stderr)
                continue
            if not args.quiet:
                what = "added" if e.added else "already in gallery as"
                tqdm.write(f"{what} {e.name} ({e.num_features} features)")
        print(f"{len(gallery)} images in {gallery.path}")
        if cost is not None:
            print(f"hesift: gallery add: {cost.versus(timer.wall())}", file=sys.stderr)
    finally:
        if created and not is_database_url(args.db):
            _drop_if_empty(Path(args.db), gallery)
    if failures:
        return exit_code_of(failures[0])
    return 0


def _gallery_add_dask(args: argparse.Namespace, gallery, files: list[Path]) -> list:
    """One task per image on the cluster; this process writes every entry, in order.
    Returns the failures (exceptions of the images that were skipped)."""
    from hesift.remote.executor import dask_client

    with dask_client(args.dask) as client:
        results = gallery.add_many(files, executor=client, skip_errors=True,
                                   progress=not args.quiet)
    failures = []
    for f, e in zip(files, results):
        if isinstance(e, Exception):
            failures.append(e)
            print(f"skipped {f}: {e}", file=sys.stderr)
        elif not args.quiet:
            what = "added" if e.added else "already in gallery as"
            print(f"{what} {e.name} ({e.num_features} features)")
    return failures


def _drop_if_empty(path: Path, gallery) -> None:
    """A gallery file this command created but filled with nothing is removed again."""
    try:
        empty = gallery is None or len(gallery) == 0
    except Exception:
        empty = False
    if not empty:
        return
    for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"),
              path.with_name(path.name + "-journal")):
        try:
            p.unlink()
        except FileNotFoundError:
            pass


def _gallery_list(args: argparse.Namespace) -> int:
    from hesift.gallery import Gallery

    entries = Gallery(args.db).list() if db_exists(args.db) else []
    if args.json:
        print(json.dumps([e.to_dict() for e in entries], indent=2))
        return 0
    if not entries:
        print(f"the gallery {db_label(args.db)} is empty")
        return 0
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{e.name:<{width}}  {e.width}x{e.height}  {e.num_features:>6} features  {e.added_at}")
    return 0


def _gallery_remove(args: argparse.Namespace) -> int:
    from hesift.errors import EXIT_MISSING
    from hesift.gallery import Gallery

    if not db_exists(args.db):
        return _err(f"{db_label(args.db)}: no such gallery", EXIT_MISSING)
    gallery = Gallery(args.db)
    missing = [n for n in args.names if not gallery.remove(n)]
    for n in missing:
        print(f"hesift: no image named {n!r}", file=sys.stderr)
    return 1 if missing else 0


def _gallery_query(args: argparse.Namespace) -> int:
    if args.server or args.private:
        from hesift.cli.private_cmd import private_query

        return private_query(args)
    from hesift.errors import EXIT_MISSING
    from hesift.gallery import load_image

    img = load_image(args.image)  # a missing or unreadable query is named first
    if not db_exists(args.db):
        return _err(f"{db_label(args.db)}: no such gallery (add images with 'hesift gallery add')",
                    EXIT_MISSING)
    gallery = _open(args)
    if len(gallery) == 0:
        if args.json:
            print("[]")
        return _err("the gallery is empty; add images first")
    _estimate_images(args, [img.shape[:2]], gallery.max_side, "gallery query")
    results = gallery.query(img, k=args.top)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    for r in results:
        flag = "match" if r.related else "-"
        print(f"{r.rank}. {r.name}  score={r.score:g}  inliers={r.inliers}  matches={r.matches}  {flag}")
    return 0


def _match(args: argparse.Namespace) -> int:
    import cv2

    from hesift.gallery import load_image
    from hesift.gallery.gallery import DEFAULT_MAX_SIDE, extract_features
    from hesift.gallery.images import resize_max_side
    from hesift.matching import draw_matches, match

    ia, ib = load_image(args.a), load_image(args.b)  # missing/unreadable inputs first
    if args.output and not cv2.haveImageWriter(str(args.output)):
        return _err(f"cannot write {args.output}: use an image extension such as .png or .jpg",
                    EXIT_USAGE)
    side = DEFAULT_MAX_SIDE if args.max_side is None else args.max_side
    _estimate_images(args, [ia.shape[:2], ib.shape[:2]], side, "match")
    ext = _extractor(args)  # one key pair for both images
    fa, fb = extract_features(ia, ext, side), extract_features(ib, ext, side)
    res = match(fa.descriptors, fb.descriptors, fa.keypoints, fb.keypoints,
                ratio=args.ratio, ransac=not args.no_ransac)
    if args.output:
        ga, sa = resize_max_side(fa.gray, 640)
        gb, sb = resize_max_side(fb.gray, 640)
        img = draw_matches(ga, fa.keypoints, gb, fb.keypoints, res, scale_a=sa, scale_b=sb,
                           inliers_only=not args.no_ransac)
        try:
            ok = cv2.imwrite(str(args.output), img)
        except cv2.error:
            ok = False
        if not ok:
            return _err(f"cannot write {args.output}")
    if args.json:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        print(f"score={res.score:g}  matches={res.num_matches}  inliers={res.num_inliers}  "
              f"keypoints={res.num_a}/{res.num_b}"
              + (f"  drawing={args.output}" if args.output else ""))
    return 0


def _serve(args: argparse.Namespace) -> int:
    if args.remote_gallery:
        from hesift.cli.private_cmd import serve_remote

        return serve_remote(args)
    from hesift.cli import CLIError
    from hesift.remote.auth import check_bind, load_token
    from hesift.web.server import serve

    token = None
    if args.admin_token_file:
        try:
            token = load_token(args.admin_token_file)
        except ValueError as e:
            raise CLIError(str(e)) from None
    try:
        check_bind(args.host, token, args.insecure_no_auth)
    except ValueError as e:
        raise CLIError(f"{e}".replace("--token-file", "--admin-token-file")) from None
    gallery = _open(args)
    return serve(gallery, host=args.host, port=args.port, debug=args.dev,
                 max_upload_mb=args.max_upload_mb, threads=args.threads, admin_token=token,
                 max_concurrent=args.max_concurrent, insecure_no_auth=args.insecure_no_auth)


def _guard(func):
    """Turn the errors a user can cause into a message and the exit code of their kind."""

    def run(args: argparse.Namespace) -> int:
        from hesift.cli import CLIError
        from hesift.gallery import GalleryError
        from hesift.remote.client import RemoteError

        try:
            return func(args)
        except (GalleryError, FileNotFoundError, PermissionError, RemoteError, CLIError) as e:
            return _err(str(e), exit_code_of(e))
        except ValueError as e:
            code = exit_code_of(e)
            return _err(str(e), EXIT_USAGE if code == EXIT_FAILURE else code)
        except KeyboardInterrupt:
            print("hesift: interrupted", file=sys.stderr)
            return EXIT_INTERRUPTED

    return run


def _common(p: argparse.ArgumentParser, *, db: bool = True, features: bool = True) -> None:
    if db:
        p.add_argument("--db", default=os.environ.get("HESIFT_GALLERY", DEFAULT_DB),
                       help="gallery: an SQLite file or a postgresql://user:password@host/db URL; "
                            "default $HESIFT_GALLERY or %(default)s")
    if features:
        from hesift.gallery import DEFAULT_MAX_SIDE

        p.add_argument("--key-bits", type=int, default=2048,
                       help="Paillier key size for HESIFT (default %(default)s)")
        p.add_argument("--insecure", action="store_true",
                       help="allow keys under 2048 bits (tests and demos only)")
        p.add_argument("--insecure-key", dest="insecure", action="store_true",
                       default=argparse.SUPPRESS, help=argparse.SUPPRESS)  # the old name
        from hesift.cli.keys_cmd import add_fast_decrypt_flag

        add_fast_decrypt_flag(p)
        p.add_argument("--plaintext", action="store_true",
                       help="use the plaintext twin of HESIFT (same features, fast, NO privacy)")
        from hesift.cli.evaluator_cmd import add_client_options

        add_client_options(p)
        p.add_argument("--max-side", type=int, default=None,
                       help="downscale images to this longer side before SIFT (default: "
                            f"the gallery's own setting; {DEFAULT_MAX_SIDE} for a new gallery)")


def _limits(p: argparse.ArgumentParser) -> None:
    from hesift.cli.keys_cmd import add_memory_option
    from hesift.cli.limits import add_limit_options

    add_memory_option(p)
    add_limit_options(p, side=False)  # --max-side is the gallery's own downscale (above)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gallery``, ``match`` and ``serve`` to the ``hesift`` command."""
    g = subparsers.add_parser("gallery", help="manage an image gallery and query it")
    gsub = g.add_subparsers(dest="gallery_command", metavar="{add,list,remove,query}")
    gsub.required = True

    p = gsub.add_parser("add", help="add images (files or folders) to the gallery")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("-q", "--quiet", action="store_true")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="extract features on this Dask cluster (tcp://scheduler:8786), one "
                        "image per task; its workers see the grey images, never a key")
    _common(p)
    _limits(p)
    p.set_defaults(func=_guard(_gallery_add))

    p = gsub.add_parser("list", help="list the gallery's images")
    p.add_argument("--json", action="store_true")
    _common(p, features=False)
    p.set_defaults(func=_guard(_gallery_list))

    p = gsub.add_parser("remove", help="remove images by name")
    p.add_argument("names", nargs="+", metavar="NAME")
    _common(p, features=False)
    p.set_defaults(func=_guard(_gallery_remove))

    p = gsub.add_parser("query", help="the most similar gallery images to IMG")
    p.add_argument("image", metavar="IMG")
    p.add_argument("--top", type=int, default=5, help="how many results (default %(default)s)")
    p.add_argument("--json", action="store_true", help="print a JSON list of {name, score, ...}")
    _common(p)
    from hesift.cli.private_cmd import add_query_options, add_serve_options

    add_query_options(p)
    _limits(p)
    p.set_defaults(func=_guard(_gallery_query))

    p = subparsers.add_parser("match", help="match two images and draw the matches")
    p.add_argument("a", metavar="A")
    p.add_argument("b", metavar="B")
    p.add_argument("-o", "--output", help="write the match drawing here (e.g. matches.png)")
    p.add_argument("--ratio", type=float, default=0.75, help="Lowe ratio (default %(default)s)")
    p.add_argument("--no-ransac", action="store_true", help="skip homography verification")
    p.add_argument("--json", action="store_true")
    _common(p, db=False)
    _limits(p)
    p.set_defaults(func=_guard(_match))

    p = subparsers.add_parser("serve", help="run the web page (upload, top-5 retrieval)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    p.add_argument("--threads", type=int, default=4, help="server worker threads")
    p.add_argument("--max-upload-mb", type=float, default=10.0,
                   help="largest accepted upload per file, MB (default %(default)s)")
    p.add_argument("--dev", action="store_true", help="development mode: Django DEBUG on")
    p.add_argument("--admin-token-file", metavar="FILE",
                   help="adding/removing images needs the token in FILE (required off loopback)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="serve off loopback without an admin token (trusted networks only)")
    p.add_argument("--max-concurrent", type=int, default=None, metavar="N",
                   help="uploads processed at once; more get 503 + Retry-After (default 2)")
    _common(p)
    add_serve_options(p)
    p.set_defaults(func=_guard(_serve))


def main(argv: Sequence[str] | None = None) -> int:
    """Stand-alone entry point (the ``hesift`` command normally dispatches here)."""
    parser = argparse.ArgumentParser(prog="hesift")
    sub = parser.add_subparsers(dest="command", metavar="{gallery,match,serve}")
    sub.required = True
    register(sub)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
