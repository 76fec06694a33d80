"""The ledger: shared-record's own SQL state (run metrics, dead letters, violations, health history, ...).

State that an Airflow data interval cannot carry lives here, in a database of its own (SQLite file by default,
PostgreSQL in production) and never in Airflow's metadata DB, which tasks may not touch in Airflow 3.

SQLAlchemy 2.x Core tables, no ORM: every write is a short transaction, every repeatable write is an upsert
(`INSERT ... ON CONFLICT`) so that an on-call rerun of any task is idempotent, and "is this new?" questions
are answered by the database's conflict handling rather than by a read-then-write race.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import URL, Connection, Engine, make_url

log = logging.getLogger(__name__)

UTC = dt.UTC
DEFAULT_CONN_ID = "shared_record_ledger"
ENV_URL = "SHARED_RECORD_LEDGER_URL"

# Rows per statement for batch writes and IN-lists. SQLite caps bound parameters at 32,766 (3.32+); the widest
# batch here (health_history, 8 columns) stays far below that, and PostgreSQL is happy with the same size.
CHUNK = 2000
# Serialises CREATE TABLE between processes on PostgreSQL (two DAG runs' first tasks can start together).
_PG_DDL_LOCK_KEY = 0x5EC0_4ED6
RUN_STATUSES = frozenset({"running", "success", "failed", "partial", "skipped"})
_MAX_ERROR_CHARS = 4000
# user:password@ inside any URL that ends up in an error text (driver messages sometimes echo the DSN).
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)[^@\s]+@")


# --------------------------------------------------------------------------------------------- column types


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every back end.

    SQLite has no timezone type: SQLAlchemy stores the text without an offset and returns naive values, so we
    store UTC and re-attach UTC on read. Naive input is taken as UTC (Airflow's clocks all are).
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise ValueError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        # pendulum (Airflow's logical dates) subclasses datetime; hand the driver a plain one.
        plain = dt.datetime(value.year, value.month, value.day, value.hour, value.minute, value.second,
                            value.microsecond, tzinfo=UTC)
        return plain.replace(tzinfo=None) if dialect.name == "sqlite" else plain

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _json_default(value: Any) -> Any:
    """JSON for the types records actually carry (dates, decimals, sets); anything else is an error."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)  # sorted: a set's order must not change the text (or its sha256)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces): equal content gives equal text and equal sha256."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


class JSONText(sa.types.TypeDecorator[Any]):
    """JSON kept as TEXT: portable, comparable with `=` on both back ends, readable in SQL via `::jsonb`."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> str | None:
        return None if value is None else canonical_json(value)

    def process_result_value(self, value: str | None, dialect: sa.Dialect) -> Any:
        return None if value is None else json.loads(value)


# --------------------------------------------------------------------------------------------- tables

metadata = sa.MetaData()

runs = sa.Table(
    "runs", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("layer", sa.Integer, nullable=False),
    sa.Column("logical_date", UTCDateTime),
    sa.Column("window_start", UTCDateTime),
    sa.Column("window_end", UTCDateTime),
    sa.Column("mode", sa.String(50), nullable=False),
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False, default=1),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("records_read", sa.Integer, nullable=False, default=0),
    sa.Column("records_changed", sa.Integer, nullable=False, default=0),
    sa.Column("records_written", sa.Integer, nullable=False, default=0),
    sa.Column("records_skipped", sa.Integer, nullable=False, default=0),
    sa.Column("records_rejected", sa.Integer, nullable=False, default=0),
    sa.Column("violations", sa.Integer, nullable=False, default=0),
    sa.Column("kept_aside", sa.Integer, nullable=False, default=0),
    sa.Column("api_calls", JSONText, nullable=False, default=dict),
    sa.Column("error", sa.Text),
    sa.UniqueConstraint("dag_id", "run_id", name="uq_runs_dag_run"),
)
sa.Index("ix_runs_dag_started", runs.c.dag_id, runs.c.started_at)

# Dead letters, kept-aside values and drift findings allow one OPEN row per key and any number of resolved
# ones (the history): a partial unique index, which both SQLite and PostgreSQL support, and which the upserts
# name as their conflict target. The predicate is literal SQL so PostgreSQL can match it to the index.
_OPEN = "status = 'open'"


def _unique_while_open(name: str, table: sa.Table, key: tuple[str, ...]) -> sa.Index:
    """One open row per key (a partial unique index, on SQLite and PostgreSQL alike); resolved rows stay as
    history. Upserts into such a table name the same predicate: `index_where=sa.text(_OPEN)`."""
    return sa.Index(name, *(table.c[k] for k in key), unique=True,
                    sqlite_where=sa.text(_OPEN), postgresql_where=sa.text(_OPEN))

dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("layer", sa.Integer, nullable=False),
    sa.Column("system", sa.String(50), nullable=False),
    sa.Column("obj", sa.String(250), nullable=False),
    sa.Column("record_key", sa.String(250), nullable=False),
    sa.Column("operation", sa.String(50), nullable=False),
    sa.Column("payload", JSONText),
    sa.Column("error_code", sa.String(250)),
    sa.Column("error_message", sa.Text),
    sa.Column("run_id", sa.String(250)),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("first_failed_at", UTCDateTime, nullable=False),
    sa.Column("last_failed_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
)
_DL_KEY = ("layer", "system", "obj", "record_key")
_unique_while_open("uq_dead_letters_open", dead_letters, _DL_KEY)

violations_t = sa.Table(
    "violations", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("layer", sa.Integer, nullable=False),
    sa.Column("system", sa.String(50), nullable=False),
    sa.Column("obj", sa.String(250), nullable=False),
    sa.Column("record_key", sa.String(250), nullable=False),
    sa.Column("field", sa.String(250), nullable=False),
    sa.Column("owner_value", JSONText),
    sa.Column("found_value", JSONText),
    # found values can be long text; a hash keeps the unique index small on both back ends.
    sa.Column("found_sha256", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(250)),
    sa.Column("last_run_id", sa.String(250)),
    sa.Column("times_seen", sa.Integer, nullable=False, default=1),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("system", "obj", "record_key", "field", "found_sha256", name="uq_violations_found"),
)

kept_aside_t = sa.Table(
    "kept_aside", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("layer", sa.Integer, nullable=False),
    sa.Column("record_key", sa.String(250), nullable=False),
    sa.Column("field", sa.String(250), nullable=False),
    sa.Column("value", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(250)),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
)
_KA_KEY = ("layer", "record_key", "field")
_unique_while_open("uq_kept_aside_open", kept_aside_t, _KA_KEY)

# RevOps writes SQL against this table (joins with renewal ARR): keep the name and column names stable.
health_history = sa.Table(
    "health_history", metadata,
    sa.Column("account_id", sa.String(250), primary_key=True),
    sa.Column("as_of", sa.Date, primary_key=True),
    sa.Column("score", sa.Float),
    sa.Column("color", sa.String(50)),
    sa.Column("usage", sa.Float),
    sa.Column("nps", sa.Float),
    sa.Column("csat", sa.Float),
    sa.Column("open_tickets", sa.Integer),
    sa.Column("renewal_arr", sa.Float),  # the CRM's renewal ARR when the score was read
    sa.Column("renewal_date", sa.Date),
)
HEALTH_COLUMNS = ("account_id", "as_of", "score", "color", "usage", "nps", "csat", "open_tickets", "renewal_arr",
                  "renewal_date")

deal_snapshots = sa.Table(
    "deal_snapshots", metadata,
    sa.Column("opportunity_id", sa.String(250), primary_key=True),
    sa.Column("account_id", sa.String(250)),
    sa.Column("content", JSONText, nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.Column("cs_record_id", sa.String(250)),
    sa.Column("created_at", UTCDateTime, nullable=False),
)

relationship_baseline = sa.Table(
    "relationship_baseline", metadata,
    sa.Column("entity", sa.String(100), primary_key=True),
    sa.Column("record_key", sa.String(250), primary_key=True),
    sa.Column("field", sa.String(250), primary_key=True),
    sa.Column("value", JSONText),
    sa.Column("synced_at", UTCDateTime, nullable=False),
)

alert_state = sa.Table(
    "alert_state", metadata,
    sa.Column("alert_key", sa.String(500), primary_key=True),
    sa.Column("state", sa.String(250), nullable=False),
    sa.Column("changed_at", UTCDateTime, nullable=False),
)

drift_findings = sa.Table(
    "drift_findings", metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("system", sa.String(50), nullable=False),
    sa.Column("obj", sa.String(250), nullable=False),
    sa.Column("field", sa.String(250), nullable=False),
    sa.Column("kind", sa.String(50), nullable=False),
    sa.Column("detail", JSONText),
    sa.Column("run_id", sa.String(250)),
    sa.Column("last_run_id", sa.String(250)),
    sa.Column("status", sa.String(20), nullable=False, default="open"),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("last_seen_at", UTCDateTime, nullable=False),
    sa.Column("resolved_at", UTCDateTime),
)
_DRIFT_KEY = ("system", "obj", "field", "kind")
_unique_while_open("uq_drift_open", drift_findings, _DRIFT_KEY)

merges_t = sa.Table(
    "merges", metadata,
    sa.Column("obj", sa.String(250), primary_key=True),
    sa.Column("loser_id", sa.String(250), primary_key=True),
    sa.Column("master_id", sa.String(250), nullable=False),
    sa.Column("cs_record_id", sa.String(250)),
    sa.Column("merged_at", UTCDateTime, nullable=False),
)


# --------------------------------------------------------------------------------------------- helpers


@dataclass
class RunMetrics:
    """Counters of one layer run, stored on its `runs` row by `finish_run`."""

    records_read: int = 0
    records_changed: int = 0
    records_written: int = 0
    records_skipped: int = 0
    records_rejected: int = 0
    violations: int = 0
    kept_aside: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)

    def add_call(self, kind: str, n: int = 1) -> None:
        """Count `n` API calls of one kind (e.g. "crm.query", "cs.upsert")."""
        self.api_calls[kind] = self.api_calls.get(kind, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "api_calls": dict(self.api_calls)}


_COUNTERS = ("records_read", "records_changed", "records_written", "records_skipped", "records_rejected",
             "violations", "kept_aside")


def _now() -> dt.datetime:
    return dt.datetime.now(UTC)


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _mask_secrets(text: str) -> str:
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def normalize_url(url: str | URL) -> URL:
    """Parse a ledger URL; `postgres://` and `postgresql://` mean PostgreSQL through psycopg2."""
    parsed = make_url(url) if isinstance(url, str) else url
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg2")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(f"unsupported ledger database {parsed.get_backend_name()!r}: use sqlite or postgres")
    return parsed


def _as_int(value: Any, what: str) -> int:
    """An int, or a ValueError naming `what` (bools and fractional numbers are refused, not truncated)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer() or isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise ValueError(f"{what} must be an integer, got {value!r}")


class Ledger:
    """shared-record's own SQL state. One instance per task; cheap to build, `dispose()` when done."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url: URL = normalize_url(url)
        self.dialect = self.url.get_backend_name()
        self.engine: Engine = self._make_engine()
        if create:
            self.create_tables()

    # ------------------------------------------------------------------ construction

    def __repr__(self) -> str:
        return f"Ledger({self.safe_url!r})"

    __str__ = __repr__

    @property
    def safe_url(self) -> str:
        """The URL with its password masked: the only form that may reach a log line or an error."""
        return self.url.render_as_string(hide_password=True)

    @staticmethod
    def default_url() -> str:
        """`$SHARED_RECORD_LEDGER_URL`, else a SQLite file in AIRFLOW_HOME (or ~/airflow)."""
        env = os.environ.get(ENV_URL)
        if env:
            return env
        home = Path(os.environ.get("AIRFLOW_HOME") or Path.home() / "airflow").expanduser()
        return f"sqlite:///{home / 'shared_record_ledger.db'}"

    @classmethod
    def from_connection(cls, conn_id: str = DEFAULT_CONN_ID) -> Ledger:
        """Build the ledger from an Airflow connection; without one, use `default_url()`.

        conn_type "sqlite": host is the file path. "postgres"/"postgresql": host/port/login/password and
        schema (the database). Any type: extra {"url": "..."} wins.
        """
        try:
            from airflow.sdk import BaseHook
        except ImportError:  # pragma: no cover - Airflow 2 layout
            from airflow.hooks.base import BaseHook  # type: ignore[no-redef]
        not_found = _not_found_exceptions()
        try:
            conn = BaseHook.get_connection(conn_id)
        except not_found:
            url = cls.default_url()
            log.info("Airflow connection %r not defined; ledger uses %s", conn_id,
                     normalize_url(url).render_as_string(hide_password=True))
            return cls(url)
        return cls(cls.url_from_connection(conn_id, conn.conn_type, host=conn.host, port=conn.port,
                                           login=conn.login, password=conn.password, schema=conn.schema,
                                           extra=conn.extra_dejson or {}))

    @staticmethod
    def url_from_connection(conn_id: str, conn_type: str | None, *, host: str | None = None,
                            port: int | None = None, login: str | None = None, password: str | None = None,
                            schema: str | None = None, extra: Mapping[str, Any] | None = None) -> URL:
        """The SQLAlchemy URL an Airflow connection describes (pure: no Airflow import)."""
        extra = dict(extra or {})
        if extra.get("url"):
            return normalize_url(str(extra["url"]))
        kind = (conn_type or "").lower()
        if kind == "sqlite":
            if not host:
                raise ValueError(f"connection {conn_id!r} (sqlite) needs the database file path as its host")
            return make_url(f"sqlite:///{host}")
        if kind in ("postgres", "postgresql"):
            # libpq options worth passing through (TLS, timeouts, search_path); anything else is ignored.
            query = {k: str(v) for k, v in extra.items()
                     if k in ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "options",
                              "application_name")}
            return URL.create("postgresql+psycopg2", username=login or None, password=password or None,
                              host=host or None, port=int(port) if port else None, database=schema or None,
                              query=query)
        raise ValueError(f"connection {conn_id!r} has conn_type {conn_type!r}: the ledger needs "
                         "'sqlite' or 'postgres' (or extra {\"url\": ...})")

    def _make_engine(self) -> Engine:
        if self.dialect == "sqlite":
            database = self.url.database
            if database and database != ":memory:" and not database.startswith("file:"):
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(self.url, connect_args={"timeout": 30})
            in_memory = not database or database == ":memory:"

            @sa.event.listens_for(engine, "connect")
            def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
                # Let SQLAlchemy issue BEGIN itself (below): pysqlite's own deferred BEGIN lets two writers
                # both read and then fail to upgrade their lock ("database is locked") instead of waiting.
                dbapi_conn.isolation_level = None
                cur = dbapi_conn.cursor()
                cur.execute("PRAGMA busy_timeout=30000")  # first: switching to WAL itself may have to wait
                if not in_memory:
                    cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer, or vice versa
                cur.execute("PRAGMA foreign_keys=ON")
                cur.execute("PRAGMA synchronous=NORMAL")  # safe with WAL; much faster commits
                cur.close()

            @sa.event.listens_for(engine, "begin")
            def _sqlite_begin(conn: Connection) -> None:
                # Take the write lock up front, so busy_timeout applies and "is this new?" upserts serialise.
                conn.exec_driver_sql("BEGIN IMMEDIATE")

            return engine
        return sa.create_engine(self.url, pool_pre_ping=True)

    def create_tables(self) -> None:
        """Create missing tables and indexes; idempotent, and safe when two processes do it at once."""
        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
                    if self.dialect == "postgresql":
                        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_DDL_LOCK_KEY})
                    metadata.create_all(conn, checkfirst=True)
                return
            except sa.exc.DBAPIError as exc:
                # Another process won a race we could not lock against (e.g. a concurrent first CREATE on
                # SQLite before WAL was on): its tables are there now, so one more checkfirst pass settles it.
                if attempt == 2 or "already exists" not in str(exc.orig):
                    raise
                log.info("ledger tables were being created concurrently at %s; rechecking", self.safe_url)

    def dispose(self) -> None:
        """Close pooled connections (end of a task, or tests)."""
        self.engine.dispose()

    # ------------------------------------------------------------------ the one upsert helper

    def _upsert(self, conn: Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]],
                key: Sequence[str], update: Mapping[str, Any] | None, *, where: Any = None,
                index_where: Any = None, returning: Any = None) -> sa.CursorResult[Any]:
        """INSERT ... ON CONFLICT (key) DO UPDATE SET update [WHERE where] (DO NOTHING when update is None).

        In `update`, `excluded.<col>` is the incoming row and `table.c.<col>` the stored one; a string value
        "excluded" is shorthand for the incoming column of the same name.
        """
        insert = pg_dialect.insert if self.dialect == "postgresql" else sqlite_dialect.insert
        stmt = insert(table)
        if update is None:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(key), index_where=index_where)
        else:
            set_ = {col: (stmt.excluded[col] if val == "excluded" else val) if isinstance(val, str) else val
                    for col, val in update.items()}
            stmt = stmt.on_conflict_do_update(index_elements=list(key), index_where=index_where, set_=set_,
                                              where=where(stmt.excluded) if callable(where) else where)
        if returning is not None:
            stmt = stmt.returning(*returning)
            return conn.execute(stmt, list(rows))
        if len(rows) == 1:
            return conn.execute(stmt.values(**rows[0]))
        return conn.execute(stmt, list(rows))

    # ------------------------------------------------------------------ runs

    def start_run(self, dag_id: str, run_id: str, layer: int, logical_date: dt.datetime | None,
                  window_start: dt.datetime | None, window_end: dt.datetime | None, mode: str,
                  dry_run: bool) -> int:
        """Open (or, on a rerun of the same dag_id+run_id, reopen) a run row; returns its primary key.

        A rerun is on-call clearing a task: same row, status 'running', attempt + 1, counters back to zero.
        """
        now = _now()
        row = {"dag_id": dag_id, "run_id": run_id, "layer": _as_int(layer, "layer"),
               "logical_date": logical_date,
               "window_start": window_start, "window_end": window_end, "mode": mode, "dry_run": bool(dry_run),
               "status": "running", "attempt": 1, "started_at": now, "finished_at": None, "error": None,
               "api_calls": {}, **dict.fromkeys(_COUNTERS, 0)}
        update: dict[str, Any] = {c: "excluded" for c in row if c not in ("dag_id", "run_id", "attempt")}
        update["attempt"] = runs.c.attempt + 1
        with self.engine.begin() as conn:
            self._upsert(conn, runs, [row], ("dag_id", "run_id"), update)
            run_pk = conn.execute(sa.select(runs.c.id).where(runs.c.dag_id == dag_id,
                                                             runs.c.run_id == run_id)).scalar_one()
        log.info("ledger %s: run %s/%s started (pk %s)", self.safe_url, dag_id, run_id, run_pk)
        return int(run_pk)

    def finish_run(self, run_pk: int, status: str, metrics: RunMetrics, error: str | None = None) -> None:
        """Close a run with its final status and counters (error text is kept, secrets in URLs masked)."""
        if status not in RUN_STATUSES:
            raise ValueError(f"status must be one of {sorted(RUN_STATUSES)}, got {status!r}")
        values: dict[str, Any] = {c: _as_int(getattr(metrics, c), c) for c in _COUNTERS}
        values["api_calls"] = {str(k): _as_int(v, f"api_calls[{k!r}]") for k, v in metrics.api_calls.items()}
        values.update(status=status, finished_at=_now(),
                      error=None if error is None else _mask_secrets(error)[:_MAX_ERROR_CHARS])
        with self.engine.begin() as conn:
            changed = conn.execute(sa.update(runs).where(runs.c.id == run_pk).values(**values)).rowcount
        if not changed:
            raise ValueError(f"no ledger run with pk {run_pk!r}")
        log.info("ledger %s: run pk %s finished %s", self.safe_url, run_pk, status)

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            query = sa.select(runs).where(runs.c.dag_id == dag_id, runs.c.run_id == run_id)
            row = conn.execute(query).first()
        return None if row is None else dict(row._mapping)

    def recent_runs(self, dag_id: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """Newest first (by start time)."""
        query = sa.select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
        if dag_id is not None:
            query = query.where(runs.c.dag_id == dag_id)
        return self._rows(query)

    # ------------------------------------------------------------------ dead letters

    def add_dead_letter(self, layer: int, system: str, obj: str, record_key: str, operation: str,
                        payload: dict[str, Any], error_code: str, error_message: str, run_id: str) -> None:
        """Keep a rejected record to retry next run: one open row per record; a repeat bumps `attempts`."""
        now = _now()
        row = {"layer": _as_int(layer, "layer"), "system": system, "obj": obj, "record_key": record_key,
               "operation": operation, "payload": payload, "error_code": error_code,
               "error_message": _mask_secrets(error_message or "")[:_MAX_ERROR_CHARS], "run_id": run_id,
               "attempts": 1, "status": "open", "first_failed_at": now, "last_failed_at": now}
        update = {c: "excluded" for c in ("operation", "payload", "error_code", "error_message", "run_id",
                                          "last_failed_at")}
        update["attempts"] = dead_letters.c.attempts + 1
        with self.engine.begin() as conn:
            self._upsert(conn, dead_letters, [row], _DL_KEY, update, index_where=sa.text(_OPEN))

    def open_dead_letters(self, layer: int, system: str | None = None,
                          obj: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(dead_letters).where(dead_letters.c.layer == _as_int(layer, "layer"),
                                              dead_letters.c.status == "open")
        if system is not None:
            query = query.where(dead_letters.c.system == system)
        if obj is not None:
            query = query.where(dead_letters.c.obj == obj)
        return self._rows(query.order_by(dead_letters.c.first_failed_at, dead_letters.c.id))

    def resolve_dead_letters(self, layer: int, system: str, obj: str, record_keys: Iterable[str]) -> int:
        """Close the open dead letters of records that went through; returns how many were closed."""
        keys = sorted(set(record_keys))
        closed = 0
        now = _now()
        with self.engine.begin() as conn:
            for part in _chunks(keys):
                closed += conn.execute(
                    sa.update(dead_letters)
                    .where(dead_letters.c.layer == _as_int(layer, "layer"), dead_letters.c.system == system,
                           dead_letters.c.obj == obj, dead_letters.c.status == "open",
                           dead_letters.c.record_key.in_(part))
                    .values(status="resolved", resolved_at=now)).rowcount
        return closed

    # ------------------------------------------------------------------ ownership violations

    def record_violation(self, run_id: str, layer: int, system: str, obj: str, record_key: str, field: str,
                         owner_value: Any, found_value: Any) -> bool:
        """Log a write into a field the system does not own. True only the first time this value is found,
        so the caller alerts once per account, field and edit rather than once per run."""
        now = _now()
        row = {"layer": _as_int(layer, "layer"), "system": system, "obj": obj, "record_key": record_key,
               "field": field, "owner_value": owner_value, "found_value": found_value,
               "found_sha256": _sha256(canonical_json(found_value)), "run_id": run_id, "last_run_id": run_id,
               "times_seen": 1, "first_seen_at": now, "last_seen_at": now}
        key = ("system", "obj", "record_key", "field", "found_sha256")
        with self.engine.begin() as conn:
            if self._upsert(conn, violations_t, [row], key, None).rowcount == 1:
                return True
            conn.execute(sa.update(violations_t)
                         .where(*(violations_t.c[k] == row[k] for k in key))
                         .values(times_seen=violations_t.c.times_seen + 1, last_seen_at=now, last_run_id=run_id,
                                 owner_value=owner_value))
        return False

    def violations(self, layer: int | None = None, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Violations (optionally of one layer, or seen at or after `since`), oldest first."""
        query = sa.select(violations_t).order_by(violations_t.c.first_seen_at, violations_t.c.id)
        if layer is not None:
            query = query.where(violations_t.c.layer == _as_int(layer, "layer"))
        if since is not None:
            query = query.where(violations_t.c.last_seen_at >= since)
        return self._rows(query)

    # ------------------------------------------------------------------ kept aside

    def keep_aside(self, run_id: str, layer: int, record_key: str, field: str, value: Any,
                   reason: str) -> None:
        """Keep a value that cannot be mapped (unknown tier, negative ARR...) so it is seen, not lost."""
        now = _now()
        text = value if isinstance(value, str) or value is None else canonical_json(value)
        row = {"layer": _as_int(layer, "layer"), "record_key": record_key, "field": field, "value": text,
               "reason": reason, "run_id": run_id, "status": "open", "first_seen_at": now,
               "last_seen_at": now}
        update = {c: "excluded" for c in ("value", "reason", "run_id", "last_seen_at")}
        with self.engine.begin() as conn:
            self._upsert(conn, kept_aside_t, [row], _KA_KEY, update, index_where=sa.text(_OPEN))

    def resolve_kept_aside(self, layer: int, record_key: str, field: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(kept_aside_t)
                .where(kept_aside_t.c.layer == _as_int(layer, "layer"),
                       kept_aside_t.c.record_key == record_key,
                       kept_aside_t.c.field == field, kept_aside_t.c.status == "open")
                .values(status="resolved", resolved_at=_now())).rowcount

    def kept_aside(self, layer: int | None = None, open_only: bool = True) -> list[dict[str, Any]]:
        query = sa.select(kept_aside_t).order_by(kept_aside_t.c.first_seen_at, kept_aside_t.c.id)
        if layer is not None:
            query = query.where(kept_aside_t.c.layer == _as_int(layer, "layer"))
        if open_only:
            query = query.where(kept_aside_t.c.status == "open")
        return self._rows(query)

    # ------------------------------------------------------------------ health history

    def add_health(self, rows: Iterable[Mapping[str, Any]]) -> int:
        """Upsert health rows keyed by (account_id, as_of); returns how many were inserted or changed.

        The whole batch is validated first and written in one transaction: a bad row raises ValueError
        (row index and field) and nothing of the batch is written.
        """
        clean: dict[tuple[str, dt.date], dict[str, Any]] = {}
        for index, row in enumerate(rows):
            checked = _check_health_row(index, row)
            clean[(checked["account_id"], checked["as_of"])] = checked  # last one wins within a batch
        if not clean:
            return 0
        values = list(clean.values())
        data_cols = HEALTH_COLUMNS[2:]
        update = {c: "excluded" for c in data_cols}

        def changed(excluded: Any) -> Any:
            # Only rows whose values differ count as changed (and get rewritten): reruns write nothing.
            return sa.or_(*(health_history.c[c].is_distinct_from(excluded[c]) for c in data_cols))

        written = 0
        with self.engine.begin() as conn:
            for part in _chunks(values):
                result = self._upsert(conn, health_history, part, ("account_id", "as_of"), update,
                                      where=changed, returning=(health_history.c.account_id,))
                written += len(result.all())
        log.info("ledger %s: health_history %d rows in, %d inserted or changed", self.safe_url, len(values),
                 written)
        return written

    # ------------------------------------------------------------------ deal-context snapshots

    def get_snapshot(self, opportunity_id: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(deal_snapshots)
                               .where(deal_snapshots.c.opportunity_id == opportunity_id)).first()
        return None if row is None else dict(row._mapping)

    def put_snapshot(self, opportunity_id: str, account_id: str, content: dict[str, Any],
                     cs_record_id: str | None) -> bool:
        """Write-once: store the deal context at close; False (and nothing changed) if one already exists."""
        text = canonical_json(content)
        row = {"opportunity_id": opportunity_id, "account_id": account_id, "content": content,
               "content_sha256": _sha256(text), "cs_record_id": cs_record_id, "created_at": _now()}
        with self.engine.begin() as conn:
            return self._upsert(conn, deal_snapshots, [row], ("opportunity_id",), None).rowcount == 1

    def snapshot_ids(self, opportunity_ids: Iterable[str]) -> set[str]:
        """Which of these opportunities already have a snapshot (one IN query per 2,000 ids)."""
        ids = sorted(set(opportunity_ids))
        found: set[str] = set()
        with self.engine.connect() as conn:
            for part in _chunks(ids):
                found.update(conn.execute(sa.select(deal_snapshots.c.opportunity_id)
                                          .where(deal_snapshots.c.opportunity_id.in_(part))).scalars())
        return found

    # ------------------------------------------------------------------ relationship-map baseline

    def get_baseline(self, entity: str, record_keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The last-synced values (the base of the three-way merge): record_key → {field: value}."""
        keys = sorted(set(record_keys))
        out: dict[str, dict[str, Any]] = {}
        t = relationship_baseline
        with self.engine.connect() as conn:
            for part in _chunks(keys):
                for key, fld, value in conn.execute(sa.select(t.c.record_key, t.c.field, t.c.value)
                                                    .where(t.c.entity == entity, t.c.record_key.in_(part))):
                    out.setdefault(key, {})[fld] = value
        return out

    def put_baseline(self, entity: str, rows: Mapping[str, Mapping[str, Any]],
                     synced_at: dt.datetime | None = None) -> None:
        """Store what was last synced, per (entity, record_key, field); values JSON-encoded."""
        when = synced_at or _now()
        values = [{"entity": entity, "record_key": key, "field": fld, "value": value, "synced_at": when}
                  for key, fields in rows.items() for fld, value in fields.items()]
        for v in values:
            canonical_json(v["value"])  # fail before writing anything if a value is not JSON-able
        with self.engine.begin() as conn:
            for part in _chunks(values):
                self._upsert(conn, relationship_baseline, part, ("entity", "record_key", "field"),
                             {"value": "excluded", "synced_at": "excluded"})

    # ------------------------------------------------------------------ alert de-duplication

    def alert_state_changed(self, alert_key: str, state: str) -> bool:
        """Store `state` for `alert_key`; True if it differs from the stored one (or there was none).

        One statement (upsert whose update only fires when the state differs), so two concurrent callers
        cannot both see the same change.
        """
        return alert_key in self.alert_states_changed({alert_key: state})

    def alert_states_changed(self, states: Mapping[str, str]) -> set[str]:
        """Store every `alert_key -> state`; returns the keys whose state differs from the stored one (or had
        none). One transaction, one upsert per chunk (only rows whose state changes are touched and
        returned), so a run that looks at thousands of accounts pays for a few statements, not thousands."""
        now = _now()
        rows = [{"alert_key": k, "state": v, "changed_at": now} for k, v in states.items()]
        changed: set[str] = set()
        with self.engine.begin() as conn:
            for part in _chunks(rows):
                result = self._upsert(conn, alert_state, part, ("alert_key",),
                                      {"state": "excluded", "changed_at": "excluded"},
                                      where=lambda ex: alert_state.c.state != ex.state,
                                      returning=(alert_state.c.alert_key,))
                changed.update(r[0] for r in result.all())
        return changed

    # ------------------------------------------------------------------ schema drift

    def record_drift(self, run_id: str, system: str, obj: str, field: str, kind: str,
                     detail: dict[str, Any]) -> bool:
        """Log a drift finding; True when there was no open finding for this system+obj+field+kind."""
        now = _now()
        row = {"system": system, "obj": obj, "field": field, "kind": kind, "detail": detail, "run_id": run_id,
               "last_run_id": run_id, "status": "open", "first_seen_at": now, "last_seen_at": now}
        with self.engine.begin() as conn:
            if self._upsert(conn, drift_findings, [row], _DRIFT_KEY, None,
                            index_where=sa.text(_OPEN)).rowcount == 1:
                return True
            conn.execute(sa.update(drift_findings)
                         .where(*(drift_findings.c[k] == row[k] for k in _DRIFT_KEY),
                                drift_findings.c.status == "open")
                         .values(detail=detail, last_seen_at=now, last_run_id=run_id))
        return False

    def open_drift(self) -> list[dict[str, Any]]:
        return self._rows(sa.select(drift_findings).where(drift_findings.c.status == "open")
                          .order_by(drift_findings.c.first_seen_at, drift_findings.c.id))

    def resolve_drift(self, system: str, obj: str, field: str, kind: str) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                sa.update(drift_findings)
                .where(drift_findings.c.system == system, drift_findings.c.obj == obj,
                       drift_findings.c.field == field, drift_findings.c.kind == kind,
                       drift_findings.c.status == "open")
                .values(status="resolved", resolved_at=_now())).rowcount

    # ------------------------------------------------------------------ account merges

    def record_merge(self, obj: str, loser_id: str, master_id: str, cs_record_id: str | None = None) -> bool:
        """Remember that `loser_id` was merged into `master_id`; True the first time."""
        row = {"obj": obj, "loser_id": loser_id, "master_id": master_id, "cs_record_id": cs_record_id,
               "merged_at": _now()}
        with self.engine.begin() as conn:
            return self._upsert(conn, merges_t, [row], ("obj", "loser_id"), None).rowcount == 1

    def merges(self) -> list[dict[str, Any]]:
        t = merges_t
        return self._rows(sa.select(t).order_by(t.c.merged_at, t.c.obj, t.c.loser_id))

    # ------------------------------------------------------------------ reading

    def _rows(self, query: sa.Select[Any]) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]


def _not_found_exceptions() -> tuple[type[BaseException], ...]:
    """The "connection not defined" exceptions of this Airflow (the SDK's and the core's differ)."""
    found: list[type[BaseException]] = []
    try:
        from airflow.sdk.exceptions import AirflowNotFoundException as SdkNotFound
        found.append(SdkNotFound)
    except ImportError:  # pragma: no cover
        pass
    try:
        from airflow.exceptions import AirflowNotFoundException as CoreNotFound
        found.append(CoreNotFound)
    except ImportError:  # pragma: no cover
        pass
    return tuple(found) or (LookupError,)


def _number(index: int, name: str, value: Any, *, integer: bool = False) -> float | int | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError(f"health row {index}: {name} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"health row {index}: {name} must be a number, got {value!r}")
    number = float(value)
    if math.isnan(number) or math.isinf(number):
        raise ValueError(f"health row {index}: {name} must be a finite number, got {value!r}")
    if integer:
        if not number.is_integer():
            raise ValueError(f"health row {index}: {name} must be a whole number, got {value!r}")
        return int(number)
    return number


def _check_health_row(index: int, row: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and normalise one health_history row; ValueError names the row index and the field."""
    if not isinstance(row, Mapping):
        raise ValueError(f"health row {index}: expected a mapping, got {type(row).__name__}")
    unknown = sorted(set(row) - set(HEALTH_COLUMNS))
    if unknown:
        raise ValueError(f"health row {index}: unknown field(s) {', '.join(map(str, unknown))}")
    account_id = row.get("account_id")
    if not isinstance(account_id, str) or not account_id.strip():
        raise ValueError(f"health row {index}: account_id is missing or empty")
    as_of = row.get("as_of")
    if isinstance(as_of, str):
        try:
            as_of = dt.date.fromisoformat(as_of)
        except ValueError:
            raise ValueError(f"health row {index}: as_of must be a date, got {as_of!r}") from None
    # a datetime is a date subclass, but its time of day (and zone) would be silently dropped: refuse it.
    if not isinstance(as_of, dt.date) or isinstance(as_of, dt.datetime):
        raise ValueError(f"health row {index}: as_of must be a date, got {as_of!r}")
    color = row.get("color")
    if color is not None and not isinstance(color, str):
        raise ValueError(f"health row {index}: color must be text, got {color!r}")
    return {
        "account_id": account_id, "as_of": as_of, "color": color,
        "score": _number(index, "score", row.get("score")),
        "usage": _number(index, "usage", row.get("usage")),
        "nps": _number(index, "nps", row.get("nps")),
        "csat": _number(index, "csat", row.get("csat")),
        "open_tickets": _number(index, "open_tickets", row.get("open_tickets"), integer=True),
        "renewal_arr": _number(index, "renewal_arr", row.get("renewal_arr")),
        "renewal_date": _optional_date(index, "renewal_date", row.get("renewal_date")),
    }


def _optional_date(index: int, name: str, value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"health row {index}: {name} must be a date, got {value!r}") from None
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    raise ValueError(f"health row {index}: {name} must be a date, got {value!r}")
