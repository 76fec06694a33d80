"""The environment every script runs Airflow with: one AIRFLOW_HOME, this repo's DAGs and plugins, the
sandbox's connections and a SQLite ledger. Used by demo.py, bench.py and airflow_local.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def airflow_env(home: Path, sandbox: Any, ledger_url: str, **extra: str) -> dict[str, str]:
    """os.environ plus AIRFLOW_HOME=`home`, the repo's dags/ and plugins/, no examples, the sandbox's
    connections (when `sandbox` is given) and `shared_record_ledger` as SQLite at `ledger_url`."""
    env = os.environ.copy()
    if sandbox is not None:
        env.update(sandbox.airflow_conn_env())
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW_CONN_SHARED_RECORD_LEDGER=json.dumps({"conn_type": "sqlite", "extra": {"url": ledger_url}}),
        **extra,
    )
    return env


def ensure_airflow_db(env: dict[str, str], say: Any = print) -> None:
    """`airflow db migrate` once per AIRFLOW_HOME (a marker file remembers it)."""
    home = Path(env["AIRFLOW_HOME"])
    marker = home / ".migrated"
    if marker.exists():
        return
    say(f"Preparing Airflow's metadata database under {home} (SQLite, once) ...")
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker.touch()
