"""The runner as a user drives it: start through SandboxProcess, state that survives a restart, reset, the
CLI's reset/env commands, loopback-only hosts, and a stop that leaves no process behind."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from shared_record_sandbox.testing import SandboxProcess


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): treat it as gone once it is not running
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "shared_record_sandbox", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_state_persists_across_restart_and_reset_wipes_it(tmp_path):
    state = tmp_path / "state"
    sb = SandboxProcess(state, accounts=40, seed=3)
    with sb:
        info = json.loads((state / "sandbox.json").read_text())
        assert info["pid"] == sb.pid and info["cs_port"] == sb.cs_port and info["accounts"] == 40
        assert info["ca"] == str(sb.ca_path) and sb.ca_path.exists()
        cs = sb.admin("cs")
        company = cs.call("GET", "/__admin/records/Company")["records"][0]
        cs.call("PATCH", f"/__admin/records/Company/{company['Gsid']}", json={"fields": {"NPS": -42}})
        crm_accounts = sb.admin("crm").call("GET", "/__admin/health")["records"]["Account"]
        assert crm_accounts == 40
        pid, ports = sb.pid, (sb.crm_port, sb.cs_port, sb.slack_port)
    assert not _alive(pid) and not (state / "sandbox.json").exists()
    assert not any(_listening(p) for p in ports)

    with SandboxProcess(state, accounts=40, seed=3) as again:
        cs = again.admin("cs")
        assert (
            cs.call("GET", "/__admin/records/Company", params={"Gsid": company["Gsid"]})["records"][0]["NPS"]
            == -42
        )
        assert "loaded existing state" in again.log_path.read_text()
        reset = cs.call("POST", "/__admin/reset")
        assert reset["seed"]["crm.Account"] == 40
        restored = cs.call("GET", "/__admin/records/Company", params={"Gsid": company["Gsid"]})["records"][0]
        assert restored["NPS"] == company["NPS"]  # reseeded: same seed, same data, the edit is gone
        # the CRM answers from the reseeded store too
        assert again.admin("crm").call("GET", "/__admin/health")["records"]["Account"] == 40

    out = _cli("reset", "--state-dir", str(state))
    assert out.returncode == 0 and "cs.pickle" in out.stdout
    assert not (state / "cs.pickle").exists() and not (state / "crm.pickle").exists()


def test_env_command_prints_connections_of_a_running_sandbox(tmp_path):
    with SandboxProcess(tmp_path, accounts=10, env={"CS_SANDBOX_KEY": "k-123456"}) as sb:
        out = _cli("env", "--state-dir", str(tmp_path), env={"CS_SANDBOX_KEY": "k-123456"})
        assert out.returncode == 0, out.stderr
        lines = dict(line.removeprefix("export ").split("=", 1) for line in out.stdout.splitlines())
        cs_conn = json.loads(lines["AIRFLOW_CONN_CS_PLATFORM_DEFAULT"].strip("'"))
        assert cs_conn["port"] == sb.cs_port and cs_conn["password"] == "k-123456"
        assert set(lines) >= {"AIRFLOW_CONN_SALESFORCE_DEFAULT", "AIRFLOW_CONN_SLACK_ALERTS"}
        assert sb.admin("cs").call("GET", "/__admin/stats")["calls"]["read"] == 0  # the key from env works
        assert "k-123456" not in sb.log_path.read_text()  # secrets never reach the log
    assert _cli("env", "--state-dir", str(tmp_path)).returncode == 2  # nothing running any more


def test_non_loopback_host_is_refused(tmp_path):
    out = _cli("serve", "--state-dir", str(tmp_path), "--accounts", "5", env={"SANDBOX_HOST": "0.0.0.0"})
    assert out.returncode == 2 and "loopback" in out.stderr
    assert not (tmp_path / "sandbox.json").exists()


def test_second_sandbox_on_the_same_state_is_refused(tmp_path):
    with SandboxProcess(tmp_path, accounts=10):
        with pytest.raises(RuntimeError, match="already runs"):
            SandboxProcess(tmp_path, accounts=10).start()
