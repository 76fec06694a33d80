"""`make airflow`: `airflow standalone` on 127.0.0.1 with the DAGs wired to the running sandboxes.

Start the sandboxes first (`make sandbox` in another terminal). The UI is at http://127.0.0.1:8080 (override
with AIRFLOW_PORT); the admin password is printed by Airflow and kept in
.airflow/simple_auth_manager_passwords.json.generated. Ctrl-C stops Airflow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from airflow_env import airflow_env  # scripts/ is on sys.path: run as a script

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(os.environ.get("AIRFLOW_HOME", ROOT / ".airflow"))
STATE = Path(os.environ.get("SANDBOX_STATE_DIR", ROOT / ".sandbox"))


def main() -> int:
    sys.path.insert(0, str(ROOT / "sandbox"))
    from shared_record_sandbox.testing import SandboxProcess

    info_path = STATE / "sandbox.json"
    if not info_path.exists():
        print(f"No running sandbox found ({info_path} is missing): run `make sandbox` in another terminal first.",
              file=sys.stderr)
        return 2
    sandbox = SandboxProcess.attach(STATE)
    port = os.environ.get("AIRFLOW_PORT", "8080")
    env = airflow_env(
        AIRFLOW_HOME, sandbox, f"sqlite:///{AIRFLOW_HOME / 'shared_record_ledger.db'}",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=port,
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        # `airflow standalone` starts its components as `airflow ...`: the venv's bin comes first
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "scripts" / "loopback"), os.environ.get("PYTHONPATH")])),
    )
    AIRFLOW_HOME.mkdir(parents=True, exist_ok=True)
    print(f"Airflow UI: http://127.0.0.1:{port}  (DAGs start paused: unpause one to schedule it)")
    os.execvpe(sys.executable, [sys.executable, "-m", "airflow", "standalone"], env)


if __name__ == "__main__":
    sys.exit(main())
