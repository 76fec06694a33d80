"""Every error the sync raises, organised by what to do about it.

- Retriable: the next attempt may succeed (5xx, timeouts, lock contention). Airflow's retries handle these.
- Fatal: a human must act (bad credentials, quota exhausted, a malformed dictionary). The run fails loudly,
  without Airflow retries (they would only spend quota and delay the alert).
- Skippable per record: one record is rejected; it goes to the dead-letter table and the run goes on.
- OwnershipViolation: a write of a field the writer does not own; refused before any request is made.
"""

from __future__ import annotations


class SharedRecordError(Exception):
    """Base class of this project's errors."""


class RetriableError(SharedRecordError):
    """A transient failure: retry the call or the task."""


class FatalSyncError(SharedRecordError):
    """A failure a person must fix; retrying will not help."""


class QuotaExhausted(FatalSyncError):
    """The platform's API quota stopped the run early (Salesforce REQUEST_LIMIT_EXCEEDED, CS daily limit)."""


class AuthenticationFailed(FatalSyncError):
    """The credentials in the Airflow connection were refused (expired session, wrong access key)."""


class PartialDataError(SharedRecordError):
    """A page or batch could not be fetched or written after in-place retries: the run fails (never green on
    partial data) and Airflow's task retries try the whole window again later."""


class TooManyRejects(FatalSyncError):
    """More records were rejected than the run may call a success; they wait in the dead-letter table."""


class RecordRejected(SharedRecordError):
    """One record was refused by the target system; kept in the dead-letter table and retried next run."""

    def __init__(self, record_key: str, code: str, message: str) -> None:
        super().__init__(f"{record_key}: {code}: {message}")
        self.record_key, self.code, self.message = record_key, code, message


class DictionaryError(FatalSyncError):
    """The field dictionary is invalid: names the file, the entry and the reason."""

    def __init__(self, file: str, entry: str, reason: str) -> None:
        super().__init__(f"{file}: {entry}: {reason}")
        self.file, self.entry, self.reason = file, entry, reason


class OwnershipViolation(FatalSyncError):
    """A write the field dictionary does not allow. Raised before any HTTP request is made."""

    def __init__(self, field: str, system: str, owner: str, reason: str) -> None:
        super().__init__(f"refused write of {field} into {system}: {reason} (owner: {owner})")
        self.field, self.system, self.owner, self.reason = field, system, owner, reason
