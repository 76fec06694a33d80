"""BufferedWrites: what a run that plans in chunks (a full reconcile, page by page) sends to a platform.

The platform here is a small in-memory CS platform behind the hook interface (`upsert(object, records, keys)`),
so the tests can look at what it ended up holding and how many requests it took."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from shared_record.dictionary import load_dictionary
from shared_record.errors import OwnershipViolation
from shared_record.hooks.base import WriteResult
from shared_record.layers.common import BufferedWrites, RunWindow
from shared_record.ledger import Ledger, RunMetrics
from shared_record.write_path import WritePath, WriteRequest

D = load_dictionary()
START, END = datetime(2026, 11, 1, 10, tzinfo=UTC), datetime(2026, 11, 1, 11, tzinfo=UTC)


class Platform:
    """Holds companies by SfdcAccountId; rejects the keys in `locked` as the real platform would a locked row."""

    def __init__(self, locked: set[str] = frozenset()) -> None:
        self.companies: dict[str, dict] = {}
        self.requests: list[int] = []
        self.locked = locked

    def upsert(self, obj: str, records: list[dict], keys: tuple[str, ...]) -> list[WriteResult]:
        self.requests.append(len(records))
        out = []
        for rec in records:
            key = rec["SfdcAccountId"]
            if key in self.locked:
                out.append(WriteResult(key, False, error_code="UNABLE_TO_LOCK_ROW", error_message="locked"))
                continue
            self.companies.setdefault(key, {}).update(rec)
            out.append(WriteResult(key, True))
        return out


def _buffer(platform: Platform, ledger: Ledger, tally: RunMetrics, dry_run: bool = False, flush_at: int = 100):
    window = RunWindow("account_master", "run-1", START, START, END, dry_run=dry_run)
    request = WriteRequest("cs", "Company", [], "upsert", keys=("SfdcAccountId",))
    return BufferedWrites(WritePath(D, cs=platform), request, ledger, window, 1, "SfdcAccountId", tally,
                          flush_at=flush_at)


@pytest.fixture()
def ledger(tmp_path):
    led = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}")
    yield led
    led.dispose()


def test_chunks_are_sent_in_full_batches_merged_by_key(ledger):
    platform, tally = Platform(), RunMetrics()
    writes = _buffer(platform, ledger, tally)
    for page in range(5):  # five pages of 50 changed accounts
        writes.add([{"SfdcAccountId": f"001{page:02d}{i:03d}", "Arr": 1000 + i} for i in range(50)])
    writes.add([{"SfdcAccountId": "00104000", "Tier__gc": "Tier 1 - Strategic"}])  # same key, still pending
    writes.flush()
    assert platform.requests == [100, 100, 50]  # 250 distinct accounts: two full flushes, then the rest
    assert len(platform.companies) == 250 and tally.records_written == 250
    assert platform.companies["00104000"] == {"SfdcAccountId": "00104000", "Arr": 1000,
                                              "Tier__gc": "Tier 1 - Strategic"}
    writes.flush()
    assert platform.requests == [100, 100, 50]  # nothing pending: no empty request


def test_rejects_are_dead_lettered_and_the_rest_written(ledger):
    platform, tally = Platform(locked={"001B"}), RunMetrics()
    writes = _buffer(platform, ledger, tally)
    writes.add([{"SfdcAccountId": k, "Arr": 5} for k in ("001A", "001B", "001C")])
    writes.flush()
    assert sorted(platform.companies) == ["001A", "001C"]
    assert (tally.records_written, tally.records_rejected) == (2, 1)
    dead = ledger.open_dead_letters(1)
    assert [(d["record_key"], d["error_code"]) for d in dead] == [("001B", "UNABLE_TO_LOCK_ROW")]


def test_a_refused_field_raises_when_added_and_nothing_of_it_is_sent(ledger):
    platform, tally = Platform(), RunMetrics()
    writes = _buffer(platform, ledger, tally)
    writes.add([{"SfdcAccountId": "001A", "Arr": 5}])
    with pytest.raises(OwnershipViolation, match="health_score"):
        writes.add([{"SfdcAccountId": "001B", "CurrentScore": 10}])  # CS-owned: never written from the CRM side
    writes.flush()
    assert sorted(platform.companies) == ["001A"] and platform.requests == [1]


def test_a_dry_run_sends_nothing(ledger):
    platform, tally = Platform(), RunMetrics()
    writes = _buffer(platform, ledger, tally, dry_run=True, flush_at=10)
    writes.add([{"SfdcAccountId": f"001{i}", "Arr": i} for i in range(25)])
    writes.flush()
    assert platform.requests == [] and platform.companies == {} and tally.records_written == 0
