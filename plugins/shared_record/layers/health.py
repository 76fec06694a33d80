"""Layer 4, health and engagement: CS Companies → CRM Accounts, read-only in the CRM.

One run: read the Companies modified in the run's data interval (or all of them in a full reconcile), keep
every score read in the ledger's health history, diff the layer-4 fields against the CRM Accounts and write
only differences — sObject Collections of 200, one Bulk API 2.0 job past the write path's bulk threshold.
A health that turns Red with a renewal inside 120 days alerts the account's AE once per change of state.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from shared_record.dictionary import FieldDictionary, load_dictionary
from shared_record.layers.common import (
    BufferedWrites,
    PlanLog,
    RunWindow,
    check_honest,
    chunks,
    note_plan,
    recorded_run,
    run_summary,
    soql_datetime,
    soql_string,
)
from shared_record.normalize import ValueRejected, to_canonical
from shared_record.plan import plan_mirror
from shared_record.write_path import DEFAULT_BULK_THRESHOLD, WritePath, WriteRequest

LAYER = 4
CRM_OBJECT, CS_OBJECT = "Account", "Company"
KEY_CS = "SfdcAccountId"
ID_BATCH = 500
RENEWAL_ALERT_DAYS = 120


def cs_fields(dictionary: FieldDictionary) -> list[str]:
    return list(dict.fromkeys(["Gsid", KEY_CS, *(s.cs.field for s in dictionary.for_layer(LAYER)), "ModifiedDate"]))


def crm_fields(dictionary: FieldDictionary) -> list[str]:
    base = ["Id", "Name", "Renewal_Date__c", "Renewal_ARR__c", "Owner.Name", "Owner.Email", "CSM_Owner__r.Email"]
    return list(dict.fromkeys([*base, *(s.crm.field for s in dictionary.for_layer(LAYER))]))


def read_source(window: RunWindow, cs: Any, dictionary: FieldDictionary, retry_keys: set[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    where = None
    if not window.full_reconcile:
        where = {"conditions": [{"name": "ModifiedDate", "alias": "A", "operator": "BTW",
                                 "value": [soql_datetime(window.start), soql_datetime(window.end)]}],
                 "expression": "A"}
    for page in cs.query_pages(CS_OBJECT, cs_fields(dictionary), where):
        for rec in page:
            if rec.get(KEY_CS):
                out[rec[KEY_CS]] = rec
    missing = sorted(retry_keys - set(out))
    for batch in chunks(missing, ID_BATCH):
        cond = {"conditions": [{"name": KEY_CS, "alias": "A", "value": list(batch), "operator": "IN"}],
                "expression": "A"}
        for page in cs.query_pages(CS_OBJECT, cs_fields(dictionary), cond):
            out.update({r[KEY_CS]: r for r in page if r.get(KEY_CS)})
    return out


def mirror_chunks(crm: Any, dictionary: FieldDictionary, ids: list[str], full: bool) -> Iterator[dict[str, dict]]:
    """The CRM accounts to diff against: by id for an incremental run (one chunk); for a full reconcile every
    account, one query page at a time, so they are never all in memory."""
    select = ", ".join(crm_fields(dictionary))
    if full:
        for page in crm.query_pages(f"SELECT {select} FROM {CRM_OBJECT}"):
            yield {r["Id"]: r for r in page}
        return
    out: dict[str, dict] = {}
    for batch in chunks(sorted(ids), ID_BATCH):
        soql = f"SELECT {select} FROM {CRM_OBJECT} WHERE Id IN ({', '.join(soql_string(i) for i in batch)})"
        for page in crm.query_pages(soql):
            out.update({r["Id"]: r for r in page})
    yield out


def history_rows(
    dictionary: FieldDictionary, source: dict[str, dict], accounts: dict[str, dict]
) -> list[dict[str, Any]]:
    """Health history rows from the Companies read (account, as-of, score, colour, ...), with the CRM's renewal
    ARR and date at that moment so RevOps can put ARR beside health over time. Unreadable scores are skipped."""
    specs = {s.name: s for s in dictionary.for_layer(LAYER)}
    rows = []
    for key, rec in source.items():
        row: dict[str, Any] = {"account_id": key}
        try:
            for name, column in (("health_score", "score"), ("health_color", "color"), ("product_usage", "usage"),
                                 ("nps", "nps"), ("csat", "csat"), ("open_tickets", "open_tickets"),
                                 ("health_score_date", "as_of")):
                row[column] = to_canonical(specs[name], rec.get(specs[name].cs.field), "cs")
        except ValueRejected:
            continue
        if row["as_of"] is None:
            continue
        row["as_of"] = date.fromisoformat(row["as_of"])
        account = accounts.get(key) or {}
        try:
            row["renewal_arr"] = to_canonical(dictionary["renewal_arr"], account.get("Renewal_ARR__c"), "crm")
            row["renewal_date"] = to_canonical(dictionary["renewal_date"], account.get("Renewal_Date__c"), "crm")
        except ValueRejected:  # a bad ARR is kept aside by layer 1; the score itself is still history
            row["renewal_arr"] = row["renewal_date"] = None
        rows.append(row)
    return rows


def run(
    window: RunWindow,
    crm: Any,
    cs: Any,
    ledger: Any,
    dictionary: FieldDictionary | None = None,
    alert: Any = None,
    today: date | None = None,
    bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
) -> dict[str, Any]:
    """One health run. Returns the run summary (also stored in the ledger).

    CRM writes use sObject Collections (200 per call) up to `bulk_threshold` records, one Bulk API 2.0 job above.
    """
    dictionary = dictionary or load_dictionary()
    specs = {s.name: s for s in dictionary.for_layer(LAYER)}
    plan_log = PlanLog()
    with recorded_run(ledger, window, LAYER) as tally:
        tally.api_calls = crm.calls
        cs.calls = crm.calls
        retry = {d["record_key"] for d in ledger.open_dead_letters(LAYER)}
        source = read_source(window, cs, dictionary, retry)
        tally.records_read = len(source)
        path = WritePath(dictionary, crm=crm, bulk_threshold=bulk_threshold)
        writes = BufferedWrites(path, WriteRequest("crm", CRM_OBJECT, [], "update"), ledger, window, LAYER, "Id",
                                tally)
        matched: set[str] = set()
        for mirror in mirror_chunks(crm, dictionary, list(source), window.full_reconcile) if source else ():
            present = {k: source[k] for k in mirror if k in source}
            matched.update(present)
            plan = plan_mirror(LAYER, dictionary.for_layer(LAYER), "cs", present, mirror, create_missing=False)
            note_plan(plan, plan_log, ledger, window, LAYER, tally)
            writes.add([{"Id": key, **fields} for key, fields in plan.writes(specs).items()])
            if not window.dry_run:  # a dry run only reports: no history rows, no alert states moved
                ledger.add_health(history_rows(dictionary, present, mirror))
                _red_alerts(ledger, present, mirror, alert, today or date.today(), dictionary)
        unmatched = {k: v for k, v in source.items() if k not in matched}  # no CRM account to write to
        tally.records_skipped = len(unmatched)
        if not window.dry_run:
            ledger.add_health(history_rows(dictionary, unmatched, {}))  # every score read is history
        writes.flush()
        check_honest(tally)
    return run_summary(LAYER, window, tally, plan_log)


def _red_alerts(ledger: Any, source: dict, mirror: dict, alert: Any, today: date,
                dictionary: FieldDictionary) -> None:
    """Alert the AE when health is Red and the renewal is inside 120 days: once per change of that state."""
    color_spec = dictionary["health_color"]
    states: dict[str, str] = {}
    for key, company in source.items():
        try:
            color = to_canonical(color_spec, company.get(color_spec.cs.field), "cs")
        except ValueRejected:
            continue
        renewal = mirror[key].get("Renewal_Date__c")
        at_risk = (color == "Red" and renewal is not None
                   and today <= date.fromisoformat(renewal) <= today + timedelta(days=RENEWAL_ALERT_DAYS))
        states[f"health_red_renewal:{key}"] = "red_renewal" if at_risk else "ok"
    changed = ledger.alert_states_changed(states)
    for alert_key in sorted(changed):
        key = alert_key.split(":", 1)[1]
        if states[alert_key] == "red_renewal" and alert is not None:
            account = mirror[key]
            alert(_red_alert(account, source[key], account["Renewal_Date__c"], today))


def _red_alert(account: dict, company: dict, renewal: str, today: date) -> Any:
    from shared_record.alerts import Alert

    owner = account.get("Owner") or {}
    csm = account.get("CSM_Owner__r") or {}
    days = (date.fromisoformat(renewal) - today).days
    return Alert(
        title=f"Red health {days} days before renewal: {account.get('Name')}",
        lines=(
            f"Health score {company.get('CurrentScore')} (Red) for `{account.get('Id')}`; renewal on {renewal}.",
            f"Renewal ARR in the CRM: {account.get('Renewal_ARR__c', 'see account')}. Talk to the CSM before the "
            "renewal conversation.",
        ),
        audience=tuple(x for x in (owner.get("Email"), csm.get("Email")) if x),
        severity="critical",
    )
