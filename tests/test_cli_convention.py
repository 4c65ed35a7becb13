"""One CLI convention (issue 17): every command, every kind of failure, one exit code each.

The table below is the contract of docs/cli.md and hesift/errors.py: for each
command that reads an input, a missing input exits 3, an unreadable one 4, a
wrong key 5 (where the command takes a key), work over --max-memory 6, and
SIGINT 130 (a real signal to a child process).  Every failure prints one
``hesift: error:`` line and leaves no file behind in the output folder.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hesift import data
from hesift import io as hio
from hesift.cli import main

SMALL = ["--key-bits", "512", "--insecure"]
MISSING, UNREADABLE, WRONG_KEY, REFUSED, INTERRUPTED = 3, 4, 5, 6, 130


@pytest.fixture(scope="module")
def w(tmp_path_factory):
    """Inputs: a photo, a 512-bit key pair (+ another), an encrypted file, a gallery."""
    d = tmp_path_factory.mktemp("conv")
    hio.save_image(d / "photo.png", data.photo("camera", 64))
    hio.save_image(d / "photo2.png", data.photo("coffee", 64, grey=True))
    (d / "text.png").write_text("not an image\n")
    (d / "text.npz").write_text("not an archive\n")
    for k in ("key", "other"):
        assert main(["keygen", *SMALL, "-o", str(d / f"{k}.json")]) == 0
    assert main(["encrypt", str(d / "photo.png"), "-o", str(d / "enc.npz"), "--key",
                 str(d / "key.json")]) == 0
    assert main(["gallery", "add", str(d / "photo2.png"), "--db", str(d / "g.sqlite3"),
                 "--plaintext", "-q"]) == 0
    return d


def _commands(d, inp: str, out) -> dict[str, list[str]]:
    """Each command with ``inp`` as its input (None: its normal input) and outputs in ``out``."""
    img = inp or str(d / "photo.png")
    enc = inp or str(d / "enc.npz")
    return {
        "encrypt": ["encrypt", img, "-o", str(out / "e.npz"), "--key", str(d / "key.json")],
        "decrypt": ["decrypt", enc, "-o", str(out / "d.png"), "--key", str(d / "key.json")],
        "filter-evaluator": ["filter", "gaussian", enc, "-o", str(out / "f.npz"), "--pubkey",
                             str(d / "key.pub.json")],
        "filter-one-shot": ["filter", "sobel", img, "-o", str(out / "f.png"), *SMALL],
        "sift": ["sift", img, "--features", str(out / "s.npz"), *SMALL],
        "gallery-add": ["gallery", "add", img, "--db", str(out / "new.sqlite3"), *SMALL, "-q"],
        "gallery-query": ["gallery", "query", img, "--db", str(d / "g.sqlite3"), *SMALL],
        "match": ["match", img, str(d / "photo2.png"), "-o", str(out / "m.png"), *SMALL],
    }


#: wrong key: the key given does not fit (commands without a key option: None)
WRONG_KEYS = {
    "encrypt": ("--key", "key.pub.json"),       # the public half where the private goes
    "decrypt": ("--key", "other.json"),         # another key's data
    "filter-evaluator": ("--pubkey", "other.pub.json"),
    "filter-one-shot": ("--key", "key.pub.json"),
    "sift": None, "gallery-add": None, "gallery-query": None, "match": None,
}
COMMANDS = list(WRONG_KEYS)


def _run(capsys, argv) -> tuple[int, str]:
    rc = main([str(a) for a in argv])
    _, err = capsys.readouterr()
    return rc, err


def _check(rc: int, err: str, code: int, out) -> None:
    errors = [ln for ln in err.splitlines() if ln.startswith("hesift: error:")]
    assert rc == code, err[-600:]
    assert len(errors) == 1 and "Traceback" not in err, err[-600:]
    assert list(out.iterdir()) == [], f"left behind: {list(out.iterdir())}"


def _with_key(argv: list[str], opt: str, value: str) -> list[str]:
    argv = list(argv)
    if opt in argv:
        argv[argv.index(opt) + 1] = value
    else:
        argv += [opt, value]
    for small in SMALL:  # a key file decides the size
        if small in argv and opt == "--key":
            i = argv.index(small)
            del argv[i: i + (2 if small == "--key-bits" else 1)]
    return argv


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("kind", ["missing", "unreadable", "wrong-key", "refused"])
def test_exit_code_table(w, tmp_path, capsys, cmd, kind):
    out = tmp_path / "out"
    out.mkdir()
    if kind == "missing":
        rc, err = _run(capsys, _commands(w, str(w / "nothere.png"), out)[cmd])
        _check(rc, err, MISSING, out)
        assert "nothere.png" in err  # the missing input is named, before any output complaint
    elif kind == "unreadable":
        bad = w / ("text.npz" if cmd in ("decrypt", "filter-evaluator") else "text.png")
        rc, err = _run(capsys, _commands(w, str(bad), out)[cmd])
        _check(rc, err, UNREADABLE, out)
    elif kind == "wrong-key":
        if WRONG_KEYS[cmd] is None:
            pytest.skip(f"{cmd} takes no key (it makes its own)")
        opt, key = WRONG_KEYS[cmd]
        rc, err = _run(capsys, _with_key(_commands(w, None, out)[cmd], opt, str(w / key)))
        _check(rc, err, WRONG_KEY, out)
    else:
        argv = _commands(w, None, out)[cmd]
        if cmd == "gallery-query":
            argv = argv + ["--max-memory", "1K"]
        rc, err = _run(capsys, argv + ([] if cmd == "gallery-query" else ["--max-memory", "1K"]))
        _check(rc, err, REFUSED, out)
        assert "--max-memory" in err


def test_usage_errors_exit_2_and_old_flag_names_still_work(w, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    rc, err = _run(capsys, ["filter", "gaussian", w / "photo.png", "-o", out / "x.png", *SMALL,
                            "--sigma", "-1"])
    _check(rc, err, 2, out)
    rc, err = _run(capsys, ["filter", "gaussian", w / "photo.png", "-o", out / "x.txt", *SMALL])
    _check(rc, err, 2, out)
    # hidden aliases: keygen --bits, gallery --insecure-key, sift --reference
    assert main(["keygen", "--bits", "512", "--insecure", "-o", str(out / "k.json")]) == 0
    assert main(["sift", str(w / "photo.png"), "--reference"]) == 0
    assert main(["gallery", "add", str(w / "photo2.png"), "--db", str(out / "g.sqlite3"),
                 "--key-bits", "512", "--insecure-key", "-q", "--plaintext"]) == 0
    capsys.readouterr()


def test_gallery_add_of_only_bad_files_leaves_no_database(w, tmp_path, capsys):
    db = tmp_path / "g.sqlite3"
    rc, err = _run(capsys, ["gallery", "add", w / "text.png", w / "nothere.png", "--db", db,
                            "--plaintext"])
    assert rc == UNREADABLE and "not created" in err
    assert list(tmp_path.iterdir()) == []


# --- interrupted: a real SIGINT to a child, once its estimate line says work begins --------


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """2048-bit inputs whose work lasts long enough to be interrupted."""
    d = tmp_path_factory.mktemp("sigint")
    hio.save_image(d / "photo.png", data.photo("camera", 512, grey=True))
    hio.save_image(d / "photo2.png", data.photo("coffee", 512, grey=True))
    assert main(["keygen", "-o", str(d / "key.json")]) == 0
    assert main(["encrypt", str(d / "photo.png"), "-o", str(d / "enc.npz"), "--key",
                 str(d / "key.json")]) == 0
    assert main(["gallery", "add", str(d / "photo.png"), "--db", str(d / "g.sqlite3"),
                 "--plaintext", "-q"]) == 0
    return d


def test_sigint_exits_130_and_leaves_nothing(big, tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    argvs = {k: [a for a in v if a not in SMALL[1:]] for k, v in
             _commands(big, None, tmp_path / "placeholder").items()}
    procs = {}
    for cmd, argv in argvs.items():
        out = tmp_path / cmd
        out.mkdir()
        argv = [a.replace(str(tmp_path / "placeholder"), str(out)) for a in argv]
        argv = [a for a in argv if a != "--key-bits" and a != "512"]
        if cmd == "encrypt":
            argv += ["--no-pack"]  # long enough to be interrupted on a fast machine
        if cmd == "filter-evaluator":
            argv += ["--sigma", "6"]
        argv += ["--max-time", "0"]  # no time limit: this work is meant to be interrupted
        procs[cmd] = (out, subprocess.Popen(
            [sys.executable, "-m", "hesift", *argv], stderr=subprocess.PIPE, text=True, env=env))
    first = {}
    for cmd, (_out, p) in procs.items():  # each gets SIGINT as soon as its work begins
        line = ""
        deadline = time.time() + 120
        while time.time() < deadline:
            line = p.stderr.readline()
            if not line or line.startswith("hesift: estimate"):
                break
        p.send_signal(signal.SIGINT)
        first[cmd] = line
    results = {}
    for cmd, (out, p) in procs.items():
        try:
            rest = p.communicate(timeout=60)[1]
        except subprocess.TimeoutExpired:
            p.kill()
            rest = "did not stop"
        results[cmd] = (p.returncode, first[cmd] + rest, sorted(x.name for x in out.iterdir()))
    for cmd, (rc, err, left) in results.items():
        assert rc == INTERRUPTED, (cmd, err[-500:])
        assert "interrupted" in err and "Traceback" not in err, (cmd, err[-500:])
        assert left == [], (cmd, left)


def test_error_table_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "cli.md").read_text()
    for code, kind in ((2, "usage"), (3, "missing input"), (4, "unreadable input"),
                       (5, "wrong key"), (6, "refused size"), (7, "service error"),
                       (130, "interrupted")):
        assert f"| {code} | {kind}" in doc
    assert np.array_equal([MISSING, UNREADABLE, WRONG_KEY, REFUSED], [3, 4, 5, 6])
