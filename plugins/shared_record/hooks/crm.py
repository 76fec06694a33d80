"""The CRM hook: Airflow's `SalesforceHook` (simple-salesforce) with paging, batching and call accounting.

Connection `salesforce_default` is used exactly as the provider defines it (username/password/security token,
JWT or client credentials against a real org). Two extras serve local sandboxes and private CAs:
`auth_type: session_id` takes the connection password as a ready session token, and `ca_bundle` pins the CA
that signs the server's certificate. `timeout` (seconds, default 60) bounds every request.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from functools import cached_property
from typing import Any

from airflow.providers.salesforce.hooks.salesforce import SalesforceHook
from simple_salesforce import api as sf_api
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)
from tenacity import Retrying

from shared_record.errors import (
    AuthenticationFailed,
    FatalSyncError,
    PartialDataError,
    QuotaExhausted,
    RetriableError,
)
from shared_record.hooks.base import RETRY_POLICY, CallCounter, WriteResult, make_session

COLLECTION_LIMIT = 200  # sObject Collections: records per call
QUERY_PAGE = 2000  # REST query: records per page (maximum batchSize)


def _error_code(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return str(content[0].get("errorCode") or content[0].get("statusCode") or "")
    return ""


def translate(exc: Exception, what: str) -> Exception:
    """Map a simple-salesforce error to this project's taxonomy (what to do about it)."""
    if isinstance(exc, SalesforceExpiredSession):
        return AuthenticationFailed(f"{what}: the CRM refused the session (INVALID_SESSION_ID); renew the "
                                    "credentials of connection salesforce_default")
    if isinstance(exc, SalesforceRefusedRequest):
        code = _error_code(exc)
        if code == "REQUEST_LIMIT_EXCEEDED":
            return QuotaExhausted(f"{what}: Salesforce API request limit exceeded; the run stopped early")
        return FatalSyncError(f"{what}: refused by the CRM ({code or exc.status})")
    if isinstance(exc, SalesforceMalformedRequest):
        return FatalSyncError(f"{what}: {_error_code(exc)}: {_first_message(exc)}")
    if isinstance(exc, SalesforceGeneralError) and exc.status >= 500:
        return RetriableError(f"{what}: CRM answered HTTP {exc.status}")
    if isinstance(exc, SalesforceError):
        return FatalSyncError(f"{what}: CRM answered HTTP {exc.status} {_error_code(exc)}")
    return exc


def _first_message(exc: SalesforceError) -> str:
    content = exc.content
    if isinstance(content, list) and content and isinstance(content[0], dict):
        return " ".join(str(content[0].get("message", "")).split())[:300]
    return ""


class CrmHook(SalesforceHook):
    """Batched, accounted access to Salesforce for the sync: query pages, describe, collections, Bulk API 2.0."""

    hook_name = "Shared record: CRM (Salesforce)"

    def __init__(self, salesforce_conn_id: str = "salesforce_default", calls: CallCounter | None = None) -> None:
        super().__init__(salesforce_conn_id=salesforce_conn_id)
        self.calls = calls if calls is not None else CallCounter()

    @cached_property
    def conn(self) -> sf_api.Salesforce:
        connection = self.get_connection(self.conn_id)
        extras = connection.extra_dejson
        if extras.get("auth_type") == "session_id":
            self.session_id = connection.password
        if self.session is None:
            self.session = make_session(extras.get("ca_bundle"), float(extras.get("timeout") or 60))
        return SalesforceHook.conn.func(self)  # type: ignore[attr-defined]

    # ---- calls ---------------------------------------------------------------------------------
    def _call(self, kind: str, what: str, fn, *args: Any, **kwargs: Any) -> Any:
        """Run one API call with in-place retries of transient failures; count every attempt."""
        for attempt in Retrying(**RETRY_POLICY):
            with attempt:
                self.calls[kind] += 1
                try:
                    return fn(*args, **kwargs)
                except SalesforceError as exc:
                    raise translate(exc, what) from None

    def query_pages(
        self, soql: str, include_deleted: bool = False, batch_size: int = QUERY_PAGE
    ) -> Iterator[list[dict[str, Any]]]:
        """Yield the result pages of a SOQL query (`queryAll` when `include_deleted`), 200-2000 per page.

        A page that cannot be fetched after retries raises `PartialDataError`: the caller must not treat
        what it saw so far as the whole result.
        """
        sf = self.get_conn()
        headers = {"Sforce-Query-Options": f"batchSize={max(200, min(QUERY_PAGE, batch_size))}"}
        page = 1
        try:
            result = self._call("crm_query", "CRM query", sf.query, soql, include_deleted=include_deleted,
                                headers=headers)
            while True:
                yield [_strip_attributes(r) for r in result["records"]]
                if result.get("done", True):
                    return
                page += 1
                result = self._call("crm_query_more", "CRM query page", sf.query_more,
                                    result["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        except (RetriableError, OSError) as exc:
            raise PartialDataError(f"CRM query page {page} could not be fetched: {exc}") from None

    def describe(self, obj: str) -> dict[str, Any]:
        sf = self.get_conn()
        return self._call("crm_describe", f"describe {obj}", getattr(sf, obj).describe)

    def describe_global(self) -> dict[str, Any]:
        sf = self.get_conn()
        return self._call("crm_describe", "global describe", sf.describe)

    def api_usage(self) -> dict[str, tuple[int, int]]:
        """The org's API usage as last reported in `Sforce-Limit-Info` (used, limit)."""
        usage = getattr(self.get_conn(), "api_usage", {}) or {}
        return {k: (v.used, v.total) for k, v in usage.items()}

    # ---- writes (only through shared_record.write_path.WritePath) -------------------------------
    def collections_upsert(
        self, obj: str, external_id_field: str, records: Sequence[dict[str, Any]]
    ) -> list[WriteResult]:
        """Upsert by external id with sObject Collections, 200 per call, per-record results in order."""
        results: list[WriteResult] = []
        sf = self.get_conn()
        for start in range(0, len(records), COLLECTION_LIMIT):
            chunk = records[start : start + COLLECTION_LIMIT]
            body = {"allOrNone": False,
                    "records": [{"attributes": {"type": obj}, **r} for r in chunk]}
            answer = self._call("crm_collections", f"upsert {obj}", sf.restful,
                                f"composite/sobjects/{obj}/{external_id_field}", method="PATCH", json=body)
            results += _collection_results([str(r[external_id_field]) for r in chunk], answer)
        return results

    def collections_update(self, obj: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Update records by Id with sObject Collections, 200 per call."""
        results: list[WriteResult] = []
        sf = self.get_conn()
        for start in range(0, len(records), COLLECTION_LIMIT):
            chunk = records[start : start + COLLECTION_LIMIT]
            body = {"allOrNone": False, "records": [{"attributes": {"type": obj}, **r} for r in chunk]}
            answer = self._call("crm_collections", f"update {obj}", sf.restful, "composite/sobjects",
                                method="PATCH", json=body)
            results += _collection_results([str(r["Id"]) for r in chunk], answer)
        return results

    def bulk_update(self, obj: str, records: Sequence[dict[str, Any]]) -> list[WriteResult]:
        """Update records by Id with one Bulk API 2.0 ingest job (for volumes past the collections threshold)."""
        if not records:
            return []
        sf = self.get_conn()
        columns = sorted({k for r in records for k in r})
        # Bulk API 2.0 CSV: "#N/A" sets a field to null; every row carries every column.
        rows = [{k: "#N/A" if r.get(k) is None else str(r[k]) for k in columns} for r in records]
        self.calls["crm_bulk_job"] += 1
        try:
            jobs = getattr(sf.bulk2, obj).update(records=rows, wait=1)
            failed_csv = "".join(getattr(sf.bulk2, obj).get_failed_records(j["job_id"]) for j in jobs
                                 if int(j.get("numberRecordsFailed") or 0))
        except SalesforceError as exc:
            raise translate(exc, f"bulk update {obj}") from None
        failures = {row.get("Id") or row.get("sf__Id"): row for row in csv.DictReader(io.StringIO(failed_csv or ""))}
        out = []
        for r in records:
            row = failures.get(r["Id"])
            if row is None:
                out.append(WriteResult(record_key=r["Id"], success=True, record_id=r["Id"]))
            else:
                code, _, msg = (row.get("sf__Error") or "UNKNOWN:").partition(":")
                out.append(WriteResult(record_key=r["Id"], success=False, error_code=code, error_message=msg.strip()))
        return out


def _strip_attributes(record: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        out[key] = _strip_attributes(value) if isinstance(value, dict) and "attributes" in value else value
    return out


def _collection_results(keys: list[str], answer: Any) -> list[WriteResult]:
    if not isinstance(answer, list) or len(answer) != len(keys):
        raise PartialDataError(f"collections call returned {len(answer) if isinstance(answer, list) else answer!r} "
                               f"results for {len(keys)} records")
    out = []
    for key, res in zip(keys, answer, strict=True):
        if res.get("success"):
            out.append(WriteResult(record_key=key, success=True, record_id=res.get("id"), created=res.get("created")))
        else:
            err = (res.get("errors") or [{}])[0]
            out.append(WriteResult(record_key=key, success=False, error_code=err.get("statusCode"),
                                   error_message=err.get("message")))
    return out
