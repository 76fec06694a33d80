"""No credential appears in a task log, a Slack alert or the ledger — on success and on failure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from e2e_helpers import customers, iso, other_tier, run_dag

pytestmark = pytest.mark.e2e


def test_credentials_never_reach_logs_alerts_or_ledger(env, ledger_url, secrets, capfd, caplog):
    end = datetime(2026, 11, 20, 10, tzinfo=UTC)
    (a,) = customers(env, 1)
    env["crm"].call("PATCH", f"/__admin/records/Account/{a['Id']}",
                    json={"fields": {"Tier__c": other_tier(a["Tier__c"])}, "as_of": iso(end - timedelta(minutes=5))})
    assert run_dag("account_master", end).state == "success"
    env["crm"].call("POST", "/__admin/faults", json={"kind": "expired_session", "rate": 1.0})
    assert run_dag("account_master", end + timedelta(hours=1)).state == "failed"

    captured = capfd.readouterr()
    logs = captured.out + captured.err + caplog.text
    assert "AuthenticationFailed" in logs  # the failure itself is visible ...
    alerts = (env["sandbox"].state_dir / "slack.jsonl").read_text()
    assert "AuthenticationFailed" in alerts  # ... and reached Slack
    ledger_bytes = Path(ledger_url.removeprefix("sqlite:///")).read_bytes()
    for secret in secrets:
        assert secret not in logs
        assert secret not in alerts
        assert secret.encode() not in ledger_bytes
