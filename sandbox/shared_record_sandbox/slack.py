"""Slack sink: records every incoming-webhook message it receives, so tests and the demo can read alerts.

Slack incoming webhooks take `POST /services/T…/B…/secret` with a JSON body (`text`, `blocks`, ...) or a
form body `payload=<json>`, and answer 200 with the plain-text body `ok`. Each message becomes one JSON line
of `<state>/slack.jsonl`: {"received_at", "path", "payload"}. Plain HTTP: the webhook URL is the secret.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import fastapi
from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

_LOCK = threading.Lock()  # one process may append from several request threads


def _parse(raw: bytes, content_type: str) -> Any:
    """The message payload from a JSON body or a form body (`payload=` as Slack documents)."""
    text = raw.decode("utf-8", errors="replace")
    if text.lstrip().startswith(("{", "[")):  # JSON, whatever the content type says (curl -d sends form)
        return json.loads(text)
    if "application/x-www-form-urlencoded" in content_type or text.startswith("payload="):
        form = parse_qs(text, keep_blank_values=True)
        return json.loads((form.get("payload") or [""])[0])
    return json.loads(text)


def read_messages(state_dir: Path) -> list[dict[str, Any]]:
    """Every recorded message, oldest first (an unreadable line is skipped, not fatal)."""
    path = Path(state_dir) / "slack.jsonl"
    if not path.exists():
        return []
    out = []
    with _LOCK, path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def create_app(state_dir: Path) -> fastapi.FastAPI:
    """The Slack webhook sink writing to `<state_dir>/slack.jsonl`."""
    path = Path(state_dir) / "slack.jsonl"
    app = fastapi.FastAPI(title="Slack sink", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/services/{a}/{b}/{c}")
    async def webhook(request: Request, a: str, b: str, c: str) -> Response:
        raw = await request.body()
        try:
            payload = _parse(raw, request.headers.get("content-type", ""))
        except ValueError:
            # Slack answers 400 "invalid_payload" to a body it cannot parse
            return PlainTextResponse("invalid_payload", status_code=400)
        if not isinstance(payload, dict) or not (payload.get("text") or payload.get("blocks")
                                                 or payload.get("attachments")):
            return PlainTextResponse("no_text", status_code=400)
        entry = {
            "received_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            # the last path segment is the webhook's secret: keep only a hint of it
            "path": f"/services/{a}/{b}/{c[:4]}…" if len(c) > 4 else f"/services/{a}/{b}/{c}",
            "payload": payload,
        }
        line = json.dumps(entry, ensure_ascii=False)
        with _LOCK, path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        return PlainTextResponse("ok")

    @app.get("/__admin/messages")
    async def messages() -> Response:
        msgs = read_messages(state_dir)
        return JSONResponse({"count": len(msgs), "messages": msgs})

    @app.delete("/__admin/messages")
    async def clear() -> Response:
        with _LOCK:
            path.unlink(missing_ok=True)
        return JSONResponse({"count": 0, "messages": []})

    @app.get("/__admin/health")
    async def health() -> Response:
        return JSONResponse({"status": "ok", "system": "slack"})

    return app
