"""Record identifiers in each system's real format.

Salesforce: 15 case-sensitive base-62 characters (3-character key prefix, then the record number)
plus the 3-character case-insensitive checksum suffix of the 18-character form.
Gainsight: GSIDs, upper-case base-36 strings starting with "1P0" (e.g. "1P0203VCESP7AUQMV9E953G").
"""

from __future__ import annotations

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def _encode(n: int, alphabet: str, width: int) -> str:
    base = len(alphabet)
    out = []
    while n:
        n, r = divmod(n, base)
        out.append(alphabet[r])
    s = "".join(reversed(out)).rjust(width, alphabet[0])
    if len(s) > width:
        raise ValueError(f"number too large for a {width}-character id")
    return s


def sf_checksum(id15: str) -> str:
    """The 3-character suffix that makes a 15-character Salesforce id case-insensitive."""
    suffix = ""
    for chunk in (id15[0:5], id15[5:10], id15[10:15]):
        bits = sum(1 << i for i, ch in enumerate(chunk) if "A" <= ch <= "Z")
        suffix += _SUFFIX[bits]
    return suffix


def sf_id(prefix: str, number: int, pod: str = "8a0") -> str:
    """An 18-character Salesforce id: key prefix, 3-character pod/instance part, record number, checksum."""
    id15 = prefix + pod + _encode(number, _B62, 9)
    return id15 + sf_checksum(id15)


def is_sf_id(value: str) -> bool:
    """True for a well-formed 15- or 18-character Salesforce id (checksum verified for 18)."""
    if not isinstance(value, str) or len(value) not in (15, 18) or not value.isalnum():
        return False
    return len(value) == 15 or sf_checksum(value[:15]) == value[15:]


def gsid(number: int, kind: str = "2") -> str:
    """A Gainsight GSID: "1P0" + kind digit + 19 upper-case base-36 characters."""
    return "1P0" + kind + _encode(number * 7919 + 104729, _B36, 19)
