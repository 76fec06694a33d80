"""FastAPI app speaking the Salesforce REST wire protocol (wire-protocols.md §1) over the CRM `Store`.

One catch-all route per prefix dispatches on a small regex table rather than FastAPI path
parameters, so any API version, trailing slashes exactly as simple-salesforce sends them and
Salesforce's case-insensitive object names all work. Handlers are synchronous and run in the
thread pool; fault delays use `asyncio.sleep` so other requests keep flowing.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fastapi
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from shared_record_sandbox.crm import describe as desc
from shared_record_sandbox.crm import soql
from shared_record_sandbox.crm.bulk import BulkJobs
from shared_record_sandbox.crm.org import Org, SfError, format_dt, now_sf, parse_dt
from shared_record_sandbox.faults import FaultInjector
from shared_record_sandbox.ids import sf_id
from shared_record_sandbox.store import Store

JSON_TYPE = "application/json;charset=UTF-8"
API_LIMIT = 15000
MAX_COLLECTION = 200
DEFAULT_BATCH, MIN_BATCH, MAX_BATCH = 2000, 200, 2000
MAX_CURSORS = 500
STAT_KINDS = (
    "query",
    "query_more",
    "describe",
    "sobject_write",
    "collections",
    "bulk_job",
    "bulk_other",
    "other",
)
_VERSION_RE = re.compile(r"^v(\d{2})\.(\d)$")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """JSON with Salesforce's exact content type."""
    return Response(json.dumps(body), status_code=status, media_type=JSON_TYPE, headers=headers)


def error_response(err: SfError) -> Response:
    headers = {"WWW-Authenticate": "Token"} if err.status == 401 else None
    return json_response(err.body(), err.status, headers)


@dataclass
class Ctx:
    """One API request as the handlers see it."""

    method: str
    version: str
    match: dict[str, str]
    params: dict[str, str]
    headers: dict[str, str]
    raw: bytes

    def json(self) -> Any:
        if not self.raw.strip():
            return None
        try:
            return json.loads(self.raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SfError(400, "JSON_PARSER_ERROR", f"Unexpected character in request body: {exc}") from None

    @property
    def major(self) -> int:
        return int(self.version[1:].split(".")[0])


class Stats:
    """API call counters by kind (for the benchmark) and records written by object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.calls: Counter[str] = Counter({k: 0 for k in STAT_KINDS})
            self.records_written: Counter[str] = Counter()
            self.api_usage = 0

    def call(self, kind: str) -> int:
        with self._lock:
            self.calls[kind] += 1
            self.api_usage += 1
            return self.api_usage

    def written(self, obj: str, n: int = 1) -> None:
        if n:
            with self._lock:
                self.records_written[obj] += n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "api_usage": self.api_usage,
                "calls": dict(self.calls),
                "records_written": dict(self.records_written),
            }


class CrmService:
    """Handlers of the emulated REST API; `build_app` wires them to FastAPI."""

    def __init__(self, store: Store, faults: FaultInjector, token: str) -> None:
        self.store, self.faults, self.token = store, faults, token
        self.org = Org(store)
        self.bulk = BulkJobs(self.org, faults)
        self.stats = Stats()
        self.cursors: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._cursor_lock = threading.Lock()
        self._cursor_n = 0
        R = Callable[[Ctx], Response]  # noqa: N806
        table: list[tuple[str, str, R, str]] = [
            ("GET", r"", self.resources, "other"),
            ("GET", r"limits", self.limits, "other"),
            ("GET", r"(?P<kind>query|queryAll)", self.query, "query"),
            ("GET", r"(?P<kind>query|queryAll)/(?P<loc>[^/]+)", self.query_more, "query_more"),
            ("GET", r"sobjects", self.describe_global, "describe"),
            ("GET", r"sobjects/(?P<obj>\w+)/describe", self.describe, "describe"),
            ("GET", r"sobjects/(?P<obj>\w+)/updated", self.updated, "other"),
            ("GET", r"sobjects/(?P<obj>\w+)/deleted", self.deleted, "other"),
            ("GET", r"sobjects/(?P<obj>\w+)", self.metadata, "describe"),
            ("POST", r"sobjects/(?P<obj>\w+)", self.create, "sobject_write"),
            ("GET", r"sobjects/(?P<obj>\w+)/(?P<id>[^/]+)", self.get_record, "other"),
            ("PATCH", r"sobjects/(?P<obj>\w+)/(?P<id>[^/]+)", self.update, "sobject_write"),
            ("DELETE", r"sobjects/(?P<obj>\w+)/(?P<id>[^/]+)", self.delete, "sobject_write"),
            ("GET", r"sobjects/(?P<obj>\w+)/(?P<field>\w+)/(?P<value>.+)", self.get_by_ext, "other"),
            ("PATCH", r"sobjects/(?P<obj>\w+)/(?P<field>\w+)/(?P<value>.+)", self.upsert, "sobject_write"),
            ("POST", r"composite/sobjects", self.coll_create, "collections"),
            ("PATCH", r"composite/sobjects", self.coll_update, "collections"),
            ("DELETE", r"composite/sobjects", self.coll_delete, "collections"),
            ("PATCH", r"composite/sobjects/(?P<obj>\w+)/(?P<field>\w+)", self.coll_upsert, "collections"),
            ("POST", r"jobs/(?P<kind>ingest|query)", self.job_create, "bulk_job"),
            ("GET", r"jobs/(?P<kind>ingest|query)", self.job_list, "bulk_other"),
            ("GET", r"jobs/(?P<kind>ingest|query)/(?P<id>\w+)", self.job_get, "bulk_other"),
            ("PATCH", r"jobs/(?P<kind>ingest|query)/(?P<id>\w+)", self.job_state, "bulk_other"),
            ("DELETE", r"jobs/(?P<kind>ingest|query)/(?P<id>\w+)", self.job_delete, "bulk_other"),
            ("PUT", r"jobs/ingest/(?P<id>\w+)/batches", self.job_upload, "bulk_other"),
            (
                "GET",
                r"jobs/ingest/(?P<id>\w+)/(?P<which>successfulResults|failedResults|unprocessedRecords)",
                self.job_ingest_results,
                "bulk_other",
            ),
            ("GET", r"jobs/query/(?P<id>\w+)/results", self.job_query_results, "bulk_other"),
        ]
        self.routes = [(m, re.compile(f"^{p}$"), h, k) for m, p, h, k in table]

    # ---- dispatch ------------------------------------------------------------------------------
    def route(self, method: str, rest: str) -> tuple[Callable[[Ctx], Response], str, dict[str, str]] | None:
        path = rest.strip("/")
        allowed = False
        for m, rx, handler, kind in self.routes:
            mt = rx.match(path)
            if mt:
                allowed = True
                if m == method:
                    return handler, kind, mt.groupdict()
        if allowed:
            raise SfError(
                405,
                "METHOD_NOT_ALLOWED",
                f"HTTP Method '{method}' not allowed. Allowed are GET,PATCH,POST,DELETE,PUT",
            )
        return None

    def authorized(self, headers: Any) -> bool:
        auth = headers.get("authorization") or ""
        scheme, _, value = auth.partition(" ")
        return scheme.lower() in {"bearer", "oauth"} and value.strip() == self.token and bool(self.token)

    def limit_header(self) -> dict[str, str]:
        return {"Sforce-Limit-Info": f"api-usage={self.stats.api_usage}/{API_LIMIT}"}

    async def fault_response(self, method: str, path: str) -> Response | None:
        """The injected request-level fault for this request, in Salesforce's wire shape."""
        rule = self.faults.request_fault(method, path)
        if rule is None:
            return None
        if rule.kind == "server_error":
            return json_response(
                [
                    {
                        "message": "An unexpected error occurred. Please include this ErrorId if you "
                        "contact support: 1234567890-12345 (-1234567890)",
                        "errorCode": "UNKNOWN_EXCEPTION",
                    }
                ],
                rule.status or 500,
            )
        if rule.kind == "rate_limit":
            return json_response(
                [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}], 403
            )
        if rule.kind == "expired_session":
            return error_response(SfError(401, "INVALID_SESSION_ID", "Session expired or invalid"))
        # timeout: stall without blocking the event loop, then answer as a gateway would
        await asyncio.sleep(float(rule.seconds if rule.seconds is not None else 30))
        return json_response(
            [{"message": "The request timed out (sandbox-injected)", "errorCode": "REQUEST_TIMEOUT"}], 504
        )

    async def handle(self, request: Request, version: str, rest: str) -> Response:
        method = request.method.upper()
        try:
            if not _VERSION_RE.match(version):
                raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
            found = self.route(method, rest)
        except SfError as err:
            return error_response(err)
        kind = found[1] if found else "other"
        fault = await self.fault_response(method, request.url.path)
        if fault is not None:
            self.stats.call(kind)
            return fault
        if not self.authorized(request.headers):
            return error_response(SfError(401, "INVALID_SESSION_ID", "Session expired or invalid"))
        self.stats.call(kind)
        if found is None:
            return error_response(SfError(404, "NOT_FOUND", "The requested resource does not exist"))
        handler, _kind, match = found
        ctx = Ctx(
            method,
            version,
            match,
            dict(request.query_params),
            {k.lower(): v for k, v in request.headers.items()},
            await request.body(),
        )
        try:
            return await run_in_threadpool(handler, ctx)
        except SfError as err:
            return error_response(err)

    # ---- misc ----------------------------------------------------------------------------------
    def resources(self, ctx: Ctx) -> Response:
        base = f"/services/data/{ctx.version}"
        return json_response(
            {k: f"{base}/{k}" for k in ("sobjects", "query", "queryAll", "limits", "jobs", "composite")}
        )

    def limits(self, ctx: Ctx) -> Response:
        used = self.stats.api_usage
        return json_response(
            {
                "DailyApiRequests": {"Max": API_LIMIT, "Remaining": max(API_LIMIT - used, 0)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            }
        )

    # ---- query -----------------------------------------------------------------------------------
    def _batch_size(self, ctx: Ctx) -> int:
        opts = ctx.headers.get("sforce-query-options", "")
        m = re.search(r"batchSize\s*=\s*(\d+)", opts, re.I)
        if not m:
            return DEFAULT_BATCH
        return min(max(int(m.group(1)), MIN_BATCH), MAX_BATCH)  # documented range; clamp rather than refuse

    def query(self, ctx: Ctx) -> Response:
        q = ctx.params.get("q")
        if not q:
            raise SfError(400, "MALFORMED_QUERY", "A query string has to be specified")
        plan = soql.compile_query(q, self.org, include_deleted=ctx.match["kind"] == "queryAll")
        ids = plan.run()
        if plan.count is not None:
            _c, res, alias = plan.count
            if res is None:
                return json_response({"totalSize": len(ids), "done": True, "records": []})
            n = sum(1 for i in ids if (r := self.store.get(plan.oi.name, i)) and res.getter(r) is not None)
            return json_response(
                {
                    "totalSize": 1,
                    "done": True,
                    "records": [{"attributes": {"type": "AggregateResult"}, alias or "expr0": n}],
                }
            )
        return self._page(ctx, plan, ids, 0, self._batch_size(ctx), None)

    def _page(
        self, ctx: Ctx, plan: soql.Plan, ids: list[str], start: int, size: int, loc: str | None
    ) -> Response:
        chunk = ids[start : start + size]
        body: dict[str, Any] = {"totalSize": len(ids), "done": start + len(chunk) >= len(ids)}
        if not body["done"]:
            if loc is None:
                with self._cursor_lock:
                    self._cursor_n += 1
                    loc = sf_id("01g", self._cursor_n)
                    # the ids snapshot is the cursor: later pages never rescan or re-filter
                    self.cursors[loc] = {"plan": plan, "ids": ids, "size": size}
                    while len(self.cursors) > MAX_CURSORS:
                        self.cursors.popitem(last=False)
            # still /query/ for queryAll cursors, as Salesforce does
            body["nextRecordsUrl"] = f"/services/data/{ctx.version}/query/{loc}-{start + len(chunk)}"
        body["records"] = plan.render(chunk, ctx.version)
        return json_response(body)

    def query_more(self, ctx: Ctx) -> Response:
        loc, _, pos = ctx.match["loc"].rpartition("-")
        with self._cursor_lock:
            cur = self.cursors.get(loc)
            if cur is not None:
                self.cursors.move_to_end(loc)
        if cur is None or not pos.isdigit():
            raise SfError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(ctx, cur["plan"], cur["ids"], int(pos), cur["size"], loc)

    # ---- describe ----------------------------------------------------------------------------------
    def describe_global(self, ctx: Ctx) -> Response:
        return json_response(desc.describe_global(self.org, ctx.version))

    def _obj(self, ctx: Ctx) -> Any:
        name = ctx.match["obj"]
        if not self.org.has_obj(name):
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        return self.org.obj(name)

    def describe(self, ctx: Ctx) -> Response:
        return json_response(desc.describe_object(self.org, self._obj(ctx), ctx.version))

    def metadata(self, ctx: Ctx) -> Response:
        return json_response(desc.metadata(self.org, self._obj(ctx), ctx.version))

    # ---- single records ------------------------------------------------------------------------------
    def _record_fault(self, obj: str) -> None:
        code = self.faults.record_error(obj)
        if code:
            raise SfError(400, code, f"{code}: record error injected by the sandbox")

    def _body(self, ctx: Ctx) -> dict[str, Any]:
        body = ctx.json()
        if not isinstance(body, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
        return body

    @staticmethod
    def _json_type_error(err: SfError) -> SfError:
        # A value that cannot be read as the field's type fails JSON deserialisation on the real REST API
        if err.code == "INVALID_TYPE_ON_FIELD_IN_RECORD":
            return SfError(
                400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {err.message}", err.fields
            )
        return err

    def create(self, ctx: Ctx) -> Response:
        oi = self._obj(ctx)
        body = self._body(ctx)
        self._record_fault(oi.name)
        try:
            rec = self.org.create(oi.name, body)
        except SfError as err:
            raise self._json_type_error(err) from None
        self.stats.written(oi.name)
        return json_response({"id": rec["Id"], "success": True, "errors": []}, 201)

    def _render_record(self, ctx: Ctx, obj: str, rec: dict[str, Any]) -> Response:
        oi = self.org.obj(obj)
        wanted = ctx.params.get("fields")
        out: dict[str, Any] = {
            "attributes": {
                "type": oi.name,
                "url": f"/services/data/{ctx.version}/sobjects/{oi.name}/{rec['Id']}",
            }
        }
        if wanted:
            for name in wanted.split(","):
                f = oi.field(name.strip())
                if f is None:
                    raise SfError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name.strip()}' on entity '{oi.name}'. "
                        "If you are attempting to use a custom field, be sure to append the '__c' after "
                        "the custom field name.",
                    )
                out[f["name"]] = rec.get(f["name"])
        else:
            for f in oi.spec["fields"]:
                out[f["name"]] = rec.get(f["name"])
        return json_response(out)

    def get_record(self, ctx: Ctx) -> Response:
        oi = self._obj(ctx)
        rec = self.org.require(oi, ctx.match["id"])
        return self._render_record(ctx, oi.name, rec)

    def update(self, ctx: Ctx) -> Response:
        oi = self._obj(ctx)
        body = self._body(ctx)
        self.org.require(oi, ctx.match["id"])
        self._record_fault(oi.name)
        try:
            self.org.update(oi.name, ctx.match["id"], body)
        except SfError as err:
            raise self._json_type_error(err) from None
        self.stats.written(oi.name)
        return Response(status_code=204)

    def delete(self, ctx: Ctx) -> Response:
        oi = self._obj(ctx)
        self.org.require(oi, ctx.match["id"])
        self._record_fault(oi.name)
        self.org.delete(oi.name, ctx.match["id"])
        self.stats.written(oi.name)
        return Response(status_code=204)

    def _ext_matches(self, ctx: Ctx) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
        oi = self._obj(ctx)
        f = self.org.ext_field(oi, ctx.match["field"])
        value = ctx.match["value"]
        if f["name"] != "Id":
            try:
                value = self.org.coerce(oi, f, value)
            except SfError:
                return oi, f, []
        return oi, f, self.org.find_by(oi, f, value)

    def _multiple(self, ctx: Ctx, obj: str, matches: list[dict[str, Any]]) -> Response:
        return json_response([f"/services/data/{ctx.version}/sobjects/{obj}/{r['Id']}" for r in matches], 300)

    def get_by_ext(self, ctx: Ctx) -> Response:
        oi, _f, matches = self._ext_matches(ctx)
        if not matches:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        if len(matches) > 1:
            return self._multiple(ctx, oi.name, matches)
        return self._render_record(ctx, oi.name, matches[0])

    def upsert(self, ctx: Ctx) -> Response:
        oi, f, matches = self._ext_matches(ctx)
        body = self._body(ctx)
        if len(matches) > 1:
            return self._multiple(ctx, oi.name, matches)
        if not matches and ctx.params.get("updateOnly", "").lower() == "true":
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        self._record_fault(oi.name)
        try:
            rec, created = self.org.upsert(oi.name, f["name"], ctx.match["value"], body)
        except SfError as err:
            if err.status == 300:
                return self._multiple(ctx, oi.name, self._ext_matches(ctx)[2])
            raise self._json_type_error(err) from None
        self.stats.written(oi.name)
        result: dict[str, Any] = {"id": rec["Id"], "success": True, "errors": []}
        if ctx.major >= 46:
            result["created"] = created
            return json_response(result, 201 if created else 200)
        return json_response(result, 201) if created else Response(status_code=204)

    # ---- sObject Collections ------------------------------------------------------------------------
    def _records(self, ctx: Ctx) -> tuple[list[Any], bool]:
        body = ctx.json()
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise SfError(
                400, "JSON_PARSER_ERROR", "The request body must be an object with a 'records' list"
            )
        if len(body["records"]) > MAX_COLLECTION:
            raise SfError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        return body["records"], bool(body.get("allOrNone", False))

    def _run_collection(
        self,
        ops: list[Callable[[], tuple[dict[str, Any], str, bool | None]]],
        ids: list[str | None],
        all_or_none: bool,
        with_created: bool,
    ) -> Response:
        """Run per-record ops in order under the store lock; roll back everything on allOrNone failure."""
        results: list[dict[str, Any]] = []
        undo: list[tuple[str, str, dict[str, Any] | None]] = []
        written: Counter[str] = Counter()
        failed = False
        with self.store.batch():
            for op, rid in zip(ops, ids, strict=True):
                try:
                    before, obj, created = op()
                    undo.append((obj, before["id"], before["old"]))
                    res: dict[str, Any] = {"id": before["id"], "success": True, "errors": []}
                    if with_created:
                        res["created"] = bool(created)
                    written[obj] += 1
                except SfError as err:
                    failed = True
                    res = {"success": False, "errors": [err.record_error()]}
                    if rid:
                        res = {"id": rid, **res}
                results.append(res)
            if failed and all_or_none:
                for obj, rid, old in reversed(undo):  # restore the previous versions
                    if old is None:
                        self.store.remove(obj, rid)
                    else:
                        self.store.put(obj, old)
                rolled = {
                    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                    "message": "Record rolled back because not all records were valid and the request "
                    "was using AllOrNone header",
                    "fields": [],
                }
                for res in results:
                    if res["success"]:
                        res["success"] = False
                        res["errors"] = [rolled]
                        res.pop("created", None)
                        if with_created or res.get("id") in {u[1] for u in undo if u[2] is None}:
                            res.pop("id", None)
                written.clear()
        for obj, n in written.items():
            self.stats.written(obj, n)
        return json_response(results)

    def _type_of(self, rec: Any) -> str:
        if not isinstance(rec, dict):
            raise SfError(400, "JSON_PARSER_ERROR", "each record must be a JSON object")
        typ = (rec.get("attributes") or {}).get("type")
        if not typ:
            raise SfError(400, "INVALID_TYPE", "Must send a concrete entity type.")
        return self.org.obj(typ).name

    def coll_create(self, ctx: Ctx) -> Response:
        records, aon = self._records(ctx)

        def make(rec: Any) -> Callable[[], tuple[dict[str, Any], str, bool | None]]:
            def op() -> tuple[dict[str, Any], str, bool | None]:
                obj = self._type_of(rec)
                if rec.get("id") or rec.get("Id"):
                    raise SfError(400, "INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
                self._record_fault(obj)
                new = self.org.create(obj, rec)
                return {"id": new["Id"], "old": None}, obj, True

            return op

        return self._run_collection([make(r) for r in records], [None] * len(records), aon, False)

    def coll_update(self, ctx: Ctx) -> Response:
        records, aon = self._records(ctx)

        def rid_of(rec: Any) -> str | None:
            return (rec.get("id") or rec.get("Id")) if isinstance(rec, dict) else None

        def make(rec: Any) -> Callable[[], tuple[dict[str, Any], str, bool | None]]:
            def op() -> tuple[dict[str, Any], str, bool | None]:
                obj = self._type_of(rec)
                rid = rid_of(rec)
                if not rid:
                    raise SfError(400, "MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
                oi = self.org.obj(obj)
                old = self.org.live(oi, rid)
                if old is None:
                    raise SfError(
                        400,
                        "ENTITY_IS_DELETED" if self.store.get(obj, rid) else "INVALID_CROSS_REFERENCE_KEY",
                        "invalid cross reference id",
                        [],
                    )
                self._record_fault(obj)
                self.org.update(obj, rid, rec)
                return {"id": old["Id"], "old": old}, obj, False

            return op

        return self._run_collection([make(r) for r in records], [rid_of(r) for r in records], aon, False)

    def coll_upsert(self, ctx: Ctx) -> Response:
        records, aon = self._records(ctx)
        oi = self._obj(ctx)
        f = self.org.ext_field(oi, ctx.match["field"])

        def make(rec: Any) -> Callable[[], tuple[dict[str, Any], str, bool | None]]:
            def op() -> tuple[dict[str, Any], str, bool | None]:
                obj = self._type_of(rec)
                if obj != oi.name:
                    raise SfError(400, "INVALID_FIELD", f"record type {obj} does not match {oi.name}")
                key = next((v for k, v in rec.items() if k.lower() == f["name"].lower()), None)
                if f["name"] == "Id":
                    key = rec.get("id") or rec.get("Id")
                if key in (None, "") and f["name"] != "Id":
                    raise SfError(400, "MISSING_ARGUMENT", f"{f['name']} not specified", [f["name"]])
                self._record_fault(obj)
                data = {k: v for k, v in rec.items() if k.lower() not in {"id"}}
                with self.store.lock:
                    matches = self.org.find_by(oi, f, self.org.coerce(oi, f, key)) if key else []
                    old = matches[0] if len(matches) == 1 else None
                    rec2, created = self.org.upsert(obj, f["name"], key, data)
                return {"id": rec2["Id"], "old": old}, obj, created

            return op

        return self._run_collection([make(r) for r in records], [None] * len(records), aon, True)

    def coll_delete(self, ctx: Ctx) -> Response:
        ids = [i for i in (ctx.params.get("ids") or "").split(",") if i]
        if not ids:
            raise SfError(400, "MISSING_ARGUMENT", "ids parameter is required")
        if len(ids) > MAX_COLLECTION:
            raise SfError(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        aon = (ctx.params.get("allOrNone") or "false").lower() == "true"
        by_prefix = {desc_prefix: name for name, desc_prefix in _prefixes().items()}

        def make(rid: str) -> Callable[[], tuple[dict[str, Any], str, bool | None]]:
            def op() -> tuple[dict[str, Any], str, bool | None]:
                obj = by_prefix.get(rid[:3])
                if obj is None or not self.org.has_obj(obj):
                    raise SfError(400, "MALFORMED_ID", f"malformed id {rid}", [])
                oi = self.org.obj(obj)
                old = self.org.live(oi, rid)
                if old is None:
                    raise SfError(
                        400,
                        "ENTITY_IS_DELETED"
                        if self.store.get(oi.name, rid)
                        else "INVALID_CROSS_REFERENCE_KEY",
                        "entity is deleted" if self.store.get(oi.name, rid) else "invalid cross reference id",
                        [],
                    )
                self._record_fault(oi.name)
                self.org.delete(oi.name, rid)
                return {"id": old["Id"], "old": old}, oi.name, None

            return op

        return self._run_collection([make(i) for i in ids], list(ids), aon, False)

    # ---- getUpdated / getDeleted -------------------------------------------------------------------
    def _window(self, ctx: Ctx, reach_days: int) -> tuple[str, str, datetime]:
        try:
            start = parse_dt(ctx.params["start"])
            end = parse_dt(ctx.params["end"])
        except KeyError:
            raise SfError(400, "MISSING_ARGUMENT", "start and end are required") from None
        except ValueError:
            raise SfError(
                400, "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 datetimes with a time zone"
            ) from None
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        start = start.replace(second=0, microsecond=0)  # seconds are ignored, as documented
        end = min(end.replace(second=0, microsecond=0), now)
        if start >= end:
            raise SfError(
                400,
                "INVALID_REPLICATION_DATE",
                "startDate must chronologically precede endDate by more than one minute",
            )
        if start < now - timedelta(days=reach_days):
            raise SfError(
                400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {reach_days} days ago"
            )
        return format_dt(start), format_dt(end), now

    def updated(self, ctx: Ctx) -> Response:
        oi = self._obj(ctx)
        lo, hi, _now = self._window(ctx, 30)
        ids = [
            r["Id"]
            for r in self.store.all(oi.name)
            if not r.get("IsDeleted") and r.get("SystemModstamp") and lo <= r["SystemModstamp"] < hi
        ]
        if len(ids) > 600_000:
            raise SfError(400, "EXCEEDED_ID_LIMIT", "more than 600,000 ids; use a smaller window")
        return json_response({"ids": ids, "latestDateCovered": hi})

    def deleted(self, ctx: Ctx) -> Response:
        oi = self._obj(ctx)
        lo, hi, now = self._window(ctx, 15)
        recs = [
            {"id": r["Id"], "deletedDate": r["SystemModstamp"]}
            for r in self.store.all(oi.name)
            if r.get("IsDeleted") and r.get("SystemModstamp") and lo <= r["SystemModstamp"] < hi
        ]
        return json_response(
            {
                "deletedRecords": recs,
                "earliestDateAvailable": format_dt(now - timedelta(days=15)),
                "latestDateCovered": hi,
            }
        )

    # ---- Bulk API 2.0 ----------------------------------------------------------------------------------
    def job_create(self, ctx: Ctx) -> Response:
        body = self._body(ctx)
        if ctx.match["kind"] == "ingest":
            return json_response(self.bulk.create_ingest(body, ctx.version))
        return json_response(self.bulk.create_query(body, ctx.version))

    def job_list(self, ctx: Ctx) -> Response:
        kind = ctx.match["kind"]
        return json_response(
            {
                "done": True,
                "nextRecordsUrl": None,
                "records": [dict(j["info"]) for j in self.bulk.jobs.values() if j["kind"] == kind],
            }
        )

    def job_get(self, ctx: Ctx) -> Response:
        return json_response(BulkJobs.public(self.bulk.get(ctx.match["id"], ctx.match["kind"])))

    def job_state(self, ctx: Ctx) -> Response:
        body = self._body(ctx)
        job = self.bulk.get(ctx.match["id"], ctx.match["kind"])
        before = job.get("success", [])[:] if ctx.match["kind"] == "ingest" else []
        info = self.bulk.set_state(ctx.match["id"], ctx.match["kind"], str(body.get("state")))
        if ctx.match["kind"] == "ingest":
            obj = job["info"]["object"]
            self.stats.written(obj, len(job.get("success", [])) - len(before))
        return json_response(info)

    def job_delete(self, ctx: Ctx) -> Response:
        self.bulk.delete(ctx.match["id"], ctx.match["kind"])
        return Response(status_code=204)

    def job_upload(self, ctx: Ctx) -> Response:
        self.bulk.upload(ctx.match["id"], ctx.raw)
        return Response(status_code=201)  # simple-salesforce insists on exactly 201

    def job_ingest_results(self, ctx: Ctx) -> Response:
        text = self.bulk.ingest_results(ctx.match["id"], ctx.match["which"])
        return Response(text, media_type="text/csv")

    def job_query_results(self, ctx: Ctx) -> Response:
        max_records = ctx.params.get("maxRecords")
        text, n, loc = self.bulk.query_results(
            ctx.match["id"], int(max_records) if max_records else None, ctx.params.get("locator")
        )
        return Response(
            text, media_type="text/csv", headers={"Sforce-NumberOfRecords": str(n), "Sforce-Locator": loc}
        )


def _prefixes() -> dict[str, str]:
    from shared_record_sandbox.schema import KEY_PREFIXES

    return KEY_PREFIXES


def build_app(store: Store, faults: FaultInjector, token: str) -> fastapi.FastAPI:
    """Wire a `CrmService` to FastAPI: Salesforce API under /services/data, admin API under /__admin."""
    svc = CrmService(store, faults, token)
    app = fastapi.FastAPI(
        title="CRM sandbox (Salesforce REST emulator)", docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.crm = svc

    @app.middleware("http")
    async def limit_info(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        response.headers["Sforce-Limit-Info"] = f"api-usage={svc.stats.api_usage}/{API_LIMIT}"
        return response

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]

    @app.api_route("/services/data/{version}/{rest:path}", methods=methods)
    async def api(request: Request, version: str, rest: str) -> Response:
        return await svc.handle(request, version, rest)

    @app.api_route("/services/data/{version}", methods=methods)
    async def api_root(request: Request, version: str) -> Response:
        return await svc.handle(request, version, "")

    @app.get("/services/data")
    async def versions() -> Response:
        return json_response(
            [
                {"label": f"v{v}.0", "url": f"/services/data/v{v}.0", "version": f"{v}.0"}
                for v in range(52, 63)
            ]
        )

    from shared_record_sandbox.crm.admin import register_admin

    register_admin(app, svc)
    return app


def now() -> str:
    """Current time in wire format (re-exported for the admin module)."""
    return now_sf()
