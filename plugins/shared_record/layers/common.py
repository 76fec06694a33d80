"""What every layer's run shares: its window, its services, the apply step and the honest end of a run."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared_record.errors import TooManyRejects
from shared_record.hooks.base import CallCounter, WriteResult

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


@dataclass
class RunTally:
    """Counters of one run, written to the ledger's run metrics at the end."""

    calls: CallCounter = field(default_factory=CallCounter)
    records_read: int = 0
    records_changed: int = 0
    records_written: int = 0
    records_skipped: int = 0
    records_rejected: int = 0
    violations: int = 0
    kept_aside: int = 0

    def metrics(self) -> Any:
        from shared_record.ledger import RunMetrics

        return RunMetrics(
            records_read=self.records_read,
            records_changed=self.records_changed,
            records_written=self.records_written,
            records_skipped=self.records_skipped,
            records_rejected=self.records_rejected,
            violations=self.violations,
            kept_aside=self.kept_aside,
            api_calls=dict(self.calls),
        )

    def summary(self) -> dict[str, Any]:
        return {
            "read": self.records_read, "changed": self.records_changed, "written": self.records_written,
            "skipped": self.records_skipped, "rejected": self.records_rejected, "violations": self.violations,
            "kept_aside": self.kept_aside, "api_calls": dict(sorted(self.calls.items())),
        }


def record_results(
    ledger: Any,
    window: RunWindow,
    layer: int,
    system: str,
    obj: str,
    results: Iterable[WriteResult],
    payloads: dict[str, dict[str, Any]],
    tally: RunTally,
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


def check_honest(tally: RunTally) -> None:
    """Fail the run (red in Airflow, Slack alert) when too many records were rejected to call it a success."""
    attempted = tally.records_written + tally.records_rejected
    if tally.records_rejected >= REJECT_FLOOR and tally.records_rejected > REJECT_THRESHOLD * attempted:
        raise TooManyRejects(
            f"{tally.records_rejected} of {attempted} records were rejected (threshold "
            f"{REJECT_THRESHOLD:.0%}); they are in the dead-letter table and will be retried next run"
        )
