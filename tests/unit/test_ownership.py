"""Write ownership: every kind of refusal, raised before any request, naming field, system and owner."""

from __future__ import annotations

import json
import socket

import pytest
from shared_record.dictionary import load_dictionary
from shared_record.errors import OwnershipViolation
from shared_record.hooks.base import CallCounter
from shared_record.ownership import check_write
from shared_record.write_path import WritePath, WriteRequest

D = load_dictionary()


@pytest.mark.parametrize(
    ("system", "obj", "fields", "operation", "expect"),
    [
        # A CRM-originated mirror field written back into the CRM, its origin.
        ("crm", "Account", ["Tier__c"], "update", ("tier (Account.Tier__c)", "CRM (Salesforce)", "revops",
                                                    "originates")),
        ("crm", "Account", ["Renewal_ARR__c"], "update", ("renewal_arr", "CRM (Salesforce)", "revops", "originates")),
        # A CS-owned field written into the CS platform from the CRM side.
        ("cs", "Company", ["CurrentScore"], "upsert", ("health_score (Company.CurrentScore)", "CS platform",
                                                        "cs_platform", "originates")),
        ("cs", "Company", ["SfdcAccountId", "Tier__gc", "Health_Color__gc"], "upsert",
         ("health_color", "CS platform", "cs_platform", "originates")),
        # A field that is not in the dictionary at all.
        ("cs", "Company", ["Secret_Discount__gc"], "upsert", ("Company.Secret_Discount__gc", "CS platform", "nobody",
                                                              "not in the field dictionary")),
        ("crm", "Account", ["AnnualRevenue"], "update", ("Account.AnnualRevenue", "CRM (Salesforce)", "nobody",
                                                         "not in the field dictionary")),
        # A write-once snapshot field overwritten.
        ("cs", "Deal_Context_Snapshot__gc", ["Committed_Use_Cases__gc"], "upsert",
         ("committed_use_cases", "CS platform", "ae", "write-once")),
        # A sync field of one object is not a free pass on another object.
        ("cs", "Company", ["Company_ID"], "upsert", ("Company.Company_ID", "CS platform", "nobody", "not in")),
    ],
)
def test_refusals_name_field_system_owner(system, obj, fields, operation, expect):
    field, where, owner, reason = expect
    with pytest.raises(OwnershipViolation) as err:
        check_write(D, system, obj, fields, operation)
    v = err.value
    assert field in v.field and v.system == where and v.owner == owner
    assert reason in str(v)
    assert field in str(v) and where in str(v) and owner in str(v)


@pytest.mark.parametrize(
    ("system", "obj", "fields", "operation"),
    [
        ("cs", "Company", ["SfdcAccountId", "Tier__gc", "Arr", "Original_Contract_Date"], "upsert"),  # layer 1 mirror
        ("crm", "Account", ["Health_Score__c", "Health_Color__c", "NPS__c"], "update"),  # layer 4 mirror
        ("cs", "Deal_Context_Snapshot__gc", ["Sfdc_Opportunity_Id__gc", "Committed_Use_Cases__gc", "Company_ID",
                                             "Snapshot_Taken_At__gc"], "insert"),  # layer 2 snapshot on create
        ("crm", "Account", ["Champion_Contact__c"], "update"),  # co-owned: either side may be written
        ("cs", "Company", ["Champion_Sfdc_Contact_Id__gc"], "upsert"),
        ("cs", "company_person", ["Sfdc_Contact_Id__gc", "Company_ID", "Person_ID", "Title"], "upsert"),
    ],
)
def test_owned_writes_are_allowed(system, obj, fields, operation):
    specs = check_write(D, system, obj, fields, operation)
    assert all(s.mirror in (system, None) for s in specs)


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_write_path_refuses_before_any_request(monkeypatch):
    """The CS hook points at a port where nothing listens: a refusal must come first, with zero calls made."""
    from shared_record.hooks.cs import CsPlatformHook

    port = _dead_port()
    monkeypatch.setenv("AIRFLOW_CONN_CS_PLATFORM_DEFAULT", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": port, "schema": "http", "password": "k"}))
    calls = CallCounter()
    path = WritePath(D, cs=CsPlatformHook(calls=calls))
    request = WriteRequest("cs", "Company", [{"SfdcAccountId": "001", "Tier__gc": "Tier 4 - SMB", "CurrentScore": 10}],
                           "upsert", keys=("SfdcAccountId",))
    with pytest.raises(OwnershipViolation, match="health_score"):
        path.write(request)
    assert sum(calls.values()) == 0
    # The same request without the foreign field passes the check and only then fails on the network.
    request.records = [{"SfdcAccountId": "001", "Tier__gc": "Tier 4 - SMB"}]
    with pytest.raises(Exception) as err:
        path.write(request)
    assert not isinstance(err.value, OwnershipViolation)
    assert calls["cs_write"] >= 1


def test_dry_run_checks_but_writes_nothing():
    path = WritePath(D)  # no hooks at all: a dry run must not need them
    ok = WriteRequest("crm", "Account", [{"Id": "001", "Health_Score__c": 40}], "update")
    assert path.write(ok, dry_run=True) == []
    bad = WriteRequest("crm", "Account", [{"Id": "001", "Tier__c": "SMB"}], "update")
    with pytest.raises(OwnershipViolation):
        path.write(bad, dry_run=True)
