"""SQLite storage of gallery entries (one file, safe for concurrent writers).

Every operation opens its own short-lived connection, so threads and processes
can share one gallery file.  Writes run in ``BEGIN IMMEDIATE`` transactions
with a generous busy timeout, WAL journaling lets readers proceed during a
write, and a ``generation`` counter in ``meta`` tells readers when their cached
index is stale.  Any SQLite corruption surfaces as :class:`GalleryError`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .features import npy_bytes, npy_load

__all__ = ["Entry", "GalleryError", "Store", "StoredFeatures"]

SCHEMA_NAME = "hesift-gallery"
SCHEMA_VERSION = "1"
BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL UNIQUE,
    sha256        TEXT NOT NULL UNIQUE,
    width         INTEGER NOT NULL,
    height        INTEGER NOT NULL,
    feature_scale REAL NOT NULL,
    thumbnail     BLOB NOT NULL,
    thumb_scale   REAL NOT NULL,
    num_features  INTEGER NOT NULL,
    keypoints     BLOB NOT NULL,
    descriptors   BLOB NOT NULL,
    encrypted     BLOB,
    added_at      TEXT NOT NULL
);
"""


class GalleryError(RuntimeError):
    """The gallery file is unusable (corrupt, not a gallery, wrong features) or an op failed."""


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


_ENTRY_COLS = "id, name, sha256, width, height, num_features, added_at"


def _entry(row, added: bool = False) -> Entry:
    return Entry(*row, added=added)


class Store:
    """Low-level access to one gallery file."""

    def __init__(self, path: str | os.PathLike, feature_id: str | None = None) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise GalleryError(f"{self.path} is a directory, not a gallery file")
        if not self.path.parent.exists():
            raise GalleryError(f"{self.path.parent}: folder does not exist")
        self._init_schema(feature_id)

    # -- connections -------------------------------------------------------
    @contextlib.contextmanager
    def connect(self, write: bool = False, snapshot: bool = False) -> Iterator[sqlite3.Connection]:
        """A connection; ``write``: one ``BEGIN IMMEDIATE`` transaction; ``snapshot``: one read."""
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as e:
            raise GalleryError(f"{self.path}: cannot open gallery: {e}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            if write or snapshot:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            if conn.in_transaction:
                conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise
        except sqlite3.DatabaseError as e:
            raise GalleryError(
                f"{self.path}: the gallery database is corrupted or not a hesift gallery ({e})"
            ) from None
        finally:
            conn.close()

    def _init_schema(self, feature_id: str | None) -> None:
        with self.connect() as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:
                raise GalleryError(f"{self.path} is an SQLite file but not a hesift gallery")
            if "meta" in tables:
                meta = dict(conn.execute("SELECT key, value FROM meta"))
                if meta.get("schema") != SCHEMA_NAME or "images" not in tables:
                    raise GalleryError(f"{self.path} is an SQLite file but not a hesift gallery")
                if meta.get("version") != SCHEMA_VERSION:
                    raise GalleryError(
                        f"{self.path}: gallery format version {meta.get('version')!r} is not "
                        f"supported (this hesift reads version {SCHEMA_VERSION})"
                    )
            else:
                conn.execute("PRAGMA journal_mode = WAL")  # persistent; readers never block
        with self.connect(write=True) as conn:
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            for k, v in (("schema", SCHEMA_NAME), ("version", SCHEMA_VERSION), ("generation", "0")):
                conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (k, v))
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
            cur = conn.execute(
                "INSERT INTO images (name, sha256, width, height, feature_scale, thumbnail,"
                " thumb_scale, num_features, keypoints, descriptors, encrypted, added_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (unique, sha256, width, height, feature_scale, thumbnail, thumb_scale,
                 len(descriptors), npy_bytes(keypoints.astype(np.float32)),
                 npy_bytes(descriptors.astype(np.float32)), encrypted, now),
            )
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('feature_id', ?)", (feature_id,))
            conn.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
            )
            return Entry(cur.lastrowid, unique, sha256, width, height, len(descriptors), now,
                         added=True)

    def remove(self, name: str) -> bool:
        with self.connect(write=True) as conn:
            cur = conn.execute("DELETE FROM images WHERE name = ?", (name,))
            if cur.rowcount:
                conn.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
                )
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
        sql = "SELECT id, name, keypoints, descriptors FROM images"
        args: tuple = ()
        if name is not None:
            sql, args = sql + " WHERE name = ?", (name,)
        with self.connect(snapshot=True) as conn:  # rows consistent with generation
            gen = int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])
            rows = conn.execute(sql + " ORDER BY id", args).fetchall()
        out = []
        for i, n, kp, de in rows:
            try:
                kps, desc = npy_load(kp), npy_load(de)
            except Exception as e:
                raise GalleryError(f"{self.path}: features of {n!r} are corrupted ({e})") from None
            if kps.ndim != 2 or desc.ndim != 2 or len(kps) != len(desc):
                raise GalleryError(f"{self.path}: features of {n!r} are corrupted (bad shape)")
            out.append(StoredFeatures(i, n, kps, desc))
        return gen, out
