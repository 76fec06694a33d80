"""What every layer's run shares: its window, its services, the apply step and the honest end of a run."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from shared_record.errors import TooManyRejects
from shared_record.hooks.base import WriteResult
from shared_record.ledger import RunMetrics

log = logging.getLogger("shared_record")

REJECT_THRESHOLD = 0.05  # fail the run when more than 5% of the records it wrote were rejected ...
REJECT_FLOOR = 10  # ... and at least this many (a handful of locked rows in a small run is not an outage)


@dataclass(frozen=True)
class RunWindow:
    """One run of one layer: its Airflow identity, its data interval and its mode."""

    dag_id: str
    run_id: str
    logical_date: datetime | None
    start: datetime
    end: datetime
    dry_run: bool = False
    full_reconcile: bool = False

    @property
    def mode(self) -> str:
        return "full_reconcile" if self.full_reconcile else "incremental"

    @classmethod
    def from_context(cls, context: dict[str, Any]) -> RunWindow:
        """Build the window from an Airflow task context (data interval + params)."""
        params = context.get("params") or {}
        dag_run = context.get("dag_run")
        start = context.get("data_interval_start")
        end = context.get("data_interval_end")
        if start is None or end is None:
            raise ValueError("this DAG needs a data interval (CronDataIntervalTimetable); got none")
        return cls(
            dag_id=getattr(dag_run, "dag_id", None) or context["dag"].dag_id,
            run_id=getattr(dag_run, "run_id", None) or str(context.get("run_id")),
            logical_date=context.get("logical_date"),
            start=_utc(start),
            end=_utc(end),
            dry_run=bool(params.get("dry_run", False)),
            full_reconcile=bool(params.get("full_reconcile", False)),
        )


def _utc(value: Any) -> datetime:
    dt = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).astimezone(UTC)


def soql_datetime(dt: datetime) -> str:
    """A SOQL datetime literal (unquoted), second precision, UTC."""
    return _utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def soql_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@contextmanager
def recorded_run(ledger: Any, window: RunWindow, layer: int) -> Iterator[RunMetrics]:
    """Open the run's ledger row, yield its metrics to fill in, and close the row as success or failed."""
    metrics = RunMetrics()
    run_pk = ledger.start_run(window.dag_id, window.run_id, layer, window.logical_date, window.start, window.end,
                              window.mode, window.dry_run)
    try:
        yield metrics
    except Exception as exc:
        ledger.finish_run(run_pk, "failed", metrics, error=f"{type(exc).__name__}: {exc}")
        raise
    ledger.finish_run(run_pk, "success", metrics)


PLAN_XCOM_LINES = 500  # plan lines a dry run returns as XCom; a full reconcile's plan can have 100,000s
FLUSH_RECORDS = 10_000  # records a run holds for writing before it sends them (a multiple of every batch size)


class PlanLog:
    """Logs every plan line of a run (the task log is the whole plan) and keeps the first PLAN_XCOM_LINES of
    them for the run summary, so a run that plans in chunks holds no more than that in memory."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.total = 0

    def add(self, lines: Iterable[str]) -> None:
        for line in lines:
            log.info("plan: %s", line)
            if self.total < PLAN_XCOM_LINES:
                self.head.append(line)
            self.total += 1


def note_plan(plan: Any, plan_log: PlanLog, ledger: Any, window: RunWindow, layer: int, tally: RunMetrics) -> None:
    """What every layer does with one chunk's plan: log its lines, count what changed and what was kept aside,
    and record the values kept aside in the ledger (not in a dry run, which only reports)."""
    plan_log.add(plan.lines())
    tally.records_changed += len(plan.changed_records)
    tally.kept_aside += len(plan.kept_aside)
    if not window.dry_run:
        for k in plan.kept_aside:
            ledger.keep_aside(window.run_id, layer, k.record_key, k.field, str(k.value), k.reason)


class BufferedWrites:
    """The writes of one object in one run, collected over the chunks the run plans in and sent through the
    write path in full platform batches: a run that plans page by page still makes the batched number of calls.

    Each batch of records is checked against the dictionary when it is added (no I/O), so a refused write
    raises before any of its records is buffered. Records of the same key are merged, the later value winning.
    Rejects are dead-lettered and writes counted on `tally` as each flush completes; a dry run writes nothing.
    """

    def __init__(self, path: Any, request: Any, ledger: Any, window: RunWindow, layer: int, key_field: str,
                 tally: RunMetrics, flush_at: int = FLUSH_RECORDS) -> None:
        self.path, self.request, self.ledger, self.window = path, request, ledger, window
        self.layer, self.key_field, self.tally, self.flush_at = layer, key_field, tally, flush_at
        self.pending: dict[str, dict[str, Any]] = {}

    def add(self, records: Sequence[dict[str, Any]]) -> None:
        if not records:
            return
        self.path.check(replace(self.request, records=records))
        for rec in records:
            self.pending.setdefault(rec[self.key_field], {}).update(rec)
        if len(self.pending) >= self.flush_at:
            self.flush()

    def flush(self) -> list[WriteResult]:
        records, self.pending = list(self.pending.values()), {}
        results = self.path.write(replace(self.request, records=records), dry_run=self.window.dry_run)
        if records and not self.window.dry_run:
            req = self.request
            record_results(self.ledger, self.window, self.layer, req.system, req.object, results,
                           {r[self.key_field]: r for r in records}, self.tally)
        return results


def run_summary(layer: int, window: RunWindow, metrics: RunMetrics, plan: PlanLog) -> dict[str, Any]:
    """What a run returns (the task's XCom) and logs: its window, mode, counters and, for a dry run, the plan."""
    summary = {"layer": layer, "dag_id": window.dag_id, "mode": window.mode, "dry_run": window.dry_run,
               "window": [window.start.isoformat(), window.end.isoformat()], **metrics.as_dict()}
    summary["api_calls"] = dict(sorted(summary["api_calls"].items()))
    log.info("%s summary: %s", window.dag_id, summary)
    if window.dry_run:  # the task's XCom lives in Airflow's metadata DB: the whole plan is in the task log
        summary["plan"] = plan.head
        summary["plan_lines_total"] = plan.total
    return summary


def record_results(
    ledger: Any,
    window: RunWindow,
    layer: int,
    system: str,
    obj: str,
    results: Iterable[WriteResult],
    payloads: dict[str, dict[str, Any]],
    tally: RunMetrics,
) -> None:
    """Dead-letter every rejected record (retried next run); close the dead letters of records that went through."""
    ok: list[str] = []
    for res in results:
        if res.success:
            ok.append(res.record_key)
            tally.records_written += 1
        else:
            tally.records_rejected += 1
            ledger.add_dead_letter(layer, system, obj, res.record_key, "upsert", payloads.get(res.record_key, {}),
                                   res.error_code or "UNKNOWN", res.error_message or "", window.run_id)
            log.warning("rejected by %s: %s %s: %s %s", system, obj, res.record_key, res.error_code, res.error_message)
    if ok:
        ledger.resolve_dead_letters(layer, system, obj, ok)


def check_honest(tally: RunMetrics) -> None:
    """Fail the run (red in Airflow, Slack alert) when too many records were rejected to call it a success."""
    attempted = tally.records_written + tally.records_rejected
    if tally.records_rejected >= REJECT_FLOOR and tally.records_rejected > REJECT_THRESHOLD * attempted:
        raise TooManyRejects(
            f"{tally.records_rejected} of {attempted} records were rejected (threshold "
            f"{REJECT_THRESHOLD:.0%}); they are in the dead-letter table and will be retried next run"
        )
