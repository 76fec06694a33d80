"""The ledger against real databases: a SQLite file always, PostgreSQL too when
SHARED_RECORD_TEST_POSTGRES_URL is set (each test in a fresh schema, dropped afterwards)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from shared_record.ledger import Ledger, RunMetrics, canonical_json

PG_URL = os.environ.get("SHARED_RECORD_TEST_POSTGRES_URL")
ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LEDGER_TABLES = {"runs", "dead_letters", "violations", "kept_aside", "health_history", "deal_snapshots",
                 "relationship_baseline", "alert_state", "drift_findings", "merges"}

BACKENDS = [pytest.param("sqlite", id="sqlite")]
if PG_URL:  # no PostgreSQL → no PostgreSQL params at all (never a skip counted as a pass)
    BACKENDS.append(pytest.param("postgresql", id="postgresql"))


def _with_search_path(url: str, schema: str) -> str:
    """The test URL with libpq `options=-csearch_path=<schema>`, so every connection lands in `schema`."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=BACKENDS)
def db(request, tmp_path) -> Iterator[dict[str, str]]:
    """{"backend", "url", "schema"}: a fresh, empty database for one test."""
    if request.param == "sqlite":
        yield {"backend": "sqlite", "url": f"sqlite:///{tmp_path / 'ledger.db'}", "schema": ""}
        return
    assert PG_URL is not None
    schema = f"ledger_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield {"backend": "postgresql", "url": _with_search_path(PG_URL, schema), "schema": schema}
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture()
def ledger(db) -> Iterator[Ledger]:
    led = Ledger(db["url"])
    try:
        yield led
    finally:
        led.dispose()


def _count(led: Ledger, table: str) -> int:
    with led.engine.connect() as conn:
        return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()


def _health(account: str, as_of: dt.date, score: float = 70.0, color: str = "Green") -> dict:
    return {"account_id": account, "as_of": as_of, "score": score, "color": color, "usage": 0.8, "nps": 40,
            "csat": 4.5, "open_tickets": 2}


# ----------------------------------------------------------------------------------------------- runs


def test_rerun_reuses_the_run_row_and_resets_counters(ledger):
    start, end = T0 - dt.timedelta(hours=1), T0
    pk = ledger.start_run("account_master", "scheduled__2025-03-01", 1, T0, start, end, "incremental", False)
    metrics = RunMetrics(records_read=120, records_changed=7, records_written=6, records_rejected=1, violations=2)
    metrics.add_call("crm.query", 2)
    metrics.add_call("cs.upsert")
    ledger.finish_run(pk, "failed", metrics, error="PartialDataError: 1 of 7 rejected")

    first = ledger.get_run("account_master", "scheduled__2025-03-01")
    assert first["status"] == "failed" and first["attempt"] == 1
    assert first["records_read"] == 120 and first["api_calls"] == {"crm.query": 2, "cs.upsert": 1}
    assert first["window_start"] == start and first["logical_date"].tzinfo is not None
    assert first["finished_at"].utcoffset() == dt.timedelta(0)

    # on-call clears the task: the same row comes back as a fresh attempt
    again = ledger.start_run("account_master", "scheduled__2025-03-01", 1, T0, start, end, "incremental", False)
    assert again == pk
    rerun = ledger.get_run("account_master", "scheduled__2025-03-01")
    assert rerun["status"] == "running" and rerun["attempt"] == 2
    assert rerun["records_read"] == 0 and rerun["violations"] == 0 and rerun["api_calls"] == {}
    assert rerun["error"] is None and rerun["finished_at"] is None
    ledger.finish_run(pk, "success", RunMetrics(records_read=3))
    assert ledger.get_run("account_master", "scheduled__2025-03-01")["status"] == "success"
    assert _count(ledger, "runs") == 1


def test_recent_runs_newest_first_and_filtered(ledger):
    for i, dag in enumerate(["health", "account_master", "health"]):
        ledger.start_run(dag, f"run_{i}", 4 if dag == "health" else 1, T0, T0, T0, "incremental", i == 2)
        time.sleep(0.002)
    assert [r["run_id"] for r in ledger.recent_runs()] == ["run_2", "run_1", "run_0"]
    health = ledger.recent_runs(dag_id="health", limit=1)
    assert [(r["run_id"], r["dry_run"]) for r in health] == [("run_2", True)]
    assert ledger.get_run("health", "nope") is None


def test_finish_run_refuses_unknown_status_and_masks_urls_in_errors(ledger):
    pk = ledger.start_run("health", "r1", 4, T0, T0, T0, "incremental", False)
    with pytest.raises(ValueError, match="status"):
        ledger.finish_run(pk, "sucess", RunMetrics())
    ledger.finish_run(pk, "failed", RunMetrics(),
                      error="OperationalError: could not connect to postgresql://etl:hunter2@db:5432/x")
    error = ledger.get_run("health", "r1")["error"]
    assert "hunter2" not in error and "postgresql://etl:***@db:5432/x" in error


# ----------------------------------------------------------------------------------------------- dead letters


def test_dead_letter_repeat_increments_attempts_and_resolve_closes(ledger):
    ledger.add_dead_letter(1, "cs", "Company", "001A", "upsert", {"Tier": "Gold"}, "INVALID_FIELD", "bad tier", "r1")
    ledger.add_dead_letter(1, "cs", "Company", "001B", "upsert", {"Tier": "x"}, "INVALID_FIELD", "bad", "r1")
    ledger.add_dead_letter(4, "crm", "Account", "001A", "update", {}, "LOCKED", "row lock", "r1")
    ledger.add_dead_letter(1, "cs", "Company", "001A", "upsert", {"Tier": "Enterprise"}, "TIMEOUT", "timed out", "r2")

    open_ = {d["record_key"]: d for d in ledger.open_dead_letters(1, "cs", "Company")}
    assert set(open_) == {"001A", "001B"}
    assert open_["001A"]["attempts"] == 2
    assert open_["001A"]["payload"] == {"Tier": "Enterprise"} and open_["001A"]["error_code"] == "TIMEOUT"
    assert open_["001A"]["last_failed_at"] >= open_["001A"]["first_failed_at"]
    assert [d["obj"] for d in ledger.open_dead_letters(4)] == ["Account"]

    assert ledger.resolve_dead_letters(1, "cs", "Company", ["001A", "001Z"]) == 1
    assert [d["record_key"] for d in ledger.open_dead_letters(1)] == ["001B"]
    assert len(ledger.open_dead_letters(4)) == 1  # another layer's letter is untouched

    # failing again after being resolved opens a new letter, counting from one
    ledger.add_dead_letter(1, "cs", "Company", "001A", "upsert", {}, "TIMEOUT", "again", "r3")
    assert {d["record_key"]: d["attempts"] for d in ledger.open_dead_letters(1)} == {"001A": 1, "001B": 1}
    assert _count(ledger, "dead_letters") == 4


# ----------------------------------------------------------------------------------------------- violations


def test_violation_is_new_once_per_found_value(ledger):
    args = ("r1", 1, "cs", "Company", "001A", "segment_tier", "Enterprise")
    assert ledger.record_violation(*args, "SMB") is True
    assert ledger.record_violation("r2", *args[1:], "SMB") is False  # next run, same hand edit: no new alert
    assert ledger.record_violation("r3", *args[1:], "Mid-Market") is True  # edited again to something else
    assert ledger.record_violation("r3", 1, "cs", "Company", "001B", "segment_tier", "Enterprise", "SMB") is True

    rows = ledger.violations(layer=1)
    assert [(v["record_key"], v["found_value"]) for v in rows] == [
        ("001A", "SMB"), ("001A", "Mid-Market"), ("001B", "SMB")]
    assert rows[0]["times_seen"] == 2 and rows[0]["last_run_id"] == "r2" and rows[0]["owner_value"] == "Enterprise"
    assert ledger.violations(layer=4) == []
    assert len(ledger.violations(since=dt.datetime.now(UTC) - dt.timedelta(minutes=5))) == 3
    assert ledger.violations(since=dt.datetime.now(UTC) + dt.timedelta(minutes=5)) == []


# ----------------------------------------------------------------------------------------------- kept aside


def test_kept_aside_one_open_row_per_field_until_resolved(ledger):
    ledger.keep_aside("r1", 1, "001A", "segment_tier", "Platinum", "unknown tier")
    ledger.keep_aside("r2", 1, "001A", "segment_tier", "Platinum+", "unknown tier")
    ledger.keep_aside("r2", 1, "001A", "renewal_arr", -5000, "negative ARR")
    open_ = {(k["record_key"], k["field"]): k for k in ledger.kept_aside(layer=1)}
    assert set(open_) == {("001A", "segment_tier"), ("001A", "renewal_arr")}
    assert open_[("001A", "segment_tier")]["value"] == "Platinum+"
    assert open_[("001A", "renewal_arr")]["value"] == "-5000"  # kept as text, exactly as found
    assert ledger.resolve_kept_aside(1, "001A", "segment_tier") == 1
    assert ledger.resolve_kept_aside(1, "001A", "segment_tier") == 0
    assert [k["field"] for k in ledger.kept_aside()] == ["renewal_arr"]
    assert len(ledger.kept_aside(open_only=False)) == 2


# ----------------------------------------------------------------------------------------------- health history


def test_health_readd_same_as_of_updates_never_duplicates(ledger):
    day = dt.date(2025, 3, 1)
    assert ledger.add_health([_health("001A", day), _health("001B", day)]) == 2
    assert ledger.add_health([_health("001A", day), _health("001B", day)]) == 0  # rerun: nothing changed
    assert ledger.add_health([_health("001A", day, score=35.0, color="Red"), _health("001B", day)]) == 1
    assert ledger.add_health([_health("001A", day + dt.timedelta(days=1), score=30.0, color="Red")]) == 1
    assert _count(ledger, "health_history") == 3
    with ledger.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT score, color FROM health_history WHERE account_id = '001A' "
                                   "AND as_of = :d"), {"d": day}).one()
    assert (row.score, row.color) == (35.0, "Red")


def test_health_history_joins_with_renewal_arr_in_sql(ledger):
    """What RevOps does: join health_history with a table of renewal ARR, in plain SQL."""
    day = dt.date(2025, 3, 1)
    ledger.add_health([_health("001A", day, 35.0, "Red"), _health("001B", day, 82.0, "Green"),
                       _health("001A", day - dt.timedelta(days=7), 60.0, "Yellow")])
    with ledger.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE renewal_arr (account_id VARCHAR(250) PRIMARY KEY, arr NUMERIC)"))
        conn.execute(sa.text("INSERT INTO renewal_arr VALUES ('001A', 120000), ('001B', 45000)"))
        rows = conn.execute(sa.text(
            "SELECT h.account_id, h.color, r.arr FROM health_history h JOIN renewal_arr r "
            "ON r.account_id = h.account_id WHERE h.as_of = (SELECT MAX(as_of) FROM health_history) "
            "ORDER BY r.arr DESC")).all()
    assert [(r.account_id, r.color, float(r.arr)) for r in rows] == [("001A", "Red", 120000.0),
                                                                      ("001B", "Green", 45000.0)]


@pytest.mark.parametrize(("bad", "index", "field"), [
    ({"as_of": dt.date(2025, 3, 1), "score": 50}, 2, "account_id"),
    ({"account_id": "001C", "as_of": "last tuesday"}, 2, "as_of"),
    ({"account_id": "001C", "as_of": dt.datetime(2025, 3, 1, 9, tzinfo=UTC)}, 2, "as_of"),
    ({"account_id": "001C", "as_of": dt.date(2025, 3, 1), "open_tickets": "many"}, 2, "open_tickets"),
    ({"account_id": "001C", "as_of": dt.date(2025, 3, 1), "score": float("nan")}, 2, "score"),
])
def test_bad_health_row_names_row_and_field_and_writes_nothing(ledger, bad, index, field):
    day = dt.date(2025, 3, 1)
    ledger.add_health([_health("001Z", day - dt.timedelta(days=1))])  # an earlier, good batch stays
    batch = [_health("001A", day), _health("001B", day), bad, _health("001D", day)]
    with pytest.raises(ValueError, match=rf"row {index}\b.*{field}"):
        ledger.add_health(batch)
    assert _count(ledger, "health_history") == 1


def test_health_100k_rows_in_one_batch_and_a_rerun_writes_nothing(ledger):
    day = dt.date(2025, 3, 1)
    rows = [_health(f"001{i:012d}", day, score=float(i % 100)) for i in range(100_000)]
    assert ledger.add_health(rows) == 100_000
    assert ledger.add_health(rows) == 0
    rows[7] = _health(rows[7]["account_id"], day, score=55.5)  # one score moved: one row rewritten
    assert ledger.add_health(rows) == 1
    assert _count(ledger, "health_history") == 100_000


# ----------------------------------------------------------------------------------------------- deal snapshots


def test_snapshot_is_write_once(ledger):
    content = {"committed_use_cases": ["SSO", "Audit log"], "discount_depth": 0.15,
               "close_date": dt.date(2025, 2, 28)}
    assert ledger.put_snapshot("006A", "001A", content, "1P02XYZ") is True
    assert ledger.put_snapshot("006A", "001A", {"committed_use_cases": ["changed later"]}, None) is False
    snap = ledger.get_snapshot("006A")
    assert snap["content"]["committed_use_cases"] == ["SSO", "Audit log"]
    assert snap["content"]["close_date"] == "2025-02-28" and snap["cs_record_id"] == "1P02XYZ"
    assert snap["content_sha256"] == hashlib.sha256(canonical_json(content).encode()).hexdigest()
    assert snap["created_at"].tzinfo is not None
    assert ledger.get_snapshot("006B") is None
    assert ledger.snapshot_ids(["006A", "006B", "006A"]) == {"006A"}
    assert ledger.snapshot_ids([]) == set()


# ----------------------------------------------------------------------------------------------- baseline


def test_baseline_round_trips_values(ledger):
    rows = {"003A": {"title": "VP Ops", "champion": True, "engagement": 0.1 + 0.2, "roles": ["buyer", "user"],
                     "phone": None},
            "003B": {"title": None, "engagement": 3}}
    ledger.put_baseline("contact", rows, synced_at=T0)
    assert ledger.get_baseline("contact", ["003A", "003B", "003C"]) == rows
    assert ledger.get_baseline("contact", ["003A"])["003A"]["engagement"] == 0.1 + 0.2  # exact float
    ledger.put_baseline("contact", {"003B": {"title": "CFO"}})  # upsert per field: others untouched
    assert ledger.get_baseline("contact", ["003B"]) == {"003B": {"title": "CFO", "engagement": 3}}
    assert ledger.get_baseline("account", ["003A"]) == {}


# ----------------------------------------------------------------------------------------------- alert state


def test_alert_state_changed_once_per_change(ledger):
    key = "health_red_renewal:001A"
    assert ledger.alert_state_changed(key, "ok") is True  # first sighting
    assert ledger.alert_state_changed(key, "ok") is False
    assert ledger.alert_state_changed(key, "red_renewal") is True
    assert ledger.alert_state_changed(key, "red_renewal") is False
    assert ledger.alert_state_changed(key, "ok") is True
    assert ledger.alert_state_changed("health_red_renewal:001B", "ok") is True


def test_alert_states_changed_in_one_batch(ledger):
    keys = {f"health_red_renewal:001{i:04d}": "ok" for i in range(1200)}  # more than one chunk
    assert ledger.alert_states_changed(keys) == set(keys)  # first sighting of each
    assert ledger.alert_states_changed(keys) == set()  # nothing changed: nothing reported, nothing rewritten
    flipped = {k: "red_renewal" for k in list(keys)[::100]}
    assert ledger.alert_states_changed({**keys, **flipped}) == set(flipped)
    assert ledger.alert_state_changed(next(iter(flipped)), "red_renewal") is False  # the single form agrees
    assert ledger.alert_states_changed({}) == set()


def test_alert_state_concurrent_callers_only_one_sees_the_change(db):
    ledgers = [Ledger(db["url"]) for _ in range(6)]
    ledgers[0].alert_state_changed("champion:001A", "003A")
    barrier = threading.Barrier(len(ledgers))
    results: list[bool] = []

    def flip(led: Ledger) -> None:
        barrier.wait()
        results.append(led.alert_state_changed("champion:001A", "003B"))

    threads = [threading.Thread(target=flip, args=(led,)) for led in ledgers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for led in ledgers:
        led.dispose()
    assert sorted(results) == [False] * 5 + [True]


# ----------------------------------------------------------------------------------------------- drift, merges


def test_drift_finding_new_once_until_resolved(ledger):
    assert ledger.record_drift("r1", "crm", "Account", "Renewal_ARR__c", "removed", {"was": "currency"}) is True
    assert ledger.record_drift("r2", "crm", "Account", "Renewal_ARR__c", "removed", {"was": "double"}) is False
    assert ledger.record_drift("r2", "cs", "Company", "Tier", "picklist", {"extra": ["Gold"]}) is True
    findings = {(f["system"], f["field"]): f for f in ledger.open_drift()}
    assert findings[("crm", "Renewal_ARR__c")]["detail"] == {"was": "double"}
    assert findings[("crm", "Renewal_ARR__c")]["last_run_id"] == "r2"
    assert ledger.resolve_drift("crm", "Account", "Renewal_ARR__c", "removed") == 1
    assert [f["field"] for f in ledger.open_drift()] == ["Tier"]
    assert ledger.record_drift("r3", "crm", "Account", "Renewal_ARR__c", "removed", {}) is True  # it came back


def test_merge_recorded_once(ledger):
    assert ledger.record_merge("Account", "001LOSER", "001MASTER", "1P02AAA") is True
    assert ledger.record_merge("Account", "001LOSER", "001MASTER", "1P02AAA") is False
    assert ledger.record_merge("Account", "001OTHER", "001MASTER") is True
    assert [(m["loser_id"], m["master_id"], m["cs_record_id"]) for m in ledger.merges()] == [
        ("001LOSER", "001MASTER", "1P02AAA"), ("001OTHER", "001MASTER", None)]


# ----------------------------------------------------------------------------------------------- urls, connections


def test_password_never_in_repr_or_logs(db, caplog):
    if db["backend"] == "postgresql":
        # trust auth ignores the password, so this really connects
        url = db["url"].replace("postgres@", "postgres:s3cr3t-Pw@", 1)
        assert "s3cr3t-Pw" in url
        led = Ledger(url)
    else:
        led = Ledger("postgresql://etl:s3cr3t-Pw@db.internal:5432/ledger", create=False)
    with caplog.at_level(logging.INFO, logger="shared_record.ledger"):
        if db["backend"] == "postgresql":
            led.finish_run(led.start_run("health", "r1", 4, T0, T0, T0, "incremental", False), "success",
                           RunMetrics())
        else:
            led.safe_url  # noqa: B018 - no connection for this one; only repr/str matter
    assert "s3cr3t-Pw" not in repr(led) and "s3cr3t-Pw" not in str(led) and "***" in repr(led)
    assert led.url.drivername == "postgresql+psycopg2"
    assert "s3cr3t-Pw" not in caplog.text
    if db["backend"] == "postgresql":
        assert "***" in caplog.text
    led.dispose()


def _conn_env(db: dict[str, str], tmp_path: Path) -> dict:
    """The AIRFLOW_CONN_SHARED_RECORD_LEDGER JSON a deployment would set for this back end (no extra url)."""
    if db["backend"] == "sqlite":
        return {"conn_type": "sqlite", "host": db["url"].removeprefix("sqlite:///")}
    pg = sa.make_url(PG_URL)
    return {"conn_type": "postgres", "host": pg.host, "port": pg.port or 5432, "login": pg.username,
            "password": pg.password or "", "schema": pg.database,
            "extra": {"options": f"-csearch_path={db['schema']}"}}


def test_from_connection_env_var(db, tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SHARED_RECORD_LEDGER", json.dumps(_conn_env(db, tmp_path)))
    led = Ledger.from_connection()
    assert led.dialect == db["backend"]
    led.put_snapshot("006A", "001A", {"x": 1}, None)
    led.dispose()
    direct = Ledger(db["url"])  # the very same database
    assert direct.snapshot_ids(["006A"]) == {"006A"}
    direct.dispose()

    # an explicit extra url wins over everything else (what scripts/demo.py and the runner set)
    monkeypatch.setenv("AIRFLOW_CONN_SHARED_RECORD_LEDGER",
                       json.dumps({"conn_type": "sqlite", "extra": {"url": db["url"]}}))
    via_url = Ledger.from_connection()
    assert via_url.snapshot_ids(["006A"]) == {"006A"}
    via_url.dispose()


def test_from_connection_falls_back_when_absent(db, tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("AIRFLOW_CONN_SHARED_RECORD_LEDGER", raising=False)
    monkeypatch.setenv("SHARED_RECORD_LEDGER_URL", db["url"])
    with caplog.at_level(logging.INFO, logger="shared_record.ledger"):
        led = Ledger.from_connection()
    assert "shared_record_ledger" in caplog.text and "not defined" in caplog.text
    led.put_baseline("contact", {"003A": {"title": "CTO"}})
    assert Ledger(db["url"]).get_baseline("contact", ["003A"]) == {"003A": {"title": "CTO"}}
    led.dispose()

    # no env URL either: a SQLite file in AIRFLOW_HOME
    monkeypatch.delenv("SHARED_RECORD_LEDGER_URL")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "home"))
    assert Ledger.default_url() == f"sqlite:///{tmp_path / 'home' / 'shared_record_ledger.db'}"
    home_ledger = Ledger.from_connection()
    assert home_ledger.alert_state_changed("k", "ok") is True
    assert (tmp_path / "home" / "shared_record_ledger.db").exists()
    home_ledger.dispose()


def test_unknown_conn_type_names_conn_and_type_not_password(db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_SHARED_RECORD_LEDGER",
                       json.dumps({"conn_type": "mysql", "host": "db", "login": "etl", "password": "s3cr3t-Pw"}))
    with pytest.raises(ValueError) as err:
        Ledger.from_connection()
    assert "shared_record_ledger" in str(err.value) and "mysql" in str(err.value)
    assert "s3cr3t-Pw" not in str(err.value)
    # and the database of this test stays usable (nothing half-built)
    assert Ledger(db["url"]).recent_runs() == []


def test_postgres_url_aliases_and_connection_form_build_psycopg2_urls(db):
    for alias in ("postgres://u:p@h:5432/d", "postgresql://u:p@h:5432/d", "postgresql+psycopg2://u:p@h:5432/d"):
        assert Ledger(alias, create=False).url.drivername == "postgresql+psycopg2"
    url = Ledger.url_from_connection("shared_record_ledger", "postgres", host="db", port=6543, login="etl",
                                     password="p@ss/w:rd", schema="ledger", extra={"sslmode": "require"})
    assert url.render_as_string(hide_password=False) == (
        "postgresql+psycopg2://etl:p%40ss%2Fw%3Ard@db:6543/ledger?sslmode=require")
    with pytest.raises(ValueError, match="mysql"):
        Ledger("mysql://u:p@h/d", create=False)


# ----------------------------------------------------------------------------------------------- table creation


def test_tables_created_once_with_two_ledgers_on_one_url(db):
    first = Ledger(db["url"])
    first.add_dead_letter(1, "cs", "Company", "001A", "upsert", {}, "E", "m", "r1")
    second = Ledger(db["url"])  # must find the tables, not recreate (or wipe) them
    assert [d["record_key"] for d in second.open_dead_letters(1)] == ["001A"]
    assert LEDGER_TABLES <= set(sa.inspect(second.engine).get_table_names())
    first.dispose()
    second.dispose()


def test_processes_racing_to_create_tables_all_succeed(db):
    """Two DAG runs' first tasks start together on a fresh database: every process gets a working ledger."""
    code = ("import sys; from shared_record.ledger import Ledger; led = Ledger(sys.argv[1]); "
            "led.start_run('health', sys.argv[2], 4, None, None, None, 'incremental', False); led.dispose()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", code, db["url"], f"run_{i}"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    outputs = []
    try:
        for p in procs:
            outputs.append(p.communicate(timeout=60))
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in outputs]
    led = Ledger(db["url"])
    assert sorted(r["run_id"] for r in led.recent_runs()) == ["run_0", "run_1", "run_2", "run_3"]
    led.dispose()
