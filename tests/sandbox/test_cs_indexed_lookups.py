"""The CS sandbox answers an EQ/IN lookup on an SFDC-id field from its key index: the answer must be exactly
that of a full scan, before and after writes move records in and out of the index, and writes made in one
API call are journalled (and survive a reload) like any other."""

from __future__ import annotations

from shared_record_sandbox.cs import CsService
from shared_record_sandbox.faults import FaultInjector
from shared_record_sandbox.store import Store


def _service(tmp_path) -> CsService:
    store = Store(tmp_path, "cs")
    svc = CsService(store, FaultInjector(), "k")
    svc.write("Company", {"records": [{"Name": f"Co {i}", "SfdcAccountId": f"001A{i % 7:03d}"}
                                      for i in range(30)]}, None)
    return svc


def _scan(svc: CsService, where: dict) -> list[dict]:
    pred = svc._predicate("Company", where)
    return sorted((r for r in svc.store.all("Company") if pred(r)), key=lambda r: r["Gsid"])


def _lookup(svc: CsService, where: dict) -> list[str]:
    body = {"select": ["Gsid", "SfdcAccountId"], "where": where, "limit": 5000}
    return [r["Gsid"] for r in svc.query("Company", body)["records"]]


def test_indexed_lookup_equals_a_scan_through_writes(tmp_path):
    svc = _service(tmp_path)
    assert svc.warm_indexes() >= 1
    where = {"conditions": [{"name": "SfdcAccountId", "alias": "A", "operator": "IN",
                             "value": ["001A001", "001A003", "missing"]}], "expression": "A"}
    eq = {"conditions": [{"name": "SfdcAccountId", "alias": "A", "operator": "EQ", "value": ["001A002"]}]}
    assert svc._indexed_candidates("Company", where) is not None
    for w in (where, eq):
        assert _lookup(svc, w) == [r["Gsid"] for r in _scan(svc, w)] and _lookup(svc, w)

    moved = _lookup(svc, eq)[0]  # re-key one company and add a new one: both must show up at once
    svc.write("Company", {"records": [{"Gsid": moved, "SfdcAccountId": "001A001"}]}, ["Gsid"])
    svc.write("Company", {"records": [{"Name": "New", "SfdcAccountId": "001A003"}]}, None)
    for w in (where, eq):
        assert _lookup(svc, w) == [r["Gsid"] for r in _scan(svc, w)]
    assert moved in _lookup(svc, where) and moved not in _lookup(svc, eq)


def test_other_filters_still_scan(tmp_path):
    svc = _service(tmp_path)
    two = {"conditions": [{"name": "SfdcAccountId", "alias": "A", "operator": "IN", "value": ["001A001"]},
                          {"name": "Name", "alias": "B", "operator": "EQ", "value": ["Co 1"]}],
           "expression": "A OR B"}
    assert svc._indexed_candidates("Company", two) is None
    assert _lookup(svc, two) == [r["Gsid"] for r in _scan(svc, two)]


def test_a_batched_write_call_is_journalled(tmp_path):
    svc = _service(tmp_path)
    svc.store.close()
    again = Store(tmp_path, "cs")
    assert again.count("Company") == 30


def test_range_filters_answer_like_a_scan_through_writes(tmp_path):
    svc = _service(tmp_path)
    gsids = sorted(r["Gsid"] for r in svc.store.all("Company"))
    for i, g in enumerate(gsids):  # spread ModifiedDate over a day, some records in odd formats
        stamp = f"2026-11-20T{i % 24:02d}:{i % 60:02d}:00" + ("Z" if i % 3 else ".000Z")
        svc.admin_update("Company", g, {"Name": f"Co {i}!"}, stamp)

    def check() -> None:
        for op, value in (("BTW", ["2026-11-20T05:00:00Z", "2026-11-20T10:30:00Z"]),
                          ("GTE", ["2026-11-20T20:00:00Z"]), ("LT", ["2026-11-20T03:00:00Z"]),
                          ("BTW", ["2026-11-20T10:00:00Z", "2026-11-20T10:00:00Z"])):
            where = {"conditions": [{"name": "ModifiedDate", "alias": "A", "operator": op, "value": value}],
                     "expression": "A"}
            assert svc._range_candidates("Company", where) is not None
            assert _lookup(svc, where) == [r["Gsid"] for r in _scan(svc, where)]

    check()
    svc.admin_update("Company", gsids[0], {"Name": "moved"}, "2026-11-20T06:00:00Z")
    svc.write("Company", {"records": [{"Name": "New", "SfdcAccountId": "001A009"}]}, None, "2026-11-20T07:00:00Z")
    svc.delete("Company", gsids[1])
    check()


def test_crm_window_queries_answer_like_a_scan_in_the_same_order(tmp_path):
    from shared_record_sandbox import seed as seeding
    from shared_record_sandbox.crm import soql
    from shared_record_sandbox.crm.org import Org

    crm, cs = Store(tmp_path, "crm"), Store(tmp_path, "cs")
    seeding.seed(crm, cs, 120, 1, seeding.parse_anchor(None))
    org = Org(crm)
    ids = [r["Id"] for r in crm.all("Account")][:40]
    for i, rid in enumerate(ids):
        org.update("Account", rid, {"Name": f"X{i}"}, f"2026-11-20T10:{i:02d}:00Z")
    org.delete("Account", ids[3], "2026-11-20T10:30:00Z")
    for where in ("SystemModstamp >= 2026-11-20T10:05:00Z AND SystemModstamp <= 2026-11-20T10:20:00Z",
                  "SystemModstamp > 2026-11-20T10:05:00Z", "SystemModstamp < 2026-10-01T00:00:00Z"):
        for include_deleted in (False, True):
            plan = soql.compile_query(f"SELECT Id FROM Account WHERE {where}", org, include_deleted)
            assert plan.range is not None
            got = plan.run()
            plan.range = None  # the same query as a full scan
            assert got == plan.run() and got


def test_crm_id_lookups_answer_like_a_scan_in_the_same_order(tmp_path):
    from shared_record_sandbox import seed as seeding
    from shared_record_sandbox.crm import soql
    from shared_record_sandbox.crm.org import Org

    crm, cs = Store(tmp_path, "crm"), Store(tmp_path, "cs")
    seeding.seed(crm, cs, 60, 1, seeding.parse_anchor(None))
    org = Org(crm)
    ids = [r["Id"] for r in crm.all("Account")]
    org.delete("Account", ids[5], "2026-11-20T10:30:00Z")
    picked = [ids[40], ids[5], ids[2], ids[2][:15], "001000000000000AAA"]  # out of order, a 15-char id, a miss
    quoted = ", ".join(f"'{i}'" for i in picked)
    for where in (f"Id IN ({quoted})", f"Id = '{ids[7]}'", f"Id IN ({quoted}) AND Name != 'nobody'",
                  f"Name != 'nobody' AND Id IN ({quoted})"):
        for include_deleted in (False, True):
            plan = soql.compile_query(f"SELECT Id, Name FROM Account WHERE {where}", org, include_deleted)
            assert plan.ids is not None, where
            got = plan.run()
            plan.ids = None  # the same query as a full scan
            assert got == plan.run() and got, where
    plan = soql.compile_query(f"SELECT Id FROM Account WHERE Id IN ({quoted}) OR Name = 'x'", org)
    assert plan.ids is None  # an OR needs the scan
