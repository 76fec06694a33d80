"""Fault injection shared by the sandboxes: request-level faults and per-record errors, at a rate.

A rule is set through a sandbox's admin API (`POST /__admin/faults`) and looks like
    {"kind": "server_error" | "rate_limit" | "timeout" | "expired_session" | "record_error",
     "rate": 0.0-1.0,            # probability per matching request (or per record for record_error)
     "count": int | null,        # stop after injecting this many times (null = unlimited)
     "path": "regex" | null,     # only requests whose path matches (re.search)
     "method": "GET" | ... | null,
     "object": "Account" | null, # record_error only: the object written
     "status": int | null,       # server_error only: 500 (default), 502, 503
     "code": "UNABLE_TO_LOCK_ROW" | null,   # record_error only: the per-record error code
     "seconds": float | null}    # timeout only: how long to stall before answering 504 (default 30)
Each sandbox decides how a kind looks on its wire (Salesforce: 403 REQUEST_LIMIT_EXCEEDED and 401
INVALID_SESSION_ID; CS platform: 429 GS_APIG_2404 and 401 GS_APIG_2401). Randomness is seeded so a
test that sets a rate gets the same faults on every run.
"""

from __future__ import annotations

import random
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

FaultKind = Literal["server_error", "rate_limit", "timeout", "expired_session", "record_error"]
KINDS: tuple[str, ...] = ("server_error", "rate_limit", "timeout", "expired_session", "record_error")


@dataclass
class FaultRule:
    kind: FaultKind
    rate: float = 1.0
    count: int | None = None
    path: str | None = None
    method: str | None = None
    object: str | None = None
    status: int | None = None
    code: str | None = None
    seconds: float | None = None
    injected: int = field(default=0)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if not 0.0 <= float(self.rate) <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {self.rate}")
        if self.path is not None:
            re.compile(self.path)

    def exhausted(self) -> bool:
        return self.count is not None and self.injected >= self.count


class FaultInjector:
    """Holds the active rules of one sandbox and draws from a seeded random stream."""

    def __init__(self, seed: int = 1234) -> None:
        self._rules: list[FaultRule] = []
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def add(self, spec: dict[str, Any]) -> FaultRule:
        allowed = set(FaultRule.__dataclass_fields__) - {"injected"}
        unknown = set(spec) - allowed
        if unknown:
            raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
        rule = FaultRule(**spec)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(r) for r in self._rules]

    def request_fault(self, method: str, path: str) -> FaultRule | None:
        """The request-level rule that fires for this request, if any (record_error never fires here)."""
        with self._lock:
            for rule in self._rules:
                if rule.kind == "record_error" or rule.exhausted():
                    continue
                if rule.method and rule.method.upper() != method.upper():
                    continue
                if rule.path and not re.search(rule.path, path):
                    continue
                if self._rng.random() < rule.rate:
                    rule.injected += 1
                    return rule
        return None

    def record_error(self, obj: str) -> str | None:
        """The per-record error code to return for one record written to `obj`, if a rule fires."""
        with self._lock:
            for rule in self._rules:
                if rule.kind != "record_error" or rule.exhausted():
                    continue
                if rule.object and rule.object != obj:
                    continue
                if self._rng.random() < rule.rate:
                    rule.injected += 1
                    return rule.code or "UNABLE_TO_LOCK_ROW"
        return None
