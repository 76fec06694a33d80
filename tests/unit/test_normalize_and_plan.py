"""Values normalised by dictionary type, and the mirror plan that writes only differences."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shared_record.dictionary import load_dictionary
from shared_record.normalize import ValueRejected, to_canonical, to_system
from shared_record.plan import plan_mirror

D = load_dictionary()


@pytest.mark.parametrize(
    ("field", "system", "raw", "canonical"),
    [
        ("contract_end_date", "crm", "2027-03-31", "2027-03-31"),
        ("contract_end_date", "cs", 1806451200000, "2027-03-31"),  # the CS platform's epoch milliseconds
        ("contract_end_date", "cs", "03-31-2027", "2027-03-31"),
        ("tier", "crm", "Mid-Market", "Mid-Market"),
        ("tier", "cs", "Tier 3 - Mid-Market", "Mid-Market"),
        ("renewal_arr", "crm", 120000, 120000.0),
        ("renewal_arr", "cs", "120000.004", 120000.0),
        ("employee_count", "crm", 250.0, 250),
        ("committed_use_cases", "crm", "Usage Billing;Customer 360", ("Customer 360", "Usage Billing")),
        ("committed_use_cases", "cs", ["Customer 360", "Usage Billing"], ("Customer 360", "Usage Billing")),
        ("crm_deleted", "cs", "false", False),
        ("ae_owner_email", "crm", "Ana.Silva@Example.com", "ana.silva@example.com"),
        ("renewal_arr", "crm", None, None),
    ],
)
def test_to_canonical(field, system, raw, canonical):
    assert to_canonical(D[field], raw, system) == canonical


@pytest.mark.parametrize(
    ("field", "raw", "reason"),
    [
        ("tier", "Platinum", "'Platinum' is not a known Tier value (expected one of: Strategic, Enterprise"),
        ("renewal_arr", -5000, "-5000 is below the minimum 0 for Renewal ARR"),
        ("contract_start_date", "31/02/2027", "not a date"),
        ("employee_count", "12.5", "not a whole number"),
        ("nps", 140, "above the maximum 100"),
    ],
)
def test_unmappable_values_are_rejected_with_a_reason(field, raw, reason):
    with pytest.raises(ValueRejected, match=reason.replace("(", r"\(")):
        to_canonical(D[field], raw, "crm" if D[field].origin == "crm" else "cs")


@given(st.sampled_from([v.value for v in D["tier"].values]))
def test_picklist_round_trips_through_each_system(value):
    spec = D["tier"]
    for system in ("crm", "cs"):
        assert to_canonical(spec, to_system(spec, value, system), system) == value


@given(st.dates(min_value=datetime(1990, 1, 1).date(), max_value=datetime(2090, 1, 1).date()))
def test_dates_agree_whether_read_as_iso_or_epoch_ms(d):
    spec = D["renewal_date"]
    ms = int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp() * 1000)
    assert to_canonical(spec, d.isoformat(), "crm") == to_canonical(spec, ms, "cs") == d.isoformat()


def _account(**kw):
    base = {"Id": "001A", "Name": "Acme", "Tier__c": "SMB", "Renewal_ARR__c": 1000.0, "Owner": {"Name": "Ana",
            "Email": "ana@x.io"}, "IsDeleted": False, "Contract_End_Date__c": "2027-01-31"}
    return {**base, **kw}


def _company(**kw):
    base = {"SfdcAccountId": "001A", "Name": "Acme", "Tier__gc": "Tier 4 - SMB", "Arr": 1000,
            "AE_Owner_Name__gc": "Ana", "AE_Owner_Email__gc": "ana@x.io", "Is_Deleted_In_Crm__gc": False,
            "Contract_End_Date__gc": 1801353600000}
    return {**base, **kw}


def test_plan_writes_only_what_differs():
    specs = D.for_layer(1)
    same = plan_mirror(1, specs, "crm", {"001A": _account()}, {"001A": _company()}, create_missing=True)
    assert same.changes == [] and same.records_compared == 1
    changed = plan_mirror(1, specs, "crm", {"001A": _account(Tier__c="Enterprise")}, {"001A": _company()},
                          create_missing=True)
    assert [(c.field, c.old, c.new) for c in changed.changes] == [("tier", "SMB", "Enterprise")]
    assert changed.writes({s.name: s for s in specs}) == {"001A": {"Tier__gc": "Tier 2 - Enterprise"}}
    assert changed.lines() == ["001A tier: 'SMB' -> 'Enterprise' (crm_to_cs, mirror)"]


def test_plan_keeps_bad_values_aside_and_writes_the_rest():
    plan = plan_mirror(1, D.for_layer(1), "crm", {"001A": _account(Renewal_ARR__c=-1, Tier__c="Enterprise")},
                       {"001A": _company()}, create_missing=True)
    assert [(k.field, k.value) for k in plan.kept_aside] == [("renewal_arr", -1)]
    assert "below the minimum" in plan.kept_aside[0].reason
    assert [c.field for c in plan.changes] == ["tier"]


def test_plan_creates_missing_records_only_when_asked():
    specs = D.for_layer(1)
    plan = plan_mirror(1, specs, "crm", {"001A": _account()}, {}, create_missing=True)
    assert plan.creates == {"001A"} and {c.rule for c in plan.changes} == {"create"}
    assert plan_mirror(1, specs, "crm", {"001A": _account()}, {}, create_missing=False).changes == []


def test_a_dry_run_returns_a_bounded_plan_and_says_how_long_the_whole_one_is(caplog):
    """The summary is the task's XCom (stored in Airflow's metadata DB): a dry full reconcile of a large org
    must not put 100,000 plan lines there, nor hold them. The whole plan is in the task log."""
    import logging
    from datetime import UTC, datetime

    from shared_record.layers.common import PLAN_XCOM_LINES, PlanLog, RunWindow, run_summary
    from shared_record.ledger import RunMetrics

    start, end = datetime(2026, 11, 1, 10, tzinfo=UTC), datetime(2026, 11, 1, 11, tzinfo=UTC)
    lines = [f"001{i:015d} tier: 'SMB' -> 'Strategic' (crm_to_cs, mirror)" for i in range(PLAN_XCOM_LINES * 3)]
    plan = PlanLog()
    with caplog.at_level(logging.INFO, logger="shared_record"):
        for part in (lines[:700], lines[700:]):  # planned in two chunks
            plan.add(part)
    assert [r.getMessage() for r in caplog.records if r.getMessage().startswith("plan: ")] == [
        f"plan: {line}" for line in lines]
    dry = run_summary(1, RunWindow("account_master", "r1", start, start, end, dry_run=True), RunMetrics(), plan)
    assert dry["plan"] == lines[:PLAN_XCOM_LINES] and dry["plan_lines_total"] == len(lines)
    wet = run_summary(1, RunWindow("account_master", "r2", start, start, end), RunMetrics(), plan)
    assert "plan" not in wet and wet["window"] == [start.isoformat(), end.isoformat()]
