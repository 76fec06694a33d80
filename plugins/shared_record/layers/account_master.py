"""Layer 1, account master: CRM Accounts → CS Companies, read-only in the CS platform.

One run: read the Accounts whose SystemModstamp falls in the run's data interval (inclusive at both ends, so
records on a boundary are never lost; the diff absorbs the overlap), plus Companies edited in the CS platform
during the interval (a hand edit of a mirror field is an ownership violation) and the dead letters of earlier
runs; compare with what the CS platform holds; write only the fields that differ, 50 per call.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from shared_record.dictionary import FieldDictionary, load_dictionary
from shared_record.layers.common import (
    BufferedWrites,
    PlanLog,
    RunWindow,
    check_honest,
    chunks,
    log,
    note_plan,
    record_results,
    recorded_run,
    run_summary,
    soql_datetime,
    soql_string,
)
from shared_record.ledger import RunMetrics
from shared_record.plan import SyncPlan, plan_mirror
from shared_record.write_path import WritePath, WriteRequest

LAYER = 1
CRM_OBJECT, CS_OBJECT = "Account", "Company"
KEY_CRM, KEY_CS = "Id", "SfdcAccountId"
ID_BATCH = 500  # ids per IN (...) filter: well inside SOQL's 100,000-character limit


def crm_fields(dictionary: FieldDictionary) -> list[str]:
    fields = [s.crm.field for s in dictionary.for_layer(LAYER)]
    return list(dict.fromkeys([KEY_CRM, *fields, "CSM_Owner__c", "SystemModstamp"]))


def cs_fields(dictionary: FieldDictionary) -> list[str]:
    fields = [s.cs.field for s in dictionary.for_layer(LAYER)]
    return list(dict.fromkeys(["Gsid", KEY_CS, *fields, "ModifiedDate"]))


def read_crm(crm: Any, dictionary: FieldDictionary, where: str | None, tally: RunMetrics) -> dict[str, dict]:
    soql = f"SELECT {', '.join(crm_fields(dictionary))} FROM {CRM_OBJECT}" + (f" WHERE {where}" if where else "")
    out: dict[str, dict] = {}
    for page in crm.query_pages(soql, include_deleted=True):
        for rec in page:
            out[rec[KEY_CRM]] = rec
    return out


def read_crm_by_ids(crm: Any, dictionary: FieldDictionary, ids: list[str], tally: RunMetrics) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for batch in chunks(sorted(ids), ID_BATCH):
        out.update(read_crm(crm, dictionary, f"Id IN ({', '.join(soql_string(i) for i in batch)})", tally))
    return out


def read_cs(cs: Any, dictionary: FieldDictionary, where: dict | None) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for page in cs.query_pages(CS_OBJECT, cs_fields(dictionary), where):
        for rec in page:
            if rec.get(KEY_CS):
                out[rec[KEY_CS]] = rec
    return out


def read_cs_by_keys(cs: Any, dictionary: FieldDictionary, keys: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for batch in chunks(sorted(keys), ID_BATCH):
        where = {"conditions": [{"name": KEY_CS, "alias": "A", "value": list(batch), "operator": "IN"}],
                 "expression": "A"}
        out.update(read_cs(cs, dictionary, where))
    return out


def _cs_window(window: RunWindow) -> dict:
    return {"conditions": [{"name": "ModifiedDate", "alias": "A", "operator": "BTW",
                            "value": [soql_datetime(window.start), soql_datetime(window.end)]}],
            "expression": "A"}


def plan_chunks(
    window: RunWindow, crm: Any, cs: Any, ledger: Any, dictionary: FieldDictionary, tally: RunMetrics
) -> Iterator[tuple[SyncPlan, dict[str, dict], set[str], list[tuple[str, str, str]]]]:
    """Read both sides and diff them, one chunk at a time: the whole window at once for an incremental run;
    for a full reconcile, every company (held, so the CS platform is read in 5,000s) against the accounts
    one CRM query page at a time, so the accounts are never all in memory.

    Yields, per chunk: the plan, the CRM records, the keys hand-edited in the CS platform, merged companies to
    re-point.
    """
    if window.full_reconcile:
        mirror = read_cs(cs, dictionary, None)
        # Merged-away accounts first: their companies are re-pointed before any survivor is planned, whatever
        # page the survivor is on (planned earlier without its company, it would get a second one).
        merged = read_crm(crm, dictionary, "MasterRecordId != null", tally)
        done = set(merged)
        first = _plan(crm, cs, dictionary, merged, mirror, set(), tally)
        done |= set(first[1])  # the survivors planned with their losers
        yield first
        soql = f"SELECT {', '.join(crm_fields(dictionary))} FROM {CRM_OBJECT}"
        for page in crm.query_pages(soql, include_deleted=True):
            yield _plan(crm, cs, dictionary, {r[KEY_CRM]: r for r in page if r[KEY_CRM] not in done}, mirror,
                        set(), tally)
        return
    where = (f"SystemModstamp >= {soql_datetime(window.start)} "
             f"AND SystemModstamp <= {soql_datetime(window.end)}")
    source = read_crm(crm, dictionary, where, tally)
    edited_in_cs = read_cs(cs, dictionary, _cs_window(window))
    hand_edited = set(edited_in_cs) - set(source)
    retry = {d["record_key"] for d in ledger.open_dead_letters(LAYER)} - set(source)
    extra = (hand_edited | retry) - set(source)
    if extra:
        source.update(read_crm_by_ids(crm, dictionary, sorted(extra), tally))
    missing = sorted(set(source) - set(edited_in_cs))
    mirror = {**read_cs_by_keys(cs, dictionary, missing), **edited_in_cs} if source else {}
    yield _plan(crm, cs, dictionary, source, mirror, hand_edited, tally)


def _plan(crm: Any, cs: Any, dictionary: FieldDictionary, source: dict[str, dict], mirror: dict[str, dict],
          hand_edited: set[str], tally: RunMetrics) -> tuple[SyncPlan, dict[str, dict], set[str], list]:
    read = set(source)
    repoints = _repoint_merged(crm, cs, dictionary, source, mirror, tally)
    tally.records_read += len(read | set(source))  # with the survivors read for a re-point
    # An account enters the CS platform once RevOps assigns it a CSM; deleted accounts are only ever marked.
    eligible = {k for k, r in source.items() if k in mirror or (r.get("CSM_Owner__c") and not r.get("IsDeleted"))}
    plan = plan_mirror(LAYER, dictionary.for_layer(LAYER), "crm",
                       {k: v for k, v in source.items() if k in eligible}, mirror, create_missing=True)
    tally.records_skipped += len(source) - len(eligible)
    hand_edited = {k for k in hand_edited if k in mirror}
    plan.changes = [replace(c, rule="overwrite hand edit in CS") if c.record_key in hand_edited else c
                    for c in plan.changes]
    return plan, source, hand_edited, repoints


def _repoint_merged(
    crm: Any, cs: Any, dictionary: FieldDictionary, source: dict[str, dict], mirror: dict[str, dict], tally: RunMetrics
) -> list[tuple[str, str, str]]:
    """Accounts merged away in the CRM: move their CS company to the surviving account when it has none.

    Returns (company Gsid, losing account, surviving account) per re-pointed company; `source` and `mirror`
    are updated so the plan then brings the company up to date with the survivor. When the survivor already
    has a company, the loser's company is only marked (deleted in CRM, merged into the survivor).
    """
    losers = {k: r["MasterRecordId"] for k, r in source.items() if r.get("MasterRecordId") and k in mirror}
    if not losers:
        return []
    masters = sorted(set(losers.values()))
    have_company = set(read_cs_by_keys(cs, dictionary, masters))
    survivors = read_crm_by_ids(crm, dictionary, [m for m in masters if m not in have_company], tally)
    repoints = []
    for loser, master in sorted(losers.items()):
        if master in have_company or master not in survivors or master in mirror:
            continue
        company = mirror.pop(loser)
        mirror[master] = {**company, KEY_CS: master}
        source.pop(loser)
        source[master] = survivors[master]
        repoints.append((company["Gsid"], loser, master))
    return repoints


def run(
    window: RunWindow,
    crm: Any,
    cs: Any,
    ledger: Any,
    dictionary: FieldDictionary | None = None,
    alert: Any = None,
) -> dict[str, Any]:
    """One account-master run. Returns the run summary (also stored in the ledger)."""
    dictionary = dictionary or load_dictionary()
    plan_log = PlanLog()
    with recorded_run(ledger, window, LAYER) as tally:
        tally.api_calls = crm.calls
        cs.calls = crm.calls
        specs = {s.name: s for s in dictionary.for_layer(LAYER)}
        path = WritePath(dictionary, cs=cs)
        writes = BufferedWrites(path, WriteRequest("cs", CS_OBJECT, [], "upsert", keys=(KEY_CS,)), ledger, window,
                                LAYER, KEY_CS, tally)
        for plan, source, hand_edited, repoints in plan_chunks(window, crm, cs, ledger, dictionary, tally):
            note_plan(plan, plan_log, ledger, window, LAYER, tally)
            violations = [c for c in plan.changes if c.record_key in hand_edited]
            tally.violations += len(violations)
            if not window.dry_run:  # a dry run only reports: recording a violation would mute the real run's alert
                for c in violations:
                    if ledger.record_violation(window.run_id, LAYER, "cs", CS_OBJECT, c.record_key, c.field,
                                               str(c.new), str(c.old)) and alert is not None:
                        alert(_violation_alert(c, source.get(c.record_key, {})))
            if repoints:
                _write_repoints(window, ledger, path, plan, repoints, tally)
            writes.add([{KEY_CS: key, **fields} for key, fields in plan.writes(specs).items()])
        writes.flush()
        check_honest(tally)
    return run_summary(LAYER, window, tally, plan_log)


def _write_repoints(window: RunWindow, ledger: Any, path: WritePath, plan: SyncPlan,
                    repoints: list[tuple[str, str, str]], tally: RunMetrics) -> None:
    """Move merged-away accounts' companies to the survivors (by Gsid) before anything is written by key."""
    for gsid, loser, master in repoints:
        log.info("plan: %s merged into %s: CS company %s re-pointed (crm_to_cs, merge)", loser, master, gsid)
    moved = [{"Gsid": g, KEY_CS: master} for g, _, master in repoints]
    results = path.write(WriteRequest("cs", CS_OBJECT, moved, "upsert", keys=("Gsid",)), dry_run=window.dry_run)
    if window.dry_run:
        return
    for (gsid, loser, master), res in zip(repoints, results, strict=True):
        if res.success:
            ledger.record_merge(CRM_OBJECT, loser, master, gsid)
        else:  # the loser's company stays as it was; the next run tries again
            plan.changes = [c for c in plan.changes if c.record_key != master]
    record_results(ledger, window, LAYER, "cs", CS_OBJECT, results, {r["Gsid"]: r for r in moved}, tally)


def _violation_alert(change: Any, account: dict[str, Any]) -> Any:
    from shared_record.alerts import Alert

    owner = account.get("Owner") or {}
    csm = account.get("CSM_Owner__r") or {}
    return Alert(
        title=f"Ownership violation: {change.field} edited in the CS platform",
        lines=(
            f"Account {account.get('Name') or change.record_key} (`{change.record_key}`): "
            f"`{change.field}` is owned by RevOps in the CRM and read-only in the CS platform.",
            f"CS platform had {change.old!r}; the CRM value {change.new!r} was written back.",
            "Change it in Salesforce (or propose a dictionary change) instead of editing the CS platform.",
        ),
        audience=tuple(x for x in ("revops", csm.get("Email"), owner.get("Email")) if x),
        severity="warning",
    )
