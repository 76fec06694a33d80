"""Seed data: reproducible, complete (every schema field on every record) and internally consistent, with the
CS platform mirroring the CRM's values after the dictionary's tier mapping."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from shared_record_sandbox import schema as S
from shared_record_sandbox.ids import is_sf_id
from shared_record_sandbox.seed import parse_anchor, seed
from shared_record_sandbox.store import Store

ANCHOR = parse_anchor("2026-11-01T00:00:00Z")


def seeded(path, accounts: int = 400, seed_value: int = 42) -> tuple[Store, Store, dict]:
    crm, cs = Store(path, "crm"), Store(path, "cs")
    counts = seed(crm, cs, accounts, seed_value, ANCHOR)
    return crm, cs, counts


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    crm, cs, counts = seeded(tmp_path_factory.mktemp("seed"))
    yield crm, cs, counts
    crm.close()
    cs.close()


def test_same_seed_gives_identical_records_and_ids(tmp_path):
    a_crm, a_cs, a_counts = seeded(tmp_path / "a", 150, 5)
    b_crm, b_cs, b_counts = seeded(tmp_path / "b", 150, 5)
    c_crm, _, _ = seeded(tmp_path / "c", 150, 6)
    for obj in S.CRM_OBJECTS:
        assert a_crm.all(obj) == b_crm.all(obj), obj
    for obj in S.CS_OBJECTS:
        assert a_cs.all(obj) == b_cs.all(obj), obj
    assert {k: v for k, v in a_counts.items() if k != "seconds"} == {
        k: v for k, v in b_counts.items() if k != "seconds"
    }
    assert [r["Name"] for r in a_crm.all("Account")] != [r["Name"] for r in c_crm.all("Account")]


def test_every_record_has_exactly_its_schema_fields(stores):
    crm, cs, _ = stores
    for obj, spec in S.CRM_OBJECTS.items():
        names = {f["name"] for f in spec["fields"]}
        recs = crm.all(obj)
        assert recs, obj
        assert all(set(r) == names for r in recs), obj
        assert all(is_sf_id(r["Id"]) and r["Id"].startswith(S.KEY_PREFIXES[obj]) for r in recs)
    for obj, spec in S.CS_OBJECTS.items():
        names = {f["fieldName"] for f in spec["fields"]}
        assert all(set(r) == names for r in cs.all(obj)), obj
        assert all(r["Gsid"].startswith("1P0") for r in cs.all(obj))


def test_users_accounts_and_contacts_are_consistent(stores):
    crm, _, counts = stores
    users = {u["Id"]: u for u in crm.all("User")}
    titles = Counter(u["Title"] for u in users.values())
    assert titles == {"Account Executive": 10, "Customer Success Manager": 10}  # 400/40 each
    accounts = crm.all("Account")
    types = Counter(a["Type"] for a in accounts)
    assert 0.7 < types["Customer"] / len(accounts) < 0.9 and types["Customer"] + types["Prospect"] == len(
        accounts
    )
    contacts_by_acc = defaultdict(list)
    for c in crm.all("Contact"):
        contacts_by_acc[c["AccountId"]].append(c)
    emails = [c["Email"] for c in crm.all("Contact")]
    assert len(emails) == len(set(emails))
    for a in accounts:
        cons = contacts_by_acc[a["Id"]]
        assert 2 <= len(cons) <= 8
        roles = Counter(c["Contact_Role__c"] for c in cons)
        assert roles["Champion"] == 1 and roles["Executive Sponsor"] <= 1
        champion = next(c for c in cons if c["Contact_Role__c"] == "Champion")
        assert a["Champion_Contact__c"] == champion["Id"]
        assert users[a["OwnerId"]]["Title"] == "Account Executive"
        assert a["Tier__c"] in S.TIERS_CRM and a["Industry"] in S.INDUSTRIES
        if a["Type"] == "Customer":
            assert users[a["CSM_Owner__c"]]["Title"] == "Customer Success Manager"
            assert a["Renewal_ARR__c"] > 0 and round(a["Renewal_ARR__c"], 2) == a["Renewal_ARR__c"]
            assert a["Contract_Start_Date__c"] < a["Contract_End_Date__c"] == a["Renewal_Date__c"]
            assert a["Executive_Sponsor__c"] in {c["Id"] for c in cons}
            score = a["Health_Score__c"]
            assert 0 <= score <= 100 and -100 <= a["NPS__c"] <= 100 and 1 <= a["CSAT__c"] <= 5
            assert a["Health_Color__c"] == ("Red" if score < 40 else "Yellow" if score < 70 else "Green")
        else:
            assert a["Contract_Start_Date__c"] is None and a["Renewal_ARR__c"] is None
            assert a["Health_Score__c"] is None and a["CSM_Owner__c"] is None
    # some customers renew within 120 days of the anchor, and tiers go from few Strategic to many SMB
    soon = [a for a in accounts if a["Type"] == "Customer" and a["Contract_End_Date__c"] <= "2027-03-01"]
    assert soon
    tiers = Counter(a["Tier__c"] for a in accounts)
    assert tiers["Strategic"] < tiers["Enterprise"] < tiers["Mid-Market"] < tiers["SMB"]


def test_timestamps_lie_in_the_90_days_before_the_anchor(stores):
    crm, cs, _ = stores
    lo = (ANCHOR - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%S")
    hi = ANCHOR.strftime("%Y-%m-%dT%H:%M:%S")
    for obj in S.CRM_OBJECTS:
        for r in crm.all(obj):
            assert lo <= r["CreatedDate"][:19] < r["SystemModstamp"][:19] < hi
            assert r["SystemModstamp"] == r["LastModifiedDate"] and r["CreatedDate"].endswith(".000+0000")
    for obj in S.CS_OBJECTS:
        for r in cs.all(obj):
            assert lo <= r["CreatedDate"][:19] <= r["ModifiedDate"][:19] < hi and r["ModifiedDate"].endswith(
                "Z"
            )


def test_opportunities_and_contact_roles(stores):
    crm, _, _ = stores
    accounts = {a["Id"]: a for a in crm.all("Account")}
    opps = crm.all("Opportunity")
    ocr_by_opp = defaultdict(list)
    for r in crm.all("OpportunityContactRole"):
        ocr_by_opp[r["OpportunityId"]].append(r)
    won = [o for o in opps if o["StageName"] == "Closed Won"]
    assert {o["AccountId"] for o in won} == {i for i, a in accounts.items() if a["Type"] == "Customer"}
    assert len(won) == len({o["AccountId"] for o in won})
    for o in won:
        acc = accounts[o["AccountId"]]
        assert o["IsClosed"] and o["IsWon"] and o["CloseDate"] == acc["Contract_Start_Date__c"]
        assert all(u in S.USE_CASES for u in o["Committed_Use_Cases__c"].split(";"))
        assert 0 <= o["Discount_Depth__c"] <= 40 and o["Implementation_Complexity__c"] in S.COMPLEXITY
        roles = ocr_by_opp[o["Id"]]
        assert 2 <= len(roles) <= 4 and sum(r["IsPrimary"] for r in roles) == 1
        assert all(r["Role"] in S.OCR_ROLES for r in roles)
    open_opps = [o for o in opps if not o["IsClosed"]]
    assert all(
        o["StageName"] in ("Prospecting", "Qualification", "Proposal", "Negotiation") for o in open_opps
    )
    assert any(o["Type"] == "Expansion" for o in open_opps)
    prospects = [i for i, a in accounts.items() if a["Type"] == "Prospect"]
    per = Counter(o["AccountId"] for o in open_opps if o["Type"] == "New Business")
    assert all(1 <= per[p] <= 2 for p in prospects)


def test_cs_mirrors_equal_crm_values_after_tier_mapping(stores):
    crm, cs, _ = stores
    accounts = {a["Id"]: a for a in crm.all("Account")}
    users = {u["Id"]: u for u in crm.all("User")}
    tier_map = dict(zip(S.TIERS_CRM, S.TIERS_CS, strict=True))
    companies = cs.all("Company")
    assert {c["SfdcAccountId"] for c in companies} == {
        i for i, a in accounts.items() if a["Type"] == "Customer"
    }
    pairs = {
        "Name": "Name",
        "Industry": "Industry",
        "Employees": "NumberOfEmployees",
        "Country__gc": "BillingCountry",
        "Website__gc": "Website",
        "Original_Contract_Date": "Contract_Start_Date__c",
        "Contract_End_Date__gc": "Contract_End_Date__c",
        "Contract_Value__gc": "Contract_Value__c",
        "Arr": "Renewal_ARR__c",
        "Renewal_Date": "Renewal_Date__c",
        "Champion_Sfdc_Contact_Id__gc": "Champion_Contact__c",
        "Exec_Sponsor_Sfdc_Contact_Id__gc": "Executive_Sponsor__c",
        "Champion_Stability__gc": "Champion_Stability__c",
        "CurrentScore": "Health_Score__c",
        "Health_Color__gc": "Health_Color__c",
        "Usage_Score__gc": "Product_Usage__c",
        "NPS": "NPS__c",
        "CSAT__gc": "CSAT__c",
        "Open_Tickets__gc": "Open_Tickets__c",
        "Score_Date__gc": "Health_Score_Date__c",
    }
    for c in companies:
        a = accounts[c["SfdcAccountId"]]
        for cs_field, crm_field in pairs.items():
            assert c[cs_field] == a[crm_field], (cs_field, crm_field)
        assert c["Tier__gc"] == tier_map[a["Tier__c"]]
        assert c["AE_Owner_Email__gc"] == users[a["OwnerId"]]["Email"]
        assert c["CSM_Owner_Name__gc"] == users[a["CSM_Owner__c"]]["Name"]
        assert c["Status"] == "Active" and c["Is_Deleted_In_Crm__gc"] is False


def test_people_and_deal_snapshots_mirror_contacts_and_won_deals(stores):
    crm, cs, _ = stores
    contacts = {c["Id"]: c for c in crm.all("Contact")}
    persons = {p["Gsid"]: p for p in cs.all("Person")}
    companies = {c["Gsid"]: c for c in cs.all("Company")}
    links = cs.all("company_person")
    assert (
        len(links)
        == len(persons)
        == sum(
            1
            for c in contacts.values()
            if c["AccountId"] in {co["SfdcAccountId"] for co in companies.values()}
        )
    )
    for link in links:
        c, p = contacts[link["Sfdc_Contact_Id__gc"]], persons[link["Person_ID"]]
        assert p["Email"] == c["Email"] and link["Role__gc"] == c["Contact_Role__c"]
        assert companies[link["Company_ID"]]["SfdcAccountId"] == c["AccountId"] == link["Sfdc_Account_Id__gc"]
    cutoff = (ANCHOR - timedelta(days=60)).date().isoformat()
    won = {o["Id"]: o for o in crm.all("Opportunity") if o["StageName"] == "Closed Won"}
    snaps = cs.all("Deal_Context_Snapshot__gc")
    assert {s["Sfdc_Opportunity_Id__gc"] for s in snaps} == {
        i for i, o in won.items() if o["CloseDate"] < cutoff
    }
    ocr = defaultdict(set)
    for r in crm.all("OpportunityContactRole"):
        ocr[r["OpportunityId"]].add(r["ContactId"])
    for s in snaps:
        o = won[s["Sfdc_Opportunity_Id__gc"]]
        assert (
            s["Committed_Use_Cases__gc"] == o["Committed_Use_Cases__c"]
            and s["Close_Date__gc"] == o["CloseDate"]
        )
        champion_map = json.loads(s["Champion_Map__gc"])
        assert {e["contact_id"] for e in champion_map} == ocr[o["Id"]]
        assert sum(e["is_primary"] for e in champion_map) == 1


def test_seed_persists_and_survives_a_reload(tmp_path):
    # How long seeding takes is measured by `make bench` (sandbox_seed_seconds), not here.
    crm, cs, counts = seeded(tmp_path, 5000, 1)
    crm.compact()
    cs.compact()
    assert counts["crm.Account"] == 5000
    crm.close()
    cs.close()
    again = Store(tmp_path, "crm")
    assert again.count("Account") == 5000 and again.count("Contact") == counts["crm.Contact"]
    again.close()


def test_anchor_parsing():
    assert parse_anchor(None) == datetime(2026, 11, 1, tzinfo=UTC)
    assert parse_anchor("2025-01-02T03:04:05") == datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
