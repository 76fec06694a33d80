"""Values between the two systems and the dictionary's canonical form. Pure.

Each system spells values its own way: Salesforce dates are "2024-01-31" and multipicklists "A;B"; the CS
platform returns dates as epoch milliseconds and multi-selects as lists; picklists differ value by value as the
dictionary maps them. `to_canonical` turns a system value into the canonical one (raising `ValueRejected`
with a reason when it cannot: an unknown tier, a negative ARR, a malformed date); `to_system` spells a
canonical value for the target system. Comparing canonical values is what makes a diff honest.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from shared_record.dictionary import FieldSpec, System


class ValueRejected(ValueError):
    """A value that cannot be carried to the other system; kept aside with this reason."""


def _parse_date(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).date().isoformat() if value.tzinfo else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC).date().isoformat()
    if isinstance(value, str):
        text = value.strip()
        for fmt in ("%Y-%m-%d", "%m-%d-%Y"):
            try:
                return datetime.strptime(text[:10], fmt).date().isoformat()
            except ValueError:
                continue
    raise ValueRejected(f"not a date: {value!r}")


def _parse_datetime(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        dt = datetime.fromtimestamp(value / 1000, tz=UTC)
    elif isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # Salesforce's +0000
            text = text[:-2] + ":" + text[-2:]
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueRejected(f"not a datetime: {value!r}") from None
        dt = dt if dt.tzinfo else dt.replace(tzinfo=UTC)
    else:
        raise ValueRejected(f"not a datetime: {value!r}")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(spec: FieldSpec, value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueRejected(f"not a number: {value!r}")
    try:
        number = Decimal(str(value).strip())
    except Exception:  # noqa: BLE001 - any parse failure is the same rejection
        raise ValueRejected(f"not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueRejected(f"not a finite number: {value!r}")
    if spec.minimum is not None and number < Decimal(str(spec.minimum)):
        raise ValueRejected(f"{value} is below the minimum {spec.minimum:g} for {spec.label}")
    if spec.maximum is not None and number > Decimal(str(spec.maximum)):
        raise ValueRejected(f"{value} is above the maximum {spec.maximum:g} for {spec.label}")
    if spec.type == "integer":
        if number != number.to_integral_value():
            raise ValueRejected(f"not a whole number: {value!r}")
        return int(number)
    places = Decimal("0.01")
    rounded = float(number.quantize(places, rounding=ROUND_HALF_UP))
    return int(rounded) if rounded.is_integer() and spec.type != "currency" else rounded


def _picklist(spec: FieldSpec, value: Any, system: System) -> str:
    text = str(value).strip()
    for v in spec.values or ():
        if v.in_system(system) == text:
            return v.value
    lowered = text.lower()
    for v in spec.values or ():
        if v.in_system(system).lower() == lowered:
            return v.value
    allowed = ", ".join(v.in_system(system) for v in spec.values or ())
    raise ValueRejected(f"{text!r} is not a known {spec.label} value (expected one of: {allowed})")


def to_canonical(spec: FieldSpec, value: Any, system: System) -> Any:
    """The canonical form of `value` as read from `system`; None stays None."""
    if value is None or (isinstance(value, str) and value.strip() == "" and spec.type not in {"text", "string"}):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    kind = spec.type
    if kind == "date":
        return _parse_date(value)
    if kind == "datetime":
        return _parse_datetime(value)
    if kind in {"integer", "number", "percent", "currency"}:
        return _number(spec, value)
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in {"true", "1", "yes"}:
            return True
        if str(value).strip().lower() in {"false", "0", "no"}:
            return False
        raise ValueRejected(f"not a boolean: {value!r}")
    if kind == "picklist":
        return _picklist(spec, value, system)
    if kind == "multipicklist":
        items = value if isinstance(value, list | tuple) else str(value).split(";")
        return tuple(sorted(_picklist(spec, item, system) for item in items if str(item).strip()))
    if kind == "json":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ValueRejected(f"not valid JSON: {value[:80]!r}") from None
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    if kind == "email":
        text = str(value).strip()
        if "@" not in text:
            raise ValueRejected(f"not an email address: {text!r}")
        return text.lower()
    return str(value).strip() if kind not in {"text"} else str(value)


def to_system(spec: FieldSpec, canonical: Any, system: System) -> Any:
    """Spell a canonical value the way `system` expects it in a write request."""
    if canonical is None:
        return None
    if spec.type == "picklist":
        return next(v.in_system(system) for v in spec.values or () if v.value == canonical)
    if spec.type == "multipicklist":
        spelled = [next(v.in_system(system) for v in spec.values or () if v.value == item) for item in canonical]
        return ";".join(spelled) if system == "crm" else spelled
    if spec.type == "json":
        return json.loads(canonical) if system == "cs" else canonical
    return canonical
