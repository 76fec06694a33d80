"""Salesforce REST emulator (CRM sandbox) for simple-salesforce and Airflow's SalesforceHook."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported lazily so `import shared_record_sandbox.crm` stays cheap
    import fastapi

    from shared_record_sandbox.faults import FaultInjector
    from shared_record_sandbox.store import Store

__all__ = ["create_app"]


def create_app(store: Store, faults: FaultInjector, token: str) -> fastapi.FastAPI:
    """Build the FastAPI app emulating Salesforce REST over `store`, guarded by bearer `token`."""
    from shared_record_sandbox.crm.app import build_app

    return build_app(store, faults, token)
