"""The emulated Salesforce org: live schema, field lookup, validation and record writes.

Everything that changes records (REST, sObject Collections, Bulk API 2.0, admin API) goes through
`Org`, so validation, derived fields (Contact.Name, Opportunity.IsClosed/IsWon) and the
LastModifiedDate/SystemModstamp bookkeeping behave the same on every path.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from shared_record_sandbox import schema as base_schema
from shared_record_sandbox.ids import is_sf_id, sf_checksum, sf_id
from shared_record_sandbox.store import Record, Store

SCHEMA_META_KEY = "crm_schema"
SYSTEM_FIELDS = {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "MasterRecordId"}
NUMBER_TYPES = {"int", "double", "currency", "percent"}
STRING_TYPES = {
    "string",
    "picklist",
    "multipicklist",
    "textarea",
    "email",
    "phone",
    "url",
    "id",
    "reference",
    "address",
    "combobox",
}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Child-relationship names in this sandbox are the plural of the child object (documented deviation:
# real orgs name custom ones freely); reference fields that never define a child relationship:
_NO_CHILD_REL = {"MasterRecordId"}


class SfError(Exception):
    """A Salesforce error: `status` HTTP code, `code` errorCode, `message`, optional `fields`."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields or []

    def body(self) -> list[dict[str, Any]]:
        """The request-level error body (a JSON list, as Salesforce sends)."""
        item: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields:
            item["fields"] = self.fields
        return [item]

    def record_error(self) -> dict[str, Any]:
        """The per-record error shape used by collections (statusCode, not errorCode)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}


def now_sf() -> str:
    """Current UTC time in Salesforce's wire format with millisecond precision."""
    return format_dt(datetime.now(UTC))


def format_dt(dt: datetime) -> str:
    """`2026-10-01T12:00:00.000+0000` for an aware datetime (converted to UTC)."""
    dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"


def parse_dt(text: str) -> datetime:
    """Parse ISO/Salesforce datetimes (`Z`, `+00:00`, `+0000`, optional fraction); naive means UTC."""
    s = text.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    m = re.match(r"^(.*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-])(\d{2}):?(\d{2})$", s)
    if m:
        s = f"{m.group(1)}{m.group(2)}{m.group(3)}:{m.group(4)}"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def canonical_dt(text: str) -> str:
    """Any accepted datetime spelling, rewritten to the stored `...000+0000` form (sortable as text)."""
    return format_dt(parse_dt(text))


def to_18(value: str) -> str:
    """A 15-character Salesforce id extended with its checksum; other values unchanged."""
    if isinstance(value, str) and len(value) == 15 and value.isalnum():
        return value + sf_checksum(value)
    return value


def plural(name: str) -> str:
    """English-ish plural used for child-relationship names (Opportunity -> Opportunities)."""
    if name.endswith("y") and not name.endswith(("ay", "ey", "oy", "uy")):
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    return name + "s"


@dataclass
class ObjectIndex:
    """Case-insensitive lookups for one object of the live schema."""

    name: str
    spec: dict[str, Any]
    fields: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower name -> field spec
    relationships: dict[str, dict[str, Any]] = field(default_factory=dict)  # lower rel name -> ref field spec
    children: dict[str, tuple[str, str]] = field(default_factory=dict)  # lower rel -> (child obj, fk field)
    child_names: dict[str, str] = field(default_factory=dict)  # lower rel -> canonical rel name

    def field(self, name: str) -> dict[str, Any] | None:
        return self.fields.get(name.lower())


class Org:
    """Live schema + records of the emulated org, on top of a `Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.RLock()
        schema = store.meta_get(SCHEMA_META_KEY)
        if not schema:
            schema = base_schema.default_crm_schema()
            store.meta_set(SCHEMA_META_KEY, schema)
        self.schema: dict[str, dict[str, Any]] = schema
        self._index: dict[str, ObjectIndex] = {}
        self.reindex()

    # ---- schema ------------------------------------------------------------------------------
    def reindex(self) -> None:
        """Rebuild the lookup tables after a schema change (and persist the schema)."""
        idx: dict[str, ObjectIndex] = {}
        for name, spec in self.schema.items():
            oi = ObjectIndex(name, spec)
            for f in spec["fields"]:
                oi.fields[f["name"].lower()] = f
                if f.get("type") == "reference" and f.get("relationshipName"):
                    oi.relationships[f["relationshipName"].lower()] = f
            idx[name.lower()] = oi
        for name, spec in self.schema.items():
            for f in spec["fields"]:
                if f.get("type") != "reference" or f["name"] in _NO_CHILD_REL:
                    continue
                for parent in f.get("referenceTo") or []:
                    pi = idx.get(parent.lower())
                    rel = plural(name)
                    if pi is not None and rel.lower() not in pi.children:  # first FK wins (documented)
                        pi.children[rel.lower()] = (name, f["name"])
                        pi.child_names[rel.lower()] = rel
        self._index = idx

    def save_schema(self) -> None:
        self.store.meta_set(SCHEMA_META_KEY, self.schema)
        self.reindex()

    def obj(self, name: str) -> ObjectIndex:
        """The object index for `name` (case-insensitive) or INVALID_TYPE."""
        oi = self._index.get(name.lower())
        if oi is None:
            raise SfError(400, "INVALID_TYPE", f"sObject type '{name}' is not supported.")
        return oi

    def has_obj(self, name: str) -> bool:
        return name.lower() in self._index

    def objects(self) -> list[ObjectIndex]:
        return [self._index[n.lower()] for n in self.schema]

    # ---- value coercion ------------------------------------------------------------------------
    def coerce(self, oi: ObjectIndex, f: dict[str, Any], value: Any, from_csv: bool = False) -> Any:
        """Validate and convert one written value to its stored form, or raise a per-field SfError."""
        name, typ = f["name"], f["type"]
        if from_csv and value == "":
            value = None  # Bulk API: an empty cell means "no value"; #N/A is the explicit null
        if from_csv and value == "#N/A":
            value = None
        if value is None:
            if not f.get("nillable", True) and typ != "boolean":
                raise SfError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{name}]", [name])
            return None
        bad = SfError(
            400,
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{f['label']}: value not of required type: {value}",
            [name],
        )
        if typ in NUMBER_TYPES:
            if isinstance(value, bool):
                raise bad
            if isinstance(value, str):
                try:
                    value = float(value.strip())
                except ValueError:
                    raise bad from None
            if not isinstance(value, int | float) or value != value:
                raise bad
            if typ == "int":
                if float(value) != int(value):
                    raise bad
                return int(value)
            return float(value)
        if typ == "boolean":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
                return value.strip().lower() in {"true", "1"}
            raise bad
        if typ == "date":
            if isinstance(value, str):
                text = value.strip()
                if "T" in text:  # a datetime for a date field: Salesforce keeps the date part
                    text = text.split("T", 1)[0]
                if _DATE_RE.match(text):
                    try:
                        date.fromisoformat(text)
                        return text
                    except ValueError:
                        pass
            raise bad
        if typ == "datetime":
            if isinstance(value, str):
                try:
                    return canonical_dt(value)
                except ValueError:
                    pass
            raise bad
        if not isinstance(value, str):
            if (
                typ in {"string", "textarea", "phone", "url"}
                and isinstance(value, int | float)
                and not isinstance(value, bool)
            ):
                value = str(value)
            else:
                raise bad
        length = int(f.get("length") or 0)
        if typ == "textarea" and not length:
            length = 131072
        if length and len(value) > length:
            raise SfError(
                400,
                "STRING_TOO_LONG",
                f"{f['label']}: data value too large: {value[:40]} (max length={length})",
                [name],
            )
        if typ == "email" and value and not _EMAIL_RE.match(value):
            raise SfError(
                400, "INVALID_EMAIL_ADDRESS", f"{f['label']}: invalid email address: {value}", [name]
            )
        if typ in {"picklist", "multipicklist"} and f.get("picklist") and f.get("restricted", True):
            allowed = set(f["picklist"])
            parts = [p for p in value.split(";")] if typ == "multipicklist" else [value]
            for p in parts:
                if p not in allowed:
                    raise SfError(
                        400,
                        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                        f"{f['label']}: bad value for restricted picklist field: {p}",
                        [name],
                    )
        if typ in {"reference", "id"}:
            value = to_18(value.strip())
            if not is_sf_id(value):
                raise SfError(
                    400, "MALFORMED_ID", f"{f['label']}: id value of incorrect type: {value}", [name]
                )
            if typ == "reference":
                targets = f.get("referenceTo") or []
                if targets and not any(self.store.get(t, value) is not None for t in targets):
                    raise SfError(
                        400,
                        "INVALID_CROSS_REFERENCE_KEY",
                        f"{f['label']}: id value of incorrect type: {value}",
                        [name],
                    )
        return value

    def clean_fields(
        self,
        oi: ObjectIndex,
        data: dict[str, Any],
        creating: bool,
        from_csv: bool = False,
        skip: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Map written keys to canonical fields, check writability and coerce every value."""
        out: dict[str, Any] = {}
        locked: list[str] = []
        for key, value in data.items():
            if key == "attributes" or key.lower() in skip:
                continue
            f = oi.field(key)
            if f is None:
                raise SfError(
                    400, "INVALID_FIELD", f"No such column '{key}' on sobject of type {oi.name}", [key]
                )
            if not f.get("createable" if creating else "updateable", False):
                locked.append(f["name"])
                continue
            out[f["name"]] = self.coerce(oi, f, value, from_csv)
        if locked:
            verb = "create" if creating else "update"
            raise SfError(
                400,
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to {verb} fields: {locked}. Please check the security settings of this field "
                "and verify that it is read/write for your profile or permission set.",
                locked,
            )
        return out

    # ---- writes ------------------------------------------------------------------------------------
    def _derive(self, oi: ObjectIndex, rec: Record) -> None:
        """Keep calculated fields consistent, as the real org's formulas would."""
        if oi.name == "Contact" and oi.field("Name") is not None:
            parts = [rec.get("FirstName"), rec.get("LastName")]
            rec["Name"] = " ".join(p for p in parts if p) or None
        if oi.name == "Opportunity" and "StageName" in rec:
            stage = rec.get("StageName") or ""
            if oi.field("IsClosed") is not None:
                rec["IsClosed"] = stage.startswith("Closed")
            if oi.field("IsWon") is not None:
                rec["IsWon"] = stage == "Closed Won"

    def _default_owner(self) -> str | None:
        users = [u for u in self.store.all("User") if u.get("IsActive", True)]
        return min(users, key=lambda u: u["Id"])["Id"] if users else None

    def new_record(self, oi: ObjectIndex, values: dict[str, Any], stamp: str | None = None) -> Record:
        """A full record (every live-schema field present) built from already-cleaned `values`."""
        missing = [
            f["name"]
            for f in oi.spec["fields"]
            if f.get("createable")
            and not f.get("nillable", True)
            and f["type"] != "boolean"
            and values.get(f["name"]) is None
        ]
        if missing:
            raise SfError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", missing)
        stamp = stamp or now_sf()
        rec: Record = {}
        for f in oi.spec["fields"]:
            rec[f["name"]] = False if f["type"] == "boolean" else None
        rec.update(values)
        prefix = base_schema.KEY_PREFIXES.get(oi.name, "a00")
        while True:  # the counter starts high so it does not meet seeded ids; still, never reuse one
            rec["Id"] = sf_id(prefix, self.store.next_counter(f"crm:{oi.name}", 5_000_000))
            if self.store.get(oi.name, rec["Id"]) is None:
                break
        for k in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            if k in rec:
                rec[k] = stamp
        if "IsDeleted" in rec:
            rec["IsDeleted"] = False
        if "OwnerId" in rec and rec["OwnerId"] is None and oi.field("OwnerId") is not None:
            rec["OwnerId"] = self._default_owner()
        self._derive(oi, rec)
        return rec

    def updated_record(
        self, oi: ObjectIndex, current: Record, values: dict[str, Any], stamp: str | None = None
    ) -> Record:
        """A copy of `current` with cleaned `values` applied and the modification stamps set."""
        rec = dict(current)
        rec.update(values)
        stamp = stamp or now_sf()
        for k in ("LastModifiedDate", "SystemModstamp"):
            if k in rec:
                rec[k] = stamp
        self._derive(oi, rec)
        return rec

    def live(self, oi: ObjectIndex, record_id: str) -> Record | None:
        """A record that is not deleted, by 15/18-character id."""
        rec = self.store.get(oi.name, to_18(record_id))
        if rec is None or rec.get("IsDeleted"):
            return None
        return rec

    def require(self, oi: ObjectIndex, record_id: str) -> Record:
        rec = self.live(oi, record_id)
        if rec is None:
            raise SfError(404, "NOT_FOUND", "The requested resource does not exist")
        return rec

    def create(
        self, obj: str, data: dict[str, Any], stamp: str | None = None, from_csv: bool = False
    ) -> Record:
        """Validate and insert one record; returns it."""
        oi = self.obj(obj)
        values = self.clean_fields(oi, data, creating=True, from_csv=from_csv)
        rec = self.new_record(oi, values, stamp)
        self.store.put(oi.name, rec)
        return rec

    def update(
        self, obj: str, record_id: str, data: dict[str, Any], stamp: str | None = None, from_csv: bool = False
    ) -> Record:
        """Validate and apply a partial update to a live record; returns the new record."""
        oi = self.obj(obj)
        with self.store.lock:
            current = self.require(oi, record_id)
            values = self.clean_fields(oi, data, creating=False, from_csv=from_csv, skip=("id",))
            rec = self.updated_record(oi, current, values, stamp)
            self.store.put(oi.name, rec)
        return rec

    def delete(self, obj: str, record_id: str, stamp: str | None = None) -> Record:
        """Soft delete (recycle bin): IsDeleted true, only visible to queryAll/getDeleted afterwards."""
        oi = self.obj(obj)
        with self.store.lock:
            current = self.live(oi, record_id)
            if current is None:
                raise SfError(
                    404,
                    "ENTITY_IS_DELETED" if self.store.get(oi.name, to_18(record_id)) else "NOT_FOUND",
                    "entity is deleted"
                    if self.store.get(oi.name, to_18(record_id))
                    else "The requested resource does not exist",
                )
            rec = dict(current)
            if "IsDeleted" not in rec:
                raise SfError(400, "INVALID_OPERATION", f"{oi.name} records cannot be deleted")
            rec["IsDeleted"] = True
            stamp = stamp or now_sf()
            rec["LastModifiedDate"] = stamp
            rec["SystemModstamp"] = stamp
            self.store.put(oi.name, rec)
        return rec

    def find_by(self, oi: ObjectIndex, f: dict[str, Any], value: Any) -> list[Record]:
        """Live records whose field `f` equals `value` (ids compared in 18-character form)."""
        if f["name"] == "Id":
            rec = self.live(oi, str(value))
            return [rec] if rec else []
        name = f["name"]
        return [r for r in self.store.all(oi.name) if not r.get("IsDeleted") and r.get(name) == value]

    def ext_field(self, oi: ObjectIndex, field_name: str) -> dict[str, Any]:
        """The field usable as an upsert key (Id or an externalId field) or 404 NOT_FOUND."""
        f = oi.field(field_name)
        if f is None or not (f["name"] == "Id" or f.get("externalId") or f.get("idLookup")):
            raise SfError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )
        return f

    def upsert(
        self,
        obj: str,
        field_name: str,
        value: Any,
        data: dict[str, Any],
        stamp: str | None = None,
        from_csv: bool = False,
    ) -> tuple[Record, bool]:
        """Insert or update by external id; returns (record, created). 300 on several matches."""
        oi = self.obj(obj)
        f = self.ext_field(oi, field_name)
        with self.store.lock:
            if f["name"] != "Id":
                value = self.coerce(oi, f, value, from_csv)
            matches = self.find_by(oi, f, value) if value not in (None, "") else []
            if len(matches) > 1:
                raise SfError(
                    300,
                    "MULTIPLE_RECORDS",
                    f"More than one record found for external id field {f['name']}: {value}",
                )
            body = {k: v for k, v in data.items() if k.lower() != f["name"].lower() and k != "attributes"}
            if matches:
                values = self.clean_fields(oi, body, creating=False, from_csv=from_csv, skip=("id",))
                rec = self.updated_record(oi, matches[0], values, stamp)
                self.store.put(oi.name, rec)
                return rec, False
            if f["name"] == "Id" and value not in (None, ""):
                raise SfError(404, "NOT_FOUND", f"Provided Id does not exist: {value}")
            values = self.clean_fields(oi, body, creating=True, from_csv=from_csv)
            if f["name"] != "Id":
                values[f["name"]] = value
            rec = self.new_record(oi, values, stamp)
            self.store.put(oi.name, rec)
            return rec, True

    def merge(
        self, obj: str, master_id: str, loser_ids: list[str], stamp: str | None = None
    ) -> dict[str, Any]:
        """Salesforce merge: losers deleted with MasterRecordId, their children re-parented to the master."""
        oi = self.obj(obj)
        stamp = stamp or now_sf()
        with self.store.lock:
            master = self.require(oi, master_id)
            losers = [self.require(oi, lid) for lid in loser_ids]
            if not losers or any(lo["Id"] == master["Id"] for lo in losers):
                raise SfError(400, "INVALID_OPERATION", "merge needs 1-2 losers different from the master")
            loser_set = {lo["Id"] for lo in losers}
            reparented = 0
            for other in self.objects():
                fks = [
                    f["name"]
                    for f in other.spec["fields"]
                    if f.get("type") == "reference"
                    and f["name"] not in _NO_CHILD_REL
                    and oi.name in (f.get("referenceTo") or [])
                ]
                if not fks:
                    continue
                changed = []
                for rec in self.store.all(other.name):
                    hit = {k: master["Id"] for k in fks if rec.get(k) in loser_set}
                    if hit:
                        new = dict(rec, **hit)
                        new["LastModifiedDate"] = new["SystemModstamp"] = stamp
                        changed.append(new)
                if changed:
                    self.store.put_many(other.name, changed)
                    reparented += len(changed)
            out = []
            for lo in losers:
                new = dict(lo, IsDeleted=True, LastModifiedDate=stamp, SystemModstamp=stamp)
                if "MasterRecordId" in new:
                    new["MasterRecordId"] = master["Id"]
                out.append(new)
            self.store.put_many(oi.name, out)
            self.store.put(oi.name, dict(master, LastModifiedDate=stamp, SystemModstamp=stamp))
        return {
            "id": master["Id"],
            "mergedRecordIds": sorted(loser_set),
            "updatedRelatedIds": reparented,
            "success": True,
            "errors": [],
        }

    # ---- admin schema changes ----------------------------------------------------------------------
    def _field_spec(self, obj: str, field_name: str) -> tuple[ObjectIndex, dict[str, Any]]:
        oi = self.obj(obj)
        f = oi.field(field_name)
        if f is None:
            raise SfError(404, "NOT_FOUND", f"No field {field_name} on {oi.name}")
        return oi, f

    def rename_field(self, obj: str, field_name: str, to: str) -> dict[str, Any]:
        """Rename a field in the live schema and in every stored record (drift exercise)."""
        if not re.match(r"^[A-Za-z][A-Za-z0-9_]*$", to or ""):
            raise SfError(400, "INVALID_FIELD", f"invalid field name {to!r}")
        with self.store.lock:
            oi, f = self._field_spec(obj, field_name)
            if oi.field(to) is not None:
                raise SfError(400, "DUPLICATE_DEVELOPER_NAME", f"{oi.name}.{to} already exists")
            old = f["name"]
            f["name"] = to
            self._rewrite(oi.name, lambda r: {(to if k == old else k): v for k, v in r.items()})
            self.save_schema()
            return copy.deepcopy(f)

    def remove_field(self, obj: str, field_name: str) -> None:
        with self.store.lock:
            oi, f = self._field_spec(obj, field_name)
            if f["name"] in SYSTEM_FIELDS:
                raise SfError(400, "INVALID_OPERATION", f"cannot remove system field {f['name']}")
            old = f["name"]
            oi.spec["fields"] = [x for x in oi.spec["fields"] if x is not f]
            self._rewrite(oi.name, lambda r: {k: v for k, v in r.items() if k != old})
            self.save_schema()

    def change_field(self, obj: str, field_name: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Retype a field or replace its picklist values (other describe keys are accepted too)."""
        allowed = {"type", "picklist", "label", "externalId", "nillable", "length", "restricted"}
        unknown = set(changes) - allowed
        if unknown or not changes:
            raise SfError(
                400, "INVALID_FIELD", f"changeable keys are {sorted(allowed)}; got {sorted(changes)}"
            )
        with self.store.lock:
            _oi, f = self._field_spec(obj, field_name)
            f.update(changes)
            self.save_schema()
            return copy.deepcopy(f)

    def _rewrite(self, obj: str, fn: Callable[[Record], Record]) -> None:
        recs = [fn(r) for r in self.store.all(obj)]
        if recs:
            self.store.put_many(obj, recs)
