"""The CS-platform hook: Airflow's `HttpHook` speaking the Gainsight NXT data API.

Connection `cs_platform_default` (conn type http): schema `https`, host and port of the tenant
(`acme.gainsightcloud.com`), the access key in the *password* field (sent as the `accesskey` header, so it
stays masked like any Airflow password). Extras are HttpHook's own: `verify` (CA bundle path or false),
`timeout`, `trust_env`. Reads return at most 5,000 rows per call, writes take at most 50 records per call.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import requests
from airflow.providers.http.hooks.http import HttpHook
from tenacity import Retrying

from shared_record.errors import (
    AuthenticationFailed,
    FatalSyncError,
    PartialDataError,
    RetriableError,
)
from shared_record.hooks.base import RETRY_POLICY, CallCounter, WriteResult

READ_LIMIT = 5000
WRITE_LIMIT = 50


class CsPlatformHook(HttpHook):
    """Batched, accounted access to the CS platform: query pages, insert/upsert in 50s, describe."""

    conn_name_attr = "cs_conn_id"
    default_conn_name = "cs_platform_default"
    conn_type = "http"
    hook_name = "Shared record: CS platform (Gainsight-style)"

    def __init__(self, cs_conn_id: str = default_conn_name, calls: CallCounter | None = None) -> None:
        super().__init__(method="POST", http_conn_id=cs_conn_id)
        self.cs_conn_id = cs_conn_id
        self.calls = calls if calls is not None else CallCounter()
        self._session: requests.Session | None = None

    def get_conn(self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None):
        session = super().get_conn(headers, extra_options)
        key = self.get_connection(self.cs_conn_id).password
        if key:
            session.headers["accesskey"] = key
        session.headers.setdefault("Content-Type", "application/json")
        return session

    def _call(self, kind: str, method: str, endpoint: str, body: Any = None) -> dict[str, Any]:
        """One API call, retried in place on 5xx/timeouts; returns the envelope's `data`."""
        what = f"{method} {endpoint}"
        for attempt in Retrying(**RETRY_POLICY):
            with attempt:
                self.calls[kind] += 1
                self.method = method
                try:
                    resp = self.run(endpoint, json=body, extra_options={"check_response": False})
                except requests.Timeout:
                    raise RetriableError(f"{what}: timed out") from None
                return self._envelope(resp, what)
        raise AssertionError("unreachable")  # pragma: no cover

    @staticmethod
    def _envelope(resp: requests.Response, what: str) -> dict[str, Any]:
        try:
            env = resp.json()
        except ValueError:
            env = {}
        code, desc = env.get("errorCode"), env.get("errorDesc")
        if resp.status_code == 401 or code in {"GS_APIG_2401", "GSOBJ_1024"}:
            raise AuthenticationFailed(f"{what}: the CS platform refused the access key of connection "
                                       "cs_platform_default")
        if resp.status_code == 429 or code == "GS_APIG_2404":
            raise RetriableError(f"{what}: CS platform rate limit")
        if resp.status_code >= 500:
            raise RetriableError(f"{what}: CS platform answered HTTP {resp.status_code}")
        if resp.status_code >= 400 or env.get("result") is False:
            if desc and "no data found" in str(desc).lower():
                return {"records": []}
            raise FatalSyncError(f"{what}: {code or resp.status_code}: {desc or resp.text[:200]}")
        data = env.get("data")
        return data if isinstance(data, dict) else {"records": data or []}

    # ---- reads -----------------------------------------------------------------------------------
    def query_pages(
        self,
        obj: str,
        select: Sequence[str],
        where: dict[str, Any] | None = None,
        page_size: int = READ_LIMIT,
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield pages of `obj` records (limit/offset paging, ordered by Gsid so pages are stable)."""
        offset, page = 0, 1
        while True:
            body: dict[str, Any] = {"select": list(select), "limit": page_size, "offset": offset,
                                    "orderBy": {"Gsid": "asc"}}
            if where:
                body["where"] = where
            try:
                data = self._call("cs_read", "POST", f"v1/data/objects/query/{obj}", body)
            except RetriableError as exc:
                raise PartialDataError(f"CS page {page} of {obj} could not be fetched: {exc}") from None
            records = data.get("records") or []
            yield records
            if len(records) < page_size:
                return
            offset += page_size
            page += 1

    def describe(self, obj: str) -> dict[str, Any]:
        data = self._call("cs_describe", "GET", f"v1/meta/services/objects/{obj}/describe?idd=true")
        records = data.get("records") if isinstance(data, dict) else data
        return records[0] if isinstance(records, list) and records else data

    # ---- writes (only through shared_record.write_path.WritePath) --------------------------------
    def upsert(self, obj: str, records: Sequence[dict[str, Any]], keys: Sequence[str]) -> list[WriteResult]:
        """Upsert by up to three key fields, 50 records per call; per-record results in request order."""
        return self._write("PUT", f"v1/data/objects/{obj}?keys={','.join(keys)}", records, keys[0])

    def insert(self, obj: str, records: Sequence[dict[str, Any]], key_field: str) -> list[WriteResult]:
        """Insert new records, 50 per call."""
        return self._write("POST", f"v1/data/objects/{obj}", records, key_field)

    def _write(
        self, method: str, endpoint: str, records: Sequence[dict[str, Any]], key_field: str
    ) -> list[WriteResult]:
        results: list[WriteResult] = []
        for start in range(0, len(records), WRITE_LIMIT):
            chunk = records[start : start + WRITE_LIMIT]
            data = self._call("cs_write", method, endpoint, {"records": list(chunk)})
            results += _write_results(chunk, key_field, data)
        return results


def _write_results(chunk: Sequence[dict[str, Any]], key_field: str, data: dict[str, Any]) -> list[WriteResult]:
    """Per-record outcomes: `data.errors` lists failed records by index; the rest succeeded."""
    failed: dict[int, dict[str, Any]] = {}
    for err in data.get("errors") or []:
        idx = err.get("index")
        if isinstance(idx, int):
            failed[idx] = err
    ok = iter(data.get("records") or [])
    out = []
    for i, rec in enumerate(chunk):
        key = str(rec.get(key_field))
        if i in failed:
            err = failed[i]
            out.append(WriteResult(record_key=key, success=False, error_code=err.get("errorCode") or err.get("code"),
                                   error_message=err.get("errorDesc") or err.get("message")))
        else:
            gsid = next(ok, {}).get("Gsid")
            out.append(WriteResult(record_key=key, success=True, record_id=gsid))
    return out
