"""Record storage for one emulated system: in memory for speed, persisted under the state folder.

Each sandbox (CRM, CS platform) owns one `Store`. Records are plain dicts keyed by object name and
record id. Persistence is a pickle snapshot plus an append-only SQLite journal of changes since
that snapshot, so a seeded org of 100,000 accounts loads in seconds and every API write survives a
restart. `compact()` folds the journal into a new snapshot.

Thread safety: the web servers run endpoints in a thread pool, so every public method takes the
store's lock; callers that need several operations to be atomic hold `store.lock` themselves.
"""

from __future__ import annotations

import json
import pickle
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

Record = dict[str, Any]

_JOURNAL_DDL = """
CREATE TABLE IF NOT EXISTS journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    object TEXT NOT NULL,
    record_id TEXT NOT NULL,
    data TEXT           -- JSON of the whole record; NULL means removed from storage
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    """In-memory records of one system, persisted to `<state_dir>/<name>.pickle` + `<name>.journal.db`."""

    def __init__(self, state_dir: Path | str, name: str) -> None:
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.lock = threading.RLock()
        self._snapshot_path = self.state_dir / f"{name}.pickle"
        self._db = sqlite3.connect(self.state_dir / f"{name}.journal.db", check_same_thread=False)
        self._db.executescript(_JOURNAL_DDL)
        self._objects: dict[str, dict[str, Record]] = {}
        self._meta: dict[str, Any] = {}
        self._load()

    # ---- loading and persistence -------------------------------------------------------------
    def _load(self) -> None:
        if self._snapshot_path.exists():
            with self._snapshot_path.open("rb") as fh:
                snap = pickle.load(fh)
            self._objects, self._meta = snap["objects"], snap["meta"]
        for obj, rid, data in self._db.execute("SELECT object, record_id, data FROM journal ORDER BY seq"):
            if data is None:
                self._objects.get(obj, {}).pop(rid, None)
            else:
                self._objects.setdefault(obj, {})[rid] = json.loads(data)
        for key, value in self._db.execute("SELECT key, value FROM meta"):
            self._meta[key] = json.loads(value)

    def compact(self) -> None:
        """Write a full snapshot and empty the journal (used after seeding and on clean shutdown)."""
        with self.lock:
            tmp = self._snapshot_path.with_suffix(".tmp")
            with tmp.open("wb") as fh:
                pickle.dump({"objects": self._objects, "meta": self._meta}, fh, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(self._snapshot_path)
            self._db.execute("DELETE FROM journal")
            self._db.execute("DELETE FROM meta")
            self._db.commit()

    def reset(self) -> None:
        """Forget every record and all metadata, in memory and on disk."""
        with self.lock:
            self._objects.clear()
            self._meta.clear()
            self._snapshot_path.unlink(missing_ok=True)
            self._db.execute("DELETE FROM journal")
            self._db.execute("DELETE FROM meta")
            self._db.commit()

    def close(self) -> None:
        with self.lock:
            self._db.close()

    # ---- records -------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        with self.lock:
            return not any(self._objects.values())

    def count(self, obj: str) -> int:
        with self.lock:
            return len(self._objects.get(obj, {}))

    def get(self, obj: str, record_id: str) -> Record | None:
        with self.lock:
            return self._objects.get(obj, {}).get(record_id)

    def all(self, obj: str) -> list[Record]:
        """A list (not a live view) of every stored record of `obj`, deleted-flagged ones included."""
        with self.lock:
            return list(self._objects.get(obj, {}).values())

    def iter(self, obj: str) -> Iterator[Record]:
        """Iterate over a copy of the record list, so callers may write while iterating."""
        return iter(self.all(obj))

    def put(self, obj: str, record: Record, id_field: str = "Id") -> None:
        self.put_many(obj, [record], id_field)

    def put_many(self, obj: str, records: Iterable[Record], id_field: str = "Id", journal: bool = True) -> None:
        """Insert or replace whole records; `journal=False` is for bulk seeding followed by `compact()`."""
        with self.lock:
            table = self._objects.setdefault(obj, {})
            rows = []
            for rec in records:
                rid = rec[id_field]
                table[rid] = rec
                if journal:
                    rows.append((obj, rid, json.dumps(rec, default=str)))
            if rows:
                self._db.executemany("INSERT INTO journal(object, record_id, data) VALUES (?,?,?)", rows)
                self._db.commit()

    def remove(self, obj: str, record_id: str) -> Record | None:
        """Physically remove a record (Salesforce deletes are flags; this is for hard deletes/CS deletes)."""
        with self.lock:
            rec = self._objects.get(obj, {}).pop(record_id, None)
            if rec is not None:
                self._db.execute(
                    "INSERT INTO journal(object, record_id, data) VALUES (?,?,NULL)", (obj, record_id)
                )
                self._db.commit()
            return rec

    # ---- metadata (live schema, counters, fault rules) ----------------------------------------
    def meta_get(self, key: str, default: Any = None) -> Any:
        with self.lock:
            return self._meta.get(key, default)

    def meta_set(self, key: str, value: Any) -> None:
        with self.lock:
            self._meta[key] = value
            self._db.execute(
                "INSERT INTO meta(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value, default=str)),
            )
            self._db.commit()

    def next_counter(self, key: str, start: int = 1) -> int:
        """A persistent monotonically increasing counter (record id generation)."""
        return self.reserve_counter(key, 1, start)

    def reserve_counter(self, key: str, n: int, start: int = 1) -> int:
        """Reserve `n` consecutive counter values in one write; returns the first of them."""
        with self.lock:
            first = int(self._meta.get(f"counter:{key}", start - 1)) + 1
            self.meta_set(f"counter:{key}", first + n - 1)
            return first
