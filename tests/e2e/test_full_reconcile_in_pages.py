"""A full reconcile plans the population one CRM query page at a time, so the accounts are never all in memory
(`make bench` measures the memory). Here the CRM hook's page size is cut to 200, so the 500 seeded accounts
come in three pages, and the tests show what a user would check after a repair run: every record was seen
once, what had drifted is repaired, a merge is carried whatever page its survivor is on, and the writes still
go out in full platform batches."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from e2e_helpers import TIER_CS, _used, company, crm_account, customers, other_tier, run_dag

pytestmark = pytest.mark.e2e

PAGE = 200


@pytest.fixture()
def small_pages(monkeypatch):
    monkeypatch.setattr("shared_record.hooks.crm.QUERY_PAGE", PAGE)


def _accounts(env, **params) -> list[dict]:
    rows = env["crm"].call("GET", "/__admin/records/Account", params=params)["records"]
    return sorted(rows, key=lambda r: r["Id"])


def _companies(env, account_id: str) -> list[dict]:
    return env["cs"].call("GET", "/__admin/records/Company", params={"SfdcAccountId": account_id})["records"]


def test_account_master_full_reconcile_in_pages(env, small_pages):
    everyone = _accounts(env)
    assert len(everyone) > 2 * PAGE, "the seeded org must span several query pages"
    # A survivor early in the org, with no company yet, and a loser late in it: planned page by page, the
    # survivor would come first and get a new company of its own beside the loser's.
    survivor = next(a for a in _accounts(env, Type="Prospect", IsDeleted="false")
                    if a["Id"] not in _used and not _companies(env, a["Id"]))
    loser = next(a for a in reversed(_accounts(env, Type="Customer", IsDeleted="false"))
                 if a["Id"] not in _used and a.get("CSM_Owner__c") and a["Id"] > survivor["Id"])
    _used.update({survivor["Id"], loser["Id"]})
    gsid = company(env, loser["Id"])["Gsid"]
    drifted = customers(env, 1)[0]  # a value changed long ago, outside any window a run will look at
    env["crm"].call("PATCH", f"/__admin/records/Account/{drifted['Id']}",
                    json={"fields": {"Tier__c": other_tier(drifted["Tier__c"])}, "as_of": "2026-01-20T00:00:00Z"})
    env["crm"].call("POST", "/__admin/merge", json={"object": "Account", "master_id": survivor["Id"],
                                                     "loser_ids": [loser["Id"]], "as_of": "2026-01-20T00:00:00Z"})

    assert run_dag("account_master", datetime(2026, 11, 25, 10, tzinfo=UTC), full_reconcile=True).state == "success"

    run = env["ledger"].recent_runs(dag_id="account_master", limit=1)[0]
    assert run["mode"] == "full_reconcile"
    assert run["records_read"] == len(_accounts(env))  # every account once, the merged ones included
    calls = run["api_calls"]
    assert calls.get("crm_query", 0) + calls.get("crm_query_more", 0) >= math.ceil(len(everyone) / PAGE)
    moved = _companies(env, survivor["Id"])
    assert [c["Gsid"] for c in moved] == [gsid], "the survivor has the loser's company and only that one"
    assert moved[0]["Name"] == survivor["Name"] and moved[0]["Is_Deleted_In_Crm__gc"] is False
    assert _companies(env, loser["Id"]) == []
    assert company(env, drifted["Id"])["Tier__gc"] == TIER_CS[other_tier(drifted["Tier__c"])]
    # Written in full batches of 50 across pages (plus the one re-point call), not one short call per page.
    written_by_key = run["records_written"] - 1
    assert calls.get("cs_write", 0) == math.ceil(written_by_key / 50) + 1


def test_health_full_reconcile_in_pages(env, small_pages):
    companies = [c for c in env["cs"].call("GET", "/__admin/records/Company")["records"] if c.get("SfdcAccountId")]
    live = {a["Id"] for a in _accounts(env, IsDeleted="false")}
    late = next(a for a in reversed(_accounts(env, Type="Customer", IsDeleted="false")) if a["Id"] not in _used)
    _used.add(late["Id"])
    co = company(env, late["Id"])
    env["cs"].call("PATCH", f"/__admin/records/Company/{co['Gsid']}",
                   json={"fields": {"Open_Tickets__gc": int(co.get("Open_Tickets__gc") or 0) + 7},
                         "as_of": "2026-01-20T00:00:00Z"})

    assert run_dag("health", datetime(2026, 11, 26, 12, tzinfo=UTC), full_reconcile=True).state == "success"

    run = env["ledger"].recent_runs(dag_id="health", limit=1)[0]
    assert run["records_read"] == len(companies)
    assert run["records_skipped"] == sum(1 for c in companies if c["SfdcAccountId"] not in live)
    assert crm_account(env, late["Id"])["Open_Tickets__c"] == int(co.get("Open_Tickets__gc") or 0) + 7
    calls = run["api_calls"]
    assert calls.get("crm_query", 0) + calls.get("crm_query_more", 0) >= math.ceil(len(live) / PAGE)
    assert calls.get("crm_collections", 0) == math.ceil(run["records_written"] / 200)
    with env["ledger"].engine.connect() as conn:  # every score read went to the history, matched or not
        accounts_in_history = conn.exec_driver_sql("SELECT COUNT(DISTINCT account_id) FROM health_history").scalar()
    assert accounts_in_history >= len(companies) - 5  # a few seeded scores without a date are not history
