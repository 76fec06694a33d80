"""Bulk API 2.0 (wire-protocols.md §1.7): ingest jobs with CSV upload, and query jobs with paged CSV results.

Jobs are processed synchronously: an ingest job runs when it is closed (UploadComplete) and reads
JobComplete from the next poll; a query job runs at creation. Jobs live in memory only (a restart
forgets them, which real jobs outlive; documented deviation).
"""

from __future__ import annotations

import base64
import csv
import io
import threading
from typing import Any

from shared_record_sandbox.crm import soql
from shared_record_sandbox.crm.org import Org, SfError, now_sf
from shared_record_sandbox.faults import FaultInjector

DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
INGEST_OPS = {"insert", "update", "upsert", "delete", "hardDelete"}
QUERY_OPS = {"query", "queryAll"}


def _csv_text(rows: list[list[Any]], delim: str, eol: str) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator=eol, quoting=csv.QUOTE_ALL)
    w.writerows(rows)
    return buf.getvalue()


def _cell(value: Any, typ: str) -> str:
    """A stored value as Bulk API CSV text (datetimes in the `...000Z` form Bulk 2.0 emits)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if typ == "datetime" and isinstance(value, str) and value.endswith("+0000"):
        return value[:-5] + "Z"
    if isinstance(value, float) and value.is_integer() and typ == "int":
        return str(int(value))
    return str(value)


class BulkJobs:
    """In-memory Bulk API 2.0 jobs of one org."""

    def __init__(self, org: Org, faults: FaultInjector, user_id: str = "0058a00000000001AAA") -> None:
        self.org, self.faults = org, faults
        self.jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._n = 0
        self.user_id = user_id

    def _new_id(self) -> str:
        from shared_record_sandbox.ids import sf_id

        with self._lock:
            self._n += 1
            return sf_id("750", self._n)

    def get(self, job_id: str, kind: str) -> dict[str, Any]:
        job = self.jobs.get(job_id)
        if job is None or job["kind"] != kind:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    @staticmethod
    def public(job: dict[str, Any]) -> dict[str, Any]:
        return dict(job["info"])

    def _base_info(self, job_id: str, body: dict[str, Any], version: str) -> dict[str, Any]:
        now = now_sf()
        delim, eol = body.get("columnDelimiter", "COMMA"), body.get("lineEnding", "LF")
        if delim not in DELIMITERS:
            raise SfError(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter {delim}")
        if eol not in LINE_ENDINGS:
            raise SfError(400, "INVALIDJOB", f"InvalidJob : Invalid line ending {eol}")
        return {
            "id": job_id,
            "operation": body.get("operation"),
            "object": body.get("object"),
            "createdById": self.user_id,
            "createdDate": now,
            "systemModstamp": now,
            "state": "Open",
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version.lstrip("v")),
            "lineEnding": eol,
            "columnDelimiter": delim,
        }

    # ---- ingest ------------------------------------------------------------------------------
    def create_ingest(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        op = body.get("operation")
        if op not in INGEST_OPS:
            raise SfError(400, "INVALIDJOB", f"InvalidJob : Invalid operation {op!r}")
        if (body.get("contentType") or "CSV") != "CSV":
            raise SfError(400, "INVALIDJOB", "InvalidJob : Only CSV content is supported")
        obj = str(body.get("object") or "")
        if not self.org.has_obj(obj):
            raise SfError(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {obj}")
        oi = self.org.obj(obj)
        ext = body.get("externalIdFieldName")
        if op == "upsert":
            if not ext:
                raise SfError(400, "INVALIDJOB", "InvalidJob : External ID was blank for upsert")
            try:
                ext = self.org.ext_field(oi, ext)["name"]
            except SfError:
                raise SfError(
                    400,
                    "INVALIDJOB",
                    f"InvalidJob : Field name provided, {ext} does not match an "
                    f"External ID, Salesforce Id, or indexed field for {oi.name}",
                ) from None
        job_id = self._new_id()
        info = self._base_info(job_id, body, version)
        info.update(
            {
                "object": oi.name,
                "contentUrl": f"services/data/{version}/jobs/ingest/{job_id}/batches",
                "jobType": "V2Ingest",
                "numberRecordsProcessed": 0,
                "numberRecordsFailed": 0,
                "retries": 0,
                "totalProcessingTime": 0,
                "apiActiveProcessingTime": 0,
                "apexProcessingTime": 0,
                "errorMessage": None,
            }
        )
        if ext:
            info["externalIdFieldName"] = ext
        self.jobs[job_id] = {
            "kind": "ingest",
            "info": info,
            "data": [],
            "success": [],
            "failed": [],
            "unprocessed": [],
            "header": [],
        }
        return dict(info)

    def upload(self, job_id: str, data: bytes) -> None:
        job = self.get(job_id, "ingest")
        if job["info"]["state"] != "Open":
            raise SfError(409, "INVALIDJOBSTATE", f"Job {job_id} is not open for data upload")
        job["data"].append(data.decode("utf-8-sig"))

    def set_state(self, job_id: str, kind: str, state: str) -> dict[str, Any]:
        job = self.get(job_id, kind)
        info = job["info"]
        if state == "Aborted":
            if info["state"] in {"JobComplete", "Failed"}:
                raise SfError(409, "INVALIDJOBSTATE", f"Job {job_id} is already {info['state']}")
            info["state"] = "Aborted"
            if kind == "ingest":
                self._parse(job)
                job["unprocessed"] = job["rows"]
        elif state == "UploadComplete" and kind == "ingest":
            if info["state"] != "Open":
                raise SfError(409, "INVALIDJOBSTATE", f"Job {job_id} is {info['state']}, not Open")
            info["state"] = "UploadComplete"
            self._process(job)  # synchronous: the next GET sees JobComplete (or Failed)
            result = dict(info, state="UploadComplete")
            return result
        else:
            raise SfError(400, "INVALIDJOBSTATE", f"Cannot set state {state!r}")
        info["systemModstamp"] = now_sf()
        return dict(info)

    def delete(self, job_id: str, kind: str) -> None:
        job = self.get(job_id, kind)
        if job["info"]["state"] in {"Open", "UploadComplete", "InProgress"}:
            raise SfError(400, "INVALIDJOBSTATE", "Only completed or aborted jobs can be deleted")
        del self.jobs[job_id]

    def _parse(self, job: dict[str, Any]) -> None:
        info = job["info"]
        text = "".join(job["data"])
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=DELIMITERS[info["columnDelimiter"]])
        rows = [r for r in reader if r]
        job["header"] = rows[0] if rows else []
        job["rows"] = rows[1:]

    def _process(self, job: dict[str, Any]) -> None:
        info = job["info"]
        self._parse(job)
        header, rows = job["header"], job["rows"]
        op, obj = info["operation"], info["object"]
        oi = self.org.obj(obj)
        if not header:
            info.update(state="Failed", errorMessage="InvalidBatch : Empty CSV content")
            return
        unknown = [h for h in header if oi.field(h) is None]
        if unknown:
            info.update(state="Failed", errorMessage=f"InvalidBatch : Field name not found : {unknown[0]}")
            return
        if op in {"delete", "hardDelete"} and [h.lower() for h in header] != ["id"]:
            info.update(
                state="Failed", errorMessage="InvalidBatch : The 'delete' batch must contain only 'Id'"
            )
            return
        for row in rows:
            values = dict(zip(header, row, strict=False))
            data = {k: (None if v == "#N/A" else v) for k, v in values.items() if v != ""}
            rid = next((v for k, v in values.items() if k.lower() == "id"), "") or ""
            try:
                code = self.faults.record_error(oi.name)
                if code:
                    raise SfError(400, code, f"{code}: record error injected by the sandbox")
                if op == "insert":
                    rec, created = self.org.create(obj, data, from_csv=True), True
                elif op == "update":
                    if not rid:
                        raise SfError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
                    rec, created = self.org.update(obj, rid, data, from_csv=True), False
                elif op == "upsert":
                    ext = info["externalIdFieldName"]
                    key = next((v for k, v in values.items() if k.lower() == ext.lower()), "")
                    rec, created = self.org.upsert(obj, ext, key, data, from_csv=True)
                elif op == "delete":
                    rec, created = self.org.delete(obj, rid), False
                else:  # hardDelete: gone from storage, not even queryAll sees it
                    rec = self.org.require(oi, rid)
                    self.org.store.remove(oi.name, rec["Id"])
                    created = False
                job["success"].append([rec["Id"], "true" if created else "false", *row])
            except SfError as exc:
                msg = f"{exc.code}:{exc.message}:{','.join(exc.fields)} --"
                job["failed"].append([rid, msg, *row])
        info["numberRecordsProcessed"] = len(rows)
        info["numberRecordsFailed"] = len(job["failed"])
        info["state"] = "JobComplete"
        info["systemModstamp"] = now_sf()

    def ingest_results(self, job_id: str, which: str) -> str:
        job = self.get(job_id, "ingest")
        info = job["info"]
        delim, eol = DELIMITERS[info["columnDelimiter"]], LINE_ENDINGS[info["lineEnding"]]
        header = job.get("header") or []
        if which == "successfulResults":
            return _csv_text([["sf__Id", "sf__Created", *header], *job["success"]], delim, eol)
        if which == "failedResults":
            return _csv_text([["sf__Id", "sf__Error", *header], *job["failed"]], delim, eol)
        return _csv_text([header, *job["unprocessed"]] if header else [], delim, eol)

    # ---- query -------------------------------------------------------------------------------
    def create_query(self, body: dict[str, Any], version: str) -> dict[str, Any]:
        op = body.get("operation")
        if op not in QUERY_OPS:
            raise SfError(400, "INVALIDJOB", f"InvalidJob : Invalid operation {op!r}")
        text = str(body.get("query") or "")
        plan = soql.compile_query(text, self.org, include_deleted=(op == "queryAll"))
        if plan.count is not None or any(isinstance(f, soql.SubPlan) for f in plan.fields):
            raise SfError(
                400,
                "INVALIDJOB",
                "InvalidJob : Aggregate queries and subqueries are not supported by Bulk API 2.0 query",
            )
        job_id = self._new_id()
        info = self._base_info(job_id, body, version)
        info.update({"object": plan.oi.name, "state": "UploadComplete"})
        created = dict(info)
        ids = plan.run()
        header = [".".join([*(r[0] for r in f.rels), f.field["name"]]) for f in plan.fields]
        rows = []
        for rid in ids:
            rec = self.org.store.get(plan.oi.name, rid)
            if rec is not None:
                rows.append([_cell(f.getter(rec), f.type) for f in plan.fields])
        info.update(
            {
                "state": "JobComplete",
                "jobType": "V2Query",
                "numberRecordsProcessed": len(rows),
                "retries": 0,
                "totalProcessingTime": 0,
                "isPkChunkingSupported": True,
            }
        )
        self.jobs[job_id] = {"kind": "query", "info": info, "header": header, "rows": rows}
        return created

    def query_results(
        self, job_id: str, max_records: int | None, locator: str | None
    ) -> tuple[str, int, str]:
        """(csv text, records in page, next locator or "null")."""
        job = self.get(job_id, "query")
        if job["info"]["state"] != "JobComplete":
            raise SfError(
                412, "JOB_NOT_COMPLETE", f"Job {job_id} is not complete (state {job['info']['state']})"
            )
        start = 0
        if locator and locator != "null":
            try:
                start = int(base64.b64decode((locator + "=" * (-len(locator) % 4)).encode()).decode())
            except (ValueError, UnicodeDecodeError):
                raise SfError(400, "INVALIDLOCATOR", f"Invalid locator {locator}") from None
        size = max(1, int(max_records)) if max_records else 50_000
        rows = job["rows"][start : start + size]
        nxt = start + len(rows)
        info = job["info"]
        text = _csv_text(
            [job["header"], *rows], DELIMITERS[info["columnDelimiter"]], LINE_ENDINGS[info["lineEnding"]]
        )
        loc = base64.b64encode(str(nxt).encode()).decode().rstrip("=") if nxt < len(job["rows"]) else "null"
        return text, len(rows), loc
