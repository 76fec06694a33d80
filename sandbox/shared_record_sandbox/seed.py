"""Reproducible seed data for both sandboxes: a CRM org and the CS platform mirroring its customers.

Same (accounts, seed, anchor) → byte-identical records and ids. Fast enough for 100,000 accounts: Faker is
called only to build small pools of names/titles once, every record is then combined from the pools with
one `random.Random(seed)`, and timestamps are formatted from precomputed day prefixes. Records go into the
stores with `put_many(journal=False)`; the caller persists them with `compact()`.

The CS side is derived from the CRM side, so every layer-1 mirror value and every health value is equal in
both systems after the dictionary's mappings (tier CRM → CS); the sync DAGs start from a consistent
state and only the edits a test or the demo makes show up as changes.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from faker import Faker

from shared_record_sandbox import schema as S
from shared_record_sandbox.ids import gsid, sf_id
from shared_record_sandbox.store import Store

DEFAULT_ANCHOR = "2026-11-01T00:00:00Z"
WINDOW_DAYS = 90  # every seeded timestamp lies within this many days before the anchor
GSID_COUNTER = "cs:gsid"  # the CS sandbox continues numbering GSIDs from here
SNAPSHOT_MIN_AGE_DAYS = 60  # closed-won deals older than this already have a deal-context snapshot

_TIER_WEIGHTS = (3, 12, 30, 55)  # Strategic few ... SMB many
_TIER_EMPLOYEES = ((10_000, 150_000), (2_000, 9_999), (200, 1_999), (10, 199))
_TIER_ACV = ((400_000, 2_000_000), (120_000, 400_000), (30_000, 120_000), (5_000, 30_000))
_COUNTRIES = (
    ["United States"] * 10 + ["United Kingdom"] * 3 + ["Germany"] * 3 + ["France"] * 2 + ["Canada"] * 2
    + ["Australia", "Netherlands", "Sweden", "Japan", "Brazil", "India", "Spain", "Ireland", "Singapore"]
)
_CORES = [
    "Analytics", "Systems", "Logistics", "Health", "Labs", "Networks", "Dynamics", "Partners", "Software",
    "Industries", "Capital", "Media", "Energy", "Foods", "Robotics", "Security", "Cloud", "Data", "Retail",
    "Manufacturing", "Bio", "Mobility", "Payments", "Learning", "Telecom", "Solutions", "Works", "Holdings",
]
_SUFFIXES = ["Inc", "LLC", "Group", "Ltd", "Corp", "GmbH", "", "", ""]
_ROLE_TITLES = {
    "Champion": ["Director of Revenue Operations", "Head of Customer Analytics", "VP Operations",
                 "Senior Manager, Sales Operations", "Director of Business Systems"],
    "Executive Sponsor": ["Chief Revenue Officer", "Chief Operating Officer", "VP Sales",
                          "Chief Financial Officer", "Chief Customer Officer"],
    "Decision Maker": ["VP Finance", "Head of Procurement", "Director of IT", "VP Customer Success"],
    "Technical Evaluator": ["Data Engineer", "Solutions Architect", "Salesforce Administrator", "IT Manager"],
    "Influencer": ["Sales Operations Analyst", "Marketing Operations Manager", "Customer Success Lead"],
    "End User": ["Account Manager", "Business Analyst", "Sales Representative", "Support Specialist"],
}
_OTHER_ROLES = ["Decision Maker", "Technical Evaluator", "Influencer", "End User"]
_PROMISES = [
    "Dedicated onboarding manager for 90 days", "Salesforce integration live within 30 days",
    "Quarterly executive business reviews", "Custom SSO configuration at no extra cost",
    "Price lock for the first renewal", "Data migration of three years of history",
    "Priority support with a 4-hour response SLA", "Sandbox environment for the admin team",
]
_RED_FLAGS = [
    "Champion is new in role", "Budget approved only for year one", "Competing tool still under contract",
    "Security review not finished at signature", "Executive sponsor disengaged during the cycle",
]
_OPEN_STAGES = ["Prospecting", "Qualification", "Proposal", "Negotiation"]


def parse_anchor(value: str | None) -> datetime:
    """The seed anchor as an aware UTC datetime (`SANDBOX_SEED_ANCHOR`, ISO; default 2026-11-01T00:00:00Z)."""
    text = (value or DEFAULT_ANCHOR).strip().replace("Z", "+00:00")
    dt = datetime.fromisoformat(text)
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(year, month, day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


class _Clock:
    """Fast timestamp formatting for instants in the seed window (seconds before the anchor)."""

    def __init__(self, anchor: datetime) -> None:
        self.anchor = anchor
        self.window = WINDOW_DAYS * 86400
        start = anchor - timedelta(days=WINDOW_DAYS + 1)
        base = datetime(start.year, start.month, start.day, tzinfo=UTC)
        self._base = base
        self._offset = int((anchor - base).total_seconds())  # anchor's second index from `base`
        self._days = [(base + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(WINDOW_DAYS + 3)]

    def _parts(self, secs_before: int) -> tuple[str, int, int, int]:
        t = self._offset - secs_before
        day, rem = divmod(t, 86400)
        h, rem = divmod(rem, 3600)
        m, s = divmod(rem, 60)
        return self._days[day], h, m, s

    def sf(self, secs_before: int) -> str:
        d, h, m, s = self._parts(secs_before)
        return f"{d}T{h:02d}:{m:02d}:{s:02d}.000+0000"

    def gs(self, secs_before: int) -> str:
        d, h, m, s = self._parts(secs_before)
        return f"{d}T{h:02d}:{m:02d}:{s:02d}Z"


class _Pools:
    """Name/title pools built once from Faker(seed), so per-record work is only Random draws."""

    def __init__(self, seed: int) -> None:
        fake = Faker("en_US")
        fake.seed_instance(seed)
        self.first = sorted({fake.first_name() for _ in range(1500)})
        self.last = sorted({fake.last_name() for _ in range(1500)})
        self.company_words = sorted({fake.last_name() for _ in range(800)} | {
            w.split()[0].strip(",") for w in (fake.company() for _ in range(800))
        })


def _stamps(rng: random.Random, clock: _Clock) -> tuple[str, str]:
    """CreatedDate < SystemModstamp = LastModifiedDate, both in the window (Salesforce format)."""
    created = rng.randrange(3600, clock.window)
    modified = rng.randrange(1, created - 60)
    return clock.sf(created), clock.sf(modified)


def seed(crm: Store, cs: Store, accounts: int, seed: int, anchor: datetime) -> dict[str, int]:
    """Fill empty `crm` and `cs` stores with `accounts` accounts and everything hanging off them.

    Returns record counts by system and object ({"crm.Account": n, ..., "cs.Company": n, ..., "seconds"}).
    Writes with `journal=False`: call `compact()` on both stores afterwards to persist.
    """
    t0 = time.perf_counter()
    rng = random.Random(seed)
    pools = _Pools(seed)
    clock = _Clock(anchor)
    today = anchor.date()
    day_str: dict[int, str] = {}

    def dstr(d: date) -> str:  # date → "YYYY-MM-DD", cached (few thousand distinct dates)
        k = d.toordinal()
        s = day_str.get(k)
        if s is None:
            s = day_str[k] = d.isoformat()
        return s

    counters = {name: 0 for name in S.KEY_PREFIXES}

    def next_id(obj: str) -> str:
        counters[obj] += 1
        return sf_id(S.KEY_PREFIXES[obj], counters[obj])

    gs_n = 0

    def next_gsid() -> str:
        nonlocal gs_n
        gs_n += 1
        return gsid(gs_n)

    crm_out: dict[str, list[dict[str, Any]]] = {o: [] for o in S.CRM_OBJECTS}
    cs_out: dict[str, list[dict[str, Any]]] = {o: [] for o in S.CS_OBJECTS}
    first, last = pools.first, pools.last

    # ---- users: AEs and CSMs -----------------------------------------------------------------
    per_role = max(5, round(accounts / 40))
    aes: list[dict[str, Any]] = []
    csms: list[dict[str, Any]] = []
    for title, bucket in (("Account Executive", aes), ("Customer Success Manager", csms)):
        for _ in range(per_role):
            fn, ln = rng.choice(first), rng.choice(last)
            created, modified = _stamps(rng, clock)
            uid = next_id("User")
            user = {
                "Id": uid, "CreatedDate": created, "LastModifiedDate": modified, "SystemModstamp": modified,
                "Name": f"{fn} {ln}",
                "Email": f"{fn.lower()}.{ln.lower()}.{counters['User']}@example-saas.com",
                "Title": title, "IsActive": True,
            }
            bucket.append(user)
            crm_out["User"].append(user)

    # ---- accounts and everything hanging off them -------------------------------------------------
    used_names: set[str] = set()
    used_domains: set[str] = set()
    words = pools.company_words
    tiers = range(4)
    for _ in range(accounts):
        while True:
            name = f"{rng.choice(words)} {rng.choice(_CORES)}"
            suffix = rng.choice(_SUFFIXES)
            full = f"{name} {suffix}" if suffix else name
            if full not in used_names:
                break
        used_names.add(full)
        domain = "".join(ch for ch in name.lower() if ch.isalnum())
        base_domain, n = domain, 1
        while domain in used_domains:
            n += 1
            domain = f"{base_domain}{n}"
        used_domains.add(domain)
        domain += rng.choice((".com", ".com", ".io", ".co", ".net"))

        tier = rng.choices(tiers, _TIER_WEIGHTS)[0]
        lo, hi = _TIER_EMPLOYEES[tier]
        employees = rng.randint(lo, hi)
        customer = rng.random() < 0.8
        ae = rng.choice(aes)
        csm = rng.choice(csms) if customer else None
        created, modified = _stamps(rng, clock)
        acc_id = next_id("Account")
        acc: dict[str, Any] = {
            "Id": acc_id, "IsDeleted": False, "CreatedDate": created, "LastModifiedDate": modified,
            "SystemModstamp": modified, "MasterRecordId": None, "Name": full,
            "Type": "Customer" if customer else "Prospect", "Industry": rng.choice(S.INDUSTRIES),
            "BillingCountry": rng.choice(_COUNTRIES), "Website": f"https://www.{domain}",
            "NumberOfEmployees": employees, "OwnerId": ae["Id"], "Tier__c": S.TIERS_CRM[tier],
            "CSM_Owner__c": csm["Id"] if csm else None,
            "Contract_Start_Date__c": None, "Contract_End_Date__c": None, "Contract_Value__c": None,
            "Renewal_ARR__c": None, "Renewal_Date__c": None, "Champion_Contact__c": None,
            "Executive_Sponsor__c": None, "Champion_Stability__c": None, "Health_Score__c": None,
            "Health_Color__c": None, "Product_Usage__c": None, "NPS__c": None, "CSAT__c": None,
            "Open_Tickets__c": None, "Health_Score_Date__c": None,
        }
        crm_out["Account"].append(acc)

        # contacts: first is the champion, second (customers always, prospects often) the exec sponsor
        n_contacts = rng.randint(2, 8)
        has_sponsor = customer or rng.random() < 0.5
        contacts = []
        seen_local: set[str] = set()
        for i in range(n_contacts):
            if i == 0:
                role = "Champion"
            elif i == 1 and has_sponsor:
                role = "Executive Sponsor"
            else:
                role = rng.choice(_OTHER_ROLES)
            fn, ln = rng.choice(first), rng.choice(last)
            local = f"{fn.lower()}.{ln.lower()}"
            if local in seen_local:  # a namesake at the same company: keep emails unique
                local = f"{local}{i}"
            seen_local.add(local)
            c_created, c_modified = _stamps(rng, clock)
            contact = {
                "Id": next_id("Contact"), "IsDeleted": False, "CreatedDate": c_created,
                "LastModifiedDate": c_modified, "SystemModstamp": c_modified, "MasterRecordId": None,
                "AccountId": acc_id, "FirstName": fn, "LastName": ln, "Name": f"{fn} {ln}",
                "Email": f"{local}@{domain}",
                "Phone": f"+1-{rng.randint(201, 989)}-555-{rng.randint(0, 9999):04d}",
                "Title": rng.choice(_ROLE_TITLES[role]), "OwnerId": ae["Id"], "Contact_Role__c": role,
                "Engagement_Level__c": rng.choices(S.ENGAGEMENT_LEVELS, (35, 40, 20, 5))[0]
                if role in ("Champion", "Executive Sponsor") else rng.choice(S.ENGAGEMENT_LEVELS),
            }
            contacts.append(contact)
        crm_out["Contact"].extend(contacts)
        acc["Champion_Contact__c"] = contacts[0]["Id"]
        if has_sponsor:
            acc["Executive_Sponsor__c"] = contacts[1]["Id"]

        if not customer:
            for _ in range(rng.randint(1, 2)):
                o_created, o_modified = _stamps(rng, clock)
                crm_out["Opportunity"].append(_open_opp(rng, next_id("Opportunity"), acc, "New Business",
                                                        o_created, o_modified, dstr, today, ae["Id"]))
            continue

        # ---- customer: contract, health, closed-won deal, CS mirror --------------------------------
        term = rng.choice((12, 12, 24, 36))
        term_days = term * 365 // 12
        if rng.random() < 0.25:  # renewing soon: the end date falls within 120 days of the anchor
            back = rng.randint(term_days - 120, term_days - 1)
        else:
            back = rng.randint(1, term_days - 121)
        start = today - timedelta(days=back)
        end = _add_months(start, term)
        if end <= today:
            end = today + timedelta(days=1)
        lo, hi = _TIER_ACV[tier]
        acv = rng.randint(lo, hi)
        contract_value = float(acv * term // 12)
        arr = round(acv * rng.uniform(0.9, 1.3), 2)
        score = float(rng.randint(5, 100) if rng.random() < 0.8 else rng.randint(5, 45))
        color = "Red" if score < 40 else "Yellow" if score < 70 else "Green"
        health = {
            "Health_Score__c": score, "Health_Color__c": color,
            "Product_Usage__c": round(rng.uniform(5, 100), 1), "NPS__c": float(rng.randint(-100, 100)),
            "CSAT__c": round(rng.uniform(1, 5), 1), "Open_Tickets__c": float(rng.randint(0, 15)),
            "Health_Score_Date__c": dstr(today - timedelta(days=rng.randint(1, 14))),
        }
        stability = rng.choices(S.CHAMPION_STABILITY, (75, 15, 10))[0]
        acc.update({
            "Contract_Start_Date__c": dstr(start), "Contract_End_Date__c": dstr(end),
            "Contract_Value__c": contract_value, "Renewal_ARR__c": arr, "Renewal_Date__c": dstr(end),
            "Champion_Stability__c": stability, **health,
        })

        o_created, o_modified = _stamps(rng, clock)
        opp_id = next_id("Opportunity")
        use_cases = sorted(rng.sample(S.USE_CASES, rng.randint(1, 3)), key=S.USE_CASES.index)
        opp = {
            "Id": opp_id, "IsDeleted": False, "CreatedDate": o_created, "LastModifiedDate": o_modified,
            "SystemModstamp": o_modified, "AccountId": acc_id, "Name": f"{full} - New Business",
            "Type": "New Business", "StageName": "Closed Won", "IsClosed": True, "IsWon": True,
            "CloseDate": dstr(start), "Amount": contract_value, "OwnerId": ae["Id"],
            "Committed_Use_Cases__c": ";".join(use_cases),
            "Promises_Made__c": "; ".join(rng.sample(_PROMISES, rng.randint(1, 3))),
            "Discount_Depth__c": float(rng.randint(0, 40)), "ICP_Fit_Score__c": float(rng.randint(20, 100)),
            "AE_Red_Flags__c": rng.choice(_RED_FLAGS) if rng.random() < 0.3 else None,
            "Implementation_Complexity__c": rng.choices(S.COMPLEXITY, (40, 40, 20))[0],
        }
        crm_out["Opportunity"].append(opp)
        k = min(len(contacts), rng.randint(2, 4))
        ocr_contacts = contacts[:2] + rng.sample(contacts[2:], k - 2) if k > 2 else contacts[:k]
        champion_map = []
        for j, c in enumerate(ocr_contacts):
            role = ("Economic Buyer" if c["Contact_Role__c"] == "Executive Sponsor" else
                    "Business User" if j == 0 else rng.choice(S.OCR_ROLES))
            r_created, r_modified = _stamps(rng, clock)
            crm_out["OpportunityContactRole"].append({
                "Id": next_id("OpportunityContactRole"), "IsDeleted": False, "CreatedDate": r_created,
                "LastModifiedDate": r_modified, "SystemModstamp": r_modified, "OpportunityId": opp_id,
                "ContactId": c["Id"], "Role": role, "IsPrimary": j == 0,
            })
            champion_map.append({"contact_id": c["Id"], "role": role, "is_primary": j == 0})
        if rng.random() < 0.1:
            e_created, e_modified = _stamps(rng, clock)
            crm_out["Opportunity"].append(_open_opp(rng, next_id("Opportunity"), acc, "Expansion", e_created,
                                                    e_modified, dstr, today, ae["Id"]))

        g_created = rng.randrange(3600, clock.window)
        g_modified = rng.randrange(1, g_created - 60)
        company_gsid = next_gsid()
        stage = ("Onboarding" if back < 90 else "Renewing" if (end - today).days <= 120 else "Adopting")
        cs_out["Company"].append({
            "Gsid": company_gsid, "CreatedDate": clock.gs(g_created), "ModifiedDate": clock.gs(g_modified),
            "Name": full, "SfdcAccountId": acc_id, "Industry": acc["Industry"], "Employees": employees,
            "Country__gc": acc["BillingCountry"], "Website__gc": acc["Website"], "Status": "Active",
            "Stage": stage, "Tier__gc": S.TIERS_CS[tier], "AE_Owner_Name__gc": ae["Name"],
            "AE_Owner_Email__gc": ae["Email"], "CSM_Owner_Name__gc": csm["Name"] if csm else None,
            "CSM_Owner_Email__gc": csm["Email"] if csm else None,
            "Original_Contract_Date": acc["Contract_Start_Date__c"],
            "Contract_End_Date__gc": acc["Contract_End_Date__c"], "Contract_Value__gc": contract_value,
            "Arr": arr, "Renewal_Date": acc["Renewal_Date__c"], "Is_Deleted_In_Crm__gc": False,
            "Merged_Into_Account_Id__gc": None, "Champion_Sfdc_Contact_Id__gc": acc["Champion_Contact__c"],
            "Exec_Sponsor_Sfdc_Contact_Id__gc": acc["Executive_Sponsor__c"],
            "Champion_Stability__gc": stability, "CurrentScore": score, "Health_Color__gc": color,
            "Usage_Score__gc": health["Product_Usage__c"], "NPS": health["NPS__c"],
            "CSAT__gc": health["CSAT__c"], "Open_Tickets__gc": health["Open_Tickets__c"],
            "Score_Date__gc": health["Health_Score_Date__c"],
        })
        for c in contacts:
            p_created = rng.randrange(3600, clock.window)
            p_mod = clock.gs(rng.randrange(1, p_created - 60))
            person_gsid = next_gsid()
            cs_out["Person"].append({
                "Gsid": person_gsid, "CreatedDate": clock.gs(p_created), "ModifiedDate": p_mod,
                "Email": c["Email"], "FirstName": c["FirstName"], "LastName": c["LastName"],
                "Phone__gc": c["Phone"],
            })
            cs_out["company_person"].append({
                "Gsid": next_gsid(), "CreatedDate": clock.gs(p_created), "ModifiedDate": p_mod,
                "Company_ID": company_gsid, "Person_ID": person_gsid, "Sfdc_Contact_Id__gc": c["Id"],
                "Sfdc_Account_Id__gc": acc_id, "Title": c["Title"], "Role__gc": c["Contact_Role__c"],
                "Engagement_Level__gc": c["Engagement_Level__c"], "Active": True,
            })
        if back > SNAPSHOT_MIN_AGE_DAYS:
            s_secs = rng.randrange(1, clock.window)
            cs_out["Deal_Context_Snapshot__gc"].append({
                "Gsid": next_gsid(), "CreatedDate": clock.gs(s_secs), "ModifiedDate": clock.gs(s_secs),
                "Sfdc_Opportunity_Id__gc": opp_id, "Sfdc_Account_Id__gc": acc_id, "Company_ID": company_gsid,
                "Committed_Use_Cases__gc": opp["Committed_Use_Cases__c"],
                "Promises_Made__gc": opp["Promises_Made__c"],
                "Champion_Map__gc": json.dumps(champion_map),
                "Discount_Depth__gc": opp["Discount_Depth__c"], "ICP_Fit_Score__gc": opp["ICP_Fit_Score__c"],
                "AE_Red_Flags__gc": opp["AE_Red_Flags__c"],
                "Implementation_Complexity__gc": opp["Implementation_Complexity__c"],
                "Close_Date__gc": opp["CloseDate"], "Closed_Amount__gc": opp["Amount"],
                "Snapshot_Taken_At__gc": clock.gs(s_secs),
            })

    for obj, rows in crm_out.items():
        crm.put_many(obj, rows, "Id", journal=False)
    for obj, rows in cs_out.items():
        cs.put_many(obj, rows, "Gsid", journal=False)
    cs.meta_set(f"counter:{GSID_COUNTER}", gs_n)
    counts: dict[str, Any] = {f"crm.{o}": len(r) for o, r in crm_out.items()}
    counts.update({f"cs.{o}": len(r) for o, r in cs_out.items()})
    counts["seconds"] = round(time.perf_counter() - t0, 2)
    return counts


def _open_opp(rng: random.Random, opp_id: str, acc: dict[str, Any], kind: str, created: str, modified: str,
              dstr: Any, today: date, owner: str) -> dict[str, Any]:
    """An open opportunity (stage before Closed) closing in the next four months."""
    return {
        "Id": opp_id, "IsDeleted": False, "CreatedDate": created, "LastModifiedDate": modified,
        "SystemModstamp": modified, "AccountId": acc["Id"], "Name": f"{acc['Name']} - {kind}", "Type": kind,
        "StageName": rng.choice(_OPEN_STAGES), "IsClosed": False, "IsWon": False,
        "CloseDate": dstr(today + timedelta(days=rng.randint(10, 120))),
        "Amount": float(rng.randrange(5_000, 300_000, 500)), "OwnerId": owner, "Committed_Use_Cases__c": None,
        "Promises_Made__c": None, "Discount_Depth__c": None, "ICP_Fit_Score__c": float(rng.randint(20, 100)),
        "AE_Red_Flags__c": None, "Implementation_Complexity__c": None,
    }
