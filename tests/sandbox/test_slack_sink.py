"""The Slack sink receives what Airflow's Slack provider sends to an incoming webhook and records it."""

from __future__ import annotations

import json

import pytest
import requests
from shared_record_sandbox.testing import SandboxProcess


@pytest.fixture(scope="module")
def sb(tmp_path_factory):
    proc = SandboxProcess(tmp_path_factory.mktemp("slack"), accounts=5)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(autouse=True)
def _empty(sb):
    sb.admin("slack").call("DELETE", "/__admin/messages")


def test_slack_webhook_hook_message_lands_in_slack_jsonl(sb, monkeypatch):
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    monkeypatch.setenv("AIRFLOW_CONN_SLACK_ALERTS", sb.airflow_conn_env()["AIRFLOW_CONN_SLACK_ALERTS"])
    hook = SlackWebhookHook(slack_webhook_conn_id="slack_alerts")
    resp = hook.send(
        text="Renewal at risk: Acme (AE: Ann, CSM: Bob)",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "*Acme* is Red"}}],
    )
    assert resp.status_code == 200 and resp.body == "ok"
    lines = (sb.state_dir / "slack.jsonl").read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["payload"]["text"].startswith("Renewal at risk: Acme")
    assert entry["payload"]["blocks"][0]["text"]["text"] == "*Acme* is Red"
    assert entry["path"].startswith("/services/T000/B000/") and entry["received_at"].endswith("Z")
    assert sb.slack_messages() == [entry]


def test_form_payload_is_accepted_and_admin_clears(sb):
    url = f"{sb.slack_url}/services/T1/B1/secret"
    resp = requests.post(url, data={"payload": json.dumps({"text": "form message"})}, timeout=10)
    assert resp.status_code == 200 and resp.text == "ok"
    assert [m["payload"]["text"] for m in sb.slack_messages()] == ["form message"]
    assert "secret" not in sb.slack_messages()[0]["path"]  # the webhook secret is not kept
    bad = requests.post(url, data=b"not json", headers={"Content-Type": "application/json"}, timeout=10)
    assert bad.status_code == 400
    sb.admin("slack").call("DELETE", "/__admin/messages")
    assert sb.slack_messages() == []
