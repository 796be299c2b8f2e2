"""What "nothing was written" means for the fuzz run: every table's rows and the files on disk.

A digest of each table (rows sorted, so the order a database happens to return them in does not
count) and a listing of every file under the server's home (path, size, modification time). The
home holds the artifact root a few levels down, so an upload that escapes the artifact root by a
few ``..`` is still inside what is listed, and shows up as a file outside the artifact root.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from cnai.db import schema

# The audit log records every write, refused ones included (who tried what): a refused request
# adds a line there by design, so it is not part of the data a refusal must leave alone.
_LOGS = frozenset({"audit_log"})
# SQLite's own files change on every transaction, reads included (WAL checkpoints).
_DATABASE_SUFFIXES = (".db", ".db-wal", ".db-shm", ".db-journal")


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, str]
    files: frozenset[tuple[str, int, int]]

    def differences(self, other: Snapshot) -> list[str]:
        changed = [f"table {t}" for t in sorted(self.tables) if self.tables[t] != other.tables.get(t)]
        added = sorted(f[0] for f in other.files - self.files)
        removed = sorted(f[0] for f in self.files - other.files)
        return changed + [f"file written {p}" for p in added] + [f"file removed or changed {p}" for p in removed]


def take(engine: Engine, root: Path) -> Snapshot:
    return Snapshot(tables=_table_digests(engine), files=frozenset(_files(root)))


def _table_digests(engine: Engine) -> dict[str, str]:
    digests = {}
    # Plain SQL through the driver: this runs around every request, and SQLAlchemy's result
    # processing would cost more than the request itself.
    with engine.connect() as conn:
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        for table in schema.metadata.sorted_tables:
            if table.name in _LOGS:
                continue
            cursor.execute(f'SELECT * FROM "{table.name}"')
            rows = sorted(repr(row) for row in cursor.fetchall())
            digests[table.name] = hashlib.sha256("\n".join(rows).encode("utf-8", "surrogatepass")).hexdigest()
        cursor.close()
        conn.rollback()
    return digests


def _files(root: Path) -> list[tuple[str, int, int]]:
    found = []
    for directory, _dirs, names in os.walk(root):
        for name in names:
            if name.endswith(_DATABASE_SUFFIXES):
                continue
            path = Path(directory, name)
            stat = path.lstat()
            found.append((str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return found


def outside(snapshot: Snapshot, artifact_root: Path, root: Path) -> list[str]:
    """Files under ``root`` but not under the artifact root: writes that escaped it."""
    prefix = str(artifact_root.relative_to(root)) + os.sep
    return sorted(path for path, _size, _mtime in snapshot.files if not path.startswith(prefix))
