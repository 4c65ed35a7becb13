"""CLI of private retrieval: ``hesift gallery query IMG --server URL --private`` and
``hesift serve --remote-gallery URL`` (both run as the key owner on this machine)."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_query_options", "add_serve_options", "client_from_args", "private_query",
           "serve_remote"]


def add_query_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", metavar="URL",
                   help="query the gallery served at URL (hesift serve) instead of a local file")
    p.add_argument("--private", action="store_true",
                   help="with --server: send only an encrypted description of IMG (private retrieval)")
    p.add_argument("--no-fetch", action="store_true",
                   help="with --private: rank by the encrypted scores alone; fetch no candidate "
                        "features (the server then learns nothing about the result)")


def add_serve_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--remote-gallery", metavar="URL",
                   help="serve the upload page here as the key owner, querying the gallery at URL "
                        "privately (no local gallery is used)")


def client_from_args(url: str, args: argparse.Namespace):
    """A PrivateClient with the requested key size; SIFT runs locally (HESIFT through
    ``--evaluator`` when given, else the bit-identical plaintext twin: the photo stays here)."""
    from hesift.gallery import PrivateClient

    extractor = None
    if getattr(args, "evaluator", None):
        from hesift.cli.gallery_cmd import _extractor

        extractor = _extractor(args)
    return PrivateClient(url, key_bits=args.key_bits, insecure=args.insecure,
                         extractor=extractor)


def private_query(args: argparse.Namespace) -> int:
    from hesift.cli.gallery_cmd import _err

    if not args.server or not args.private:
        return _err("a remote gallery is queried only privately: give --server URL --private", 2)
    if args.top < 1:
        return _err("--top must be at least 1", 2)
    client = client_from_args(args.server, args)
    results = client.query(args.image, k=args.top, fetch=not args.no_fetch)
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    for r in results:
        flag = "match" if r.related else "-"
        print(f"{r.rank}. {r.name}  score={r.score:g}  inliers={r.inliers}  matches={r.matches}  "
              f"similarity={r.similarity:.3f}  {flag}")
    return 0


def serve_remote(args: argparse.Namespace) -> int:
    from hesift.web.remote_server import serve_remote as run

    client = client_from_args(args.remote_gallery, args)
    return run(client, host=args.host, port=args.port, debug=args.dev,
               max_upload_mb=args.max_upload_mb, threads=args.threads)
