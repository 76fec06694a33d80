"""The CRM sandbox driven by the real client: Airflow's SalesforceHook -> simple_salesforce -> HTTPS.

The server runs in-process (uvicorn in a thread, TLS from a trustme CA, a free port, a temporary
state folder) over a Store seeded the way the runner seeds it (every schema field present).
"""

from __future__ import annotations

import csv
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import trustme
import uvicorn
from shared_record_sandbox.crm import create_app
from shared_record_sandbox.faults import FaultInjector
from shared_record_sandbox.ids import sf_id
from shared_record_sandbox.schema import CRM_OBJECTS, KEY_PREFIXES
from shared_record_sandbox.store import Store
from simple_salesforce import format_soql
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

TOKEN = "crm-test-token"
N_ACCOUNTS = 4500
STAMP = "2026-10-01T12:00:00.000+0000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _blank(obj: str) -> dict[str, Any]:
    rec = {f["name"]: (False if f["type"] == "boolean" else None) for f in CRM_OBJECTS[obj]["fields"]}
    rec.update(CreatedDate=STAMP, LastModifiedDate=STAMP, SystemModstamp=STAMP)
    return rec


def _seed(store: Store) -> dict[str, Any]:
    users = []
    for i, (name, email) in enumerate([("Ann Exec", "ann@example.com"), ("Carl Csm", "carl@example.com")], 1):
        users.append(
            dict(_blank("User"), Id=sf_id(KEY_PREFIXES["User"], i), Name=name, Email=email, IsActive=True)
        )
    store.put_many("User", users, journal=False)
    accounts = []
    for i in range(1, N_ACCOUNTS + 1):
        rec = _blank("Account")
        rec.update(
            Id=sf_id("001", i),
            Name=f"Account {i:05d}",
            OwnerId=users[0]["Id"],
            Type="Customer",
            Tier__c=["Strategic", "Enterprise", "Mid-Market", "SMB"][i % 4],
            NumberOfEmployees=i,
            Industry="Software",
            IsDeleted=False,
        )
        accounts.append(rec)
    # A few accounts with distinctive values for filter tests
    accounts[0].update(
        Name="Acme Corp",
        CSM_Owner__c=users[1]["Id"],
        SystemModstamp="2026-10-05T08:30:00.000+0000",
        Contract_End_Date__c="2027-03-31",
        Renewal_ARR__c=120000.0,
    )
    accounts[1].update(
        Name="Acme Labs", SystemModstamp="2026-10-05T10:00:00.000+0000", Renewal_ARR__c=50000.0
    )
    accounts[2].update(Name="O'Brien & Sons", IsDeleted=True)
    store.put_many("Account", accounts, journal=False)
    contact = dict(
        _blank("Contact"),
        Id=sf_id("003", 1),
        AccountId=accounts[0]["Id"],
        FirstName="Jo",
        LastName="Doe",
        Name="Jo Doe",
        Email="jo@acme.test",
        OwnerId=users[0]["Id"],
        IsDeleted=False,
    )
    store.put_many("Contact", [contact], journal=False)
    opp = dict(
        _blank("Opportunity"),
        Id=sf_id("006", 1),
        AccountId=accounts[0]["Id"],
        Name="Acme expansion",
        StageName="Closed Won",
        IsClosed=True,
        IsWon=True,
        CloseDate="2026-09-30",
        Amount=90000.0,
        Committed_Use_Cases__c="Customer 360;Churn Prediction",
        OwnerId=users[0]["Id"],
        IsDeleted=False,
    )
    store.put_many("Opportunity", [opp], journal=False)
    ocr = dict(
        _blank("OpportunityContactRole"),
        Id=sf_id("00K", 1),
        OpportunityId=opp["Id"],
        ContactId=contact["Id"],
        Role="Economic Buyer",
        IsPrimary=True,
        IsDeleted=False,
    )
    store.put_many("OpportunityContactRole", [ocr], journal=False)
    store.compact()
    return {"users": users, "accounts": accounts, "contact": contact, "opp": opp}


class Server:
    """uvicorn over TLS in a background thread; `stop()` asks it to exit and joins."""

    def __init__(self, app: Any, port: int, cert: Any) -> None:
        self.key_path, self.cert_path = cert
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ssl_keyfile=self.key_path,
            ssl_certfile=self.cert_path,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.time() + 15
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("CRM sandbox did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    state = tmp_path_factory.mktemp("crm_state")
    ca = trustme.CA()
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_path, key_path, cert_path = state / "ca.pem", state / "key.pem", state / "cert.pem"
    ca.cert_pem.write_to_path(str(ca_path))
    leaf.private_key_pem.write_to_path(str(key_path))
    leaf.cert_chain_pems[0].write_to_path(str(cert_path))
    store = Store(state, "crm")
    seeded = _seed(store)
    faults = FaultInjector()
    app = create_app(store, faults, TOKEN)
    port = _free_port()
    server = Server(app, port, (str(key_path), str(cert_path)))
    server.start()
    try:
        yield {
            "port": port,
            "ca": str(ca_path),
            "store": store,
            "faults": faults,
            "seed": seeded,
            "base": f"https://127.0.0.1:{port}",
        }
    finally:
        server.stop()
        store.close()


def _session(ca: str) -> requests.Session:
    s = requests.Session()
    s.verify = ca
    s.trust_env = False
    return s


@pytest.fixture()
def sf(crm: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    """simple_salesforce.Salesforce built by Airflow's SalesforceHook, as the project's hook builds it."""
    from airflow.providers.salesforce.hooks.salesforce import SalesforceHook

    conn = {
        "conn_type": "salesforce",
        "extra": {"instance_url": f"https://127.0.0.1:{crm['port']}", "version": "59.0"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_CRM_SANDBOX_TEST", json.dumps(conn))
    hook = SalesforceHook(
        salesforce_conn_id="crm_sandbox_test", session_id=TOKEN, session=_session(crm["ca"])
    )
    return hook.get_conn()


@pytest.fixture()
def admin(crm: dict[str, Any]) -> Any:
    s = _session(crm["ca"])
    s.headers["Authorization"] = f"Bearer {TOKEN}"

    def call(method: str, path: str, **kw: Any) -> requests.Response:
        return s.request(method, crm["base"] + path, timeout=30, **kw)

    yield call
    call("DELETE", "/__admin/faults")


# ---- query ------------------------------------------------------------------------------------------
def test_query_all_pages_past_2000_rows(sf: Any, crm: dict[str, Any]) -> None:
    first = sf.query("SELECT Id, Name FROM Account")
    live = N_ACCOUNTS - 1  # one seeded account is deleted
    assert first["totalSize"] == live and first["done"] is False
    assert len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-2000")
    result = sf.query_all("SELECT Id, Name FROM Account")
    assert result["totalSize"] == live and len(result["records"]) == live
    assert len({r["Id"] for r in result["records"]}) == live
    pages = list(sf.query_all_iter("SELECT Id FROM Account"))
    assert len(pages) == live
    rec = first["records"][0]
    assert rec["attributes"] == {
        "type": "Account",
        "url": f"/services/data/v59.0/sobjects/Account/{rec['Id']}",
    }


def test_batch_size_header_honoured_and_clamped(sf: Any) -> None:
    r = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=200"})
    assert len(r["records"]) == 200 and r["nextRecordsUrl"].endswith("-200")
    nxt = sf.query_more(r["nextRecordsUrl"], identifier_is_url=True)
    assert len(nxt["records"]) == 200 and nxt["nextRecordsUrl"].endswith("-400")
    small = sf.query("SELECT Id FROM Account", headers={"Sforce-Query-Options": "batchSize=100"})
    assert len(small["records"]) == 200  # below the documented minimum: clamped to 200


def test_relationship_fields_nested_and_null_parent(sf: Any, crm: dict[str, Any]) -> None:
    res = sf.query(
        "select id, name, owner.email, CSM_Owner__r.Name FROM account WHERE Name LIKE 'acme%' ORDER BY Name"
    )
    recs = res["records"]
    assert [r["Name"] for r in recs] == ["Acme Corp", "Acme Labs"]
    assert recs[0]["Owner"]["Email"] == "ann@example.com"
    assert recs[0]["Owner"]["attributes"]["type"] == "User"
    assert recs[0]["CSM_Owner__r"]["Name"] == "Carl Csm"
    assert recs[1]["CSM_Owner__r"] is None  # canonical casing in keys, null parent -> null
    c = sf.query("SELECT Name, Account.Name FROM Contact")["records"][0]
    assert c["Name"] == "Jo Doe" and c["Account"]["Name"] == "Acme Corp"


def test_child_subquery(sf: Any) -> None:
    rec = sf.query("SELECT Id, (SELECT Id, Role FROM OpportunityContactRoles) FROM Opportunity")["records"][0]
    assert rec["OpportunityContactRoles"]["totalSize"] == 1
    assert rec["OpportunityContactRoles"]["records"][0]["Role"] == "Economic Buyer"


def test_where_datetime_literals_and_operators(sf: Any) -> None:
    def names(q: str) -> list[str]:
        return sorted(r["Name"] for r in sf.query_all(q)["records"])

    assert names("SELECT Name FROM Account WHERE SystemModstamp > 2026-10-05T09:00:00Z") == ["Acme Labs"]
    assert names("SELECT Name FROM Account WHERE SystemModstamp > 2026-10-05T08:00:00.000+0000") == [
        "Acme Corp",
        "Acme Labs",
    ]
    # +01:00 offset: 09:15+01:00 is 08:15Z, so both 08:30Z and 10:00Z are later
    assert names("SELECT Name FROM Account WHERE SystemModstamp >= 2026-10-05T09:15:00+01:00") == [
        "Acme Corp",
        "Acme Labs",
    ]
    q = format_soql(
        "SELECT Name FROM Account WHERE SystemModstamp >= {} AND SystemModstamp < {}",
        datetime(2026, 10, 5, 8, 0, tzinfo=UTC),
        datetime(2026, 10, 5, 9, 0, tzinfo=UTC),
    )
    assert "2026-10-05T08:00:00+00:00" in q and names(q) == ["Acme Corp"]
    assert names(
        "SELECT Name FROM Account WHERE (Name = 'ACME corp' OR Name = 'Acme Labs') AND "
        "Renewal_ARR__c >= 100000"
    ) == ["Acme Corp"]
    assert names(
        "SELECT Name FROM Account WHERE Name IN ('Acme Corp', 'Acme Labs') AND NOT Tier__c = 'Strategic'"
        " AND Contract_End_Date__c != null"
    ) == ["Acme Corp"]
    assert (
        len(names("SELECT Name FROM Account WHERE NumberOfEmployees <= 10 AND Tier__c NOT IN ('SMB')")) == 8
    )
    assert names(
        "SELECT Name FROM Opportunity WHERE Committed_Use_Cases__c INCLUDES ('Customer 360') "
        "AND IsWon = TRUE AND CloseDate < 2026-10-01"
    ) == ["Acme expansion"]
    count = sf.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Account 0001%'")
    assert count["totalSize"] == 10 and count["records"] == []
    page = sf.query("SELECT Name FROM Account ORDER BY NumberOfEmployees DESC LIMIT 3 OFFSET 1")
    assert [r["Name"] for r in page["records"]] == ["Account 04499", "Account 04498", "Account 04497"]


def test_query_all_sees_deleted(sf: Any) -> None:
    q = "SELECT Id, Name, IsDeleted FROM Account WHERE Name = 'O\\'Brien & Sons'"
    assert sf.query(q)["totalSize"] == 0
    rows = sf.query(q, include_deleted=True)["records"]
    assert len(rows) == 1 and rows[0]["IsDeleted"] is True


def test_invalid_field_and_malformed_query(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad_field:
        sf.query("SELECT Id, Foo FROM Account")
    assert bad_field.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Foo' on entity 'Account'" in bad_field.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as malformed:
        sf.query("SELECT Id FROM Account WHERE Name = ")
    assert malformed.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    assert "ERROR at Row:1:Column:" in malformed.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as bad_type:
        sf.query("SELECT Id FROM Nope__c")
    assert bad_type.value.content[0]["errorCode"] == "INVALID_TYPE"


def test_query_on_100k_accounts_matches_exactly(tmp_path: Any) -> None:
    """WHERE over 100,000 Accounts (AND, OR, LIKE, a datetime literal) returns exactly the matching records.
    Its speed is measured by `make bench`, not here."""
    from shared_record_sandbox.crm import soql
    from shared_record_sandbox.crm.org import Org

    store = Store(tmp_path, "big")
    base = _blank("Account")
    store.put_many(
        "Account",
        (
            dict(
                base,
                Id=sf_id("001", i),
                Name=f"A{i}",
                NumberOfEmployees=i,
                IsDeleted=False,
                Tier__c="SMB" if i % 2 else "Enterprise",
            )
            for i in range(100_000)
        ),
        journal=False,
    )
    org = Org(store)
    plan = soql.compile_query(
        "SELECT Id, Name FROM Account WHERE NumberOfEmployees > 50000 AND "
        "(Tier__c = 'SMB' OR Name LIKE 'A9%') AND SystemModstamp >= 2026-01-01T00:00:00Z",
        org,
    )
    ids = plan.run()
    rendered = plan.render(ids[:2000], "v59.0")
    expected = [sf_id("001", i) for i in range(50_001, 100_000) if i % 2 or str(i).startswith("9")]
    assert ids == expected
    assert [r["Name"] for r in rendered[:2]] == [f"A{i}" for i in (50_001, 50_003)]
    store.close()


# ---- describe ----------------------------------------------------------------------------------------
def test_describe_and_global_describe(sf: Any) -> None:
    glob = sf.describe()
    assert glob["encoding"] == "UTF-8" and glob["maxBatchSize"] == 200
    acc = next(o for o in glob["sobjects"] if o["name"] == "Account")
    assert acc["keyPrefix"] == "001" and acc["queryable"] is True
    assert acc["urls"]["describe"] == "/services/data/v59.0/sobjects/Account/describe"
    d = sf.Account.describe()
    fields = {f["name"]: f for f in d["fields"]}
    tier = fields["Tier__c"]
    assert tier["type"] == "picklist" and tier["restrictedPicklist"] is True
    assert [p["value"] for p in tier["picklistValues"]] == ["Strategic", "Enterprise", "Mid-Market", "SMB"]
    assert fields["OwnerId"]["referenceTo"] == ["User"] and fields["OwnerId"]["relationshipName"] == "Owner"
    assert (
        fields["SystemModstamp"]["updateable"] is False
        and fields["SystemModstamp"]["soapType"] == "xsd:dateTime"
    )
    assert set(fields["Name"]) >= {
        "calculated",
        "nillable",
        "externalId",
        "picklistValues",
        "soapType",
        "length",
    }
    assert any(c["relationshipName"] == "Contacts" for c in d["childRelationships"])
    assert sf.Account.metadata()["objectDescribe"]["name"] == "Account"


# ---- single-record writes ---------------------------------------------------------------------------
def test_create_get_update_delete(sf: Any, crm: dict[str, Any]) -> None:
    created = sf.Account.create({"Name": "New Co", "Tier__c": "SMB", "Renewal_Date__c": "2027-01-31"})
    assert created["success"] is True and created["id"].startswith("001") and len(created["id"]) == 18
    rec = sf.Account.get(created["id"])
    assert rec["Name"] == "New Co" and rec["IsDeleted"] is False and rec["OwnerId"]
    assert rec["SystemModstamp"].endswith("+0000") and rec["CreatedDate"] == rec["SystemModstamp"]
    assert sf.Account.update(created["id"], {"Tier__c": "Enterprise"}) == 204
    assert crm["store"].get("Account", created["id"])["Tier__c"] == "Enterprise"
    c = sf.Contact.create({"FirstName": "Ada", "LastName": "Lovelace", "AccountId": created["id"]})
    assert sf.Contact.get(c["id"])["Name"] == "Ada Lovelace"
    o = sf.Opportunity.create({"Name": "O", "StageName": "Prospecting", "AccountId": created["id"]})
    sf.Opportunity.update(o["id"], {"StageName": "Closed Won"})
    got = sf.Opportunity.get(
        o["id"],
    )
    assert got["IsClosed"] is True and got["IsWon"] is True
    assert sf.Account.delete(created["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(created["id"])
    q = f"SELECT Id FROM Account WHERE Id = '{created['id']}'"
    assert sf.query(q)["totalSize"] == 0 and sf.query(q, include_deleted=True)["totalSize"] == 1


def test_write_validation_errors(sf: Any) -> None:
    cases = [
        ({"Name": "X", "Foo__c": 1}, "INVALID_FIELD"),
        ({"Name": "X", "SystemModstamp": "2026-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"Name": "X", "Tier__c": "Gold"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"Name": "X", "Contract_End_Date__c": "31/12/2026"}, "JSON_PARSER_ERROR"),
        ({"Name": "X", "NumberOfEmployees": "many"}, "JSON_PARSER_ERROR"),
        ({"Tier__c": "SMB"}, "REQUIRED_FIELD_MISSING"),
    ]
    for body, code in cases:
        with pytest.raises(SalesforceMalformedRequest) as exc:
            sf.Account.create(body)
        assert exc.value.content[0]["errorCode"] == code, body
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Contact.create({"LastName": "Y", "Name": "Not allowed"})
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_upsert_created_vs_updated(sf: Any, crm: dict[str, Any], admin: Any) -> None:
    r = admin("PATCH", "/__admin/schema/Account/fields/BillingCountry", json={"externalId": True})
    assert r.status_code == 200
    base = f"https://127.0.0.1:{crm['port']}/services/data/v59.0/sobjects/Account/BillingCountry/EXT-1"
    s = _session(crm["ca"])
    s.headers.update(Authorization=f"Bearer {TOKEN}", **{"Content-Type": "application/json"})
    first = s.patch(base, json={"Name": "Ext One"})
    assert first.status_code == 201
    body = first.json()
    assert body["created"] is True and body["success"] is True and body["errors"] == []
    second = s.patch(base, json={"Name": "Ext One renamed"})
    assert second.status_code == 200 and second.json() == {
        "id": body["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    assert sf.Account.upsert("BillingCountry/EXT-1", {"Industry": "Retail"}) == 200
    assert crm["store"].get("Account", body["id"])["Industry"] == "Retail"
    assert sf.Account.get_by_custom_id("BillingCountry", "EXT-1")["Name"] == "Ext One renamed"
    missing = s.patch(base.replace("BillingCountry", "NoSuchField__c"), json={"Name": "x"})
    assert missing.status_code == 404 and missing.json()[0]["errorCode"] == "NOT_FOUND"
    by_id = sf.Account.upsert(f"Id/{body['id']}", {"Type": "Partner"})
    assert by_id == 200 and crm["store"].get("Account", body["id"])["Type"] == "Partner"


# ---- collections ------------------------------------------------------------------------------------
def test_collections_upsert_with_injected_lock_error(sf: Any, crm: dict[str, Any], admin: Any) -> None:
    admin("PATCH", "/__admin/schema/Account/fields/BillingCountry", json={"externalId": True})
    r = admin(
        "POST",
        "/__admin/faults",
        json={"kind": "record_error", "object": "Account", "count": 1, "code": "UNABLE_TO_LOCK_ROW"},
    )
    assert r.status_code == 201
    records = [
        {"attributes": {"type": "Account"}, "BillingCountry": f"COLL-{i}", "Name": f"Coll {i}"}
        for i in range(5)
    ]
    res = sf.restful(
        "composite/sobjects/Account/BillingCountry",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert len(res) == 5
    failed = [x for x in res if not x["success"]]
    assert len(failed) == 1 and failed[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    ok = [x for x in res if x["success"]]
    assert len(ok) == 4 and all(x["created"] is True for x in ok)
    names = {crm["store"].get("Account", x["id"])["Name"] for x in ok}
    assert len(names) == 4
    again = sf.restful(
        "composite/sobjects/Account/BillingCountry",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert [x["success"] for x in again] == [True] * 5
    assert sorted(x["created"] for x in again) == [False] * 4 + [True]


def test_collections_limit_and_all_or_none(sf: Any, crm: dict[str, Any]) -> None:
    too_many = [{"attributes": {"type": "Account"}, "Name": f"N{i}"} for i in range(201)]
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": too_many})
    assert exc.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    before = crm["store"].count("Account")
    recs = [
        {"attributes": {"type": "Account"}, "Name": "AON ok"},
        {"attributes": {"type": "Account"}, "Name": "AON bad", "Tier__c": "Platinum"},
    ]
    res = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": recs})
    assert res[0]["success"] is False
    assert res[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert res[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert crm["store"].count("Account") == before
    # update rollback restores the previous value
    acme = crm["seed"]["accounts"][1]["Id"]
    upd = [
        {"attributes": {"type": "Account"}, "id": acme, "Industry": "Retail"},
        {"attributes": {"type": "Account"}, "id": acme, "NumberOfEmployees": "lots"},
    ]
    res = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": upd})
    assert [x["success"] for x in res] == [False, False]
    assert crm["store"].get("Account", acme)["Industry"] == "Software"
    part = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": recs})
    assert part[0]["success"] is True and part[1]["success"] is False
    assert crm["store"].count("Account") == before + 1
    gone = sf.restful(f"composite/sobjects?ids={part[0]['id']}&allOrNone=false", method="DELETE")
    assert gone == [{"id": part[0]["id"], "success": True, "errors": []}]


# ---- auth, faults, limits --------------------------------------------------------------------------
def test_wrong_token_and_faults(sf: Any, crm: dict[str, Any], admin: Any) -> None:
    from simple_salesforce import Salesforce

    bad = Salesforce(
        session_id="nope", instance_url=f"https://127.0.0.1:{crm['port']}", session=_session(crm["ca"])
    )
    with pytest.raises(SalesforceExpiredSession) as exc:
        bad.query("SELECT Id FROM Account LIMIT 1")
    assert exc.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    raw = requests.get(f"{crm['base']}/services/data/v59.0/sobjects", verify=crm["ca"])
    assert raw.status_code == 401 and raw.headers["WWW-Authenticate"] == "Token"
    assert raw.headers["Content-Type"] == "application/json;charset=UTF-8"
    admin("POST", "/__admin/faults", json={"kind": "rate_limit", "count": 1, "path": "/query"})
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT Id FROM Account LIMIT 1")
    assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    assert sf.query("SELECT Id FROM Account LIMIT 1")["totalSize"] == 1  # count=1: next call passes
    bad_rule = admin("POST", "/__admin/faults", json={"kind": "meteor"})
    assert bad_rule.status_code == 400 and "unknown fault kind" in bad_rule.json()[0]["message"]


def test_api_usage_header(sf: Any) -> None:
    sf.query("SELECT Id FROM Account LIMIT 1")
    usage = sf.api_usage["api-usage"]
    assert usage.total == 15000 and usage.used > 0
    before = usage.used
    sf.query("SELECT Id FROM Account LIMIT 1")
    assert sf.api_usage["api-usage"].used == before + 1


# ---- getUpdated / getDeleted -------------------------------------------------------------------------
def test_updated_and_deleted(sf: Any, crm: dict[str, Any], admin: Any) -> None:
    now = datetime.now(UTC)
    acc = crm["seed"]["accounts"][10]["Id"]
    past = (now - timedelta(days=2)).replace(microsecond=0)
    r = admin(
        "PATCH",
        f"/__admin/records/Account/{acc}",
        json={"fields": {"Industry": "Energy"}, "as_of": past.isoformat()},
    )
    assert r.status_code == 200 and r.json()["Industry"] == "Energy"
    upd = sf.Account.updated(past - timedelta(hours=1), past + timedelta(hours=1))
    assert acc in upd["ids"]
    assert sf.Account.updated(past + timedelta(hours=1), now)["ids"].count(acc) == 0
    loser = crm["seed"]["accounts"][20]["Id"]
    master = crm["seed"]["accounts"][21]["Id"]
    # as_of places the merge 3 minutes ago: the window's end is floored to the minute, like Salesforce's
    merged_at = (now - timedelta(minutes=3)).isoformat()
    assert (
        admin(
            "POST",
            "/__admin/merge",
            json={"object": "Account", "master_id": master, "loser_ids": [loser], "as_of": merged_at},
        ).status_code
        == 200
    )
    dele = sf.Account.deleted(now - timedelta(minutes=10), now)
    assert loser in {d["id"] for d in dele["deletedRecords"]}
    assert dele["latestDateCovered"].endswith("+0000")
    merged = admin("GET", f"/__admin/records/Account/{loser}").json()
    assert merged["IsDeleted"] is True and merged["MasterRecordId"] == master
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.updated(now - timedelta(days=31), now)
    assert exc.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"


# ---- Bulk API 2.0 -------------------------------------------------------------------------------------
def test_bulk2_upsert_and_query_round_trip(sf: Any, crm: dict[str, Any], tmp_path: Any) -> None:
    ids = [a["Id"] for a in crm["seed"]["accounts"][100:103]]
    path = tmp_path / "accounts.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Id", "Name", "Tier__c"])
        for i, rid in enumerate(ids):
            w.writerow([rid, f"Bulk {i}", "Strategic"])
        w.writerow(["", "Bulk new", "SMB"])
        w.writerow(["", "Bulk bad", "Diamond"])
    res = sf.bulk2.Account.upsert(csv_file=str(path), external_id_field="Id", wait=0.1)
    assert res[0]["numberRecordsProcessed"] == 5 and res[0]["numberRecordsFailed"] == 1
    assert crm["store"].get("Account", ids[0])["Name"] == "Bulk 0"
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(res[0]["job_id"]))))
    assert sorted(r["sf__Created"] for r in ok) == ["false", "false", "false", "true"]
    bad = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_failed_records(res[0]["job_id"]))))
    assert len(bad) == 1 and bad[0]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST")
    pages = list(
        sf.bulk2.Account.query(
            "SELECT Id, Name, Owner.Email FROM Account WHERE Name LIKE 'Bulk%'", max_records=2, wait=0.1
        )
    )
    rows = [r for page in pages for r in csv.DictReader(io.StringIO(page))]
    assert len(pages) == 2 and sorted(r["Name"] for r in rows) == ["Bulk 0", "Bulk 1", "Bulk 2", "Bulk new"]
    assert rows[0]["Owner.Email"] == "ann@example.com"


def test_bulk_query_results_headers(crm: dict[str, Any]) -> None:
    s = _session(crm["ca"])
    s.headers["Authorization"] = f"Bearer {TOKEN}"
    base = f"{crm['base']}/services/data/v59.0/jobs/query"
    job = s.post(base, json={"operation": "query", "query": "SELECT Id FROM Account LIMIT 5"}).json()
    assert job["state"] == "UploadComplete" and "contentUrl" not in job
    r = s.get(f"{base}/{job['id']}/results", params={"maxRecords": 3})
    assert (
        r.status_code == 200
        and r.headers["Sforce-NumberOfRecords"] == "3"
        and r.headers["Sforce-Locator"] != "null"
    )
    r2 = s.get(
        f"{base}/{job['id']}/results", params={"maxRecords": 3, "locator": r.headers["Sforce-Locator"]}
    )
    assert r2.headers["Sforce-NumberOfRecords"] == "2" and r2.headers["Sforce-Locator"] == "null"
    assert s.delete(f"{base}/{job['id']}").status_code == 204


# ---- admin schema drift ------------------------------------------------------------------------------
def test_admin_rename_shows_in_describe_and_breaks_old_name(sf: Any, crm: dict[str, Any], admin: Any) -> None:
    r = admin("POST", "/__admin/schema/Account/fields/NPS__c/rename", json={"to": "Net_Promoter__c"})
    assert r.status_code == 200
    names = {f["name"] for f in sf.Account.describe()["fields"]}
    assert "Net_Promoter__c" in names and "NPS__c" not in names
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Id, NPS__c FROM Account LIMIT 1")
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert sf.query("SELECT Id, Net_Promoter__c FROM Account LIMIT 1")["totalSize"] == 1
    admin("POST", "/__admin/schema/Account/fields/Net_Promoter__c/rename", json={"to": "NPS__c"})
    assert admin("DELETE", "/__admin/schema/Account/fields/CSAT__c").status_code == 204
    assert "CSAT__c" not in {f["name"] for f in sf.Account.describe()["fields"]}
    stats = admin("GET", "/__admin/stats").json()
    assert (
        stats["calls"]["query"] > 0
        and stats["calls"]["describe"] > 0
        and stats["records_written"]["Account"] > 0
    )
