"""Storage of gallery entries: one SQLite file (the default) or a PostgreSQL database.

``db`` is a file path (SQLite) or a ``postgresql://user:password@host/dbname``
URL (needs ``pip install "hesift[postgres]"``).  Every operation opens its own
short-lived connection, so threads and processes can share one gallery.
Writes are serialised (SQLite: ``BEGIN IMMEDIATE`` with a generous busy
timeout and WAL journaling so readers proceed during a write; PostgreSQL: a
transaction-scoped advisory lock), reads that need a consistent view run in
one snapshot, and a ``generation`` counter in ``meta`` tells readers when
their cached index is stale.  Any database failure surfaces as
:class:`GalleryError`.  The SQL is shared; the two dialects differ only in
connection, locking, table listing, column types and placeholders.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .features import npy_bytes, npy_load

__all__ = ["Entry", "GalleryError", "Store", "StoredFeatures", "db_exists", "db_label",
           "is_database_url"]

SCHEMA_NAME = "hesift-gallery"
SCHEMA_VERSION = "1"
BUSY_TIMEOUT_S = 60.0

_COLUMNS = """
    name          TEXT NOT NULL UNIQUE,
    sha256        TEXT NOT NULL UNIQUE,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    feature_scale {real} NOT NULL,
    thumbnail     {blob} NOT NULL,
    thumb_scale   {real} NOT NULL,
    num_features  INTEGER NOT NULL,
    keypoints     {blob} NOT NULL,
    descriptors   {blob} NOT NULL,
    encrypted     {blob},
    added_at      TEXT NOT NULL
"""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (id {serial},""" + _COLUMNS + """);
CREATE TABLE IF NOT EXISTS derived (key TEXT PRIMARY KEY, data {blob} NOT NULL);"""

_BUMP_GENERATION = ("UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
                    " WHERE key = 'generation'")


def is_database_url(db: str | os.PathLike) -> bool:
    """True for a ``postgresql://`` / ``postgres://`` URL, False for a file path."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def db_exists(db: str | os.PathLike) -> bool:
    """Whether a gallery may already be there (a file that exists, or any database URL)."""
    return is_database_url(db) or Path(db).exists()


def _masked(url: str) -> str:
    """The URL with its password hidden (for messages)."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url)


def db_label(db: str | os.PathLike) -> str:
    """How to show ``db`` to a person: the path, or the URL without its password."""
    return _masked(db) if is_database_url(db) else str(db)


class _SQLite:
    """One SQLite file, WAL journaling, writers serialised by BEGIN IMMEDIATE."""

    kind = "SQLite"
    schema = _SCHEMA.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT", real="REAL", blob="BLOB")
    IntegrityError: type[Exception] = sqlite3.IntegrityError
    DatabaseError: type[Exception] = sqlite3.DatabaseError
    OpenError: type[Exception] = sqlite3.Error

    def __init__(self, path: str | os.PathLike) -> None:
        self.label: Path | str = Path(path)
        if self.label.is_dir():
            raise GalleryError(f"{self.label} is a directory, not a gallery file")
        if not self.label.parent.exists():
            raise GalleryError(f"{self.label.parent}: folder does not exist")

    def connect(self) -> Any:
        return sqlite3.connect(self.label, timeout=BUSY_TIMEOUT_S, isolation_level=None)

    @staticmethod
    def on_open(conn: Any) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")

    @staticmethod
    def begin(conn: Any, write: bool) -> None:
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")

    @staticmethod
    def in_transaction(conn: Any) -> bool:
        return conn.in_transaction

    @staticmethod
    def tables(conn: Any) -> set[str]:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    @staticmethod
    def prepare_new(conn: Any) -> None:
        conn.execute("PRAGMA journal_mode = WAL")  # persistent; readers never block

    @staticmethod
    def sql(statement: str) -> str:
        return statement

    def broken(self, e: Exception) -> str:
        return f"the gallery database is corrupted or not a hesift gallery ({e})"

    @staticmethod
    def holds_foreign(tables: set[str]) -> bool:
        """A file with any table but ours is someone else's database."""
        return bool(tables)

    def foreign(self) -> str:
        return f"{self.label} is an SQLite file but not a hesift gallery"


class _Postgres:
    """A PostgreSQL database (via psycopg 3); writers serialised by an advisory lock."""

    kind = "PostgreSQL"
    schema = _SCHEMA.format(serial="BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
                            real="DOUBLE PRECISION", blob="BYTEA")
    LOCK_KEY = 0x6865736966741  # "hesift": one lock id for all gallery writers

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise GalleryError(
                "a PostgreSQL gallery needs psycopg: pip install \"hesift[postgres]\""
            ) from None
        self._psycopg = psycopg
        self.url = url
        self.label = _masked(url)
        self.IntegrityError = psycopg.IntegrityError
        self.DatabaseError = psycopg.Error
        self.OpenError = psycopg.OperationalError

    def connect(self) -> Any:
        return self._psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    @staticmethod
    def on_open(conn: Any) -> None:
        pass

    def begin(self, conn: Any, write: bool) -> None:
        if write:
            conn.execute("BEGIN")
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.LOCK_KEY,))
        else:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def in_transaction(self, conn: Any) -> bool:
        return conn.info.transaction_status != self._psycopg.pq.TransactionStatus.IDLE

    @staticmethod
    def tables(conn: Any) -> set[str]:
        return {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}

    @staticmethod
    def prepare_new(conn: Any) -> None:
        pass

    @staticmethod
    def sql(statement: str) -> str:
        return statement.replace("?", "%s")  # no statement of ours has a literal '?'

    def broken(self, e: Exception) -> str:
        return f"PostgreSQL error ({str(e).strip()})"

    @staticmethod
    def holds_foreign(tables: set[str]) -> bool:
        """A shared database may hold other tables; only an 'images' of someone else's clashes."""
        return "images" in tables

    def foreign(self) -> str:
        return f"{self.label}: the database holds 'meta'/'images' tables that are not a hesift gallery's"


class _Conn:
    """A connection that speaks the shared SQL ('?' placeholders) in either dialect."""

    def __init__(self, raw: Any, dialect: Any) -> None:
        self.raw, self.dialect = raw, dialect

    def execute(self, statement: str, args: tuple = ()) -> Any:
        return self.raw.execute(self.dialect.sql(statement), args)


class GalleryError(RuntimeError):
    """The gallery file is unusable (corrupt, not a gallery, wrong features) or an op failed."""

    exit_code = 7  # hesift.errors.EXIT_SERVICE: the gallery database is unavailable


@dataclass(frozen=True)
class Entry:
    """One gallery image (metadata only)."""

    id: int
    name: str
    sha256: str
    width: int
    height: int
    num_features: int
    added_at: str
    added: bool = False
    """True when this call inserted it; False when it was already there."""

    def to_dict(self) -> dict:
        return {
            "name": self.name, "sha256": self.sha256, "width": self.width,
            "height": self.height, "features": self.num_features, "added_at": self.added_at,
        }


@dataclass(frozen=True)
class StoredFeatures:
    id: int
    name: str
    keypoints: np.ndarray  # (N, 7) float32, see features.keypoints_to_rows
    descriptors: np.ndarray  # (N, 128) float32
    sha256: str = ""


_ENTRY_COLS = "id, name, sha256, width, height, num_features, added_at"


def _entry(row, added: bool = False) -> Entry:
    return Entry(*row, added=added)


class Store:
    """Low-level access to one gallery (an SQLite file or a PostgreSQL database URL)."""

    def __init__(self, db: str | os.PathLike, feature_id: str | None = None) -> None:
        self._db = _Postgres(db) if is_database_url(db) else _SQLite(db)
        self.path = self._db.label
        self._init_schema(feature_id)

    @property
    def kind(self) -> str:
        """"SQLite" or "PostgreSQL"."""
        return self._db.kind

    # -- connections -------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, write: bool = False, snapshot: bool = False) -> Iterator[_Conn]:
        """A connection; ``write``: one serialised write transaction; ``snapshot``: one read."""
        db = self._db
        try:
            raw = db.connect()
        except db.OpenError as e:
            raise GalleryError(f"{self.path}: cannot open gallery: {str(e).strip()}") from None
        try:
            db.on_open(raw)
            if write or snapshot:
                db.begin(raw, write)
            try:
                yield _Conn(raw, db)
            except BaseException:
                if db.in_transaction(raw):
                    raw.execute("ROLLBACK")
                raise
            if db.in_transaction(raw):
                raw.execute("COMMIT")
        except db.IntegrityError:
            raise
        except db.DatabaseError as e:
            raise GalleryError(f"{self.path}: {db.broken(e)}") from None
        finally:
            raw.close()

    def _init_schema(self, feature_id: str | None) -> None:
        db = self._db
        with self.connect() as conn:
            tables = db.tables(conn.raw)
            if "meta" in tables:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                if meta.get("schema") != SCHEMA_NAME or "images" not in tables:
                    raise GalleryError(db.foreign())
                if meta.get("version") != SCHEMA_VERSION:
                    raise GalleryError(
                        f"{self.path}: gallery format version {meta.get('version')!r} is not "
                        f"supported (this hesift reads version {SCHEMA_VERSION})"
                    )
            elif db.holds_foreign(tables):
                raise GalleryError(db.foreign())
            else:
                db.prepare_new(conn.raw)
        with self.connect(write=True) as conn:
            for stmt in db.schema.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            for k, v in (("schema", SCHEMA_NAME), ("version", SCHEMA_VERSION), ("generation", "0")):
                conn.execute("INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (k, v))
        if feature_id is not None:
            self.check_feature_id(feature_id)

    # -- metadata ----------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self.connect() as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def generation(self) -> int:
        return int(self.meta("generation") or 0)

    def max_side(self, default: int | None) -> int | None:
        """The ``max_side`` recorded in the stored feature id, or ``default``."""
        fid = self.meta("feature_id")
        if fid is None or "|max_side=" not in fid:
            return default
        value = fid.rsplit("|max_side=", 1)[1]
        return None if value == "None" else int(value)

    def check_feature_id(self, feature_id: str) -> None:
        stored = self.meta("feature_id")
        if stored is not None and stored != feature_id and len(self):
            raise GalleryError(
                f"{self.path} holds features from {stored!r}, but the extractor makes "
                f"{feature_id!r}; they cannot be compared (use the same extractor and "
                "max_side, or another gallery file)"
            )

    # -- entries -----------------------------------------------------------
    def __len__(self) -> int:
        with self.connect() as conn:
            return conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]

    def entries(self) -> list[Entry]:
        with self.connect() as conn:
            rows = conn.execute(f"SELECT {_ENTRY_COLS} FROM images ORDER BY id").fetchall()
        return [_entry(r) for r in rows]

    def get(self, *, name: str | None = None, sha256: str | None = None) -> Entry | None:
        col, val = ("name", name) if name is not None else ("sha256", sha256)
        with self.connect() as conn:
            row = conn.execute(f"SELECT {_ENTRY_COLS} FROM images WHERE {col} = ?", (val,)).fetchone()
        return None if row is None else _entry(row)

    def insert(
        self,
        *,
        name: str,
        sha256: str,
        width: int,
        height: int,
        feature_scale: float,
        thumbnail: bytes,
        thumb_scale: float,
        keypoints: np.ndarray,
        descriptors: np.ndarray,
        encrypted: bytes | None,
        feature_id: str,
    ) -> Entry:
        """Insert unless the content is already there; a taken name gets a ``-2``, ``-3`` suffix."""
        with self.connect(write=True) as conn:
            row = conn.execute(
                f"SELECT {_ENTRY_COLS} FROM images WHERE sha256 = ?", (sha256,)
            ).fetchone()
            if row is not None:
                return _entry(row)
            stored = conn.execute("SELECT value FROM meta WHERE key='feature_id'").fetchone()
            count = conn.execute("SELECT COUNT(*) FROM images").fetchone()[0]
            if stored is not None and stored[0] != feature_id and count:
                raise GalleryError(
                    f"{self.path} holds features from {stored[0]!r}, not {feature_id!r}"
                )
            unique, i = name, 1
            while conn.execute("SELECT 1 FROM images WHERE name = ?", (unique,)).fetchone():
                i += 1
                unique = f"{name}-{i}"
            now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            new_id = conn.execute(
                "INSERT INTO images (name, sha256, width, height, feature_scale, thumbnail,"
                " thumb_scale, num_features, keypoints, descriptors, encrypted, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (unique, sha256, int(width), int(height), float(feature_scale), bytes(thumbnail),
                 float(thumb_scale), len(descriptors), npy_bytes(keypoints.astype(np.float32)),
                 npy_bytes(descriptors.astype(np.float32)),
                 None if encrypted is None else bytes(encrypted), now),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO meta VALUES ('feature_id', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value", (feature_id,))
            conn.execute(_BUMP_GENERATION)
            return Entry(int(new_id), unique, sha256, int(width), int(height), len(descriptors),
                         now, added=True)

    def remove(self, name: str) -> bool:
        with self.connect(write=True) as conn:
            cur = conn.execute("DELETE FROM images WHERE name = ?", (name,))
            if cur.rowcount:
                conn.execute(_BUMP_GENERATION)
            return cur.rowcount > 0

    def blob(self, name: str, column: str) -> tuple[bytes | None, float] | None:
        """(blob, scale) for ``thumbnail`` (with thumb_scale) or ``encrypted``."""
        if column not in ("thumbnail", "encrypted"):
            raise ValueError(column)
        with self.connect() as conn:
            row = conn.execute(
                f"SELECT {column}, thumb_scale / feature_scale FROM images WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else (row[0], float(row[1]))

    def thumbnail_by_id(self, image_id: int) -> bytes | None:
        with self.connect() as conn:
            row = conn.execute("SELECT thumbnail FROM images WHERE id = ?", (image_id,)).fetchone()
        return None if row is None else row[0]

    def features(self, name: str | None = None) -> tuple[int, list[StoredFeatures]]:
        """(generation, features of one image or all images), read in one snapshot."""
        sql = "SELECT id, name, keypoints, descriptors, sha256 FROM images"
        args: tuple = ()
        if name is not None:
            sql, args = sql + " WHERE name = ?", (name,)
        with self.connect(snapshot=True) as conn:  # rows consistent with generation
            gen = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        out = []
        for i, n, kp, de, sha in rows:
            try:
                kps, desc = npy_load(kp), npy_load(de)
            except Exception as e:
                raise GalleryError(f"{self.path}: features of {n!r} are corrupted ({e})") from None
            if kps.ndim != 2 or desc.ndim != 2 or len(kps) != len(desc):
                raise GalleryError(f"{self.path}: features of {n!r} are corrupted (bad shape)")
            out.append(StoredFeatures(i, n, kps, desc, sha))
        return gen, out

    def image_keys(self) -> tuple[int, list[tuple[int, str, str]]]:
        """(generation, [(id, name, sha256)] in id order), read in one snapshot (no features)."""
        with self.connect(snapshot=True) as conn:
            gen = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
            rows = conn.execute("SELECT id, name, sha256 FROM images ORDER BY id").fetchall()
        return gen, [(int(i), n, s) for i, n, s in rows]

    # -- derived data (caches rebuilt from the images, e.g. the private-retrieval index) --
    def derived(self, key: str) -> bytes | None:
        """The bytes stored under ``key`` (the caller parses and checks them), or None."""
        with self.connect() as conn:
            row = conn.execute("SELECT data FROM derived WHERE key = ?", (key,)).fetchone()
        return None if row is None else bytes(row[0])

    def set_derived(self, key: str, data: bytes | None) -> None:
        """Store (or with None, drop) derived bytes; the generation is unchanged."""
        with self.connect(write=True) as conn:
            if data is None:
                conn.execute("DELETE FROM derived WHERE key = ?", (key,))
            else:
                conn.execute("INSERT INTO derived VALUES (?, ?) ON CONFLICT (key)"
                             " DO UPDATE SET data = excluded.data", (key, bytes(data)))
