"""The one write path every layer goes through: ownership check first, then batched writes.

No sync writes to either system except through `WritePath.write`. It asks the field dictionary whether each
field of the request may be written into that system (`ownership.check_write`) and raises
`OwnershipViolation` before any request leaves the worker; only then does it hand the records to the hook,
batched to the platform's limits (CRM: sObject Collections of 200, Bulk API 2.0 past `bulk_threshold`;
CS platform: 50 per call). A dry run stops after the check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from shared_record.dictionary import FieldDictionary, System
from shared_record.hooks.base import WriteResult
from shared_record.ownership import Operation, check_write

# Fields that address a record rather than write a value.
ADDRESS_FIELDS: dict[str, frozenset[str]] = {"crm": frozenset({"Id"}), "cs": frozenset({"Gsid"})}
DEFAULT_BULK_THRESHOLD = 2000  # CRM records per write above which one Bulk API 2.0 job beats 10+ collection calls


@dataclass
class WriteRequest:
    """Records of one object to write into one system."""

    system: System
    object: str
    records: Sequence[dict[str, Any]]
    operation: Operation = "upsert"
    keys: Sequence[str] = field(default_factory=tuple)  # CS upsert keys / CRM external-id field

    def fields(self) -> set[str]:
        written = {k for r in self.records for k in r}
        return written - ADDRESS_FIELDS[self.system]


class WritePath:
    """Checks every write against the field dictionary, then performs it in platform-sized batches."""

    def __init__(
        self,
        dictionary: FieldDictionary,
        crm: Any = None,
        cs: Any = None,
        bulk_threshold: int = DEFAULT_BULK_THRESHOLD,
    ) -> None:
        self.dictionary = dictionary
        self.crm = crm
        self.cs = cs
        self.bulk_threshold = bulk_threshold

    def check(self, request: WriteRequest) -> None:
        """Raise `OwnershipViolation` if any field of the request may not be written; no I/O."""
        check_write(self.dictionary, request.system, request.object, sorted(request.fields()), request.operation)

    def write(self, request: WriteRequest, dry_run: bool = False) -> list[WriteResult]:
        self.check(request)
        if dry_run or not request.records:
            return []
        if request.system == "crm":
            return self._write_crm(request)
        return self._write_cs(request)

    def _write_crm(self, request: WriteRequest) -> list[WriteResult]:
        if self.crm is None:
            raise RuntimeError("WritePath has no CRM hook")
        if request.operation == "update":
            if len(request.records) > self.bulk_threshold:
                return self.crm.bulk_update(request.object, request.records)
            return self.crm.collections_update(request.object, request.records)
        if len(request.keys) != 1:
            raise ValueError("a CRM upsert needs exactly one external-id field in keys")
        return self.crm.collections_upsert(request.object, request.keys[0], request.records)

    def _write_cs(self, request: WriteRequest) -> list[WriteResult]:
        if self.cs is None:
            raise RuntimeError("WritePath has no CS-platform hook")
        if not request.keys:
            raise ValueError("a CS-platform write needs its key field(s) in keys")
        if request.operation == "insert":
            return self.cs.insert(request.object, request.records, request.keys[0])
        return self.cs.upsert(request.object, request.records, request.keys)

