"""Run the sandboxes as a real subprocess from tests and the demo, and talk to their admin APIs.

    with SandboxProcess(tmp_path, accounts=200) as sb:      # free ports, fresh state, stopped by PID
        sb.admin("cs").call("PATCH", f"/__admin/records/Company/{gsid}", json={"fields": {...}})
        env = sb.airflow_conn_env()                          # AIRFLOW_CONN_* for the three connections
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

import requests

from shared_record_sandbox.runner import DEFAULT_KEY, DEFAULT_TOKEN, conn_env, read_info

System = Literal["crm", "cs", "slack"]
_PACKAGE_PARENT = str(Path(__file__).resolve().parents[1])


class SandboxAdminError(RuntimeError):
    """A non-2xx answer from a sandbox call; the message has status and body, never credentials."""

    def __init__(self, method: str, url: str, resp: requests.Response) -> None:
        super().__init__(f"{method} {url} -> HTTP {resp.status_code}: {resp.text[:500]}")
        self.status_code = resp.status_code
        self.response = resp


class AdminSession(requests.Session):
    """A requests session bound to one sandbox: relative paths, its CA, its auth header, no env proxies."""

    def __init__(self, base_url: str, ca_path: Path | None, headers: dict[str, str]) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.trust_env = False  # never route loopback calls through an HTTP(S)_PROXY from the environment
        if ca_path is not None:
            self.verify = str(ca_path)
        self.headers.update(headers)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        text = url.decode() if isinstance(url, bytes) else url
        if text.startswith("/"):
            text = self.base_url + text
        kwargs.setdefault("timeout", 120)
        return super().request(method, text, *args, **kwargs)

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """`method path` → parsed JSON (None for an empty body); SandboxAdminError on a non-2xx status."""
        resp = self.request(method, path, **kw)
        if not 200 <= resp.status_code < 300:
            raise SandboxAdminError(method, path, resp)
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text


def free_ports(n: int) -> tuple[int, ...]:
    """`n` distinct free TCP ports on 127.0.0.1 (bound together, then released)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return tuple(s.getsockname()[1] for s in socks)
    finally:
        for s in socks:
            s.close()


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class SandboxProcess:
    """`python -m shared_record_sandbox serve` as a subprocess (own process group), stopped by its PID."""

    def __init__(self, state_dir: Path, accounts: int = 200, seed: int = 42,
                 ports: tuple[int, int, int] | None = None, env: dict[str, str] | None = None,
                 reset: bool = False) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.accounts, self.seed, self.reset = accounts, seed, reset
        self.crm_port, self.cs_port, self.slack_port = ports or free_ports(3)
        self.env = dict(env or {})
        merged = {**os.environ, **self.env}
        self.token = merged.get("CRM_SANDBOX_TOKEN") or DEFAULT_TOKEN
        self.key = merged.get("CS_SANDBOX_KEY") or DEFAULT_KEY
        self.host = "127.0.0.1"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None

    # ---- attributes -------------------------------------------------------------------------------
    @property
    def crm_url(self) -> str:
        return f"https://{self.host}:{self.crm_port}"

    @property
    def cs_url(self) -> str:
        return f"https://{self.host}:{self.cs_port}"

    @property
    def slack_url(self) -> str:
        return f"http://{self.host}:{self.slack_port}"

    @property
    def ca_path(self) -> Path:
        return self.state_dir / "ca.pem"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "sandbox.log"

    @classmethod
    def attach(cls, state_dir: Path) -> SandboxProcess:
        """A handle on a sandbox already running on `state_dir` (its stop() leaves that process alone)."""
        info = read_info(Path(state_dir))
        if info is None:
            raise RuntimeError(f"no running sandbox in {state_dir} (sandbox.json missing or its pid is gone)")
        sb = cls(Path(state_dir), accounts=int(info.get("accounts", 0)), seed=int(info.get("seed", 0)),
                 ports=(int(info["crm_port"]), int(info["cs_port"]), int(info["slack_port"])))
        sb.host = info.get("host", "127.0.0.1")
        sb.pid = int(info["pid"])
        return sb

    # ---- lifecycle --------------------------------------------------------------------------------
    def start(self, timeout: float = 120) -> SandboxProcess:
        """Start the subprocess and wait until sandbox.json names its pid and all three ports accept."""
        if self.proc is not None:
            raise RuntimeError("this SandboxProcess is already started")
        self.state_dir.mkdir(parents=True, exist_ok=True)
        running = read_info(self.state_dir)
        if running:
            raise RuntimeError(f"a sandbox (pid {running['pid']}) already runs on {self.state_dir}")
        (self.state_dir / "sandbox.json").unlink(missing_ok=True)  # stale file of a killed run
        cmd = [sys.executable, "-m", "shared_record_sandbox", "serve", "--state-dir", str(self.state_dir),
               "--crm-port", str(self.crm_port), "--cs-port", str(self.cs_port),
               "--slack-port", str(self.slack_port), "--accounts", str(self.accounts),
               "--seed", str(self.seed)]
        if self.reset:
            cmd.append("--reset")
        env = {**os.environ, **self.env}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_PARENT, env.get("PYTHONPATH")]))
        env.setdefault("SANDBOX_HOST", "127.0.0.1")
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         env=env, start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                self.proc = None
                raise RuntimeError(f"sandbox exited with code {rc} during start-up:\n{tail}")
            info = read_info(self.state_dir)
            if info and info.get("pid") == self.pid and all(
                    _port_open(p) for p in (self.crm_port, self.cs_port, self.slack_port)):
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"sandbox did not come up within {timeout}s; see {self.log_path}")

    def stop(self, timeout: float = 10) -> int | None:
        """SIGTERM the process by PID, wait, SIGKILL after `timeout` s; returns its exit code."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            try:
                os.kill(proc.pid, signal.SIGTERM)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
            except ProcessLookupError:
                pass
        return proc.wait()

    def __enter__(self) -> SandboxProcess:
        return self.start() if self.proc is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- clients ----------------------------------------------------------------------------------
    def admin(self, system: System) -> AdminSession:
        """A session for one sandbox's API/admin API: base URL, CA and auth header already set."""
        if system == "crm":
            return AdminSession(self.crm_url, self.ca_path, {"Authorization": f"Bearer {self.token}"})
        if system == "cs":
            return AdminSession(self.cs_url, self.ca_path, {"accesskey": self.key})
        if system == "slack":
            return AdminSession(self.slack_url, None, {})
        raise ValueError(f"unknown sandbox {system!r}; expected crm, cs or slack")

    def slack_messages(self) -> list[dict[str, Any]]:
        """Every message the Slack sink received, oldest first ({"received_at", "path", "payload"})."""
        return self.admin("slack").call("GET", "/__admin/messages")["messages"]

    def info(self) -> dict[str, Any]:
        """The running sandbox's sandbox.json."""
        return json.loads((self.state_dir / "sandbox.json").read_text())

    def airflow_conn_env(self) -> dict[str, str]:
        """AIRFLOW_CONN_{SALESFORCE_DEFAULT,CS_PLATFORM_DEFAULT,SLACK_ALERTS} as JSON strings."""
        info = {"host": self.host, "crm_port": self.crm_port, "cs_port": self.cs_port,
                "slack_port": self.slack_port, "ca": str(self.ca_path)}
        return conn_env(info, self.token, self.key)
