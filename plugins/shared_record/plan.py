"""The plan of a one-way mirror sync (layers 1 and 4): what to write, what to keep aside. Pure.

Input: the origin's records and the mirror's records, both keyed by the shared key, as raw system values.
Output: a `SyncPlan` listing, per record, each field whose canonical value differs (from, to, direction, rule),
the values that cannot be mapped (kept aside with their reason), and the records the mirror lacks. The apply
step turns the plan into `WriteRequest`s; a dry run logs the plan and stops.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared_record.dictionary import FieldSpec, System
from shared_record.normalize import ValueRejected, to_canonical, to_system


@dataclass(frozen=True)
class FieldChange:
    record_key: str
    field: str  # canonical name
    old: Any  # canonical value in the mirror (None when absent)
    new: Any  # canonical value from the origin
    direction: str
    rule: str  # why: "mirror", "create", "overwrite hand edit"


@dataclass(frozen=True)
class KeptAside:
    record_key: str
    field: str
    value: Any
    reason: str


@dataclass
class SyncPlan:
    layer: int
    target: System
    changes: list[FieldChange] = field(default_factory=list)
    kept_aside: list[KeptAside] = field(default_factory=list)
    creates: set[str] = field(default_factory=set)
    records_compared: int = 0

    @property
    def changed_records(self) -> set[str]:
        return {c.record_key for c in self.changes}

    def writes(self, specs: Mapping[str, FieldSpec]) -> dict[str, dict[str, Any]]:
        """record key → {target API field: value spelled for the target}."""
        out: dict[str, dict[str, Any]] = {}
        for c in self.changes:
            spec = specs[c.field]
            out.setdefault(c.record_key, {})[spec.in_system(self.target).field] = to_system(spec, c.new, self.target)
        return out

    def lines(self) -> list[str]:
        """The plan as log lines: one per field change, then one per value kept aside."""
        out = [f"{c.record_key} {c.field}: {c.old!r} -> {c.new!r} ({c.direction}, {c.rule})" for c in self.changes]
        out += [f"{k.record_key} {k.field}: kept aside {k.value!r}: {k.reason}" for k in self.kept_aside]
        return out


def get_path(record: Mapping[str, Any] | None, path: str) -> Any:
    """A value by dotted relationship path (`Owner.Email`); None when any step is missing."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def plan_mirror(
    layer: int,
    specs: Iterable[FieldSpec],
    origin: System,
    source: Mapping[str, Mapping[str, Any]],
    mirror: Mapping[str, Mapping[str, Any] | None],
    *,
    create_missing: bool,
) -> SyncPlan:
    """Diff origin against mirror by canonical value, field by field; only differences are written."""
    target: System = "cs" if origin == "crm" else "crm"
    spec_list = [s for s in specs if not s.key]
    plan = SyncPlan(layer=layer, target=target)
    for key, src in source.items():
        plan.records_compared += 1
        dst = mirror.get(key)
        if dst is None and not create_missing:
            continue
        for spec in spec_list:
            try:
                new = to_canonical(spec, get_path(src, spec.in_system(origin).field), origin)
            except ValueRejected as exc:
                plan.kept_aside.append(KeptAside(key, spec.name, get_path(src, spec.in_system(origin).field),
                                                 str(exc)))
                continue
            try:
                old = None if dst is None else to_canonical(spec, get_path(dst, spec.in_system(target).field), target)
            except ValueRejected:
                old = get_path(dst, spec.in_system(target).field)  # unreadable in the mirror: overwrite it
            if dst is None:
                if new is not None:
                    plan.changes.append(FieldChange(key, spec.name, None, new, spec.direction, "create"))
            elif old != new:
                plan.changes.append(FieldChange(key, spec.name, old, new, spec.direction, "mirror"))
        if dst is None:
            plan.creates.add(key)
    return plan
