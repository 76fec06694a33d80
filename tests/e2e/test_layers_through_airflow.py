"""Layers 1 and 4 run through Airflow (`dag.test()`) against the sandboxes, as a user would see them.

Each test edits records as a user of one system would (sandbox admin API, with the change placed inside a
chosen past interval), runs the DAG for that interval, then looks at both systems, the ledger and Slack.
Every test uses its own day in November 2026 (after the seed data's timestamps) and its own ledger.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from e2e_helpers import (
    ROOT,
    TIER_CS,
    _used,
    company,
    crm_account,
    cs_writes,
    customers,
    iso,
    other_tier,
    run_dag,
)

pytestmark = pytest.mark.e2e

def test_crm_change_arrives_and_nothing_else_is_written_and_a_rerun_writes_nothing(env):
    end = datetime(2026, 11, 3, 10, tzinfo=UTC)
    a, b = customers(env, 2)
    new_tier = other_tier(a["Tier__c"])
    env["crm"].call("PATCH", f"/__admin/records/Account/{a['Id']}",
                    json={"fields": {"Tier__c": new_tier}, "as_of": iso(end - timedelta(minutes=30))})
    env["crm"].call("PATCH", f"/__admin/records/Account/{b['Id']}",  # a change outside the window
                    json={"fields": {"Renewal_ARR__c": 1.0}, "as_of": iso(end + timedelta(minutes=30))})
    env["cs"].call("DELETE", "/__admin/stats")

    assert run_dag("account_master", end).state == "success"

    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[new_tier]
    assert company(env, b["Id"])["Arr"] != 1.0
    stats = env["cs"].call("GET", "/__admin/stats")
    assert stats["calls"]["write"] == 1 and stats["records_written"] == {"Company": 1}
    run = env["ledger"].recent_runs(dag_id="account_master", limit=1)[0]
    assert (run["records_read"], run["records_changed"], run["records_written"]) == (1, 1, 1)
    assert run["status"] == "success"

    env["cs"].call("DELETE", "/__admin/stats")
    assert run_dag("account_master", end).state == "success"
    assert cs_writes(env) == 0


def test_backfill_of_two_past_intervals_picks_up_exactly_their_changes(env):
    first_end = datetime(2026, 11, 4, 9, tzinfo=UTC)
    a, b, c = customers(env, 3)
    for acc, end in ((a, first_end), (b, first_end + timedelta(hours=1)), (c, first_end + timedelta(hours=2))):
        env["crm"].call("PATCH", f"/__admin/records/Account/{acc['Id']}",
                        json={"fields": {"Tier__c": other_tier(acc["Tier__c"])},
                              "as_of": iso(end - timedelta(minutes=1))})
    for end in (first_end, first_end + timedelta(hours=1)):  # backfill two intervals, not the third
        assert run_dag("account_master", end).state == "success"
    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[other_tier(a["Tier__c"])]
    assert company(env, b["Id"])["Tier__gc"] == TIER_CS[other_tier(b["Tier__c"])]
    assert company(env, c["Id"])["Tier__gc"] == TIER_CS[c["Tier__c"]]
    runs = env["ledger"].recent_runs(dag_id="account_master", limit=2)
    assert sorted(r["records_written"] for r in runs) == [1, 1]


def test_hand_edit_in_cs_is_reverted_recorded_and_alerted_once(env):
    end = datetime(2026, 11, 5, 10, tzinfo=UTC)
    (a,) = customers(env, 1)
    co = company(env, a["Id"])
    wrong = TIER_CS[other_tier(a["Tier__c"])]
    before = len(env["sandbox"].slack_messages())
    env["cs"].call("PATCH", f"/__admin/records/Company/{co['Gsid']}",
                   json={"fields": {"Tier__gc": wrong}, "as_of": iso(end - timedelta(minutes=10))})

    assert run_dag("account_master", end).state == "success"

    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[a["Tier__c"]]
    violations = env["ledger"].violations()
    assert [(v["record_key"], v["field"], v["found_value"]) for v in violations] == [(a["Id"], "tier", other_tier(
        a["Tier__c"]))]
    alerts = env["sandbox"].slack_messages()[before:]
    assert len(alerts) == 1 and "Ownership violation" in alerts[0]["payload"]["text"]
    assert a["Id"] in alerts[0]["payload"]["text"]

    # The same hand edit again in a later hour: reverted again, but RevOps is not alerted a second time.
    env["cs"].call("PATCH", f"/__admin/records/Company/{co['Gsid']}",
                   json={"fields": {"Tier__gc": wrong}, "as_of": iso(end + timedelta(minutes=50))})
    assert run_dag("account_master", end + timedelta(hours=1)).state == "success"
    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[a["Tier__c"]]
    assert len(env["sandbox"].slack_messages()) == before + 1


def test_a_dry_run_first_does_not_mute_the_real_runs_alert(env):
    """On-call looks before writing: the dry run reports the hand edit but records and alerts nothing, so the
    real run that follows still reverts it, records it and alerts RevOps once."""
    end = datetime(2026, 11, 19, 10, tzinfo=UTC)
    (a,) = customers(env, 1)
    co = company(env, a["Id"])
    before = len(env["sandbox"].slack_messages())
    env["cs"].call("PATCH", f"/__admin/records/Company/{co['Gsid']}",
                   json={"fields": {"Tier__gc": TIER_CS[other_tier(a["Tier__c"])]},
                         "as_of": iso(end - timedelta(minutes=10))})

    assert run_dag("account_master", end, dry_run=True).state == "success"
    dry = env["ledger"].recent_runs(dag_id="account_master", limit=1)[0]
    assert dry["dry_run"] and dry["violations"] == 1
    assert env["ledger"].violations() == [] and len(env["sandbox"].slack_messages()) == before
    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[other_tier(a["Tier__c"])]

    assert run_dag("account_master", end).state == "success"
    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[a["Tier__c"]]
    assert [v["record_key"] for v in env["ledger"].violations()] == [a["Id"]]
    alerts = env["sandbox"].slack_messages()[before:]
    assert len(alerts) == 1 and a["Id"] in alerts[0]["payload"]["text"]


def test_bad_value_is_kept_aside_with_its_reason_and_the_rest_is_written(env):
    end = datetime(2026, 11, 6, 10, tzinfo=UTC)
    (a,) = customers(env, 1)
    arr_before = company(env, a["Id"])["Arr"]
    env["crm"].call("PATCH", f"/__admin/records/Account/{a['Id']}",
                    json={"fields": {"Renewal_ARR__c": -2500, "Tier__c": other_tier(a["Tier__c"])},
                          "as_of": iso(end - timedelta(minutes=5))})
    assert run_dag("account_master", end).state == "success"
    co = company(env, a["Id"])
    assert co["Arr"] == arr_before and co["Tier__gc"] == TIER_CS[other_tier(a["Tier__c"])]
    kept = env["ledger"].kept_aside()
    assert [(k["record_key"], k["field"]) for k in kept] == [(a["Id"], "renewal_arr")]
    assert "below the minimum 0" in kept[0]["reason"]


def test_delete_and_merge_are_carried(env):
    end = datetime(2026, 11, 7, 10, tzinfo=UTC)
    gone, master, loser = customers(env, 3)
    at = iso(end - timedelta(minutes=5))
    env["crm"].call("DELETE", f"/__admin/records/Account/{gone['Id']}", json={"as_of": at})
    env["crm"].call("POST", "/__admin/merge", json={"object": "Account", "master_id": master["Id"],
                                                     "loser_ids": [loser["Id"]], "as_of": at})
    assert run_dag("account_master", end).state == "success"
    assert company(env, gone["Id"])["Is_Deleted_In_Crm__gc"] is True  # marked, not hard-deleted
    merged = company(env, loser["Id"])
    assert merged["Merged_Into_Account_Id__gc"] == master["Id"] and merged["Is_Deleted_In_Crm__gc"] is True


def test_dry_run_lists_the_plan_and_writes_nothing(env, caplog):
    end = datetime(2026, 11, 8, 10, tzinfo=UTC)
    (a,) = customers(env, 1)
    env["crm"].call("PATCH", f"/__admin/records/Account/{a['Id']}",
                    json={"fields": {"Tier__c": other_tier(a["Tier__c"])}, "as_of": iso(end - timedelta(minutes=5))})
    env["cs"].call("DELETE", "/__admin/stats")
    assert run_dag("account_master", end, dry_run=True).state == "success"
    assert cs_writes(env) == 0
    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[a["Tier__c"]]
    run = env["ledger"].recent_runs(dag_id="account_master", limit=1)[0]
    assert run["dry_run"] and run["records_changed"] == 1 and run["records_written"] == 0
    log = caplog.text
    assert f"plan: {a['Id']} tier: '{a['Tier__c']}' -> '{other_tier(a['Tier__c'])}' (crm_to_cs, mirror)" in log


def test_a_change_on_the_interval_boundary_is_not_lost(env):
    """Read inclusively at both ends: a record stamped exactly on the boundary is seen by both intervals,
    and the second run finds nothing left to write."""
    end = datetime(2026, 11, 17, 10, tzinfo=UTC)
    (a,) = customers(env, 1)
    env["crm"].call("PATCH", f"/__admin/records/Account/{a['Id']}",
                    json={"fields": {"Tier__c": other_tier(a["Tier__c"])}, "as_of": iso(end)})
    assert run_dag("account_master", end).state == "success"
    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[other_tier(a["Tier__c"])]
    env["cs"].call("DELETE", "/__admin/stats")
    assert run_dag("account_master", end + timedelta(hours=1)).state == "success"
    run = env["ledger"].recent_runs(dag_id="account_master", limit=1)[0]
    assert run["records_read"] == 1 and run["records_written"] == 0 and cs_writes(env) == 0


def test_per_record_errors_are_dead_lettered_then_retried(env):
    end = datetime(2026, 11, 9, 10, tzinfo=UTC)
    a, b = customers(env, 2)
    for acc in (a, b):
        env["crm"].call("PATCH", f"/__admin/records/Account/{acc['Id']}",
                        json={"fields": {"Tier__c": other_tier(acc["Tier__c"])},
                              "as_of": iso(end - timedelta(minutes=5))})
    env["cs"].call("POST", "/__admin/faults", json={"kind": "record_error", "rate": 1.0, "count": 1,
                                                     "object": "Company", "code": "GSOBJ_LOCKED"})
    assert run_dag("account_master", end).state == "success"
    letters = env["ledger"].open_dead_letters(1)
    assert len(letters) == 1 and letters[0]["error_code"] == "GSOBJ_LOCKED"
    stuck = letters[0]["record_key"]
    assert company(env, stuck)["Tier__gc"] == TIER_CS[next(x for x in (a, b) if x["Id"] == stuck)["Tier__c"]]

    # The next hourly run has nothing new in its window, yet retries the dead letter.
    assert run_dag("account_master", end + timedelta(hours=1)).state == "success"
    assert env["ledger"].open_dead_letters(1) == []
    for acc in (a, b):
        assert company(env, acc["Id"])["Tier__gc"] == TIER_CS[other_tier(acc["Tier__c"])]


def test_health_drop_reaches_the_crm_and_alerts_the_ae_once(env):
    end = datetime(2026, 11, 10, 12, tzinfo=UTC)  # a 4-hour interval 08:00-12:00
    today = date.today()
    rows = env["crm"].call("GET", "/__admin/records/Account", params={"Type": "Customer", "IsDeleted": "false"})
    renewing = [r for r in sorted(rows["records"], key=lambda r: r["Id"]) if r["Id"] not in _used
                and r.get("Renewal_Date__c") and r.get("CSM_Owner__c")
                and today < date.fromisoformat(r["Renewal_Date__c"]) <= today + timedelta(days=110)]
    acc = renewing[0]
    _used.add(acc["Id"])
    co = company(env, acc["Id"])
    before = len(env["sandbox"].slack_messages())
    env["cs"].call("PATCH", f"/__admin/records/Company/{co['Gsid']}",
                   json={"fields": {"CurrentScore": 28, "Health_Color__gc": "Red", "Score_Date__gc": "2026-11-10"},
                         "as_of": iso(end - timedelta(hours=1))})

    assert run_dag("health", end).state == "success"

    account = crm_account(env, acc["Id"])
    assert (account["Health_Score__c"], account["Health_Color__c"], account["Health_Score_Date__c"]) == (
        28, "Red", "2026-11-10")
    alerts = env["sandbox"].slack_messages()[before:]
    assert len(alerts) == 1 and "Red health" in alerts[0]["payload"]["text"]
    owner = env["crm"].call("GET", f"/__admin/records/User/{acc['OwnerId']}")
    assert owner["Email"] in alerts[0]["payload"]["text"]
    with env["ledger"].engine.connect() as conn:  # RevOps reads the history with plain SQL
        history = conn.exec_driver_sql("SELECT score, color, as_of FROM health_history WHERE account_id = ?",
                                       (acc["Id"],)).all()
    assert [(h[0], h[1], str(h[2])) for h in history] == [(28, "Red", "2026-11-10")]
    readme = (ROOT / "README.md").read_text()
    query = readme.split("```sql", 1)[1].split("```", 1)[0]  # the README's ARR-by-health query runs as printed
    with env["ledger"].engine.connect() as conn:
        rows = conn.exec_driver_sql(query).all()
    assert ("2026-11", "Red", 1, round(float(acc["Renewal_ARR__c"]), 2)) in [tuple(r) for r in rows]

    assert run_dag("health", end).state == "success"  # rerun: same state, no second alert
    assert len(env["sandbox"].slack_messages()) == before + 1


def test_merge_into_an_account_without_company_re_points_the_company(env):
    end = datetime(2026, 11, 11, 10, tzinfo=UTC)
    (loser,) = customers(env, 1)
    prospects = env["crm"].call("GET", "/__admin/records/Account", params={"Type": "Prospect", "IsDeleted": "false"})
    master = next(p for p in sorted(prospects["records"], key=lambda r: r["Id"]) if p["Id"] not in _used)
    _used.add(master["Id"])
    gsid = company(env, loser["Id"])["Gsid"]
    env["crm"].call("POST", "/__admin/merge", json={"object": "Account", "master_id": master["Id"],
                                                     "loser_ids": [loser["Id"]],
                                                     "as_of": iso(end - timedelta(minutes=5))})
    assert run_dag("account_master", end).state == "success"
    moved = env["cs"].call("GET", "/__admin/records/Company", params={"Gsid": gsid})["records"][0]
    assert moved["SfdcAccountId"] == master["Id"] and moved["Name"] == master["Name"]
    assert moved["Is_Deleted_In_Crm__gc"] is False
    assert env["cs"].call("GET", "/__admin/records/Company", params={"SfdcAccountId": loser["Id"]})["records"] == []
    assert [(m["loser_id"], m["master_id"], m["cs_record_id"]) for m in env["ledger"].merges()] == [
        (loser["Id"], master["Id"], gsid)]


def test_full_reconcile_repairs_what_no_window_saw(env):
    """A value changed without a SystemModstamp inside any recent window (formula/roll-up, or an outage)."""
    (a,) = customers(env, 1)
    env["crm"].call("PATCH", f"/__admin/records/Account/{a['Id']}",
                    json={"fields": {"Tier__c": other_tier(a["Tier__c"])}, "as_of": "2026-01-15T00:00:00Z"})
    end = datetime(2026, 11, 12, 10, tzinfo=UTC)
    assert run_dag("account_master", end).state == "success"
    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[a["Tier__c"]]  # the window did not see it
    assert run_dag("account_master", end, full_reconcile=True).state == "success"
    assert company(env, a["Id"])["Tier__gc"] == TIER_CS[other_tier(a["Tier__c"])]
    run = env["ledger"].recent_runs(dag_id="account_master", limit=1)[0]
    assert run["mode"] == "full_reconcile" and run["records_read"] > 300


def test_quota_exhaustion_fails_the_run_and_alerts(env):
    end = datetime(2026, 11, 13, 10, tzinfo=UTC)
    before = len(env["sandbox"].slack_messages())
    env["crm"].call("POST", "/__admin/faults", json={"kind": "rate_limit", "rate": 1.0})
    dag_run = run_dag("account_master", end)
    assert dag_run.state == "failed"
    run = env["ledger"].recent_runs(dag_id="account_master", limit=1)[0]
    assert run["status"] == "failed" and "QuotaExhausted" in run["error"]
    alerts = env["sandbox"].slack_messages()[before:]
    assert alerts and "account_master failed" in alerts[-1]["payload"]["text"]
    assert "QuotaExhausted" in alerts[-1]["payload"]["text"]
