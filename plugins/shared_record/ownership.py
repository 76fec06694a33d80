"""Write ownership: may this sync write these fields of this object into this system? Pure rules.

The single rule of the shared record: a sync writes a field only into the system that mirrors it. A
one-way field is written only into its mirror (never back into its origin); a co-owned (layer 3) field may
be written into either system, the phase owner deciding conflicts upstream in the plan; a write-once field is
written only when its record is created. Anything not in the dictionary is refused. `WritePath` (write_path.py)
calls `check_write` before every request, so a refused write never reaches the network.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from shared_record.dictionary import SYSTEM_NAMES, FieldDictionary, FieldSpec, System
from shared_record.errors import OwnershipViolation

Operation = Literal["insert", "update", "upsert"]


def check_write(
    dictionary: FieldDictionary,
    system: System,
    obj: str,
    fields: Iterable[str],
    operation: Operation = "upsert",
) -> list[FieldSpec]:
    """Return the dictionary entries being written, or raise `OwnershipViolation` for the first refused field.

    `fields` are the target system's API field names as they appear in the request body. Record-address
    fields (the CRM `Id` of an update, a CS `Gsid`) are not writes and must not be passed here.
    """
    if system not in SYSTEM_NAMES:
        raise ValueError(f"unknown system {system!r}; expected 'crm' or 'cs'")
    specs: list[FieldSpec] = []
    where = SYSTEM_NAMES[system]
    for name in fields:
        if dictionary.sync_field(system, obj, name) is not None:
            continue
        spec = dictionary.by_system_field(system, obj, name)
        if spec is None:
            raise OwnershipViolation(
                f"{obj}.{name}", where, "nobody",
                "not in the field dictionary; shared fields are added by a pull request to include/field_dictionary/",
            )
        label = f"{spec.name} ({obj}.{name})"
        if spec.mirror is not None and spec.mirror != system:
            raise OwnershipViolation(
                label, where, spec.owner,
                f"{where} is where this field originates; the sync only writes its mirror in "
                f"{SYSTEM_NAMES[spec.mirror]} ({spec.direction})",
            )
        if spec.write_once and operation != "insert":
            raise OwnershipViolation(
                label, where, spec.owner,
                f"write-once field: set when the snapshot is created, never by an {operation}",
            )
        specs.append(spec)
    return specs
