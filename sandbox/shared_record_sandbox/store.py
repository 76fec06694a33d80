"""Record storage for one emulated system: in memory for speed, persisted under the state folder.

Each sandbox (CRM, CS platform) owns one `Store`. Records are plain dicts keyed by object name and
record id. Persistence is a pickle snapshot plus an append-only SQLite journal of changes since
that snapshot, so a seeded org of 100,000 accounts loads in seconds and every API write survives a
restart. `compact()` folds the journal into a new snapshot.

Thread safety: the web servers run endpoints in a thread pool, so every public method takes the
store's lock; callers that need several operations to be atomic hold `store.lock` themselves.
"""

from __future__ import annotations

import bisect
import json
import pickle
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
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
        # WAL with NORMAL sync: a commit per API call is an append, not two fsyncs; what was committed survives a
        # crash of the sandbox process (only a power cut could lose the last calls, acceptable for a stand-in).
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_JOURNAL_DDL)
        self._objects: dict[str, dict[str, Record]] = {}
        self._meta: dict[str, Any] = {}
        self._batch_depth = 0  # > 0 inside `batch()`: journal rows are committed once, when it ends
        # Range indexes, built on first use and kept up to date by every write (see `range_records`).
        self._ranges: dict[tuple[str, str, str], _RangeIndex] = {}
        self._order: dict[str, dict[str, int]] = {}  # obj -> record id -> insertion position (dict order)
        self._next_pos = 0
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
            self._ranges.clear()
            self._order.clear()
            self._snapshot_path.unlink(missing_ok=True)
            self._db.execute("DELETE FROM journal")
            self._db.execute("DELETE FROM meta")
            self._db.commit()

    def close(self) -> None:
        with self.lock:
            self._db.close()

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the lock and commit the journal once at the end instead of once per write (one API call
        that writes 200 records is one transaction, as it would be on the real platform)."""
        with self.lock:
            self._batch_depth += 1
            try:
                yield
            finally:
                self._batch_depth -= 1
                if self._batch_depth == 0:
                    self._db.commit()

    def _commit(self) -> None:
        if not self._batch_depth:
            self._db.commit()

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
            ranges = self._ranges_of(obj)
            order = self._order.get(obj)
            if ranges and isinstance(records, list) and len(records) > max(1000, len(table) // 20):
                for key in ranges:  # cheaper to rebuild on the next range query
                    del self._ranges[key]
                ranges = {}
            for rec in records:
                rid = rec[id_field]
                old = table.get(rid)
                table[rid] = rec
                for ix in ranges.values():
                    ix.replace(rid, old, rec)
                if order is not None and old is None:
                    order[rid] = self._next_pos
                    self._next_pos += 1
                if journal:
                    rows.append((obj, rid, json.dumps(rec, default=str)))
            if rows:
                self._db.executemany("INSERT INTO journal(object, record_id, data) VALUES (?,?,?)", rows)
                self._commit()

    def remove(self, obj: str, record_id: str) -> Record | None:
        """Physically remove a record (Salesforce deletes are flags; this is for hard deletes/CS deletes)."""
        with self.lock:
            rec = self._objects.get(obj, {}).pop(record_id, None)
            if rec is not None:
                for ix in self._ranges_of(obj).values():
                    ix.replace(record_id, rec, None)
                if obj in self._order:
                    self._order[obj].pop(record_id, None)
                self._db.execute(
                    "INSERT INTO journal(object, record_id, data) VALUES (?,?,NULL)", (obj, record_id)
                )
                self._commit()
            return rec

    def ensure_range_index(self, obj: str, field: str, key: Callable[[Any], Any] | None = None,
                           key_name: str = "raw") -> _RangeIndex:
        """The range index of `obj.field` (by `key`), built now if it is not yet (one sort of the object)."""
        with self.lock:
            ix = self._ranges.get((obj, field, key_name))
            if ix is None:
                ix = _RangeIndex(field, key or (lambda v: v))
                ix.build(self._objects.get(obj, {}).items())
                self._ranges[(obj, field, key_name)] = ix
            self._storage_order(obj)  # built now too: range results come back in storage order
            return ix

    def range_records(self, obj: str, field: str, lo: Any, hi: Any, key: Callable[[Any], Any] | None = None,
                      key_name: str = "raw") -> list[Record]:
        """Records of `obj` whose `key(record[field])` lies in [lo, hi] (None: unbounded), plus every record
        whose key is not a comparable value (None, or another type than the others): a superset of what a
        range filter on the field can match, in storage order, found without reading the whole object.
        Callers still apply their own filter. `key_name` names `key` (one index per field and key)."""
        with self.lock:
            ix = self.ensure_range_index(obj, field, key, key_name)
            return self._in_storage_order(obj, ix.between(lo, hi))

    def records_by_ids(self, obj: str, ids: Iterable[str]) -> list[Record]:
        """The stored records of `obj` among `ids`, in storage order (as a scan would return them), found
        without reading the whole object."""
        with self.lock:
            table = self._objects.get(obj, {})
            return self._in_storage_order(obj, [rid for rid in set(ids) if rid in table])

    def _ranges_of(self, obj: str) -> dict[tuple[str, str, str], _RangeIndex]:
        return {key: ix for key, ix in self._ranges.items() if key[0] == obj}

    def _in_storage_order(self, obj: str, rids: list[str]) -> list[Record]:
        """The records of `rids` (all stored) sorted as a scan of `obj` would return them."""
        if len(rids) > 1:
            rids.sort(key=self._storage_order(obj).__getitem__)
        table = self._objects.get(obj, {})
        return [table[r] for r in rids]

    def _storage_order(self, obj: str) -> dict[str, int]:
        order = self._order.get(obj)
        if order is None:
            order = self._order[obj] = {}
            for rid in self._objects.get(obj, {}):
                order[rid] = self._next_pos
                self._next_pos += 1
        return order

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


class _RangeIndex:
    """A sorted (key, record id) list of one field, for range filters; keys of another type than the first
    one seen (and None) are kept aside and returned with every range."""

    def __init__(self, field: str, key: Callable[[Any], Any]) -> None:
        self.field, self.key = field, key
        self.sorted: list[tuple[Any, str]] = []
        self.aside: set[str] = set()
        self.type: type | None = None

    def _key(self, rec: Record) -> Any:
        try:
            k = self.key(rec.get(self.field))
        except (TypeError, ValueError):
            return None
        if k is None or isinstance(k, bool):
            return None
        if self.type is None and isinstance(k, str | int | float):
            self.type = str if isinstance(k, str) else float
        if self.type is str and isinstance(k, str):
            return k
        if self.type is float and isinstance(k, int | float):
            return k
        return None

    def build(self, items: Iterable[tuple[str, Record]]) -> None:
        rows = []
        for rid, rec in items:
            k = self._key(rec)
            if k is None:
                self.aside.add(rid)
            else:
                rows.append((k, rid))
        rows.sort()
        self.sorted = rows

    def replace(self, rid: str, old: Record | None, new: Record | None) -> None:
        if old is not None:
            k = self._key(old)
            if k is None:
                self.aside.discard(rid)
            else:
                i = bisect.bisect_left(self.sorted, (k, rid))
                if i < len(self.sorted) and self.sorted[i] == (k, rid):
                    del self.sorted[i]
        if new is not None:
            k = self._key(new)
            if k is None:
                self.aside.add(rid)
            else:
                bisect.insort(self.sorted, (k, rid))

    def between(self, lo: Any, hi: Any) -> list[str]:
        if self.type is None or (lo is not None and not isinstance(lo, self.type if self.type is str
                                                                    else int | float)) \
                or (hi is not None and not isinstance(hi, self.type if self.type is str else int | float)):
            return [rid for _k, rid in self.sorted] + list(self.aside)  # not comparable: everything
        start = 0 if lo is None else bisect.bisect_left(self.sorted, (lo,))
        end = len(self.sorted)
        if hi is not None:
            end = bisect.bisect_left(self.sorted, (hi, _MAX_ID), start)
        return [rid for _k, rid in self.sorted[start:end]] + list(self.aside)


class _MaxId(str):
    """Sorts after every record id (the upper bound of a key's ids)."""

    def __lt__(self, other: object) -> bool:
        return False

    def __gt__(self, other: object) -> bool:
        return True


_MAX_ID = _MaxId("\U0010ffff")
