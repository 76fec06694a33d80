"""Test-wide setup: a private Airflow home, the sandboxes (started once per session, stopped by PID), and
Airflow connections pointing at them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SECRETS = ("crm-token-Zq81vQ", "cs-key-Hh27pL")

# Airflow reads its configuration at import time: set it before anything imports airflow.
# The tests' own Airflow home, never the one `make demo` and `make airflow` use (the Makefile exports that one).
os.environ["AIRFLOW_HOME"] = str(ROOT / ".airflow" / "pytest")
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's metadata DB (SQLite) migrated once per AIRFLOW_HOME; `dag.test()` needs it."""
    home = Path(os.environ["AIRFLOW_HOME"])
    marker = home / ".migrated"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                       env=os.environ.copy(), timeout=300)
        marker.touch()
    return home


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """The three sandboxes as a real subprocess on free ports with a fresh seeded state; stopped by PID."""
    from shared_record_sandbox.testing import SandboxProcess

    # Distinctive credentials, so tests can prove they never reach a log, an alert or the ledger.
    proc = SandboxProcess(tmp_path_factory.mktemp("sandbox"), accounts=500, seed=42,
                          env={"CRM_SANDBOX_TOKEN": SECRETS[0], "CS_SANDBOX_KEY": SECRETS[1]})
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def secrets() -> tuple[str, str]:
    """The sandbox credentials of this test session."""
    return SECRETS


@pytest.fixture()
def ledger_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture()
def connections(sandbox, ledger_url, monkeypatch) -> dict[str, str]:
    """AIRFLOW_CONN_* for salesforce_default, cs_platform_default, slack_alerts and shared_record_ledger."""
    env = dict(sandbox.airflow_conn_env())
    env["AIRFLOW_CONN_SHARED_RECORD_LEDGER"] = json.dumps({"conn_type": "sqlite", "extra": {"url": ledger_url}})
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env
