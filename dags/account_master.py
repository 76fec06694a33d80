"""
### Layer 1 — Account master (CRM → CS platform), hourly

Copies the account master fields of the field dictionary (layer 1: profile, tier, AE and CSM owners, contract
dates and value, renewal ARR and date) from Salesforce Accounts to CS-platform Companies. Read-only in the CS
platform: a hand edit there is recorded as an ownership violation, reported to RevOps once, and overwritten.

* **Window**: Accounts whose `SystemModstamp` falls in this run's data interval (inclusive), so scheduled runs,
  manual reruns and backfills of any past hour all work. Only fields whose values differ are written.
* **Params**: `dry_run` logs the plan and writes nothing; `full_reconcile` diffs every account.
* **On-call**: clear the failed task to rerun this layer alone; rejected records are retried on the next run.
"""

from __future__ import annotations

from airflow.sdk import dag, task
from shared_record.dag_defaults import DEFAULT_ARGS, interval, run_layer, sync_params
from shared_record.dictionary import load_dictionary

DICTIONARY = load_dictionary()  # validated at parse time: a bad dictionary is an import error, not half a sync


@dag(
    dag_id="account_master",
    schedule=interval("0 * * * *"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=sync_params(),
    tags=["shared-record", "layer-1", "crm-to-cs"],
    doc_md=__doc__,
)
def account_master():
    @task
    def sync_accounts() -> dict:
        """Read the window from the CRM, diff against the CS platform, write the differences."""
        return run_layer("account_master", DICTIONARY)

    sync_accounts()


account_master()
