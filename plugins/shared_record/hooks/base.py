"""What the CRM and CS-platform hooks share: call accounting, per-record results, timeouts, retry policy."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from tenacity import retry_if_exception_type, stop_after_attempt, wait_exponential

from shared_record.errors import RetriableError

DEFAULT_TIMEOUT_S = 60.0

# Transient failures: retried in place a few times with exponential backoff before the task fails
# (and Airflow's own task retries take over).
RETRY_POLICY: dict[str, Any] = {
    "retry": retry_if_exception_type((RetriableError, requests.ConnectionError, requests.Timeout)),
    "stop": stop_after_attempt(4),
    "wait": wait_exponential(multiplier=0.5, min=0.5, max=8),
    "reraise": True,
}


@dataclass(frozen=True)
class WriteResult:
    """The outcome of writing one record, in request order."""

    record_key: str
    success: bool
    record_id: str | None = None
    created: bool | None = None
    error_code: str | None = None
    error_message: str | None = None


class CallCounter(Counter):
    """API calls by kind (crm_query, crm_query_more, crm_collections, crm_bulk_job, cs_read, cs_write, ...)."""


class TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout: simple-salesforce sets none, and a hung server must not hang a worker."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_S, **kw: Any) -> None:
        self.timeout = timeout
        super().__init__(**kw)

    def send(self, request, **kwargs):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def make_session(ca_bundle: str | None, timeout: float = DEFAULT_TIMEOUT_S) -> requests.Session:
    """A requests session with a default timeout; `ca_bundle` pins the CA (and ignores REQUESTS_CA_BUNDLE)."""
    session = requests.Session()
    adapter = TimeoutAdapter(timeout=timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    if ca_bundle:
        session.verify = ca_bundle
        session.trust_env = False
    return session
