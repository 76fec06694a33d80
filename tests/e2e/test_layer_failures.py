"""Honest status, driven through the layer functions directly (Airflow's retry loop would only add waiting):
a page that cannot be fetched, too many rejects, and the Bulk API 2.0 path of the health layer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from shared_record.errors import PartialDataError, TooManyRejects
from shared_record.hooks.base import CallCounter
from shared_record.hooks.crm import CrmHook
from shared_record.hooks.cs import CsPlatformHook
from shared_record.layers import account_master, health
from shared_record.layers.common import RunWindow
from shared_record.ledger import Ledger

pytestmark = pytest.mark.e2e


@pytest.fixture()
def parts(sandbox, connections, ledger_url):
    crm_admin, cs_admin = sandbox.admin("crm"), sandbox.admin("cs")
    calls = CallCounter()
    ledger = Ledger(ledger_url)
    yield CrmHook(calls=calls), CsPlatformHook(calls=calls), ledger, crm_admin, cs_admin
    for s in (crm_admin, cs_admin):
        s.call("DELETE", "/__admin/faults")
    ledger.dispose()


def window(day: int, hours: int = 1, **kw) -> RunWindow:
    end = datetime(2026, 11, day, 12, tzinfo=UTC)
    return RunWindow("test_dag", f"manual__{day}_{kw}", end, end - timedelta(hours=hours), end, **kw)


def test_a_page_that_cannot_be_fetched_fails_the_run(parts):
    crm, cs, ledger, crm_admin, cs_admin = parts
    cs_admin.call("POST", "/__admin/faults", json={"kind": "server_error", "rate": 1.0, "status": 503})
    with pytest.raises(PartialDataError, match="could not be fetched"):
        account_master.run(window(14), crm, cs, ledger)
    run = ledger.recent_runs(dag_id="test_dag", limit=1)[0]
    assert run["status"] == "failed" and "PartialDataError" in run["error"]
    assert run["api_calls"]["cs_read"] == 4  # the call was retried in place before giving up


def test_too_many_rejects_fail_the_run_but_keep_every_record(parts):
    crm, cs, ledger, crm_admin, cs_admin = parts
    end = datetime(2026, 11, 15, 12, tzinfo=UTC)
    accounts = crm_admin.call("GET", "/__admin/records/Account", params={"Type": "Customer", "IsDeleted": "false"})
    chosen = [a for a in sorted(accounts["records"], key=lambda r: r["Id"], reverse=True) if a.get("CSM_Owner__c")][:20]
    for a in chosen:
        crm_admin.call("PATCH", f"/__admin/records/Account/{a['Id']}",
                       json={"fields": {"Website": f"https://{a['Id'].lower()}.example.com"},
                             "as_of": (end - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    cs_admin.call("POST", "/__admin/faults", json={"kind": "record_error", "rate": 1.0, "object": "Company"})
    with pytest.raises(TooManyRejects, match="20 of 20 records were rejected"):
        account_master.run(window(15), crm, cs, ledger)
    assert {d["record_key"] for d in ledger.open_dead_letters(1)} == {a["Id"] for a in chosen}
    assert ledger.recent_runs(dag_id="test_dag", limit=1)[0]["status"] == "failed"


def test_health_switches_to_bulk_api_past_the_threshold(parts):
    crm, cs, ledger, crm_admin, cs_admin = parts
    end = datetime(2026, 11, 16, 12, tzinfo=UTC)
    companies = cs_admin.call("GET", "/__admin/records/Company", params={"Status": "Active"})["records"][:30]
    for i, c in enumerate(companies):
        cs_admin.call("PATCH", f"/__admin/records/Company/{c['Gsid']}",
                      json={"fields": {"Open_Tickets__gc": 100 + i},
                            "as_of": (end - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    crm_admin.call("DELETE", "/__admin/stats")
    summary = health.run(window(16, hours=4), crm, cs, ledger, bulk_threshold=10)
    assert summary["records_written"] == 30 and summary["api_calls"].get("crm_bulk_job") == 1
    assert "crm_collections" not in summary["api_calls"]
    stats = crm_admin.call("GET", "/__admin/stats")
    assert stats["calls"]["bulk_job"] == 1 and stats["calls"].get("collections", 0) == 0
    for i, c in enumerate(companies):
        assert crm_admin.call("GET", f"/__admin/records/Account/{c['SfdcAccountId']}")["Open_Tickets__c"] == 100 + i


def test_bulk_api_per_record_errors_are_dead_lettered(parts):
    crm, cs, ledger, crm_admin, cs_admin = parts
    end = datetime(2026, 11, 18, 12, tzinfo=UTC)
    companies = cs_admin.call("GET", "/__admin/records/Company", params={"Status": "Active"})["records"][40:55]
    for c in companies:
        cs_admin.call("PATCH", f"/__admin/records/Company/{c['Gsid']}",
                      json={"fields": {"Open_Tickets__gc": 77},
                            "as_of": (end - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")})
    crm_admin.call("POST", "/__admin/faults", json={"kind": "record_error", "rate": 1.0, "count": 2,
                                                     "object": "Account", "code": "UNABLE_TO_LOCK_ROW"})
    summary = health.run(window(18, hours=4), crm, cs, ledger, bulk_threshold=5)
    assert summary["api_calls"]["crm_bulk_job"] == 1
    assert (summary["records_written"], summary["records_rejected"]) == (13, 2)
    letters = ledger.open_dead_letters(4)
    assert len(letters) == 2 and {d["error_code"] for d in letters} == {"UNABLE_TO_LOCK_ROW"}
    assert {d["record_key"] for d in letters} <= {c["SfdcAccountId"] for c in companies}
