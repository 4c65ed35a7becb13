"""A throw-away PostgreSQL server for the gallery's PostgreSQL tests.

Uses $HESIFT_TEST_POSTGRES_URL when set (a server you run; each test gets its
own fresh database there).  Otherwise starts a private cluster from the local
PostgreSQL binaries (initdb/pg_ctl on PATH or under /usr/lib/postgresql) on a
free port, as the ``postgres`` OS user when the tests run as root (the server
refuses root).  Without psycopg or binaries the tests are skipped with
:func:`unavailable` as the one-line reason; nothing is ever installed here
(.ci/run installs the PostgreSQL server).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    cands = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return cands[-1] if cands else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unavailable() -> str | None:
    """Why no throw-away server can be started here (one line), or None when it can."""
    if os.environ.get("HESIFT_TEST_POSTGRES_URL"):
        return None
    missing = [b for b in ("initdb", "pg_ctl") if not _binary(b)]
    if missing:
        return f"PostgreSQL server binaries not installed ({', '.join(missing)}; .ci/run installs them)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    return None


@contextlib.contextmanager
def postgres_server() -> Iterator[str | None]:
    """Yield an admin URL (``.../postgres``), or None when no server can be had."""
    url = os.environ.get("HESIFT_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    if not initdb or not pg_ctl:
        yield None
        return
    prefix: list[str] = []
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            yield None
            return
        prefix = ["runuser", "-u", "postgres", "--"]
    root = tempfile.mkdtemp(prefix="hesift-pg-")
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)
    data, port = os.path.join(root, "data"), _free_port()
    run = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)
    started = False
    try:
        subprocess.run(prefix + [initdb, "-D", data, "-A", "trust", "-U", "hesift"], **run)
        subprocess.run(prefix + [pg_ctl, "-D", data, "-l", os.path.join(root, "log"), "-w", "-o",
                                 f"-p {port} -k {root} -h 127.0.0.1", "start"], **run)
        started = True
        yield f"postgresql://hesift@127.0.0.1:{port}/postgres"
    except subprocess.SubprocessError:
        if not started:
            yield None
        else:
            raise
    finally:
        if started:
            subprocess.run(prefix + [pg_ctl, "-D", data, "-m", "immediate", "stop"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(admin_url: str) -> str:
    """Create an empty database on the server; its URL."""
    import psycopg

    name = "hesift_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name
