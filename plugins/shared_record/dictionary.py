"""The field dictionary: the single source of truth for every shared field.

RevOps edits YAML under `include/field_dictionary/`; this module validates it with pydantic (unknown keys
forbidden) plus cross-field rules, and answers the questions the sync asks: which fields does layer N move,
who owns a system field, how does a picklist value map between the systems. Pure: no Airflow, no HTTP.
A bad file raises `DictionaryError` naming the file, the entry and the reason; DAG files load the
dictionary at parse time, so Airflow shows that as an import error instead of syncing half a schema.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shared_record.errors import DictionaryError

System = Literal["crm", "cs"]
Role = Literal["revops", "ae", "csm", "cs_platform"]
Owner = Literal["revops", "ae", "csm", "cs_platform", "co_owned"]
Direction = Literal["crm_to_cs", "cs_to_crm", "bidirectional"]
FieldType = Literal[
    "id", "reference", "string", "text", "email", "phone", "url", "picklist", "multipicklist", "boolean",
    "integer", "number", "percent", "currency", "date", "datetime", "json",
]
PICKLIST_TYPES = frozenset({"picklist", "multipicklist"})
NUMERIC_TYPES = frozenset({"integer", "number", "percent", "currency"})
SYSTEM_NAMES = {"crm": "CRM (Salesforce)", "cs": "CS platform"}
# The system each role works in: a co-owned field's phase owner writes there.
ROLE_SYSTEM: dict[str, System] = {"ae": "crm", "revops": "crm", "csm": "cs", "cs_platform": "cs"}

_SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)*$")

# The article's minimum viable shared schema: these must exist with exactly this ownership.
LOAD_BEARING: dict[str, tuple[str, str]] = {
    "account_id": ("revops", "crm_to_cs"),
    "contract_start_date": ("revops", "crm_to_cs"),
    "contract_end_date": ("revops", "crm_to_cs"),
    "committed_use_cases": ("ae", "crm_to_cs"),
    "champion_contact_id": ("co_owned", "bidirectional"),
    "tier": ("revops", "crm_to_cs"),
    "renewal_arr": ("revops", "crm_to_cs"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class SystemField(_Strict):
    """Where a canonical field lives in one system: object API name and field API name (or relationship path)."""

    object: Annotated[str, Field(pattern=_API_NAME.pattern, description="Object API name, e.g. Account")]
    field: Annotated[str, Field(pattern=_API_NAME.pattern, description="Field API name, e.g. Tier__c")]

    def __str__(self) -> str:
        return f"{self.object}.{self.field}"


class PicklistValue(_Strict):
    """One allowed value: its canonical form and, where they differ, how each system spells it."""

    value: str = Field(min_length=1, description="Canonical value")
    crm: str | None = Field(default=None, description="CRM spelling, when different from the canonical value")
    cs: str | None = Field(default=None, description="CS-platform spelling, when different")

    def in_system(self, system: System) -> str:
        return getattr(self, system) or self.value


class PhaseOwners(_Strict):
    """Who wins a co-owned field, before and after the account's first Closed Won deal."""

    before_close: Role
    after_close: Role


class FieldSpec(_Strict):
    """One shared field: one canonical name, one owner, one direction."""

    name: str = Field(description="Canonical snake_case name used everywhere")
    label: str = Field(min_length=1, description="Human label, unique across the dictionary")
    layer: int = Field(ge=1, le=4, description="1 account master, 2 deal context, 3 relationship map, 4 health")
    owner: Owner = Field(description="Role that owns the value (co_owned for layer-3 fields)")
    phase_owners: PhaseOwners | None = Field(default=None, description="Required for co-owned fields")
    origin: System = Field(description="System where the value is created")
    direction: Direction
    type: FieldType
    key: bool = Field(default=False, description="Identifies the record in both systems (join key)")
    write_once: bool = Field(default=False, description="Written once on create, never overwritten")
    values: tuple[PicklistValue, ...] | None = Field(default=None, description="Allowed values (picklists)")
    minimum: float | None = None
    maximum: float | None = None
    crm: SystemField
    cs: SystemField
    description: str = Field(min_length=10)

    @field_validator("name")
    @classmethod
    def _snake_case(cls, v: str) -> str:
        if not _SNAKE.match(v):
            raise ValueError(f"name {v!r} must be snake_case (lower-case letters, digits, underscores)")
        return v

    @field_validator("values", mode="before")
    @classmethod
    def _shorthand_values(cls, v: Any) -> Any:
        if isinstance(v, list):
            return [{"value": item} if isinstance(item, str) else item for item in v]
        return v

    @model_validator(mode="after")
    def _rules(self) -> FieldSpec:
        expected_origin = {"crm_to_cs": "crm", "cs_to_crm": "cs"}.get(self.direction)
        if expected_origin and self.origin != expected_origin:
            raise ValueError(f"direction {self.direction} requires origin {expected_origin!r}, got {self.origin!r}")
        if (self.owner == "co_owned") != (self.direction == "bidirectional"):
            raise ValueError("owner co_owned and direction bidirectional go together (one without the other)")
        if self.owner == "co_owned" and self.phase_owners is None:
            raise ValueError("a co-owned field must name phase_owners: {before_close: ..., after_close: ...}")
        if self.owner != "co_owned" and self.phase_owners is not None:
            raise ValueError("phase_owners is only for co-owned (bidirectional) fields")
        if self.type in PICKLIST_TYPES and not self.values:
            raise ValueError(f"a {self.type} field must list its values")
        if self.type not in PICKLIST_TYPES and self.values:
            raise ValueError(f"values are only allowed on picklist fields, not on type {self.type}")
        if self.values:
            for system in ("crm", "cs", None):
                spelled = [v.in_system(system) if system else v.value for v in self.values]
                dupes = sorted({s for s in spelled if spelled.count(s) > 1})
                if dupes:
                    where = f"{system} spelling" if system else "canonical value"
                    raise ValueError(f"picklist {where} listed twice: {', '.join(dupes)}")
        if (self.minimum is not None or self.maximum is not None) and self.type not in NUMERIC_TYPES:
            raise ValueError(f"minimum/maximum only apply to numeric types, not {self.type}")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} is greater than maximum {self.maximum}")
        if self.write_once and self.direction == "bidirectional":
            raise ValueError("a write-once field cannot be bidirectional")
        return self

    # ---- questions the sync asks ---------------------------------------------------------------
    def in_system(self, system: System) -> SystemField:
        return self.crm if system == "crm" else self.cs

    @property
    def mirror(self) -> System | None:
        """The system a one-way field is copied into (None for co-owned fields, which go both ways)."""
        return {"crm_to_cs": "cs", "cs_to_crm": "crm"}.get(self.direction)  # type: ignore[return-value]

    def owner_for(self, phase: Literal["before_close", "after_close"] | None = None) -> str:
        if self.phase_owners is None:
            return self.owner
        if phase is None:
            return f"{self.phase_owners.before_close} before close, {self.phase_owners.after_close} after close"
        return getattr(self.phase_owners, phase)


class SyncField(_Strict):
    """A field the sync engine itself maintains (record links, stamps): never a business value."""

    system: System
    object: str = Field(pattern=_API_NAME.pattern)
    field: str = Field(pattern=_API_NAME.pattern)
    description: str = Field(min_length=5)


class DictionaryFile(_Strict):
    """The shape of one YAML file."""

    fields: tuple[FieldSpec, ...] = Field(min_length=1)
    sync_fields: tuple[SyncField, ...] = ()


class FieldDictionary:
    """All dictionary files merged and cross-checked; read-only lookups for the sync."""

    def __init__(self, fields: Iterable[FieldSpec], sync_fields: Iterable[SyncField] = (), source: str = "") -> None:
        self.fields: tuple[FieldSpec, ...] = tuple(fields)
        self.sync_fields: tuple[SyncField, ...] = tuple(sync_fields)
        self.source = source
        self._by_name = {f.name: f for f in self.fields}
        self._by_system_field: dict[tuple[str, str, str], FieldSpec] = {}
        for f in self.fields:
            for system in ("crm", "cs"):
                sf = f.in_system(system)  # type: ignore[arg-type]
                self._by_system_field[(system, sf.object.lower(), sf.field.lower())] = f
        self._sync = {(s.system, s.object.lower(), s.field.lower()): s for s in self.sync_fields}

    def __len__(self) -> int:
        return len(self.fields)

    def __iter__(self):  # noqa: ANN204 - iterator of FieldSpec
        return iter(self.fields)

    def __getitem__(self, name: str) -> FieldSpec:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a field in the field dictionary") from None

    def get(self, name: str) -> FieldSpec | None:
        return self._by_name.get(name)

    def for_layer(self, layer: int) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.layer == layer)

    def for_object(self, system: System, obj: str) -> tuple[FieldSpec, ...]:
        return tuple(f for f in self.fields if f.in_system(system).object.lower() == obj.lower())

    def by_system_field(self, system: System, obj: str, field: str) -> FieldSpec | None:
        return self._by_system_field.get((system, obj.lower(), field.lower()))

    def sync_field(self, system: System, obj: str, field: str) -> SyncField | None:
        return self._sync.get((system, obj.lower(), field.lower()))


def _entry_label(doc: Any, index: int | None) -> str:
    if index is None:
        return "file"
    name = None
    if isinstance(doc, dict) and isinstance(doc.get("fields"), list) and index < len(doc["fields"]):
        entry = doc["fields"][index]
        name = entry.get("name") if isinstance(entry, dict) else None
    return f"entry {index + 1}" + (f" ({name})" if name else "")


def _parse_file(path: Path) -> DictionaryFile:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "file"
        raise DictionaryError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict) or "fields" not in doc:
        raise DictionaryError(str(path), "file", "must be a mapping with a top-level 'fields:' list")
    try:
        return DictionaryFile.model_validate(doc)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = list(err["loc"])
        index = loc[1] if len(loc) > 1 and loc[0] in ("fields", "sync_fields") and isinstance(loc[1], int) else None
        entry = _entry_label(doc, index) if loc and loc[0] == "fields" else (
            f"sync_fields entry {index + 1}" if index is not None else "file")
        attr = ".".join(str(p) for p in loc[2:]) if index is not None else ".".join(str(p) for p in loc)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key (not part of the dictionary schema; check the spelling)"
        reason = f"{attr}: {msg}" if attr else msg
        raise DictionaryError(str(path), entry, reason) from None


def _cross_check(files: list[tuple[Path, DictionaryFile]]) -> None:
    seen_names: dict[str, Path] = {}
    seen_labels: dict[str, tuple[Path, str]] = {}
    seen_system: dict[tuple[str, str, str], tuple[Path, str]] = {}
    for path, parsed in files:
        for i, f in enumerate(parsed.fields):
            entry = f"entry {i + 1} ({f.name})"
            if f.name in seen_names:
                where = seen_names[f.name].name
                raise DictionaryError(str(path), entry, f"name {f.name!r} is already defined in {where}")
            seen_names[f.name] = path
            label = re.sub(r"[^a-z0-9]", "", f.label.lower())
            if label in seen_labels:
                other_path, other = seen_labels[label]
                raise DictionaryError(
                    str(path), entry,
                    f"label {f.label!r} names the same concept as {other!r} ({other_path.name}); "
                    "one canonical name per concept",
                )
            seen_labels[label] = (path, f.name)
            for system in ("crm", "cs"):
                sf = f.in_system(system)  # type: ignore[arg-type]
                k = (system, sf.object.lower(), sf.field.lower())
                if k in seen_system:
                    other_path, other = seen_system[k]
                    raise DictionaryError(
                        str(path), entry,
                        f"{SYSTEM_NAMES[system]} field {sf} is already mapped by {other!r} ({other_path.name}); "
                        "two canonical fields cannot share one system field",
                    )
                seen_system[k] = (path, f.name)
        for i, s in enumerate(parsed.sync_fields):
            k = (s.system, s.object.lower(), s.field.lower())
            if k in seen_system:
                raise DictionaryError(
                    str(path), f"sync_fields entry {i + 1}",
                    f"{s.object}.{s.field} is a dictionary field ({seen_system[k][1]}), not a sync field",
                )
    for name, (owner, direction) in LOAD_BEARING.items():
        found = next((f for _, p in files for f in p.fields if f.name == name), None)
        if found is None:
            raise DictionaryError("include/field_dictionary", name, "load-bearing field is missing")
        if (found.owner, found.direction) != (owner, direction):
            raise DictionaryError(
                str(seen_names[name]), name,
                f"load-bearing field must be owner {owner} / direction {direction}, "
                f"got {found.owner} / {found.direction}",
            )


def default_dictionary_dir() -> Path:
    """`SHARED_RECORD_DICTIONARY_DIR`, else `include/field_dictionary` of the project this package sits in."""
    env = os.environ.get("SHARED_RECORD_DICTIONARY_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "include" / "field_dictionary"


def load_dictionary(directory: Path | str | None = None) -> FieldDictionary:
    """Load and validate every `*.yaml` in the dictionary folder (cached until a file changes)."""
    folder = Path(directory) if directory is not None else default_dictionary_dir()
    paths = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not paths:
        raise DictionaryError(str(folder), "folder", "no *.yaml field dictionary files found")
    stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
    return _load_cached(stamp)


@lru_cache(maxsize=8)
def _load_cached(stamp: tuple[tuple[str, int, int], ...]) -> FieldDictionary:
    files = [(Path(p), _parse_file(Path(p))) for p, _, _ in stamp]
    _cross_check(files)
    fields = [f for _, parsed in files for f in parsed.fields]
    sync = [s for _, parsed in files for s in parsed.sync_fields]
    return FieldDictionary(fields, sync, source=str(Path(stamp[0][0]).parent))
