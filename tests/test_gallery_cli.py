"""CLI: hesift gallery add/list/remove/query, hesift match (stand-alone and via register)."""

from __future__ import annotations

import argparse
import json

import cv2
import pytest

from hesift.cli import gallery_cmd

try:
    from gallery_helpers import CachedReference, photo, png_bytes, rotated
except ImportError:  # tests collected as a package
    from tests.gallery_helpers import CachedReference, photo, png_bytes, rotated

FAST = ["--plaintext", "--max-side", "160"]  # retrieval logic, not encryption


@pytest.fixture(autouse=True)
def cached_plaintext_features(monkeypatch):
    """--plaintext uses ReferenceExtractor; reuse features across CLI calls."""
    import hesift.gallery

    monkeypatch.setattr(hesift.gallery, "ReferenceExtractor", CachedReference)


@pytest.fixture
def files(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for n in ("camera", "coffee", "rocket", "coins", "chelsea", "astronaut"):
        (d / f"{n}.png").write_bytes(png_bytes(photo(n)))
    q = tmp_path / "query.png"
    q.write_bytes(png_bytes(rotated(photo("coffee"), 20, 0.85)))
    return d, q


def run(*argv) -> int:
    return gallery_cmd.main([str(a) for a in argv])


def test_add_list_query_remove(tmp_path, files, capsys):
    d, q = files
    db = tmp_path / "g.sqlite3"
    assert run("gallery", "add", d, "--db", db, *FAST) == 0
    out = capsys.readouterr()
    assert "added camera" in out.out and "6 images" in out.out
    assert run("gallery", "add", d / "camera.png", "--db", db, *FAST) == 0
    assert "already in gallery as camera" in capsys.readouterr().out

    assert run("gallery", "list", "--db", db, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(e["name"] for e in listed) == sorted(p.stem for p in d.iterdir())

    assert run("gallery", "query", q, "--db", db, "--top", "5", "--json", *FAST) == 0
    res = json.loads(capsys.readouterr().out)
    assert len(res) == 5 and res[0]["name"] == "coffee"
    assert {"name", "score"} <= set(res[0]) and res[0]["score"] > res[1]["score"]

    assert run("gallery", "query", q, "--db", db, "--top", "2", *FAST) == 0
    text = capsys.readouterr().out
    assert text.startswith("1. coffee") and "match" in text

    assert run("gallery", "remove", "coffee", "--db", db) == 0
    assert run("gallery", "remove", "coffee", "--db", db) == 1
    assert "no image named 'coffee'" in capsys.readouterr().err
    assert run("gallery", "query", q, "--db", db, "--json", *FAST) == 0
    assert json.loads(capsys.readouterr().out)[0]["name"] != "coffee"


def test_errors_are_messages_not_tracebacks(tmp_path, files, capsys):
    d, q = files
    db = tmp_path / "g.sqlite3"
    assert run("gallery", "query", q, "--db", db, *FAST) == 3  # missing input
    assert "no such gallery" in capsys.readouterr().err
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    assert run("gallery", "add", bad, d / "camera.png", "--db", db, *FAST) == 4  # unreadable
    err = capsys.readouterr().err
    assert "notes.png" in err and "not a readable image" in err
    assert run("gallery", "list", "--db", db) == 0 and "camera" in capsys.readouterr().out
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"\x00garbage" * 500)
    assert run("gallery", "list", "--db", corrupt) == 7  # the database is unusable
    assert "corrupted" in capsys.readouterr().err
    empty = tmp_path / "empty.sqlite3"
    assert run("gallery", "add", d / "camera.png", "--db", empty, *FAST) == 0
    assert run("gallery", "remove", "camera", "--db", empty) == 0
    capsys.readouterr()
    assert run("gallery", "query", q, "--db", empty, *FAST) == 1
    assert "empty" in capsys.readouterr().err
    assert run("gallery", "add", d / "camera.png", "--db", db, "--key-bits", "512") == 2
    assert "not secure" in capsys.readouterr().err


def test_match_writes_drawing(tmp_path, files, capsys):
    d, q = files
    out = tmp_path / "matches.png"
    assert run("match", q, d / "coffee.png", "-o", out, "--json", *FAST) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["inliers"] >= 8 and res["score"] == res["inliers"]
    img = cv2.imread(str(out))
    assert img is not None and img.shape[1] > img.shape[0]
    assert run("match", q, d / "camera.png", *FAST) == 0
    assert "score=" in capsys.readouterr().out
    assert run("match", q, d / "camera.png", "-o", tmp_path / "x.unknownext", *FAST) == 2


def test_register_into_foreign_parser():
    parser = argparse.ArgumentParser(prog="hesift")
    sub = parser.add_subparsers(dest="command")
    gallery_cmd.register(sub)
    a = parser.parse_args(["gallery", "query", "img.png", "--top", "3", "--json", "--db", "x.db"])
    assert callable(a.func) and a.top == 3 and a.json and a.db == "x.db" and a.key_bits == 2048
    a = parser.parse_args(["serve", "--port", "0"])
    assert a.host == "127.0.0.1" and a.port == 0 and not a.dev and callable(a.func)
    a = parser.parse_args(["gallery", "add", "a.png", "b.png", "--key-bits", "3072"])
    assert a.paths == ["a.png", "b.png"] and a.key_bits == 3072
    a = parser.parse_args(["match", "a.png", "b.png", "-o", "m.png"])
    assert a.output == "m.png"
