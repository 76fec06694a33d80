"""Slack alerts: formatting is pure, sending goes through the Slack provider's webhook hook.

Alerts about an account name its account team (AE and CSM) so they reach the right people; alerts about a
broken layer tell on-call what failed and how to rerun it. Nothing secret ever reaches Slack: messages pass
through `redact` before they are sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

SLACK_CONN_ID = "slack_alerts"

_SECRET_PATTERNS = [
    re.compile(r"(?i)(bearer|oauth)\s+[A-Za-z0-9._!\-]+"),
    re.compile(r"(?i)(accesskey|access_key|api[_-]?key|password|passwd|secret|token|sid)(\s*[=:]\s*)([^\s,;&\"']+)"),
    re.compile(r"(?i)(https?://[^\s/:@]+:)([^\s/@]+)(@)"),
    re.compile(r"hooks\.slack\.com/services/[A-Za-z0-9/]+"),
]


def redact(text: str) -> str:
    """Mask credentials that might appear in an error text (tokens, keys, passwords in URLs, webhook paths)."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)} ***", text)
    text = _SECRET_PATTERNS[1].sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _SECRET_PATTERNS[2].sub(lambda m: f"{m.group(1)}***{m.group(3)}", text)
    return _SECRET_PATTERNS[3].sub("hooks.slack.com/services/***", text)


@dataclass(frozen=True)
class Alert:
    """One Slack message: a title, body lines, and who it is for."""

    title: str
    lines: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()  # e-mail addresses or team names mentioned in the message
    severity: str = "warning"  # info | warning | critical
    context: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        icon = {"info": ":information_source:", "warning": ":warning:", "critical": ":rotating_light:"}
        parts = [f"{icon.get(self.severity, '')} *{self.title}*".strip(), *self.lines]
        if self.audience:
            parts.append("For: " + ", ".join(self.audience))
        return redact("\n".join(parts))

    def blocks(self) -> list[dict[str, Any]]:
        return [{"type": "section", "text": {"type": "mrkdwn", "text": self.text()}}]


def task_failure_alert(context: dict[str, Any]) -> Alert:
    """What on-call needs when a layer's task fails: which layer, which run, the error, how to rerun it."""
    ti = context.get("task_instance") or context.get("ti")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "?")
    task_id = getattr(ti, "task_id", "?")
    run_id = getattr(ti, "run_id", None) or str(context.get("run_id", "?"))
    exc = context.get("exception")
    error = f"{type(exc).__name__}: {exc}" if exc else "unknown error"
    lines = [
        f"Task `{task_id}` of DAG `{dag_id}` failed (run `{run_id}`, try {getattr(ti, 'try_number', '?')}).",
        f"Error: {error[:500]}",
        f"Rerun only this layer: `airflow tasks clear {dag_id} -t {task_id} -s <logical date> -e <logical date>`"
        " or Clear on the task in the Airflow UI.",
    ]
    log_url = getattr(ti, "log_url", None)
    if log_url:
        lines.append(f"Log: {log_url}")
    return Alert(title=f"shared-record: {dag_id} failed", lines=tuple(lines), audience=("data on-call",),
                 severity="critical")


def send_alert(alert: Alert, conn_id: str = SLACK_CONN_ID) -> None:
    """Post an alert to the Slack incoming webhook of connection `slack_alerts`."""
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    SlackWebhookHook(slack_webhook_conn_id=conn_id).send(text=alert.text(), blocks=alert.blocks())


def on_task_failure(context: dict[str, Any]) -> None:
    """`on_failure_callback` of every task: alert Slack; never let the alert itself raise."""
    import logging

    try:
        send_alert(task_failure_alert(context))
    except Exception:  # noqa: BLE001 - a broken alert channel must not mask the task's own failure
        logging.getLogger(__name__).exception("could not send the failure alert to Slack")
