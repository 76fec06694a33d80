"""Conventions every shared-record DAG follows: owner, retries, failure alert, params, timetable, services.

Imported by the DAG files at parse time, so it stays cheap: no I/O, heavy imports deferred to task run time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param

from shared_record.alerts import on_task_failure

OWNER = "revops-data"

DEFAULT_ARGS: dict[str, Any] = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": 2.0,  # Airflow 3.3: a multiplier (1, 2, 4 minutes ...)
    "max_retry_delay": timedelta(minutes=20),
    "on_failure_callback": on_task_failure,
    # One run of a layer at a time, however it was started: max_active_runs=1 does not hold back backfill runs
    # (a backfill has its own limit), and two overlapping runs of one layer could write a stale value last.
    "max_active_tis_per_dag": 1,
}


def sync_params() -> dict[str, Param]:
    """The params every sync layer takes (set them in 'Trigger DAG w/ config' or `-c '{...}'`)."""
    return {
        "dry_run": Param(False, type="boolean",
                         description="Compute and log the full plan (field, from, to, direction, rule); "
                                     "write nothing."),
        "full_reconcile": Param(False, type="boolean",
                                description="Diff the whole population instead of the run's window (formula and "
                                            "roll-up fields, repair after an outage)."),
    }


def interval(cron: str) -> CronDataIntervalTimetable:
    """A cron timetable with real data intervals (a plain cron string gives zero-width ones in Airflow 3.3)."""
    return CronDataIntervalTimetable(cron, timezone="UTC")


def run_layer(layer: str, dictionary: Any) -> dict[str, Any]:
    """Run one layer for the current task's window. Fatal errors fail the task without retries."""
    import importlib

    from airflow.sdk import get_current_context
    from airflow.sdk.exceptions import AirflowFailException

    from shared_record.alerts import send_alert
    from shared_record.errors import FatalSyncError
    from shared_record.layers.common import RunWindow

    module = importlib.import_module(f"shared_record.layers.{layer}")
    crm, cs, ledger = services()
    try:
        return module.run(RunWindow.from_context(get_current_context()), crm, cs, ledger, dictionary, send_alert)
    except FatalSyncError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    finally:
        ledger.dispose()


def services() -> tuple[Any, Any, Any]:
    """The CRM hook, CS-platform hook and ledger, built from the Airflow connections at task run time."""
    from shared_record.hooks.base import CallCounter
    from shared_record.hooks.crm import CrmHook
    from shared_record.hooks.cs import CsPlatformHook
    from shared_record.ledger import Ledger

    calls = CallCounter()
    return CrmHook(calls=calls), CsPlatformHook(calls=calls), Ledger.from_connection()
