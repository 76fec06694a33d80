"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import pytest


@pytest.fixture()
def env(airflow_db, sandbox, connections, ledger_url):
    from shared_record.ledger import Ledger

    crm, cs = sandbox.admin("crm"), sandbox.admin("cs")
    for s in (crm, cs):
        s.call("DELETE", "/__admin/faults")
    ledger = Ledger(ledger_url)
    yield {"crm": crm, "cs": cs, "ledger": ledger, "sandbox": sandbox}
    for s in (crm, cs):
        s.call("DELETE", "/__admin/faults")
    ledger.dispose()
