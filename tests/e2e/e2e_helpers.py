"""Shared helpers of the end-to-end tests: run a DAG for an interval, pick untouched accounts, read both sides."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

TIER_CS = {"Strategic": "Tier 1 - Strategic", "Enterprise": "Tier 2 - Enterprise",
           "Mid-Market": "Tier 3 - Mid-Market", "SMB": "Tier 4 - SMB"}


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def run_dag(dag_id: str, interval_end: datetime, **conf):
    """Run one DAG through Airflow for the interval ending at `interval_end` (a manual run just after it)."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / f"{dag_id}.py"))
    assert bag.import_errors == {}
    dag = bag.dags[dag_id]
    return dag.test(logical_date=interval_end + timedelta(minutes=1), run_conf=conf or None)


_used: set[str] = set()


def customers(env, n: int) -> list[dict]:
    """`n` customer accounts with a CS company that no other test has touched."""
    rows = env["crm"].call("GET", "/__admin/records/Account", params={"Type": "Customer", "IsDeleted": "false"})
    picked = []
    for a in sorted(rows["records"], key=lambda r: r["Id"]):
        if a["Id"] in _used or not a.get("CSM_Owner__c"):
            continue
        picked.append(a)
        _used.add(a["Id"])
        if len(picked) == n:
            return picked
    raise AssertionError("not enough seeded customers left for this test")


def company(env, account_id: str) -> dict:
    return env["cs"].call("GET", "/__admin/records/Company", params={"SfdcAccountId": account_id})["records"][0]


def crm_account(env, account_id: str) -> dict:
    return env["crm"].call("GET", f"/__admin/records/Account/{account_id}")


def cs_writes(env) -> int:
    return int(env["cs"].call("GET", "/__admin/stats")["calls"].get("write", 0))


def other_tier(tier: str) -> str:
    tiers = list(TIER_CS)
    return tiers[(tiers.index(tier) + 1) % len(tiers)]
