"""The project's hooks, over the real clients (simple-salesforce via SalesforceHook, requests via HttpHook),
against the sandboxes: paging, describe, batched writes with per-record errors, auth and quota errors."""

from __future__ import annotations

import pytest
from shared_record.errors import AuthenticationFailed, QuotaExhausted
from shared_record.hooks.base import CallCounter
from shared_record.hooks.crm import CrmHook
from shared_record.hooks.cs import CsPlatformHook


@pytest.fixture()
def crm(connections):
    return CrmHook(calls=CallCounter())


@pytest.fixture()
def cs(connections):
    return CsPlatformHook(calls=CallCounter())


@pytest.fixture(autouse=True)
def _no_faults(sandbox):
    yield
    for system in ("crm", "cs"):
        sandbox.admin(system).call("DELETE", "/__admin/faults")


def test_crm_query_pages_past_2000_rows(crm, sandbox):
    total = sum(len(p) for p in crm.query_pages("SELECT Id, Email FROM Contact"))
    expected = crm.get_conn().query("SELECT COUNT() FROM Contact")["totalSize"]
    assert total == expected > 2000
    assert crm.calls["crm_query_more"] == (total - 1) // 2000
    small = [len(p) for p in crm.query_pages("SELECT Id FROM Contact", batch_size=500)]
    assert small[0] == 500 and sum(small) == total


def test_crm_relationship_fields_arrive_nested(crm):
    page = next(crm.query_pages("SELECT Id, Owner.Email, CSM_Owner__r.Name FROM Account WHERE Type = 'Customer' "
                                "LIMIT 5"))
    assert len(page) == 5
    assert all("@" in r["Owner"]["Email"] for r in page)
    assert all("attributes" not in r["Owner"] for r in page)


def test_crm_describe_lists_dictionary_fields(crm):
    fields = {f["name"]: f for f in crm.describe("Account")["fields"]}
    assert fields["Tier__c"]["type"] == "picklist"
    assert {p["value"] for p in fields["Tier__c"]["picklistValues"]} >= {"Strategic", "SMB"}
    assert fields["Health_Score__c"]["updateable"] is True
    assert fields["SystemModstamp"]["updateable"] is False


def test_crm_collections_update_reports_per_record_errors(crm, sandbox):
    ids = [r["Id"] for r in next(crm.query_pages("SELECT Id FROM Account ORDER BY Id LIMIT 250"))]
    sandbox.admin("crm").call("POST", "/__admin/faults", json={"kind": "record_error", "rate": 1.0, "count": 3,
                                                                "object": "Account", "code": "UNABLE_TO_LOCK_ROW"})
    results = crm.collections_update("Account", [{"Id": i, "NPS__c": 42} for i in ids])
    assert crm.calls["crm_collections"] == 2  # 250 records: 200 + 50
    failed = [r for r in results if not r.success]
    assert len(results) == 250 and len(failed) == 3
    assert {r.error_code for r in failed} == {"UNABLE_TO_LOCK_ROW"}
    written = {r["Id"]: r["NPS__c"] for p in crm.query_pages(
        "SELECT Id, NPS__c FROM Account WHERE Id IN ('" + "','".join(ids) + "')") for r in p}
    assert sum(1 for i in ids if written[i] == 42) == 247


def test_crm_expired_session_is_an_authentication_failure(connections, sandbox, monkeypatch):
    import json

    conn = json.loads(connections["AIRFLOW_CONN_SALESFORCE_DEFAULT"])
    conn["password"] = "expired-token"
    monkeypatch.setenv("AIRFLOW_CONN_SALESFORCE_DEFAULT", json.dumps(conn))
    with pytest.raises(AuthenticationFailed, match="INVALID_SESSION_ID") as err:
        next(CrmHook().query_pages("SELECT Id FROM Account"))
    assert "expired-token" not in str(err.value)


def test_crm_quota_stops_the_run(crm, sandbox):
    sandbox.admin("crm").call("POST", "/__admin/faults", json={"kind": "rate_limit", "rate": 1.0})
    with pytest.raises(QuotaExhausted):
        next(crm.query_pages("SELECT Id FROM Account"))


def test_crm_transient_5xx_is_retried(crm, sandbox):
    sandbox.admin("crm").call("POST", "/__admin/faults", json={"kind": "server_error", "rate": 1.0, "count": 2})
    page = next(crm.query_pages("SELECT Id FROM Account LIMIT 3"))
    assert len(page) == 3 and crm.calls["crm_query"] == 3


def test_cs_query_pages_and_writes_in_50s(cs, sandbox):
    companies = [r for p in cs.query_pages("Company", ["Gsid", "SfdcAccountId", "NPS"], page_size=100) for r in p]
    assert len(companies) == len({c["Gsid"] for c in companies}) > 100
    assert cs.calls["cs_read"] == len(companies) // 100 + 1
    records = [{"SfdcAccountId": c["SfdcAccountId"], "Tier__gc": "Tier 4 - SMB"} for c in companies[:120]]
    results = cs.upsert("Company", records, ["SfdcAccountId"])
    assert cs.calls["cs_write"] == 3 and all(r.success for r in results) and len(results) == 120


def test_cs_per_record_error_is_reported(cs, sandbox):
    companies = next(cs.query_pages("Company", ["SfdcAccountId"], page_size=10))
    sandbox.admin("cs").call("POST", "/__admin/faults", json={"kind": "record_error", "rate": 1.0, "count": 1,
                                                               "object": "Company"})
    results = cs.upsert("Company", [{"SfdcAccountId": c["SfdcAccountId"], "CSM_Owner_Name__gc": "X Y"}
                                    for c in companies], ["SfdcAccountId"])
    assert [r.success for r in results].count(False) == 1
    assert all(r.record_key for r in results)


def test_cs_wrong_key_is_an_authentication_failure(connections, monkeypatch):
    import json

    conn = json.loads(connections["AIRFLOW_CONN_CS_PLATFORM_DEFAULT"])
    conn["password"] = "wrong-key"
    monkeypatch.setenv("AIRFLOW_CONN_CS_PLATFORM_DEFAULT", json.dumps(conn))
    with pytest.raises(AuthenticationFailed) as err:
        next(CsPlatformHook().query_pages("Company", ["Gsid"]))
    assert "wrong-key" not in str(err.value)
