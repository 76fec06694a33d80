"""SOQL subset: parse with the lark grammar in soql.lark, compile once into Python closures, run on the store.

`compile_query(text, org, include_deleted)` returns a `Plan`; `plan.run()` gives the matching ids
(filtered, ordered, offset/limited) and `plan.render(ids, version)` builds the REST record dicts.
WHERE is compiled into one predicate per query (no per-row tree walking), so a filter over
100,000 records costs one pass of plain Python calls.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput, VisitError

from shared_record_sandbox.crm.org import (
    NUMBER_TYPES,
    ObjectIndex,
    Org,
    SfError,
    canonical_dt,
    format_dt,
    parse_dt,
    to_18,
)
from shared_record_sandbox.store import Record

Getter = Callable[[Record], Any]
Pred = Callable[[Record], bool]

_GRAMMAR = (Path(__file__).with_name("soql.lark")).read_text()
_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "'": "'", '"': '"', "\\": "\\"}


# ---- AST -------------------------------------------------------------------------------------------
@dataclass
class Lit:
    kind: str  # string, datetime, date, number, null, true, false, date_literal
    raw: str


@dataclass
class Cond:
    op: str  # cmp, in_, not_in, like, includes, excludes
    path: list[str]
    values: list[Lit]
    cmp: str = "="


@dataclass
class Bool:
    op: str  # and, or, not
    items: list[Any]


@dataclass
class OrderItem:
    path: list[str]
    desc: bool = False
    nulls_last: bool | None = None


@dataclass
class Select:
    fields: list[Any]  # list[str path list] | ("count", path|None, alias) | Select (subquery)
    obj: str
    where: Any = None
    order: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


class _ToAst(Transformer):
    def path(self, items: list[Token]) -> list[str]:
        return [str(t) for t in items]

    def field_item(self, items: list[Any]) -> list[str]:
        return items[0]

    def count_expr(self, items: list[Any]) -> tuple:
        path = next((i for i in items if isinstance(i, list)), None)
        alias = next((str(i) for i in items if isinstance(i, Token)), None)
        return ("count", path, alias)

    def subquery_item(self, items: list[Any]) -> Select:
        return items[0]

    def select_list(self, items: list[Any]) -> list[Any]:
        return list(items)

    def _select(self, items: list[Any]) -> Select:
        sel = Select(fields=items[0], obj=str(items[1]))
        for part in items[2:]:
            kind, value = part
            setattr(sel, kind, value)
        return sel

    query = _select
    subquery = _select

    def where(self, items: list[Any]) -> tuple:
        return ("where", items[0])

    def or_(self, items: list[Any]) -> Any:
        return items[0] if len(items) == 1 else Bool("or", items)

    def and_(self, items: list[Any]) -> Any:
        return items[0] if len(items) == 1 else Bool("and", items)

    def not_(self, items: list[Any]) -> Bool:
        return Bool("not", items)

    def cmp(self, items: list[Any]) -> Cond:
        return Cond("cmp", items[0], [items[2]], str(items[1]))

    def in_(self, items: list[Any]) -> Cond:
        return Cond("in_", items[0], items[1:])

    def not_in(self, items: list[Any]) -> Cond:
        return Cond("not_in", items[0], items[1:])

    def like(self, items: list[Any]) -> Cond:
        return Cond("like", items[0], [items[1]])

    def includes(self, items: list[Any]) -> Cond:
        return Cond("includes", items[0], items[1:])

    def excludes(self, items: list[Any]) -> Cond:
        return Cond("excludes", items[0], items[1:])

    def _lit(kind: str) -> Callable:  # noqa: N805 - factory used at class-creation time
        def make(self: Any, items: list[Any]) -> Lit:
            return Lit(kind, str(items[0]) if items else "")

        return make

    string = _lit("string")
    datetime = _lit("datetime")
    date = _lit("date")
    number = _lit("number")
    null = _lit("null")
    true = _lit("true")
    false = _lit("false")
    date_literal = _lit("date_literal")

    def order_by(self, items: list[OrderItem]) -> tuple:
        return ("order", list(items))

    def order_item(self, items: list[Any]) -> OrderItem:
        oi = OrderItem(items[0])
        for it in items[1:]:
            if isinstance(it, Token) and it.type == "DIRECTION":
                oi.desc = str(it).upper() == "DESC"
            elif isinstance(it, bool):
                oi.nulls_last = it
        return oi

    def nulls(self, items: list[Token]) -> bool:
        return str(items[0]).upper() == "LAST"

    def limit(self, items: list[Token]) -> tuple:
        return ("limit", int(items[0]))

    def offset(self, items: list[Token]) -> tuple:
        return ("offset", int(items[0]))


def _malformed(text: str, line: int, col: int, detail: str) -> SfError:
    pointer = " " * max(col - 1, 0) + "^"
    return SfError(400, "MALFORMED_QUERY", f"\n{text}\n{pointer}\nERROR at Row:{line}:Column:{col}\n{detail}")


@functools.lru_cache(maxsize=512)
def parse(text: str) -> Select:
    """Parse SOQL text into a `Select`, or raise SfError MALFORMED_QUERY with Row/Column."""
    try:
        tree = _PARSER.parse(text)
        return _ToAst().transform(tree)
    except UnexpectedInput as exc:
        tok = getattr(exc, "token", None)
        what = f"unexpected token: '{tok}'" if tok is not None else "unexpected input"
        raise _malformed(
            text, exc.line if exc.line > 0 else 1, exc.column if exc.column > 0 else 1, what
        ) from None
    except VisitError as exc:
        raise _malformed(text, 1, 1, str(exc.orig_exc)) from None


def unescape(raw: str, keep_like: bool = False) -> str:
    """A SOQL string literal's value ('...' with backslash escapes); `keep_like` keeps \\% and \\_."""
    body, out, i = raw[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "%_":
                out.append("\\" + nxt if keep_like else nxt)
            elif nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            else:
                raise SfError(400, "MALFORMED_QUERY", f"Invalid string literal {raw}: bad escape \\{nxt}")
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# ---- compilation ---------------------------------------------------------------------------------
def _no_column(name: str, oi: ObjectIndex) -> SfError:
    return SfError(
        400,
        "INVALID_FIELD",
        f"No such column '{name}' on entity '{oi.name}'. If you are attempting to use a custom field, "
        "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
        "describe call for the appropriate names.",
    )


@dataclass
class Resolved:
    """A field path resolved against the live schema: canonical names, final field spec, getter."""

    rels: list[tuple[str, str, str]]  # (canonical relationship name, fk field, target object)
    field: dict[str, Any]
    getter: Getter

    @property
    def type(self) -> str:
        return self.field["type"]


def resolve(org: Org, oi: ObjectIndex, path: list[str]) -> Resolved:
    """Resolve `Owner.Email` style paths; INVALID_FIELD for unknown columns or relationships."""
    rels: list[tuple[str, str, str]] = []
    cur = oi
    for part in path[:-1]:
        ref = cur.relationships.get(part.lower())
        if ref is None:
            raise SfError(
                400,
                "INVALID_FIELD",
                f"Didn't understand relationship '{part}' in field path. If you are attempting to use "
                "a custom relationship, be sure to append the '__r' after the custom relationship name.",
            )
        target = (ref.get("referenceTo") or [None])[0]
        if target is None or not org.has_obj(target):
            raise _no_column(".".join(path), cur)
        rels.append((ref["relationshipName"], ref["name"], target))
        cur = org.obj(target)
    f = cur.field(path[-1])
    if f is None:
        raise _no_column(path[-1] if not rels else ".".join(path), cur)
    name = f["name"]
    store = org.store
    if not rels:
        getter: Getter = lambda r: r.get(name)  # noqa: E731
    else:
        hops = [(fk, target) for _rel, fk, target in rels]

        def getter(r: Record) -> Any:
            cur_rec: Record | None = r
            for fk, target in hops:
                ref_id = cur_rec.get(fk)
                cur_rec = store.get(target, ref_id) if ref_id else None
                if cur_rec is None:
                    return None
            return cur_rec.get(name)

    return Resolved(rels, f, getter)


def _day_range(lit: str) -> tuple[date, date]:
    """[first day, day after last) of a relative date literal, in UTC (the org's time zone here)."""
    today = datetime.now(UTC).date()
    u = lit.upper()
    if u == "TODAY":
        return today, today + timedelta(days=1)
    if u == "YESTERDAY":
        return today - timedelta(days=1), today
    if u == "TOMORROW":
        return today + timedelta(days=1), today + timedelta(days=2)
    n = int(u.split(":", 1)[1])
    if u.startswith("LAST_N_DAYS"):  # n days ago through today (Salesforce: up to the current second)
        return today - timedelta(days=n), today + timedelta(days=1)
    return today + timedelta(days=1), today + timedelta(days=n + 1)  # NEXT_N_DAYS starts tomorrow


def _convert(lit: Lit, res: Resolved, like: bool = False) -> Any:
    """A literal in the comparison form of the field's stored values (strings lower-cased)."""
    typ = res.type
    k = lit.kind
    if k == "null":
        return None
    if k in {"true", "false"}:
        if typ != "boolean":
            raise SfError(
                400,
                "INVALID_FIELD",
                f"value of filter criterion for field '{res.field['name']}' "
                f"must be of type {typ} and should not be enclosed in quotes",
            )
        return k == "true"
    if typ == "datetime":
        if k == "datetime":
            return canonical_dt(lit.raw)
        if k == "date":
            return lit.raw + "T00:00:00.000+0000"
        if k == "string":  # quoted datetimes are an error in real SOQL; be lenient but exact
            try:
                return canonical_dt(unescape(lit.raw))
            except ValueError:
                pass
        raise SfError(
            400,
            "INVALID_FIELD",
            f"value of filter criterion for field '{res.field['name']}' must be "
            "of type dateTime and should not be enclosed in quotes",
        )
    if typ == "date":
        if k == "date":
            return lit.raw
        if k == "datetime":
            return parse_dt(lit.raw).date().isoformat()
        raise SfError(
            400,
            "INVALID_FIELD",
            f"value of filter criterion for field '{res.field['name']}' must be "
            "of type date and should not be enclosed in quotes",
        )
    if typ in NUMBER_TYPES:
        try:
            return float(lit.raw if k == "number" else unescape(lit.raw))
        except ValueError:
            raise SfError(
                400,
                "INVALID_FIELD",
                f"value of filter criterion for field '{res.field['name']}' must be of type {typ}",
            ) from None
    if typ == "boolean":
        raise SfError(
            400,
            "INVALID_FIELD",
            f"value of filter criterion for field '{res.field['name']}' must be "
            "of type boolean and should not be enclosed in quotes",
        )
    text = unescape(lit.raw, keep_like=like) if k == "string" else lit.raw
    if typ in {"id", "reference"}:
        return to_18(text)
    return text.lower()


def _norm_getter(res: Resolved) -> Getter:
    """Getter returning values in comparison form (strings lower-cased, numbers as float)."""
    g, typ = res.getter, res.type
    if typ in {"id", "reference", "date", "datetime", "boolean"}:
        return g
    if typ in NUMBER_TYPES:
        return lambda r: None if (v := g(r)) is None else float(v)
    return lambda r: None if (v := g(r)) is None else str(v).lower()


def _like_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(out), re.S)


def _compile_cond(org: Org, oi: ObjectIndex, c: Cond) -> Pred:
    res = resolve(org, oi, c.path)
    g = _norm_getter(res)
    typ = res.type
    if c.op == "cmp" and c.values[0].kind == "date_literal":
        if typ not in {"date", "datetime"}:
            raise SfError(
                400, "INVALID_FIELD", f"field '{res.field['name']}' cannot be compared to a date literal"
            )
        lo_d, hi_d = _day_range(c.values[0].raw)
        conv = (
            (lambda d: d.isoformat())
            if typ == "date"
            else (lambda d: format_dt(datetime(d.year, d.month, d.day, tzinfo=UTC)))
        )
        lo, hi = conv(lo_d), conv(hi_d)
        op = c.cmp
        table: dict[str, Pred] = {
            "=": lambda r: (v := g(r)) is not None and lo <= v < hi,
            "!=": lambda r: (v := g(r)) is None or not lo <= v < hi,
            "<": lambda r: (v := g(r)) is not None and v < lo,
            "<=": lambda r: (v := g(r)) is not None and v < hi,
            ">": lambda r: (v := g(r)) is not None and v >= hi,
            ">=": lambda r: (v := g(r)) is not None and v >= lo,
        }
        return table["!=" if op == "<>" else op]
    if c.op == "cmp":
        lit = _convert(c.values[0], res)
        op = "!=" if c.cmp == "<>" else c.cmp
        if typ == "multipicklist" and lit is not None and op in {"=", "!="}:
            want = frozenset(lit.split(";"))
            eq: Pred = lambda r: (v := g(r)) is not None and frozenset(v.split(";")) == want  # noqa: E731
            return eq if op == "=" else (lambda r: not eq(r))
        if lit is None:
            if op == "=":
                return lambda r: g(r) is None
            if op == "!=":
                return lambda r: g(r) is not None
            return lambda r: False
        ops: dict[str, Pred] = {
            "=": lambda r: g(r) == lit,
            "!=": lambda r: g(r) != lit,
            "<": lambda r: (v := g(r)) is not None and v < lit,
            "<=": lambda r: (v := g(r)) is not None and v <= lit,
            ">": lambda r: (v := g(r)) is not None and v > lit,
            ">=": lambda r: (v := g(r)) is not None and v >= lit,
        }
        return ops[op]
    if c.op in {"in_", "not_in"}:
        values = {_convert(v, res) for v in c.values}
        if c.op == "in_":
            return lambda r: g(r) in values
        return lambda r: g(r) not in values
    if c.op == "like":
        if c.values[0].kind != "string":
            raise SfError(400, "MALFORMED_QUERY", "LIKE needs a string literal")
        rx = _like_regex(_convert(c.values[0], res, like=True).lower())
        return lambda r: (v := g(r)) is not None and rx.fullmatch(str(v).lower()) is not None
    # includes / excludes (multipicklist): each literal may name several values joined by ';'
    if typ != "multipicklist":
        raise SfError(
            400,
            "INVALID_FIELD",
            f"INCLUDES/EXCLUDES need a multi-select picklist; '{res.field['name']}' is {typ}",
        )
    wanted = [frozenset(p.strip().lower() for p in _convert(v, res).split(";")) for v in c.values]

    def includes(r: Record) -> bool:
        v = g(r)
        if not v:
            return False
        have = {p.strip() for p in v.split(";")}
        return any(w <= have for w in wanted)

    return includes if c.op == "includes" else (lambda r: not includes(r))


def compile_where(org: Org, oi: ObjectIndex, node: Any) -> Pred:
    """Compile a WHERE tree into one predicate."""
    if isinstance(node, Cond):
        return _compile_cond(org, oi, node)
    parts = [compile_where(org, oi, n) for n in node.items]
    if node.op == "not":
        p = parts[0]
        return lambda r: not p(r)
    if node.op == "and":
        if len(parts) == 2:  # the common window filter (a >= x AND a <= y), without a generator per record
            p1, p2 = parts
            return lambda r: p1(r) and p2(r)
        return lambda r: all(p(r) for p in parts)
    return lambda r: any(p(r) for p in parts)


@dataclass
class SubPlan:
    rel_name: str
    child: ObjectIndex
    fk: str
    fields: list[Resolved]
    pred: Pred | None
    order: list[tuple[Getter, bool, bool]]
    limit: int | None


@dataclass
class Plan:
    """A compiled query, reusable for every page of its cursor."""

    org: Org
    oi: ObjectIndex
    include_deleted: bool
    fields: list[Any]  # Resolved | SubPlan
    pred: Pred | None
    order: list[tuple[Getter, bool, bool]]
    limit: int | None
    offset: int | None
    count: tuple | None  # ("count", Resolved | None, alias)
    range: tuple[str, Any, Any] | None = None  # (field, lo, hi): the WHERE implies lo <= field <= hi
    ids: list[str] | None = None  # the WHERE implies Id IN ids: fetch those records, as Salesforce's index would

    def run(self) -> list[str]:
        """Matching record ids after WHERE, ORDER BY, OFFSET and LIMIT."""
        if self.ids is not None:  # Id = / Id IN (...): only those records
            rows = self.org.store.records_by_ids(self.oi.name, self.ids)
        elif self.range is not None:  # a window on a date/datetime field: only the records in that range
            field, lo, hi = self.range
            rows = self.org.store.range_records(self.oi.name, field, lo, hi)
        else:
            rows = self.org.store.all(self.oi.name)
        pred, incl = self.pred, self.include_deleted
        if not incl:
            rows = [r for r in rows if not r.get("IsDeleted")]
        if pred is not None:
            rows = [r for r in rows if pred(r)]
        rows = _sort(rows, self.order)
        if self.offset:
            rows = rows[self.offset :]
        if self.limit is not None:
            rows = rows[: self.limit]
        return [r["Id"] for r in rows]

    def render(self, ids: list[str], version: str) -> list[dict[str, Any]]:
        """REST records (with attributes and nested parents/children) for `ids`, in order."""
        store = self.org.store
        recs = [r for r in (store.get(self.oi.name, i) for i in ids) if r is not None]
        subs = [f for f in self.fields if isinstance(f, SubPlan)]
        children: dict[str, dict[str, list[Record]]] = {}
        if subs:
            wanted = {r["Id"] for r in recs}
            for sp in subs:
                groups: dict[str, list[Record]] = {}
                for c in store.all(sp.child.name):
                    pid = c.get(sp.fk)
                    if (
                        pid in wanted
                        and (self.include_deleted or not c.get("IsDeleted"))
                        and (sp.pred is None or sp.pred(c))
                    ):
                        groups.setdefault(pid, []).append(c)
                children[sp.rel_name] = groups
        out = []
        for r in recs:
            out.append(_render_one(r, self.oi.name, self.fields, version, store, children))
        return out


def _sort(rows: list[Record], order: list[tuple[Getter, bool, bool]]) -> list[Record]:
    for g, desc, nulls_last in reversed(order):
        # null flag: sorted so that, after an optional reverse, nulls land where NULLS FIRST/LAST asks
        null_flag = 1 if nulls_last != desc else 0
        val_flag = 1 - null_flag
        rows = sorted(
            rows, key=lambda r, g=g: (null_flag, 0) if (v := g(r)) is None else (val_flag, v), reverse=desc
        )
    return rows


def _attrs(obj: str, rid: str | None, version: str) -> dict[str, Any]:
    return {"type": obj, "url": f"/services/data/{version}/sobjects/{obj}/{rid}"}


def _render_one(
    r: Record,
    obj: str,
    fields: list[Any],
    version: str,
    store: Any,
    children: dict[str, dict[str, list[Record]]],
) -> dict[str, Any]:
    out: dict[str, Any] = {"attributes": _attrs(obj, r.get("Id"), version)}
    for f in fields:
        if isinstance(f, SubPlan):
            kids = _sort(children.get(f.rel_name, {}).get(r["Id"], []), f.order)
            if f.limit is not None:
                kids = kids[: f.limit]
            out[f.rel_name] = (
                None
                if not kids
                else {
                    "totalSize": len(kids),
                    "done": True,
                    "records": [_render_one(k, f.child.name, f.fields, version, store, {}) for k in kids],
                }
            )
            continue
        if not f.rels:
            out[f.field["name"]] = r.get(f.field["name"])
            continue
        holder, cur = out, r
        for rel, fk, target in f.rels:
            if rel in holder and holder[rel] is None:
                break
            parent = store.get(target, cur.get(fk)) if cur is not None and cur.get(fk) else None
            if parent is None:
                holder[rel] = None
                break
            if rel not in holder:
                holder[rel] = {"attributes": _attrs(target, parent.get("Id"), version)}
            holder, cur = holder[rel], parent
        else:
            holder[f.field["name"]] = cur.get(f.field["name"])
    return out


def _order(org: Org, oi: ObjectIndex, items: list[OrderItem]) -> list[tuple[Getter, bool, bool]]:
    out = []
    for it in items:
        res = resolve(org, oi, it.path)
        nulls_last = it.nulls_last if it.nulls_last is not None else it.desc
        out.append((_norm_getter(res), it.desc, nulls_last))
    return out


def compile_query(text: str, org: Org, include_deleted: bool = False) -> Plan:
    """Parse and compile `text` against the live schema (INVALID_TYPE / INVALID_FIELD / MALFORMED_QUERY)."""
    sel = parse(text)
    if not org.has_obj(sel.obj):
        idx = text.lower().find(sel.obj.lower())
        err = _malformed(
            text,
            1,
            idx + 1,
            f"sObject type '{sel.obj}' is not supported. If you are attempting "
            "to use a custom object, be sure to append the '__c' after the entity name. Please "
            "reference your WSDL or the describe call for the appropriate names.",
        )
        raise SfError(400, "INVALID_TYPE", err.message)
    oi = org.obj(sel.obj)
    fields: list[Any] = []
    count = None
    for item in sel.fields:
        if isinstance(item, tuple):
            count = ("count", resolve(org, oi, item[1]) if item[1] else None, item[2])
        elif isinstance(item, Select):
            fields.append(_subplan(org, oi, item))
        else:
            fields.append(resolve(org, oi, item))
    if count is not None and fields:
        raise _malformed(text, 1, 1, "COUNT() cannot be combined with other fields without GROUP BY")
    return Plan(
        org,
        oi,
        include_deleted,
        fields,
        compile_where(org, oi, sel.where) if sel.where is not None else None,
        _order(org, oi, sel.order),
        sel.limit,
        sel.offset,
        count,
        _range_of(org, oi, sel.where),
        _ids_of(org, oi, sel.where),
    )


def _ids_of(org: Org, oi: ObjectIndex, where: Any) -> list[str] | None:
    """The record ids a WHERE limits the query to, when it is `Id = x` or `Id IN (...)`, alone or as one term
    of a top-level AND; None otherwise (the query scans or uses a range). The predicate is still applied."""
    terms = [where] if isinstance(where, Cond) else where.items if (
        isinstance(where, Bool) and where.op == "and") else []
    for c in terms:
        if isinstance(c, Cond) and len(c.path) == 1 and c.path[0].lower() == "id" and (
                c.op == "in_" or (c.op == "cmp" and c.cmp == "=")):
            res = resolve(org, oi, c.path)
            if res.rels or res.type != "id" or any(v.kind != "string" for v in c.values):
                continue
            return list(dict.fromkeys(_convert(v, res) for v in c.values))
    return None


def _range_of(org: Org, oi: ObjectIndex, where: Any) -> tuple[str, Any, Any] | None:
    """(field, lo, hi) when `where` is one comparison, or an AND of comparisons, on one plain date/datetime
    field of the queried object (`SystemModstamp >= x AND SystemModstamp <= y`): the stored values of every
    matching record lie in [lo, hi] (None: unbounded). Anything else: None (the query scans)."""
    conds = [where] if isinstance(where, Cond) else where.items if (
        isinstance(where, Bool) and where.op == "and" and all(isinstance(c, Cond) for c in where.items)) else []
    if not conds or any(c.op != "cmp" or len(c.path) != 1 or c.values[0].kind in {"date_literal", "null"}
                        or c.cmp in {"!=", "<>"} for c in conds):
        return None
    if len({c.path[0].lower() for c in conds}) != 1:
        return None
    res = resolve(org, oi, conds[0].path)
    if res.rels or res.type not in {"date", "datetime"}:
        return None
    lo = hi = None
    for c in conds:
        v = _convert(c.values[0], res)
        if not isinstance(v, str):
            return None
        if c.cmp in {">", ">=", "="}:
            lo = v if lo is None else max(lo, v)
        if c.cmp in {"<", "<=", "="}:
            hi = v if hi is None else min(hi, v)
    return res.field["name"], lo, hi


def _subplan(org: Org, parent: ObjectIndex, sel: Select) -> SubPlan:
    rel = parent.children.get(sel.obj.lower())
    if rel is None:
        raise SfError(
            400,
            "INVALID_TYPE",
            f"Didn't understand relationship '{sel.obj}' in FROM part of query call. If you are "
            "attempting to use a custom relationship, be sure to append the '__r' after the custom "
            "relationship name.",
        )
    child = org.obj(rel[0])
    fields = []
    for item in sel.fields:
        if not isinstance(item, list):
            raise SfError(400, "MALFORMED_QUERY", "only plain fields are supported in a child subquery")
        fields.append(resolve(org, child, item))
    return SubPlan(
        parent.child_names[sel.obj.lower()],
        child,
        rel[1],
        fields,
        compile_where(org, child, sel.where) if sel.where is not None else None,
        _order(org, child, sel.order),
        sel.limit,
    )
