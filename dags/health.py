"""
### Layer 4 — Health and engagement (CS platform → CRM), every 4 hours

Copies health score, colour, product usage, NPS, CSAT, open tickets and score date (layer 4 of the field
dictionary) from CS-platform Companies to Salesforce Accounts, where they are read-only for the AE. Every score
read is kept in the ledger's `health_history` table. Health that turns Red with a renewal inside 120 days
alerts the account's AE in Slack, once per change of state.

* **Window**: Companies whose `ModifiedDate` falls in this run's data interval; only differing fields are
  written, with sObject Collections (200 per call) or one Bulk API 2.0 job past 2,000 records.
* **Params**: `dry_run` logs the plan and writes nothing; `full_reconcile` diffs every company.
* **On-call**: clear the failed task to rerun this layer alone; rejected records are retried on the next run.
"""

from __future__ import annotations

from airflow.sdk import dag, task
from shared_record.dag_defaults import DEFAULT_ARGS, interval, run_layer, sync_params
from shared_record.dictionary import load_dictionary

DICTIONARY = load_dictionary()  # validated at parse time: a bad dictionary is an import error, not half a sync


@dag(
    dag_id="health",
    schedule=interval("0 */4 * * *"),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    params=sync_params(),
    tags=["shared-record", "layer-4", "cs-to-crm"],
    doc_md=__doc__,
)
def health():
    @task
    def sync_health() -> dict:
        """Read changed companies from the CS platform, keep their history, write differences to the CRM."""
        return run_layer("health", DICTIONARY)

    sync_health()


health()
