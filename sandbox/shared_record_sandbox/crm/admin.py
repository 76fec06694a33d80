"""Admin API of the CRM sandbox (/__admin/...): edits as a CRM user would make them, merges, schema
drift, fault rules and call statistics. Same bearer token as the API; health answers without one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import fastapi
from fastapi import Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from shared_record_sandbox.crm.org import SfError, canonical_dt

if TYPE_CHECKING:
    from shared_record_sandbox.crm.app import CrmService


def register_admin(app: fastapi.FastAPI, svc: CrmService) -> None:
    """Add the /__admin routes for `svc` to `app`."""
    from shared_record_sandbox.crm.app import error_response, json_response

    async def run(request: Request, fn: Callable[[Any], Any], status: int = 200) -> Response:
        if not svc.authorized(request.headers):
            return error_response(SfError(401, "INVALID_SESSION_ID", "Session expired or invalid"))
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            return error_response(SfError(400, "JSON_PARSER_ERROR", f"bad JSON body: {exc}"))
        try:
            result = await run_in_threadpool(fn, body)
        except SfError as err:
            return error_response(err)
        if result is None:
            return Response(status_code=204)
        return json_response(result, status)

    def stamp(body: dict[str, Any]) -> str | None:
        as_of = body.get("as_of")
        if not as_of:
            return None
        try:
            return canonical_dt(str(as_of))
        except ValueError:
            raise SfError(400, "INVALID_REPLICATION_DATE", f"as_of is not an ISO datetime: {as_of}") from None

    def fields_of(body: dict[str, Any]) -> dict[str, Any]:
        fields = body.get("fields")
        if not isinstance(fields, dict):
            raise SfError(400, "JSON_PARSER_ERROR", 'body needs {"fields": {...}}')
        return fields

    @app.get("/__admin/health")
    async def health() -> Response:
        counts = {name: svc.store.count(name) for name in svc.org.schema}
        return json_response({"status": "ok", "system": "crm", "records": counts})

    @app.get("/__admin/records/{obj}")
    async def find(request: Request, obj: str) -> Response:
        """Raw records of `obj` whose fields equal every query parameter (`?Type=Customer&IsDeleted=false`)."""
        filters = dict(request.query_params)
        limit = int(filters.pop("limit", 1000))

        def fn(_body: Any) -> Any:
            oi = svc.org.obj(obj)
            out = []
            for rec in svc.store.all(oi.name):
                if all(str(rec.get(k)).lower() == v.lower() for k, v in filters.items()):
                    out.append(rec)
                    if len(out) >= limit:
                        break
            return {"records": out}

        return await run(request, fn)

    @app.get("/__admin/records/{obj}/{rid}")
    async def get_raw(request: Request, obj: str, rid: str) -> Response:
        def fn(_body: Any) -> Any:
            oi = svc.org.obj(obj)
            rec = svc.store.get(oi.name, rid)
            if rec is None:
                raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
            return rec

        return await run(request, fn)

    @app.patch("/__admin/records/{obj}/{rid}")
    async def edit(request: Request, obj: str, rid: str) -> Response:
        return await run(request, lambda b: svc.org.update(obj, rid, fields_of(b), stamp(b)))

    @app.post("/__admin/records/{obj}")
    async def create(request: Request, obj: str) -> Response:
        return await run(request, lambda b: svc.org.create(obj, fields_of(b), stamp(b)), 201)

    @app.delete("/__admin/records/{obj}/{rid}")
    async def delete(request: Request, obj: str, rid: str) -> Response:
        return await run(request, lambda b: svc.org.delete(obj, rid, stamp(b)))

    @app.post("/__admin/merge")
    async def merge(request: Request) -> Response:
        def fn(b: dict[str, Any]) -> Any:
            if not b.get("object") or not b.get("master_id") or not isinstance(b.get("loser_ids"), list):
                raise SfError(400, "MISSING_ARGUMENT", 'body needs {"object","master_id","loser_ids":[...]}')
            return svc.org.merge(b["object"], b["master_id"], b["loser_ids"], stamp(b))

        return await run(request, fn)

    @app.post("/__admin/schema/{obj}/fields/{field}/rename")
    async def rename(request: Request, obj: str, field: str) -> Response:
        return await run(request, lambda b: svc.org.rename_field(obj, field, str(b.get("to") or "")))

    @app.delete("/__admin/schema/{obj}/fields/{field}")
    async def remove(request: Request, obj: str, field: str) -> Response:
        return await run(request, lambda b: svc.org.remove_field(obj, field))

    @app.patch("/__admin/schema/{obj}/fields/{field}")
    async def change(request: Request, obj: str, field: str) -> Response:
        return await run(request, lambda b: svc.org.change_field(obj, field, b))

    @app.get("/__admin/schema")
    async def schema(request: Request) -> Response:
        return await run(request, lambda b: svc.org.schema)

    @app.post("/__admin/faults")
    async def add_fault(request: Request) -> Response:
        def fn(b: Any) -> Any:
            specs = b if isinstance(b, list) else [b]
            try:
                for spec in specs:
                    if not isinstance(spec, dict):
                        raise ValueError("a fault rule must be a JSON object")
                    svc.faults.add(spec)
            except (ValueError, TypeError) as exc:
                raise SfError(400, "INVALID_FAULT", str(exc)) from None
            return svc.faults.describe()

        return await run(request, fn, 201)

    @app.get("/__admin/faults")
    async def list_faults(request: Request) -> Response:
        return await run(request, lambda b: svc.faults.describe())

    @app.delete("/__admin/faults")
    async def clear_faults(request: Request) -> Response:
        return await run(request, lambda b: svc.faults.clear())

    @app.get("/__admin/stats")
    async def stats(request: Request) -> Response:
        return await run(request, lambda b: svc.stats.snapshot())

    @app.delete("/__admin/stats")
    async def reset_stats(request: Request) -> Response:
        return await run(request, lambda b: svc.stats.reset())
