"""CS-platform sandbox: a Gainsight NXT-style REST API (query/insert/upsert/delete, describe) + admin API.

Follows /work/shared/reference/wire-protocols.md §2. Choices where the vendor's documentation is silent or
contradicts itself (each marked [unverified] where it is a pick, not a documented fact):
- Read results are `data.records` (what production clients read), never a bare `data` list.
- DATE/DATETIME values leave the API as epoch milliseconds (UTC midnight for dates). Dropdowns leave as their
  *labels*, not item GSIDs as on a real tenant, so the dictionary maps them like the CRM's [deviation].
  Multi-selects leave as lists, JSON fields as parsed JSON; both are accepted in either form on writes.
- Error codes: GSOBJ_1002 unknown field, GSOBJ_1005/1006 bad datetime/date, GSOBJ_1007 null in a non-nullable
  field, GSOBJ_1001 value too long, GSOBJ_1011 no entity matches (all documented); GSOBJ_1003 unknown object,
  GSOBJ_1004 record limit exceeded (>5,000 read / >50 written / >3 keys), GSOBJ_1008 read-only field,
  GSOBJ_1009 picklist value not allowed, GSOBJ_1010 bad request shape (filter, expression, body), GS_APIG_2500
  injected server error [all unverified: picked next to the documented neighbours].
- String EQ/NE/IN compare exactly; CONTAINS/STARTS_WITH ignore case. NE and IS_NULL match null values; the
  range operators never do. Without `orderBy` rows come in Gsid order, so limit/offset paging is stable.
- Upsert with keys matching several records updates all of them and reports the first Gsid [unverified].
Storage keeps DATE as "YYYY-MM-DD", DATETIME as "YYYY-MM-DDTHH:MM:SSZ", multi-selects as "A;B" and JSON as
a JSON string, so the admin API's raw records read like the seed.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import uuid
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from typing import Any

import fastapi
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from shared_record_sandbox import schema as base_schema
from shared_record_sandbox.faults import FaultInjector
from shared_record_sandbox.ids import gsid
from shared_record_sandbox.store import Record, Store

SCHEMA_META_KEY = "cs_schema"
GSID_COUNTER = "cs:gsid"  # shared with seed.py: GSIDs keep increasing, so dict order == Gsid order
READ_LIMIT = 5000
WRITE_LIMIT = 50
MAX_KEYS = 3
SYSTEM_FIELDS = frozenset({"Gsid", "CreatedDate", "ModifiedDate"})
NUMERIC = frozenset({"NUMBER", "CURRENCY", "PERCENTAGE"})
TEXTUAL = frozenset({"STRING", "EMAIL", "URL", "RICHTEXTAREA", "SFDCID", "GSID", "LOOKUP", "PICKLIST"})
OPERATORS = frozenset({"EQ", "NE", "GT", "GTE", "LT", "LTE", "BTW", "IN", "CONTAINS", "STARTS_WITH",
                       "IS_NULL", "IS_NOT_NULL"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class CsError(Exception):
    """An API error in the platform's envelope: HTTP status, errorCode, errorDesc and optional data."""

    def __init__(self, status: int, code: str, desc: str, data: Any = None) -> None:
        super().__init__(f"{code}: {desc}")
        self.status, self.code, self.desc, self.data = status, code, desc, data


def envelope(data: Any = None, status: int = 200, code: str | None = None,
             desc: str | None = None) -> Response:
    """The platform's response envelope; `result` is false exactly when an errorCode is set."""
    body = {"result": code is None, "errorCode": code, "errorDesc": desc, "requestId": str(uuid.uuid4()),
            "data": data, "message": desc if code else None}
    return JSONResponse(body, status_code=status)


def error_response(err: CsError) -> Response:
    return envelope(err.data, err.status, err.code, err.desc)


# ---- value conversions ------------------------------------------------------------------------------
def _ms_of(dt: datetime) -> int:
    return int((dt - _EPOCH).total_seconds() * 1000)


def parse_date(value: Any) -> str:
    """A DATE write/filter value (ISO date, "MM-DD-YYYY", epoch ms) → "YYYY-MM-DD"; ValueError if not."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value / 1000, tz=UTC).date().isoformat()
    text = str(value).strip()
    if text.isdigit() and len(text) > 8:
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC).date().isoformat()
    if re.fullmatch(r"\d{2}-\d{2}-\d{4}", text):
        return datetime.strptime(text, "%m-%d-%Y").date().isoformat()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return date.fromisoformat(text).isoformat()
    if "T" in text:
        return parse_datetime(text)[:10]
    raise ValueError(text)


def parse_datetime(value: Any) -> str:
    """A DATETIME write/filter value (ISO datetime/date, "MM-DD-YYYY", epoch ms) → "YYYY-MM-DDTHH:MM:SSZ"."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        dt = datetime.fromtimestamp(value / 1000, tz=UTC)
    else:
        text = str(value).strip()
        if text.isdigit() and len(text) > 8:
            dt = datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        elif re.fullmatch(r"\d{2}-\d{2}-\d{4}", text):
            dt = datetime.strptime(text, "%m-%d-%Y").replace(tzinfo=UTC)
        else:
            text = text.replace("Z", "+00:00")
            if re.search(r"[+-]\d{4}$", text):  # Salesforce style +0000
                text = text[:-2] + ":" + text[-2:]
            dt = datetime.fromisoformat(text)
            dt = dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


_MS_CACHE: dict[str, int] = {}


def stored_to_ms(value: str | None) -> int | None:
    """Epoch milliseconds of a stored DATE/DATETIME string (cached: seeded data repeats values a lot)."""
    if value is None:
        return None
    ms = _MS_CACHE.get(value)
    if ms is None:
        if len(value) == 10:
            dt = datetime.fromisoformat(value).replace(tzinfo=UTC)
        else:
            dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        ms = _ms_of(dt)
        if len(_MS_CACHE) < 500_000:
            _MS_CACHE[value] = ms
    return ms


def _ms_key(value: Any) -> Any:
    """The comparison form of a stored date/datetime (what range filters compare), for the range index."""
    return stored_to_ms(value) if isinstance(value, str) else value


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- the service ------------------------------------------------------------------------------------
class Stats:
    """Calls by kind (read, write, describe, meta) and by object; records written by object."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.calls: Counter[str] = Counter({"read": 0, "write": 0, "describe": 0, "meta": 0})
            self.by_object: dict[str, Counter[str]] = {}
            self.records_written: Counter[str] = Counter()

    def call(self, kind: str, obj: str | None = None) -> None:
        with self._lock:
            self.calls[kind] += 1
            if obj:
                self.by_object.setdefault(obj, Counter())[kind] += 1

    def written(self, obj: str, n: int) -> None:
        if n:
            with self._lock:
                self.records_written[obj] += n

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": dict(self.calls),
                    "calls_by_object": {o: dict(c) for o, c in self.by_object.items()},
                    "records_written": dict(self.records_written)}


class CsService:
    """The emulated tenant: live schema (in store meta), records, validation, query engine, stats."""

    def __init__(self, store: Store, faults: FaultInjector, key: str,
                 reseed: Callable[[], dict[str, Any]] | None = None) -> None:
        self.store, self.faults, self.key, self.reseed = store, faults, key, reseed
        self.stats = Stats()
        schema = store.meta_get(SCHEMA_META_KEY)
        if not schema:
            schema = base_schema.default_cs_schema()
            store.meta_set(SCHEMA_META_KEY, schema)
        self.schema: dict[str, dict[str, Any]] = schema
        self._fields: dict[str, dict[str, dict[str, Any]]] = {}
        self._version = 0  # bumped on every write/schema change; keys the query cache
        self._query_cache: OrderedDict[str, tuple[int, list[Record]]] = OrderedDict()
        self._key_index: dict[tuple[str, tuple[str, ...]], dict[tuple, dict[str, None]]] = {}
        # key values -> the Gsids holding them, as an insertion-ordered set: records sharing a value (a
        # lookup field that is mostly empty) must not make each write O(records)
        self._reindex()

    # ---- schema -------------------------------------------------------------------------------
    def _reindex(self) -> None:
        self._fields = {o: {f["fieldName"]: f for f in spec["fields"]} for o, spec in self.schema.items()}
        self._key_index.clear()
        self._version += 1

    def save_schema(self) -> None:
        self.store.meta_set(SCHEMA_META_KEY, self.schema)
        self._reindex()

    def fields(self, obj: str) -> dict[str, dict[str, Any]]:
        f = self._fields.get(obj)
        if f is None:
            raise CsError(400, "GSOBJ_1003", f"Invalid object name: {obj}")
        return f

    def field(self, obj: str, name: str) -> dict[str, Any]:
        spec = self.fields(obj).get(name)
        if spec is None:
            raise CsError(400, "GSOBJ_1002", f"Invalid field: {name} does not exist on object {obj}")
        return spec

    def authorized(self, headers: Any) -> bool:
        return headers.get("accesskey") == self.key  # starlette headers are case-insensitive

    # ---- output -------------------------------------------------------------------------------
    @staticmethod
    def out_value(spec: dict[str, Any], value: Any) -> Any:
        """A stored value as the API returns it (dates as epoch ms, multi-selects as lists)."""
        if value is None:
            return None
        dt = spec["dataType"]
        if dt in ("DATE", "DATETIME"):
            try:
                return stored_to_ms(value)
            except (TypeError, ValueError):
                return value
        if dt == "MULTISELECTDROPDOWNLIST":
            return [v for v in str(value).split(";") if v] if isinstance(value, str) else value
        if dt == "JSON" and isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                return value
        return value

    def _path(self, obj: str, path: str) -> tuple[Callable[[Record], Any], dict[str, Any]]:
        """A getter for `path` (a field or a lookup path like Company_ID__gr.Name) and its field spec."""
        parts = path.split(".")
        hops: list[tuple[str, str]] = []  # (field holding the GSID, object it points to)
        cur = obj
        for part in parts[:-1]:
            base = part[:-4] if part.endswith("__gr") else None
            spec = self.fields(cur).get(base) if base else None
            if spec is None or not spec.get("lookup"):
                raise CsError(400, "GSOBJ_1002", f"Invalid field: {path} ({part} is not a lookup on {cur})")
            hops.append((base, spec["lookup"]))  # type: ignore[arg-type]
            cur = spec["lookup"]
        spec = self.fields(cur).get(parts[-1])
        if spec is None:
            raise CsError(400, "GSOBJ_1002", f"Invalid field: {path} does not exist on object {obj}")
        name = parts[-1]
        if not hops:
            return (lambda r: r.get(name)), spec
        get = self.store.get

        def follow(rec: Record) -> Any:
            cur_rec: Record | None = rec
            for fname, target in hops:
                ref = cur_rec.get(fname) if cur_rec else None
                cur_rec = get(target, ref) if ref else None
            return cur_rec.get(name) if cur_rec else None

        return follow, spec

    # ---- query --------------------------------------------------------------------------------
    def query(self, obj: str, body: dict[str, Any]) -> dict[str, Any]:
        self.fields(obj)
        if not isinstance(body, dict):
            raise CsError(400, "GSOBJ_1010", "Request body must be a JSON object")
        select = body.get("select")
        if not isinstance(select, list) or not select or not all(isinstance(s, str) for s in select):
            raise CsError(400, "GSOBJ_1010", "select must be a non-empty list of field names")
        limit = body.get("limit", READ_LIMIT)
        offset = body.get("offset", 0)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= READ_LIMIT:
            raise CsError(400, "GSOBJ_1004", f"limit must be between 1 and {READ_LIMIT}, got {limit!r}")
        if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
            raise CsError(400, "GSOBJ_1010", f"offset must be a non-negative integer, got {offset!r}")
        getters = [(s, *self._path(obj, s)) for s in select]
        cache_key = json.dumps([obj, body.get("where"), body.get("orderBy")], sort_keys=True, default=str)
        with self.store.lock:
            version = self._version
            hit = self._query_cache.get(cache_key)
            if hit is not None and hit[0] == version:
                rows = hit[1]
                self._query_cache.move_to_end(cache_key)
            else:
                rows = self._matching(obj, body.get("where"), body.get("orderBy"))
                self._query_cache[cache_key] = (version, rows)
                while len(self._query_cache) > 8:
                    self._query_cache.popitem(last=False)
            page = rows[offset: offset + limit]
            out = self.out_value
            records = [{s: out(spec, get(r)) for s, get, spec in getters} for r in page]
        return {"records": records}

    def _matching(self, obj: str, where: Any, order_by: Any) -> list[Record]:
        pred = self._predicate(obj, where) if where else None
        rows = (self._indexed_candidates(obj, where) or self._range_candidates(obj, where)) if where else None
        if rows is None:
            rows = self.store.all(obj)
        if pred is not None:
            rows = [r for r in rows if pred(r)]
        rows.sort(key=lambda r: r["Gsid"])  # cheap on the (already Gsid-ordered) store order
        if order_by:
            if not isinstance(order_by, dict):
                raise CsError(400, "GSOBJ_1010", 'orderBy must be an object like {"Name": "asc"}')
            for name, direction in reversed(list(order_by.items())):
                get, spec = self._path(obj, name)
                desc = str(direction).lower() == "desc"
                if str(direction).lower() not in ("asc", "desc"):
                    raise CsError(400, "GSOBJ_1010",
                                  f"orderBy direction must be asc or desc, got {direction!r}")
                norm = self._normalizer(spec)

                def key(r: Record, get: Callable = get, norm: Callable = norm, desc: bool = desc) -> tuple:
                    v = norm(get(r))
                    if v is None:  # nulls last in both directions
                        return (0, 0) if desc else (1, 0)
                    return (1, v) if desc else (0, v)

                rows.sort(key=key, reverse=desc)
        return rows

    @staticmethod
    def _normalizer(spec: dict[str, Any]) -> Callable[[Any], Any]:
        """Stored value → comparable value (ms for dates, float for numbers, list for multi-selects)."""
        dt = spec["dataType"]
        if dt in ("DATE", "DATETIME"):
            return lambda v: stored_to_ms(v) if isinstance(v, str) else v
        if dt in NUMERIC:
            return lambda v: float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v
        if dt == "MULTISELECTDROPDOWNLIST":
            return lambda v: [x for x in v.split(";") if x] if isinstance(v, str) else v
        return lambda v: v

    def _filter_value(self, spec: dict[str, Any], value: Any, name: str) -> Any:
        dt = spec["dataType"]
        try:
            if dt == "DATE":
                return stored_to_ms(parse_date(value))
            if dt == "DATETIME":
                return stored_to_ms(parse_datetime(value))
            if dt in NUMERIC:
                return float(value)
            if dt == "BOOLEAN":
                if isinstance(value, bool):
                    return value
                if str(value).lower() in ("true", "false"):
                    return str(value).lower() == "true"
                raise ValueError(value)
        except (TypeError, ValueError):
            code = {"DATE": "GSOBJ_1006", "DATETIME": "GSOBJ_1005"}.get(dt, "GSOBJ_1010")
            raise CsError(400, code, f"Invalid value {value!r} for {dt} field {name}") from None
        return value if value is None else str(value)

    def _predicate(self, obj: str, where: Any) -> Callable[[Record], bool]:
        if not isinstance(where, dict) or not isinstance(where.get("conditions", []), list):
            raise CsError(400, "GSOBJ_1010", "where must be {conditions: [...], expression: '...'}")
        conds: dict[str, Callable[[Record], bool]] = {}
        for i, cond in enumerate(where.get("conditions") or []):
            if not isinstance(cond, dict) or "name" not in cond:
                raise CsError(400, "GSOBJ_1010", f"condition {i} needs a name")
            alias = str(cond.get("alias") or chr(ord("A") + i))
            conds[alias] = self._condition(obj, cond)
        if not conds:
            return lambda r: True
        expression = where.get("expression")
        if not expression:
            preds = list(conds.values())
            return lambda r: all(p(r) for p in preds)
        return _parse_expression(str(expression), conds)

    def _condition(self, obj: str, cond: dict[str, Any]) -> Callable[[Record], bool]:
        name = str(cond["name"])
        get, spec = self._path(obj, name)
        op = str(cond.get("operator") or "EQ").upper()
        if op not in OPERATORS:
            raise CsError(400, "GSOBJ_1010", f"Unknown operator {op} on {name}")
        raw = cond.get("value", [])
        values = raw if isinstance(raw, list) else [raw]
        norm = self._normalizer(spec)
        if op == "IS_NULL":
            return lambda r: norm(get(r)) in (None, "", [])
        if op == "IS_NOT_NULL":
            return lambda r: norm(get(r)) not in (None, "", [])
        need = 2 if op == "BTW" else 1
        if len(values) < need:
            raise CsError(400, "GSOBJ_1010", f"Operator {op} on {name} needs {need} value(s)")
        vals = [self._filter_value(spec, v, name) for v in values]
        multi = spec["dataType"] == "MULTISELECTDROPDOWNLIST"
        v0 = vals[0]

        def val(r: Record) -> Any:
            return norm(get(r))

        if spec["dataType"] in ("DATE", "DATETIME") and "." not in name:
            cache = _MS_CACHE

            def val(r: Record) -> Any:  # noqa: F811 - the same as above, inlined: range scans are the hot path
                v = r.get(name)
                if isinstance(v, str):
                    ms = cache.get(v)
                    return ms if ms is not None else stored_to_ms(v)
                return v

        if op in ("EQ", "NE"):
            if multi:
                target = sorted(str(v) for v in vals)
                eq = lambda r: sorted(val(r) or []) == target  # noqa: E731
            else:
                eq = lambda r: val(r) == v0  # noqa: E731
            return eq if op == "EQ" else (lambda r: not eq(r))
        if op == "IN":
            if multi:
                s = set(vals)
                return lambda r: bool(s.intersection(val(r) or []))
            s2 = set(vals)
            return lambda r: val(r) in s2
        if op in ("CONTAINS", "STARTS_WITH"):
            needles = [str(v).lower() for v in vals]
            if multi:
                return lambda r: any(n in [x.lower() for x in (val(r) or [])] for n in needles)
            if op == "CONTAINS":
                return lambda r: (x := val(r)) is not None and any(n in str(x).lower() for n in needles)
            return lambda r: (x := val(r)) is not None and str(x).lower().startswith(tuple(needles))

        def cmp(fn: Callable[[Any], bool]) -> Callable[[Record], bool]:
            def check(r: Record) -> bool:
                x = val(r)
                if x is None:
                    return False
                try:
                    return fn(x)
                except TypeError:
                    return False
            return check

        if op == "GT":
            return cmp(lambda x: x > v0)
        if op == "GTE":
            return cmp(lambda x: x >= v0)
        if op == "LT":
            return cmp(lambda x: x < v0)
        if op == "LTE":
            return cmp(lambda x: x <= v0)
        lo, hi = vals[0], vals[1]
        return cmp(lambda x: lo <= x <= hi)  # BTW, inclusive

    # ---- validation ---------------------------------------------------------------------------
    def clean(self, obj: str, rec: Any,
              allow: Iterable[str] = ()) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Validated storage values of one written record, and its errors (GSOBJ_* codes, per field)."""
        fields = self.fields(obj)
        if not isinstance(rec, dict):
            return {}, [{"errorCode": "GSOBJ_1010", "errorDesc": "each record must be a JSON object"}]
        out: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        allowed = set(allow)

        def err(code: str, name: str, desc: str) -> None:
            errors.append({"errorCode": code, "errorDesc": desc, "fieldName": name})

        for name, value in rec.items():
            spec = fields.get(name)
            if spec is None:
                err("GSOBJ_1002", name, f"Invalid field: {name} does not exist on object {obj}")
                continue
            if (spec.get("readOnly") or name in SYSTEM_FIELDS) and name not in allowed:
                err("GSOBJ_1008", name, f"Field {name} is read-only")
                continue
            if value is None or (isinstance(value, str) and value == "" and spec["dataType"] not in TEXTUAL):
                if not spec.get("nillable", True):
                    err("GSOBJ_1007", name, f"Field {name} cannot be null")
                else:
                    out[name] = None
                continue
            try:
                out[name] = self._coerce(obj, spec, value)
            except CsError as e:
                err(e.code, name, e.desc)
        return out, errors

    def _coerce(self, obj: str, spec: dict[str, Any], value: Any) -> Any:
        name, dt = spec["fieldName"], spec["dataType"]
        if dt == "DATE":
            try:
                return parse_date(value)
            except (TypeError, ValueError, OverflowError):
                raise CsError(400, "GSOBJ_1006", f"Invalid date value {value!r} for {name}") from None
        if dt == "DATETIME":
            try:
                return parse_datetime(value)
            except (TypeError, ValueError, OverflowError):
                raise CsError(400, "GSOBJ_1005", f"Invalid datetime value {value!r} for {name}") from None
        if dt in NUMERIC:
            if isinstance(value, bool):
                raise CsError(400, "GSOBJ_1010", f"Invalid number {value!r} for {name}")
            if isinstance(value, int | float):
                return value
            try:
                num = float(str(value))
            except ValueError:
                raise CsError(400, "GSOBJ_1010", f"Invalid number {value!r} for {name}") from None
            return int(num) if num.is_integer() and "." not in str(value) else num
        if dt == "BOOLEAN":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "false"):
                return str(value).lower() == "true"
            raise CsError(400, "GSOBJ_1010", f"Invalid boolean {value!r} for {name}")
        if dt == "PICKLIST":
            allowed = spec.get("picklist") or []
            if str(value) not in allowed:
                raise CsError(400, "GSOBJ_1009", f"Invalid picklist value {value!r} for {name}; allowed: "
                              + ", ".join(allowed))
            return str(value)
        if dt == "MULTISELECTDROPDOWNLIST":
            items = value if isinstance(value, list) else [v for v in str(value).split(";")]
            items = [str(v).strip() for v in items if str(v).strip()]
            allowed = spec.get("picklist") or []
            bad = [v for v in items if v not in allowed]
            if bad:
                raise CsError(400, "GSOBJ_1009", f"Invalid picklist value(s) {bad} for {name}")
            return ";".join(items) or None
        if dt == "JSON":
            if isinstance(value, str):
                try:
                    json.loads(value)
                except ValueError:
                    raise CsError(400, "GSOBJ_1010", f"Invalid JSON for {name}") from None
                return value
            return json.dumps(value)
        if isinstance(value, dict | list):
            raise CsError(400, "GSOBJ_1010", f"Invalid value for {dt} field {name}")
        text = str(value)
        length = spec.get("length") or 0
        if length and dt != "RICHTEXTAREA" and len(text) > length:
            raise CsError(400, "GSOBJ_1001", f"Value for {name} exceeds the maximum length of {length}")
        if dt == "EMAIL" and "@" not in text:
            raise CsError(400, "GSOBJ_1010", f"Invalid email {text!r} for {name}")
        if dt == "GSID" and spec.get("lookup") and self.store.get(spec["lookup"], text) is None:
            raise CsError(400, "GSOBJ_1011", f"No {spec['lookup']} matches {name} = {text}")
        return text

    def _missing_required(self, obj: str, values: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {"errorCode": "GSOBJ_1007", "errorDesc": f"Field {f['fieldName']} cannot be null", "fieldName": n}
            for n, f in self.fields(obj).items()
            if not f.get("nillable", True) and n not in SYSTEM_FIELDS and values.get(n) is None
        ]

    # ---- writes -------------------------------------------------------------------------------
    def _new_record(self, obj: str, values: dict[str, Any], stamp: str) -> Record:
        rec: Record = {n: None for n in self.fields(obj)}
        rec.update(values)
        rec["Gsid"] = gsid(self.store.next_counter(GSID_COUNTER))
        rec["CreatedDate"] = rec["ModifiedDate"] = stamp
        return rec

    def _write(self, obj: str, old: Record | None, new: Record | None) -> None:
        """Persist one change and keep the upsert key indexes and the query cache in step."""
        for (o, keys), index in self._key_index.items():
            if o != obj:
                continue
            old_key = tuple(old.get(k) for k in keys) if old is not None else None
            new_key = tuple(new.get(k) for k in keys) if new is not None else None
            if old_key == new_key:
                continue  # the usual update: the key fields did not change
            if old_key is not None:
                ids = index.get(old_key)
                if ids is not None:
                    ids.pop(old["Gsid"], None)
                    if not ids:
                        del index[old_key]
            if new_key is not None:
                index.setdefault(new_key, {})[new["Gsid"]] = None
        if new is None:
            assert old is not None
            self.store.remove(obj, old["Gsid"])
        else:
            self.store.put(obj, new, "Gsid")
        self._version += 1

    def _index(self, obj: str, keys: tuple[str, ...]) -> dict[tuple, dict[str, None]]:
        index = self._key_index.get((obj, keys))
        if index is None:
            index = {}
            add = index.setdefault
            if len(keys) == 1:
                (k,) = keys
                for r in self.store.all(obj):
                    add((r.get(k),), {})[r["Gsid"]] = None
            else:
                for r in self.store.all(obj):
                    add(tuple(r.get(k) for k in keys), {})[r["Gsid"]] = None
            self._key_index[(obj, keys)] = index
        return index

    def warm_indexes(self) -> int:
        """Build the key index of every Salesforce-id field and the range index of ModifiedDate now (what the
        integration upserts, looks up and windows by), so the first API call after a start does not pay for
        them; returns how many were built."""
        built = 0
        for obj, fields in self._fields.items():
            for name, spec in fields.items():
                if spec["dataType"] == "SFDCID" and (obj, (name,)) not in self._key_index:
                    with self.store.lock:
                        self._index(obj, (name,))
                    built += 1
            if "ModifiedDate" in fields:  # incremental reads filter on it
                self.store.ensure_range_index(obj, "ModifiedDate", key=_ms_key, key_name="ms")
                built += 1
        return built

    def _single_condition(self, obj: str, where: Any, ops: tuple[str, ...]
                          ) -> tuple[str, str, dict[str, Any], list[Any]] | None:
        """(field, operator, field spec, values) when `where` is exactly one condition, with one of `ops`, on a
        plain (not dotted) field of `obj`; None otherwise (the query scans)."""
        conds = where.get("conditions") if isinstance(where, dict) else None
        if not isinstance(conds, list) or len(conds) != 1 or not isinstance(conds[0], dict):
            return None
        cond = conds[0]
        name, op = str(cond.get("name", "")), str(cond.get("operator") or "EQ").upper()
        alias = str(cond.get("alias") or "A")
        if op not in ops or "." in name or str(where.get("expression") or alias).strip() != alias:
            return None
        spec = self.fields(obj).get(name)
        if spec is None:
            return None
        raw = cond.get("value", [])
        return name, op, spec, raw if isinstance(raw, list) else [raw]

    def _range_candidates(self, obj: str, where: Any) -> list[Record] | None:
        """For a `where` of one range condition (BTW, GT, GTE, LT, LTE) on a plain date or datetime field (the
        window of an incremental read), the records in that range from the store's range index; None when
        the query needs a full scan. The caller still applies the predicate."""
        single = self._single_condition(obj, where, ("BTW", "GT", "GTE", "LT", "LTE"))
        if single is None:
            return None
        name, op, spec, values = single
        if spec["dataType"] not in ("DATE", "DATETIME"):
            return None
        if len(values) < (2 if op == "BTW" else 1):
            return None  # the predicate raises the error
        vals = [self._filter_value(spec, v, name) for v in values]
        lo = vals[0] if op in ("BTW", "GT", "GTE") else None
        hi = vals[1] if op == "BTW" else vals[0] if op in ("LT", "LTE") else None
        return self.store.range_records(obj, name, lo, hi, key=_ms_key, key_name="ms")

    def _indexed_candidates(self, obj: str, where: Any) -> list[Record] | None:
        """Records that may match a `where` of one EQ/IN condition on a plain text field, from the key index
        (the one the upserts keep up to date); None when the query needs a full scan. The caller still
        applies the predicate, so the result is exactly that of a scan."""
        single = self._single_condition(obj, where, ("EQ", "IN"))
        if single is None:
            return None
        name, _op, spec, values = single
        if spec["dataType"] in (*NUMERIC, "DATE", "DATETIME", "BOOLEAN", "MULTISELECTDROPDOWNLIST"):
            return None
        if not values or any(v is None for v in values):
            return None
        index = self._index(obj, (name,))
        get = self.store.get
        gsids = {g for v in {str(v) for v in values} for g in index.get((v,), ())}
        return [r for r in (get(obj, g) for g in gsids) if r is not None]

    def write(self, obj: str, body: Any, keys: list[str] | None, stamp: str | None = None) -> dict[str, Any]:
        """Insert (keys None) or upsert by `keys`: all-or-nothing validation, then per-record fault injection.

        A record failing validation fails the whole call and nothing is written, as the platform documents.
        Per-record errors injected by a `record_error` fault rule are different on purpose: the call answers
        200 with those records in data.errors (index, errorCode, errorDesc) and writes all the others, so the
        project's per-record retry path can be exercised (the real platform's partial failures look alike).
        """
        self.fields(obj)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            raise CsError(400, "GSOBJ_1010", 'body must be {"records": [...]} with at least one record')
        if len(records) > WRITE_LIMIT:
            raise CsError(400, "GSOBJ_1004", f"At most {WRITE_LIMIT} records per call, got {len(records)}")
        key_t: tuple[str, ...] = ()
        if keys is not None:
            if not 1 <= len(keys) <= MAX_KEYS:
                raise CsError(400, "GSOBJ_1004", f"Upsert takes 1 to {MAX_KEYS} key fields, got {len(keys)}")
            for k in keys:
                self.field(obj, k)
            key_t = tuple(keys)
        stamp = stamp or now_iso()
        with self.store.batch():
            cleaned: list[dict[str, Any]] = []
            errors: list[dict[str, Any]] = []
            pending: set[tuple] = set()  # keys inserted earlier in this call
            index = self._index(obj, key_t) if key_t else None
            for i, rec in enumerate(records):
                vals, errs = self.clean(obj, rec, allow=("Gsid",) if "Gsid" in key_t else ())
                if not errs and key_t:
                    missing = [k for k in key_t if vals.get(k) is None]
                    if missing:
                        errs = [{"errorCode": "GSOBJ_1007", "fieldName": missing[0],
                                 "errorDesc": f"Key field(s) {missing} missing or null"}]
                    else:
                        kv = tuple(vals[k] for k in key_t)
                        if not (index or {}).get(kv) and kv not in pending:
                            if "Gsid" in key_t:
                                errs = [{"errorCode": "GSOBJ_1011", "fieldName": "Gsid", "errorDesc":
                                         f"No entity matches the given criteria: Gsid {vals['Gsid']}"}]
                            else:
                                errs = self._missing_required(obj, vals)
                            pending.add(kv)
                elif not errs:
                    errs = self._missing_required(obj, vals)
                errors += [{"index": i, **e} for e in errs]
                cleaned.append(vals)
            if errors:
                first = errors[0]
                raise CsError(400, first["errorCode"], f"record {first['index']}: {first['errorDesc']}",
                              {"count": 0, "errors": errors, "records": None})
            written: list[dict[str, str]] = []
            injected: list[dict[str, Any]] = []
            for i, vals in enumerate(cleaned):
                code = self.faults.record_error(obj)
                if code:
                    injected.append({"index": i, "errorCode": code, "errorDesc": f"injected fault: {code}",
                                     "record": records[i]})
                    continue
                matches = list((index or {}).get(tuple(vals[k] for k in key_t), ())) if key_t else []
                if matches:
                    for g in matches:
                        old = self.store.get(obj, g)
                        if old is None:
                            continue
                        new = {**old, **vals, "ModifiedDate": stamp}
                        self._write(obj, old, new)
                    written.append({"Gsid": matches[0]})
                else:
                    new = self._new_record(obj, vals, stamp)
                    self._write(obj, None, new)
                    written.append({"Gsid": new["Gsid"]})
            self.stats.written(obj, len(written))
        return {"count": len(written), "errors": injected or None, "records": written}

    def delete(self, obj: str, record_id: str) -> dict[str, Any]:
        self.fields(obj)
        with self.store.lock:
            old = self.store.get(obj, record_id)
            if old is None:
                raise CsError(400, "GSOBJ_1011", f"No entity matches the given criteria: {obj} {record_id}")
            self._write(obj, old, None)
        self.stats.written(obj, 1)
        return {"count": 1, "errors": None, "records": [{"Gsid": record_id}]}

    # ---- admin edits (as a CSM would make them in the UI) ---------------------------------------
    def admin_update(self, obj: str, record_id: str, fields: Any, as_of: str | None) -> Record:
        if not isinstance(fields, dict) or not fields:
            raise CsError(400, "GSOBJ_1010", 'body needs {"fields": {...}}')
        stamp = self._as_of(as_of)
        with self.store.lock:
            old = self.store.get(obj, record_id) if obj in self.schema else None
            self.fields(obj)
            if old is None:
                raise CsError(404, "GSOBJ_1011", f"No entity matches the given criteria: {obj} {record_id}")
            vals, errs = self.clean(obj, fields)
            if errs:
                raise CsError(400, errs[0]["errorCode"], errs[0]["errorDesc"], {"errors": errs})
            new = {**old, **vals, "ModifiedDate": stamp}
            self._write(obj, old, new)
            return new

    def admin_create(self, obj: str, fields: Any, as_of: str | None) -> Record:
        if not isinstance(fields, dict):
            raise CsError(400, "GSOBJ_1010", 'body needs {"fields": {...}}')
        stamp = self._as_of(as_of)
        with self.store.lock:
            vals, errs = self.clean(obj, fields)
            errs = errs or self._missing_required(obj, vals)
            if errs:
                raise CsError(400, errs[0]["errorCode"], errs[0]["errorDesc"], {"errors": errs})
            new = self._new_record(obj, vals, stamp)
            self._write(obj, None, new)
            return new

    @staticmethod
    def _as_of(as_of: str | None) -> str:
        if not as_of:
            return now_iso()
        try:
            return parse_datetime(as_of)
        except ValueError:
            raise CsError(400, "GSOBJ_1005", f"as_of is not an ISO datetime: {as_of!r}") from None

    def find(self, obj: str, params: dict[str, str]) -> list[Record]:
        fields = self.fields(obj)
        for name in params:
            if name not in fields:
                raise CsError(400, "GSOBJ_1002", f"Invalid field: {name} does not exist on object {obj}")

        def match(r: Record) -> bool:
            for name, want in params.items():
                v = r.get(name)
                got = "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                if got != want:
                    return False
            return True

        return [copy.deepcopy(r) for r in self.store.all(obj) if match(r)]

    # ---- schema drift ---------------------------------------------------------------------------
    def rename_field(self, obj: str, name: str, to: Any) -> dict[str, Any]:
        spec = self.field(obj, name)
        if not isinstance(to, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", to):
            raise CsError(400, "GSOBJ_1010", 'body needs {"to": "New_Name__gc"}')
        if name in SYSTEM_FIELDS:
            raise CsError(400, "GSOBJ_1008", f"System field {name} cannot be renamed")
        if to in self.fields(obj):
            raise CsError(400, "GSOBJ_1010", f"Field {to} already exists on {obj}")
        with self.store.lock:
            spec["fieldName"] = to
            rows = []
            for r in self.store.all(obj):
                new = {(to if k == name else k): v for k, v in r.items()}
                rows.append(new)
            self.store.put_many(obj, rows, "Gsid")
            self.save_schema()
        return spec

    def delete_field(self, obj: str, name: str) -> dict[str, Any]:
        spec = self.field(obj, name)
        if name in SYSTEM_FIELDS:
            raise CsError(400, "GSOBJ_1008", f"System field {name} cannot be deleted")
        with self.store.lock:
            self.schema[obj]["fields"] = [f for f in self.schema[obj]["fields"] if f["fieldName"] != name]
            rows = [{k: v for k, v in r.items() if k != name} for r in self.store.all(obj)]
            self.store.put_many(obj, rows, "Gsid")
            self.save_schema()
        return spec

    def patch_field(self, obj: str, name: str, body: Any) -> dict[str, Any]:
        spec = self.field(obj, name)
        if not isinstance(body, dict) or not set(body) & {"dataType", "picklist", "label", "nillable"}:
            raise CsError(400, "GSOBJ_1010", 'body needs "dataType", "picklist", "label" or "nillable"')
        unknown = set(body) - {"dataType", "picklist", "label", "nillable"}
        if unknown:
            raise CsError(400, "GSOBJ_1010", f"unknown keys {sorted(unknown)}")
        if "dataType" in body and body["dataType"] not in _DATA_TYPES:
            raise CsError(400, "GSOBJ_1010",
                          f"unknown dataType {body['dataType']!r}; one of {sorted(_DATA_TYPES)}")
        if "picklist" in body and not (body["picklist"] is None or (
                isinstance(body["picklist"], list) and all(isinstance(v, str) for v in body["picklist"]))):
            raise CsError(400, "GSOBJ_1010", "picklist must be a list of strings or null")
        with self.store.lock:
            spec.update(body)
            self.save_schema()
        return spec

    # ---- describe -----------------------------------------------------------------------------
    def describe(self, obj: str) -> list[dict[str, Any]]:
        self.fields(obj)
        out = []
        for f in self.schema[obj]["fields"]:
            lookup = f.get("lookup")
            entry = {
                "fieldName": f["fieldName"], "label": f["label"], "dataType": f["dataType"],
                "objectName": obj,
                "meta": {
                    "createable": bool(f.get("createable")), "updateable": bool(f.get("updateable")),
                    "nillable": bool(f.get("nillable", True)),
                    "required": not f.get("nillable", True) and f["fieldName"] not in SYSTEM_FIELDS,
                    "readOnly": bool(f.get("readOnly")), "length": f.get("length") or 0,
                    "decimalPlaces": 2 if f["dataType"] in NUMERIC else 0, "hidden": False,
                    "hasLookup": bool(lookup),
                    "lookupDetail": {"lookupName": f"{f['fieldName']}__gr", "lookupObjects": [
                        {"objectName": lookup, "fieldName": "Gsid"}]} if lookup else None,
                },
                # picklist values: our choice of key (a real tenant describes dropdowns by category id)
                "picklistValues": [{"label": v, "value": v, "active": True} for v in f["picklist"]]
                if f.get("picklist") else None,
            }
            out.append(entry)
        return [{"objectName": obj, "label": self.schema[obj].get("label", obj), "fields": out}]


_DATA_TYPES = frozenset({"STRING", "BOOLEAN", "NUMBER", "PERCENTAGE", "CURRENCY", "GSID", "SFDCID", "EMAIL",
                         "URL", "RICHTEXTAREA", "LOOKUP", "JSON", "DATE", "DATETIME", "PICKLIST",
                         "MULTISELECTDROPDOWNLIST"})


def _parse_expression(expr: str, conds: dict[str, Callable[[Record], bool]]) -> Callable[[Record], bool]:
    """Compile "A AND (B OR C)" over condition aliases; AND binds tighter than OR."""
    tokens = re.findall(r"\(|\)|[A-Za-z0-9_]+|\S", expr)
    pos = 0

    def bad(msg: str) -> CsError:
        return CsError(400, "GSOBJ_1010", f"Invalid where expression {expr!r}: {msg}")

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise bad("unexpected end")
        pos += 1
        return tokens[pos - 1]

    def factor() -> Callable[[Record], bool]:
        tok = take()
        if tok == "(":
            inner = disj()
            if take() != ")":
                raise bad("missing )")
            return inner
        if tok.upper() == "NOT":
            inner_f = factor()
            return lambda r: not inner_f(r)
        if tok not in conds:
            raise bad(f"unknown alias {tok}")
        return conds[tok]

    def conj() -> Callable[[Record], bool]:
        parts = [factor()]
        while (p := peek()) is not None and p.upper() == "AND":
            take()
            parts.append(factor())
        return parts[0] if len(parts) == 1 else (lambda r: all(f(r) for f in parts))

    def disj() -> Callable[[Record], bool]:
        parts = [conj()]
        while (p := peek()) is not None and p.upper() == "OR":
            take()
            parts.append(conj())
        return parts[0] if len(parts) == 1 else (lambda r: any(f(r) for f in parts))

    result = disj()
    if pos != len(tokens):
        raise bad(f"unexpected {tokens[pos]!r}")
    return result


# ---- the app ----------------------------------------------------------------------------------------
def create_app(store: Store, faults: FaultInjector, key: str,
               reseed: Callable[[], dict[str, Any]] | None = None) -> fastapi.FastAPI:
    """The CS-platform sandbox over `store`; `key` is the `accesskey`; `reseed` backs /__admin/reset."""
    svc = CsService(store, faults, key, reseed)
    app = fastapi.FastAPI(title="CS platform sandbox (Gainsight NXT-style)", docs_url=None, redoc_url=None,
                          openapi_url=None)
    app.state.cs = svc

    async def body_of(request: Request) -> Any:
        raw = await request.body()
        if not raw.strip():
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise CsError(400, "GSOBJ_1010", "Request body is not valid JSON") from None

    async def api(request: Request, kind: str, obj: str | None, fn: Callable[[Any], Any]) -> Response:
        """Auth, stats, injected request faults, then `fn(body)` in a worker thread."""
        if not svc.authorized(request.headers):
            return envelope(None, 401, "GS_APIG_2401", "Unauthorized")
        svc.stats.call(kind, obj)
        rule = faults.request_fault(request.method, request.url.path)
        if rule is not None:
            if rule.kind == "rate_limit":
                return envelope(None, 429, "GS_APIG_2404", "Rate limit exceeded: too many requests")
            if rule.kind == "expired_session":
                return envelope(None, 401, "GS_APIG_2401", "Unauthorized")
            if rule.kind == "timeout":
                await asyncio.sleep(float(rule.seconds if rule.seconds is not None else 30))
                return envelope(None, 504, "GS_APIG_2504", "Gateway timeout")
            status = rule.status or 500
            return envelope(None, status, "GS_APIG_2500", f"Internal server error (HTTP {status})")
        try:
            body = await body_of(request)
            data = await run_in_threadpool(fn, body)
        except CsError as err:
            return error_response(err)
        return envelope(data)

    @app.post("/v1/data/objects/query/{obj}")
    async def query(request: Request, obj: str) -> Response:
        return await api(request, "read", obj, lambda b: svc.query(obj, b))

    @app.post("/v1/data/objects/{obj}")
    async def insert(request: Request, obj: str) -> Response:
        return await api(request, "write", obj, lambda b: svc.write(obj, b, None))

    @app.put("/v1/data/objects/{obj}")
    async def upsert(request: Request, obj: str) -> Response:
        raw_keys = request.query_params.get("keys")
        keys = [k.strip() for k in (raw_keys or "").split(",") if k.strip()]

        def run(b: Any) -> Any:
            if not keys:
                raise CsError(400, "GSOBJ_1010", "keys query parameter is required, e.g. ?keys=Name")
            return svc.write(obj, b, keys)

        return await api(request, "write", obj, run)

    @app.delete("/v1/data/objects/{obj}/{record_id}")
    async def delete(request: Request, obj: str, record_id: str) -> Response:
        return await api(request, "write", obj, lambda b: svc.delete(obj, record_id))

    @app.get("/v1/meta/services/objects/list")
    async def list_objects(request: Request) -> Response:
        return await api(request, "meta", None, lambda b: [
            {"objectName": o, "label": s.get("label", o),
             "objectType": "CUSTOM" if o.endswith("__gc") else "STANDARD"}
            for o, s in svc.schema.items()])

    @app.get("/v1/meta/services/objects/{obj}/describe")
    async def describe(request: Request, obj: str) -> Response:
        return await api(request, "describe", obj, lambda b: svc.describe(obj))

    _register_admin(app, svc)
    return app


def _register_admin(app: fastapi.FastAPI, svc: CsService) -> None:
    """/__admin routes: record edits, schema drift, faults, stats, reset. Same `accesskey` as the API."""

    async def admin(request: Request, fn: Callable[[Any], Any], status: int = 200) -> Response:
        if not svc.authorized(request.headers):
            return envelope(None, 401, "GS_APIG_2401", "Unauthorized")
        raw = await request.body()
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return envelope(None, 400, "GSOBJ_1010", "Request body is not valid JSON")
        try:
            result = await run_in_threadpool(fn, body)
        except CsError as err:
            return error_response(err)
        return JSONResponse(result, status_code=status)

    @app.get("/__admin/health")
    async def health() -> Response:  # no key needed: readiness probes must not carry secrets
        return JSONResponse({"status": "ok", "system": "cs",
                             "records": {o: svc.store.count(o) for o in svc.schema}})

    @app.get("/__admin/records/{obj}")
    async def find(request: Request, obj: str) -> Response:
        params = dict(request.query_params)
        return await admin(request, lambda b: {"records": svc.find(obj, params)})

    @app.post("/__admin/records/{obj}")
    async def create(request: Request, obj: str) -> Response:
        return await admin(request, lambda b: svc.admin_create(
            obj, b.get("fields", b) if isinstance(b, dict) else b,
            b.get("as_of") if isinstance(b, dict) and "fields" in b else None), 201)

    @app.patch("/__admin/records/{obj}/{record_id}")
    async def edit(request: Request, obj: str, record_id: str) -> Response:
        return await admin(request,
                           lambda b: svc.admin_update(obj, record_id, b.get("fields"), b.get("as_of")))

    @app.delete("/__admin/records/{obj}/{record_id}")
    async def remove(request: Request, obj: str, record_id: str) -> Response:
        return await admin(request, lambda b: svc.delete(obj, record_id))

    @app.post("/__admin/schema/{obj}/fields/{name}/rename")
    async def rename(request: Request, obj: str, name: str) -> Response:
        return await admin(request, lambda b: svc.rename_field(obj, name, b.get("to")))

    @app.delete("/__admin/schema/{obj}/fields/{name}")
    async def drop(request: Request, obj: str, name: str) -> Response:
        return await admin(request, lambda b: svc.delete_field(obj, name))

    @app.patch("/__admin/schema/{obj}/fields/{name}")
    async def retype(request: Request, obj: str, name: str) -> Response:
        return await admin(request, lambda b: svc.patch_field(obj, name, b))

    def add_fault(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise CsError(400, "GSOBJ_1010", "a fault rule is a JSON object")
        try:
            svc.faults.add(body)
        except (TypeError, ValueError) as exc:
            raise CsError(400, "GSOBJ_1010", f"bad fault rule: {exc}") from None
        return {"faults": svc.faults.describe()}

    @app.post("/__admin/faults")
    async def faults_add(request: Request) -> Response:
        return await admin(request, add_fault, 201)

    @app.get("/__admin/faults")
    async def faults_list(request: Request) -> Response:
        return await admin(request, lambda b: {"faults": svc.faults.describe()})

    @app.delete("/__admin/faults")
    async def faults_clear(request: Request) -> Response:
        return await admin(request, lambda b: (svc.faults.clear(), {"faults": []})[1])

    @app.get("/__admin/stats")
    async def stats(request: Request) -> Response:
        return await admin(request, lambda b: svc.stats.snapshot())

    @app.delete("/__admin/stats")
    async def stats_clear(request: Request) -> Response:
        return await admin(request, lambda b: (svc.stats.reset(), svc.stats.snapshot())[1])

    def reset(body: Any) -> dict[str, Any]:
        if svc.reseed is None:
            raise CsError(400, "GSOBJ_1010", "reset is only available when the sandbox runner hosts this app")
        return {"reset": True, "seed": svc.reseed()}

    @app.post("/__admin/reset")
    async def reset_route(request: Request) -> Response:
        return await admin(request, reset)
