"""Property: applying a mirror plan makes the mirror agree with the origin, and planning again finds nothing."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from shared_record.dictionary import load_dictionary
from shared_record.normalize import to_system
from shared_record.plan import get_path, plan_mirror

D = load_dictionary()
SPECS = [s for s in D.for_layer(1) if "." not in s.crm.field and not s.key]


def _crm_value(spec):
    return {
        "picklist": st.sampled_from([v.in_system("crm") for v in spec.values or ()] + [None]),
        "currency": st.one_of(st.none(), st.floats(0, 5e6, allow_nan=False).map(lambda x: round(x, 2))),
        "integer": st.one_of(st.none(), st.integers(0, 500_000)),
        "date": st.one_of(st.none(), st.dates().map(lambda d: d.isoformat())),
        "boolean": st.booleans(),
        "reference": st.one_of(st.none(), st.sampled_from(["0018a0000000001AAA", "0018a0000000002AAA"])),
        "url": st.one_of(st.none(), st.sampled_from(["https://a.example.com", "https://b.example.com"])),
    }.get(spec.type, st.one_of(st.none(), st.text(min_size=1, max_size=12).map(str.strip).filter(bool)))


accounts = st.fixed_dictionaries({s.crm.field: _crm_value(s) for s in SPECS})
companies = st.one_of(st.none(), st.fixed_dictionaries({s.cs.field: st.one_of(
    st.none(), st.just(to_system(s, "Enterprise", "cs")) if s.name == "tier" else st.none()) for s in SPECS}))


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from([f"001{i:015d}" for i in range(6)]), st.tuples(accounts, companies),
                       max_size=6))
def test_apply_then_replan_is_empty(population):
    source = {k: a for k, (a, _) in population.items()}
    mirror = {k: c for k, (_, c) in population.items() if c is not None}
    plan = plan_mirror(1, SPECS, "crm", source, mirror, create_missing=True)
    assert plan.kept_aside == []
    specs = {s.name: s for s in SPECS}
    for key, fields in plan.writes(specs).items():  # apply, as the CS platform would store it
        mirror.setdefault(key, {}).update(fields)
    again = plan_mirror(1, SPECS, "crm", source, mirror, create_missing=True)
    assert again.changes == [], again.lines()
    for key, account in source.items():
        tier = get_path(account, "Tier__c")
        if tier is not None:
            assert mirror[key]["Tier__gc"] == to_system(D["tier"], tier, "cs")
