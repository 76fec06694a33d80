"""The CS-platform sandbox over HTTPS with plain `requests` (verified against the sandbox CA), as the CS hook
talks to it: paging, filters, dates, validation, upserts, injected faults, auth and schema drift."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests
from shared_record_sandbox.testing import SandboxProcess

ACCOUNTS = 1500  # about 6,000 Person rows: enough to page past the 5,000-row read limit


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    proc = SandboxProcess(tmp_path_factory.mktemp("cs_sandbox"), accounts=ACCOUNTS, seed=7)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture()
def http(sb):
    s = requests.Session()
    s.trust_env = False
    s.verify = str(sb.ca_path)
    s.headers["accesskey"] = sb.key
    yield s
    sb.admin("cs").call("DELETE", "/__admin/faults")
    s.close()


def q(http, sb, obj: str, body: dict[str, Any]) -> requests.Response:
    return http.post(f"{sb.cs_url}/v1/data/objects/query/{obj}", json=body, timeout=60)


def rows(http, sb, obj: str, **body: Any) -> list[dict[str, Any]]:
    resp = q(http, sb, obj, {"limit": 5000, **body})
    assert resp.status_code == 200, resp.text
    env = resp.json()
    assert env["result"] is True and env["errorCode"] is None and env["requestId"]
    return env["data"]["records"]


def raw(sb, obj: str, **params: str) -> list[dict[str, Any]]:
    return sb.admin("cs").call("GET", f"/__admin/records/{obj}", params=params)["records"]


def ms(d: str) -> int:
    return int(datetime.fromisoformat(d).replace(tzinfo=UTC).timestamp() * 1000)


def test_query_pages_past_5000_rows_with_limit_and_offset(http, sb):
    total = sb.admin("cs").call("GET", "/__admin/health")["records"]["Person"]
    assert total > 5000
    first = rows(http, sb, "Person", select=["Gsid", "Email"], offset=0)
    second = rows(http, sb, "Person", select=["Gsid", "Email"], offset=5000)
    assert len(first) == 5000 and len(second) == total - 5000
    gsids = [r["Gsid"] for r in first + second]
    assert len(set(gsids)) == total and gsids == sorted(gsids)  # stable Gsid order without orderBy
    again = rows(http, sb, "Person", select=["Gsid"], offset=4990, limit=20)
    assert [r["Gsid"] for r in again] == gsids[4990:5010]


def test_limit_above_5000_is_refused(http, sb):
    resp = q(http, sb, "Person", {"select": ["Gsid"], "limit": 5001})
    assert resp.status_code == 400
    assert resp.json()["result"] is False and resp.json()["errorCode"] == "GSOBJ_1004"


def test_where_expression_with_and_or_parentheses(http, sb):
    where = {
        "conditions": [
            {"name": "Tier__gc", "alias": "A", "value": ["Tier 1 - Strategic"], "operator": "EQ"},
            {"name": "Tier__gc", "alias": "B", "value": ["Tier 2 - Enterprise"], "operator": "EQ"},
            {"name": "Health_Color__gc", "alias": "C", "value": ["Red"], "operator": "EQ"},
        ],
        "expression": "(A OR B) AND C",
    }
    got = {r["Gsid"] for r in rows(http, sb, "Company", select=["Gsid"], where=where)}
    expected = {
        c["Gsid"]
        for c in raw(sb, "Company")
        if c["Tier__gc"] in ("Tier 1 - Strategic", "Tier 2 - Enterprise") and c["Health_Color__gc"] == "Red"
    }
    assert got == expected and got
    where["expression"] = "A OR B AND C"  # AND binds tighter
    got2 = {r["Gsid"] for r in rows(http, sb, "Company", select=["Gsid"], where=where)}
    expected2 = {
        c["Gsid"]
        for c in raw(sb, "Company")
        if c["Tier__gc"] == "Tier 1 - Strategic"
        or (c["Tier__gc"] == "Tier 2 - Enterprise" and c["Health_Color__gc"] == "Red")
    }
    assert got2 == expected2 and got2 != got


@pytest.mark.parametrize(
    "op,value,check",
    [
        ("NE", ["Green"], lambda c: c["Health_Color__gc"] != "Green"),
        ("GT", [70], lambda c: c["CurrentScore"] > 70),
        ("GTE", [70], lambda c: c["CurrentScore"] >= 70),
        ("LT", ["40"], lambda c: c["CurrentScore"] < 40),
        ("LTE", [40], lambda c: c["CurrentScore"] <= 40),
        ("BTW", [20, 30], lambda c: 20 <= c["CurrentScore"] <= 30),
        ("IN", ["Red", "Yellow"], lambda c: c["Health_Color__gc"] in ("Red", "Yellow")),
    ],
)
def test_operator_families_on_numbers_and_picklists(http, sb, op, value, check):
    name = "Health_Color__gc" if op in ("NE", "IN") else "CurrentScore"
    where = {"conditions": [{"name": name, "alias": "A", "value": value, "operator": op}], "expression": "A"}
    got = {r["Gsid"] for r in rows(http, sb, "Company", select=["Gsid"], where=where)}
    expected = {c["Gsid"] for c in raw(sb, "Company") if check(c)}
    assert got == expected and got


def test_string_operators_and_null_checks(http, sb):
    companies = raw(sb, "Company")
    some = companies[0]["Name"]
    word = some.split()[0][:4]
    contains = rows(
        http,
        sb,
        "Company",
        select=["Name"],
        where={
            "conditions": [{"name": "Name", "alias": "A", "value": [word.lower()], "operator": "CONTAINS"}]
        },
    )
    assert {r["Name"] for r in contains} == {
        c["Name"] for c in companies if word.lower() in c["Name"].lower()
    }
    starts = rows(
        http,
        sb,
        "Company",
        select=["Name"],
        where={"conditions": [{"name": "Name", "alias": "A", "value": [word], "operator": "STARTS_WITH"}]},
    )
    assert {r["Name"] for r in starts} == {
        c["Name"] for c in companies if c["Name"].lower().startswith(word.lower())
    }
    nulls = rows(
        http,
        sb,
        "Deal_Context_Snapshot__gc",
        select=["Gsid"],
        where={
            "conditions": [{"name": "AE_Red_Flags__gc", "alias": "A", "value": [], "operator": "IS_NULL"}]
        },
    )
    not_nulls = rows(
        http,
        sb,
        "Deal_Context_Snapshot__gc",
        select=["Gsid"],
        where={
            "conditions": [{"name": "AE_Red_Flags__gc", "alias": "A", "value": [], "operator": "IS_NOT_NULL"}]
        },
    )
    snaps = raw(sb, "Deal_Context_Snapshot__gc")
    assert len(nulls) == sum(1 for s in snaps if s["AE_Red_Flags__gc"] is None) > 0
    assert len(nulls) + len(not_nulls) == len(snaps) and not_nulls


def test_dates_come_back_as_epoch_ms_and_filter_in_any_documented_form(http, sb):
    companies = raw(sb, "Company")
    out = rows(
        http, sb, "Company", select=["Gsid", "Renewal_Date", "ModifiedDate"], orderBy={"Renewal_Date": "asc"}
    )
    by_id = {c["Gsid"]: c for c in companies}
    for r in out[:50]:
        assert isinstance(r["Renewal_Date"], int) and r["Renewal_Date"] == ms(
            by_id[r["Gsid"]]["Renewal_Date"]
        )
        assert isinstance(r["ModifiedDate"], int)
    assert [r["Renewal_Date"] for r in out] == sorted(r["Renewal_Date"] for r in out)
    lo, hi = date(2027, 1, 1), date(2027, 3, 31)
    expected = {c["Gsid"] for c in companies if lo.isoformat() <= c["Renewal_Date"] <= hi.isoformat()}
    assert expected
    for value in (
        [lo.isoformat(), hi.isoformat()],
        ["01-01-2027", "03-31-2027"],
        [ms(lo.isoformat()), ms(hi.isoformat())],
    ):
        got = rows(
            http,
            sb,
            "Company",
            select=["Gsid"],
            where={
                "conditions": [{"name": "Renewal_Date", "alias": "A", "value": value, "operator": "BTW"}],
                "expression": "A",
            },
        )
        assert {r["Gsid"] for r in got} == expected, value


def test_lookup_paths_come_back_as_flat_dotted_keys(http, sb):
    got = rows(
        http,
        sb,
        "company_person",
        select=["Sfdc_Account_Id__gc", "Company_ID__gr.Name", "Company_ID__gr.SfdcAccountId"],
        limit=20,
    )
    assert len(got) == 20
    assert all(
        r["Company_ID__gr.SfdcAccountId"] == r["Sfdc_Account_Id__gc"] and r["Company_ID__gr.Name"]
        for r in got
    )


def test_unknown_field_in_select_or_where_is_gsobj_1002(http, sb):
    resp = q(http, sb, "Company", {"select": ["Name", "No_Such__gc"], "limit": 5})
    assert resp.status_code == 400 and resp.json()["errorCode"] == "GSOBJ_1002"
    assert "No_Such__gc" in resp.json()["errorDesc"]
    resp = q(
        http,
        sb,
        "Company",
        {
            "select": ["Name"],
            "where": {"conditions": [{"name": "Bogus", "alias": "A", "value": ["x"], "operator": "EQ"}]},
        },
    )
    assert (
        resp.status_code == 400
        and resp.json()["errorCode"] == "GSOBJ_1002"
        and "Bogus" in resp.json()["errorDesc"]
    )


def test_insert_more_than_50_records_is_refused_and_writes_nothing(http, sb):
    before = sb.admin("cs").call("GET", "/__admin/health")["records"]["Person"]
    records = [{"Email": f"bulk{i}@example.org", "FirstName": "B", "LastName": str(i)} for i in range(51)]
    resp = http.post(f"{sb.cs_url}/v1/data/objects/Person", json={"records": records}, timeout=30)
    assert resp.status_code == 400 and resp.json()["result"] is False
    assert sb.admin("cs").call("GET", "/__admin/health")["records"]["Person"] == before
    ok = http.post(f"{sb.cs_url}/v1/data/objects/Person", json={"records": records[:50]}, timeout=30).json()
    assert ok["result"] is True and ok["data"]["count"] == 50 and ok["data"]["errors"] is None
    assert len({r["Gsid"] for r in ok["data"]["records"]}) == 50
    assert sb.admin("cs").call("GET", "/__admin/health")["records"]["Person"] == before + 50


def test_upsert_by_keys_updates_matches_and_inserts_the_rest(http, sb):
    company = raw(sb, "Company")[3]
    body = {
        "records": [
            {"SfdcAccountId": company["SfdcAccountId"], "Arr": 123456.78, "Renewal_Date": "06-30-2027"},
            {"SfdcAccountId": "001NEWACCOUNT0001", "Name": "Brand New Co", "Arr": 1000},
        ]
    }
    resp = http.put(f"{sb.cs_url}/v1/data/objects/Company?keys=SfdcAccountId", json=body, timeout=30)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["count"] == 2 and data["errors"] is None
    assert data["records"][0]["Gsid"] == company["Gsid"]
    updated = raw(sb, "Company", Gsid=company["Gsid"])[0]
    assert updated["Arr"] == 123456.78 and updated["Renewal_Date"] == "2027-06-30"
    assert updated["Name"] == company["Name"] and updated["ModifiedDate"] > company["ModifiedDate"]
    new = raw(sb, "Company", SfdcAccountId="001NEWACCOUNT0001")
    assert len(new) == 1 and new[0]["Gsid"] == data["records"][1]["Gsid"] and new[0]["Name"] == "Brand New Co"
    resp = http.put(f"{sb.cs_url}/v1/data/objects/Company?keys=A,B,C,D", json=body, timeout=30)
    assert resp.status_code == 400


def test_bad_picklist_value_fails_the_whole_call(http, sb):
    a, b = raw(sb, "Company")[10:12]
    body = {
        "records": [
            {"SfdcAccountId": a["SfdcAccountId"], "NPS": 99},
            {"SfdcAccountId": b["SfdcAccountId"], "Health_Color__gc": "Purple"},
        ]
    }
    resp = http.put(f"{sb.cs_url}/v1/data/objects/Company?keys=SfdcAccountId", json=body, timeout=30)
    env = resp.json()
    assert resp.status_code == 400 and env["result"] is False and env["errorCode"] == "GSOBJ_1009"
    assert (
        env["data"]["errors"][0]["index"] == 1 and env["data"]["errors"][0]["fieldName"] == "Health_Color__gc"
    )
    assert raw(sb, "Company", Gsid=a["Gsid"])[0]["NPS"] == a["NPS"]  # the valid record was not written either
    bad_date = http.put(
        f"{sb.cs_url}/v1/data/objects/Company?keys=SfdcAccountId",
        timeout=30,
        json={"records": [{"SfdcAccountId": a["SfdcAccountId"], "Renewal_Date": "31/12/2027"}]},
    )
    assert bad_date.status_code == 400 and bad_date.json()["errorCode"] == "GSOBJ_1006"
    read_only = http.put(
        f"{sb.cs_url}/v1/data/objects/Company?keys=SfdcAccountId",
        timeout=30,
        json={"records": [{"SfdcAccountId": a["SfdcAccountId"], "ModifiedDate": "2027-01-01T00:00:00Z"}]},
    )
    assert read_only.status_code == 400


def test_injected_record_errors_are_reported_per_record_and_the_rest_written(http, sb):
    companies = raw(sb, "Company")[20:25]
    sb.admin("cs").call(
        "POST",
        "/__admin/faults",
        json={"kind": "record_error", "rate": 1.0, "count": 2, "object": "Company", "code": "LOCK_TIMEOUT"},
    )
    body = {"records": [{"SfdcAccountId": c["SfdcAccountId"], "Open_Tickets__gc": 77} for c in companies]}
    resp = http.put(f"{sb.cs_url}/v1/data/objects/Company?keys=SfdcAccountId", json=body, timeout=30)
    assert resp.status_code == 200
    data = resp.json()["data"]
    assert data["count"] == 3 and [e["index"] for e in data["errors"]] == [0, 1]
    assert {e["errorCode"] for e in data["errors"]} == {"LOCK_TIMEOUT"}
    after = [raw(sb, "Company", Gsid=c["Gsid"])[0]["Open_Tickets__gc"] for c in companies]
    assert after[2:] == [77, 77, 77] and after[:2] == [c["Open_Tickets__gc"] for c in companies[:2]]


def test_rate_limit_expired_session_and_server_error_faults(http, sb):
    admin = sb.admin("cs")
    body = {"select": ["Gsid"], "limit": 1}
    admin.call("POST", "/__admin/faults", json={"kind": "rate_limit", "count": 1})
    resp = q(http, sb, "Company", body)
    assert resp.status_code == 429 and resp.json()["errorCode"] == "GS_APIG_2404"
    assert q(http, sb, "Company", body).status_code == 200  # count exhausted
    admin.call("POST", "/__admin/faults", json={"kind": "expired_session", "count": 1})
    resp = q(http, sb, "Company", body)
    assert resp.status_code == 401 and resp.json()["errorCode"] == "GS_APIG_2401"
    admin.call(
        "POST", "/__admin/faults", json={"kind": "server_error", "status": 503, "count": 1, "path": "/query/"}
    )
    assert q(http, sb, "Company", body).status_code == 503
    assert len(admin.call("GET", "/__admin/faults")["faults"]) == 3
    bad = admin.request("POST", "/__admin/faults", json={"kind": "meteor"})
    assert bad.status_code == 400 and "meteor" in bad.json()["errorDesc"]


def test_missing_or_wrong_key_is_401(sb):
    url = f"{sb.cs_url}/v1/data/objects/query/Company"
    for headers in ({}, {"AccessKey": "wrong"}):
        resp = requests.post(
            url, json={"select": ["Gsid"]}, headers=headers, verify=str(sb.ca_path), timeout=30
        )
        assert resp.status_code == 401
        assert resp.json()["errorCode"] == "GS_APIG_2401" and "wrong" not in resp.text
    ok = requests.post(
        url,
        json={"select": ["Gsid"], "limit": 1},
        headers={"ACCESSKEY": sb.key},
        verify=str(sb.ca_path),
        timeout=30,
    )
    assert ok.status_code == 200  # header names are case-insensitive


def test_describe_and_object_list(http, sb):
    resp = http.get(f"{sb.cs_url}/v1/meta/services/objects/Company/describe?idd=true", timeout=30)
    fields = {f["fieldName"]: f for f in resp.json()["data"][0]["fields"]}
    assert fields["Tier__gc"]["dataType"] == "PICKLIST"
    assert [p["value"] for p in fields["Tier__gc"]["picklistValues"]][0] == "Tier 1 - Strategic"
    assert fields["Gsid"]["meta"]["readOnly"] is True and fields["Arr"]["meta"]["updateable"] is True
    cp = http.get(f"{sb.cs_url}/v1/meta/services/objects/company_person/describe", timeout=30).json()
    company_id = next(f for f in cp["data"][0]["fields"] if f["fieldName"] == "Company_ID")
    assert company_id["meta"]["hasLookup"] is True
    names = {
        o["objectName"]
        for o in http.get(f"{sb.cs_url}/v1/meta/services/objects/list", timeout=30).json()["data"]
    }
    assert {"Company", "Person", "company_person", "Deal_Context_Snapshot__gc"} <= names


def test_admin_edit_validates_and_stamps_as_of(sb):
    admin = sb.admin("cs")
    company = raw(sb, "Company")[30]
    rec = admin.call(
        "PATCH",
        f"/__admin/records/Company/{company['Gsid']}",
        json={"fields": {"Arr": 5.5}, "as_of": "2026-10-20T09:30:00Z"},
    )
    assert rec["Arr"] == 5.5 and rec["ModifiedDate"] == "2026-10-20T09:30:00Z"
    bad = admin.request(
        "PATCH", f"/__admin/records/Company/{company['Gsid']}", json={"fields": {"Tier__gc": "Platinum"}}
    )
    assert bad.status_code == 400 and bad.json()["errorCode"] == "GSOBJ_1009"
    created = admin.call("POST", "/__admin/records/Person", json={"fields": {"Email": "new@x.org"}})
    admin.call("DELETE", f"/__admin/records/Person/{created['Gsid']}")
    assert raw(sb, "Person", Email="new@x.org") == []


def test_stats_count_reads_writes_and_records(http, sb):
    sb.admin("cs").call("DELETE", "/__admin/stats")
    rows(http, sb, "Company", select=["Gsid"], limit=1)
    company = raw(sb, "Company")[40]
    http.put(
        f"{sb.cs_url}/v1/data/objects/Company?keys=Gsid",
        json={"records": [{"Gsid": company["Gsid"], "NPS": 1}]},
        timeout=30,
    ).raise_for_status()
    stats = sb.admin("cs").call("GET", "/__admin/stats")
    assert stats["calls"]["read"] == 1 and stats["calls"]["write"] == 1
    assert stats["records_written"] == {"Company": 1}


def test_admin_rename_moves_values_and_the_old_name_fails(http, sb):
    before = {r["Gsid"]: r["ICP_Fit_Score__gc"] for r in raw(sb, "Deal_Context_Snapshot__gc")}
    sb.admin("cs").call(
        "POST",
        "/__admin/schema/Deal_Context_Snapshot__gc/fields/ICP_Fit_Score__gc/rename",
        json={"to": "ICP_Score__gc"},
    )
    got = rows(http, sb, "Deal_Context_Snapshot__gc", select=["Gsid", "ICP_Score__gc"])
    assert {r["Gsid"]: r["ICP_Score__gc"] for r in got} == before
    resp = q(http, sb, "Deal_Context_Snapshot__gc", {"select": ["ICP_Fit_Score__gc"], "limit": 1})
    assert resp.status_code == 400 and resp.json()["errorCode"] == "GSOBJ_1002"
    described = http.get(
        f"{sb.cs_url}/v1/meta/services/objects/Deal_Context_Snapshot__gc/describe", timeout=30
    ).json()["data"][0]["fields"]
    assert "ICP_Score__gc" in {f["fieldName"] for f in described}
    sb.admin("cs").call("DELETE", "/__admin/schema/Deal_Context_Snapshot__gc/fields/AE_Red_Flags__gc")
    resp = q(http, sb, "Deal_Context_Snapshot__gc", {"select": ["AE_Red_Flags__gc"], "limit": 1})
    assert resp.status_code == 400
