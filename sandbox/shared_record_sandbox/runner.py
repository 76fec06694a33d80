"""The sandbox runner: CRM (HTTPS), CS platform (HTTPS) and Slack sink (HTTP) in one process, one event loop.

`python -m shared_record_sandbox serve` seeds empty stores, writes `<state>/sandbox.json` once all three
servers listen, and on SIGTERM/SIGINT stops them gracefully, compacts the stores and removes sandbox.json.
Servers bind 127.0.0.1 (or another loopback address): the sandboxes have fixed tokens and must never be
reachable from the network.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import ipaddress
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn

from shared_record_sandbox import seed as seeding
from shared_record_sandbox import tls
from shared_record_sandbox.faults import FaultInjector
from shared_record_sandbox.store import Store

log = logging.getLogger("shared_record_sandbox")

DEFAULT_TOKEN = "sandbox-token"
DEFAULT_KEY = "sandbox-key"
STOP_GRACE_S = 1.5  # on SIGTERM, requests in flight get this long before their connections are cut
STATE_FILES = ("crm.pickle", "crm.journal.db", "crm.journal.db-wal", "crm.journal.db-shm", "crm.tmp",
               "cs.pickle", "cs.journal.db", "cs.journal.db-wal", "cs.journal.db-shm", "cs.tmp",
               "slack.jsonl", "ca.pem", "server.pem", "server.key")


class SandboxError(RuntimeError):
    """A start-up problem the user can fix (bad host, missing CRM emulator, sandbox already running)."""


@dataclass
class Config:
    """Runner settings; every flag has an environment variable of the same meaning."""

    state_dir: Path
    host: str = "127.0.0.1"
    crm_port: int = 8701
    cs_port: int = 8702
    slack_port: int = 8703
    accounts: int = 500
    seed: int = 42
    anchor: datetime = seeding.parse_anchor(None)
    reset: bool = False
    token: str = DEFAULT_TOKEN
    key: str = DEFAULT_KEY


def loopback_host(host: str) -> str:
    """`host` if it names a loopback address, else SandboxError (the sandboxes never face the network)."""
    if host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(host).is_loopback:
            return host
    except ValueError:
        pass
    raise SandboxError(f"SANDBOX_HOST must be a loopback address such as 127.0.0.1, got {host!r}")


def add_common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", type=Path, default=Path(os.environ.get("SANDBOX_STATE_DIR", ".sandbox")),
                   help="state folder (SANDBOX_STATE_DIR, default ./.sandbox)")


def add_serve_args(p: argparse.ArgumentParser) -> None:
    env = os.environ.get
    p.add_argument("--crm-port", type=int, default=int(env("CRM_SANDBOX_PORT", "8701")))
    p.add_argument("--cs-port", type=int, default=int(env("CS_SANDBOX_PORT", "8702")))
    p.add_argument("--slack-port", type=int, default=int(env("SLACK_SANDBOX_PORT", "8703")))
    p.add_argument("--accounts", type=int, default=int(env("SANDBOX_ACCOUNTS", "500")),
                   help="accounts to seed into empty stores (SANDBOX_ACCOUNTS, default 500)")
    p.add_argument("--seed", type=int, default=int(env("SANDBOX_SEED", "42")),
                   help="random seed of the seed data (SANDBOX_SEED, default 42)")
    p.add_argument("--reset", action="store_true", help="wipe the state folder and reseed before serving")


def config_from_args(args: argparse.Namespace) -> Config:
    """Flags (which default to the env vars) plus the env-only settings: host, anchor, token, key."""
    return Config(
        state_dir=Path(args.state_dir).resolve(),
        host=loopback_host(os.environ.get("SANDBOX_HOST", "127.0.0.1")),
        crm_port=args.crm_port, cs_port=args.cs_port, slack_port=args.slack_port,
        accounts=args.accounts, seed=args.seed,
        anchor=seeding.parse_anchor(os.environ.get("SANDBOX_SEED_ANCHOR")),
        reset=args.reset,
        token=os.environ.get("CRM_SANDBOX_TOKEN") or DEFAULT_TOKEN,
        key=os.environ.get("CS_SANDBOX_KEY") or DEFAULT_KEY,
    )


# ---- state ------------------------------------------------------------------------------------------
def read_info(state_dir: Path) -> dict[str, Any] | None:
    """sandbox.json of a sandbox whose process is still alive, else None."""
    path = Path(state_dir) / "sandbox.json"
    try:
        info = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    try:
        os.kill(int(info["pid"]), 0)
    except (OSError, KeyError, ValueError, TypeError):
        return None
    return info


def wipe_state(state_dir: Path) -> list[str]:
    """Delete the stores, TLS files and Slack messages under `state_dir` (not its log); the removed names."""
    removed = []
    for name in STATE_FILES:
        path = Path(state_dir) / name
        if path.exists():
            path.unlink()
            removed.append(name)
    return removed


def seed_stores(crm: Store, cs: Store, cfg: Config) -> dict[str, Any]:
    """Seed both (empty) stores and persist them; returns the counts and timings."""
    t0 = time.perf_counter()
    counts = seeding.seed(crm, cs, cfg.accounts, cfg.seed, cfg.anchor)
    crm.compact()
    cs.compact()
    counts["seconds_total"] = round(time.perf_counter() - t0, 2)
    return counts


def _summary(counts: dict[str, Any]) -> str:
    parts = [f"{k}={v}" for k, v in counts.items() if not k.startswith("seconds")]
    return f"{', '.join(parts)} in {counts.get('seconds_total', counts.get('seconds'))}s"


# ---- serving ----------------------------------------------------------------------------------------
class SwappableApp:
    """An ASGI app whose target can be swapped at run time (reset rebuilds the emulators' memory state)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


class _Server(uvicorn.Server):
    """uvicorn.Server that leaves signal handling to the runner (three servers share one process)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _load_crm_factory() -> Callable[..., Any]:
    try:
        from shared_record_sandbox.crm import create_app
    except ImportError as exc:
        raise SandboxError(
            "the CRM emulator (shared_record_sandbox.crm.create_app) is not available: "
            f"{exc}. It is built separately; the CS and Slack sandboxes cannot start without it."
        ) from exc
    return create_app


class Sandbox:
    """The three apps over two stores, with the reseed used by `POST /__admin/reset`."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self._crm_factory = _load_crm_factory()
        self.crm_store = Store(cfg.state_dir, "crm")
        self.cs_store = Store(cfg.state_dir, "cs")
        self._reset_lock = threading.Lock()
        if self.crm_store.is_empty() or self.cs_store.is_empty():
            if not (self.crm_store.is_empty() and self.cs_store.is_empty()):
                log.warning("one store is empty and the other is not: reseeding both")
                self.crm_store.reset()
                self.cs_store.reset()
            log.info("seeding %d accounts (seed %d) ...", cfg.accounts, cfg.seed)
            counts = seed_stores(self.crm_store, self.cs_store, cfg)
            log.info("seeded %s", _summary(counts))
        else:
            log.info("loaded existing state from %s (%d accounts, %d companies)", cfg.state_dir,
                     self.crm_store.count("Account"), self.cs_store.count("Company"))
        self.crm_app = SwappableApp(None)
        self.cs_app = SwappableApp(None)
        self._build()
        from shared_record_sandbox.slack import create_app as slack_app

        self.slack_app = slack_app(cfg.state_dir)

    def _build(self) -> None:
        from shared_record_sandbox.cs import create_app as cs_app

        self.crm_app.app = self._crm_factory(self.crm_store, FaultInjector(), self.cfg.token)
        self.cs_app.app = cs_app(self.cs_store, FaultInjector(), self.cfg.key, reseed=self.reseed)
        self.cs_app.app.state.cs.warm_indexes()  # lookups by SFDC id are indexed, as on the real platform
        for obj in ("Account", "Contact", "Opportunity"):  # so is SystemModstamp (incremental windows)
            if self.crm_store.count(obj):
                self.crm_store.ensure_range_index(obj, "SystemModstamp")
        self._add_crm_reset()
        # The seeded records live as long as the process: keep them out of the cyclic GC's full passes, which
        # would otherwise walk millions of dicts every few hundred requests (a pause that grows with the org).
        gc.collect()
        gc.freeze()

    def _add_crm_reset(self) -> None:
        """Give the CRM app `POST /__admin/reset` too, unless its engineer already added one."""
        app = self.crm_app.app
        if any(getattr(r, "path", None) == "/__admin/reset" for r in app.routes):
            return
        from fastapi import Request
        from fastapi.responses import JSONResponse
        from starlette.concurrency import run_in_threadpool

        token = self.cfg.token

        async def reset(request: Request) -> JSONResponse:
            if request.headers.get("authorization") != f"Bearer {token}":
                body = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
                return JSONResponse(body, status_code=401)
            counts = await run_in_threadpool(self.reseed)
            return JSONResponse({"reset": True, "seed": counts})

        app.add_api_route("/__admin/reset", reset, methods=["POST"])

    def reseed(self) -> dict[str, Any]:
        """Wipe both stores, seed them again with the same parameters and rebuild the apps (faults, stats,
        schema renames and caches all start over). Both systems at once: they must stay consistent."""
        with self._reset_lock, self.crm_store.lock, self.cs_store.lock:
            self.crm_store.reset()
            self.cs_store.reset()
            counts = seed_stores(self.crm_store, self.cs_store, self.cfg)
            self._build()
        log.info("reset: reseeded %s", _summary(counts))
        return counts

    def close(self) -> None:
        """Compact stores that have journalled changes (a 100k-account snapshot takes ~7 s to rewrite, so an
        unchanged one is left alone to keep the stop well inside the 10 s before SIGKILL), then close."""
        for store in (self.crm_store, self.cs_store):
            try:
                if _journal_pending(self.cfg.state_dir, store.name):
                    store.compact()
            finally:
                store.close()


def _journal_pending(state_dir: Path, name: str) -> bool:
    """True if the store's SQLite journal holds changes not yet folded into its snapshot."""
    import sqlite3

    path = Path(state_dir) / f"{name}.journal.db"
    if not path.exists():
        return False
    con = sqlite3.connect(path)
    try:
        return any(con.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() for table in ("journal", "meta"))
    except sqlite3.Error:
        return True  # unreadable: compacting is the safe choice
    finally:
        con.close()


async def _serve(cfg: Config, sandbox: Sandbox) -> None:
    tls_files = tls.generate(cfg.state_dir)
    common = {"host": cfg.host, "log_level": "warning", "lifespan": "off", "access_log": False,
              "timeout_graceful_shutdown": STOP_GRACE_S + 3}
    servers = {
        "crm": _Server(uvicorn.Config(sandbox.crm_app, port=cfg.crm_port, ssl_certfile=str(tls_files.cert),
                                      ssl_keyfile=str(tls_files.key), **common)),
        "cs": _Server(uvicorn.Config(sandbox.cs_app, port=cfg.cs_port, ssl_certfile=str(tls_files.cert),
                                     ssl_keyfile=str(tls_files.key), **common)),
        "slack": _Server(uvicorn.Config(sandbox.slack_app, port=cfg.slack_port, **common)),
    }
    loop = asyncio.get_running_loop()

    def abort_lingering() -> None:
        # Idle keep-alive TLS connections wait for the client's close_notify, which a pooled client never
        # sends: without this a graceful stop would hang until asyncio's 30 s SSL shutdown timeout.
        for s in servers.values():
            for conn in list(s.server_state.connections):
                transport = getattr(conn, "transport", None)
                if transport is not None:
                    transport.abort()

    def stop(signame: str) -> None:
        log.info("%s received: stopping", signame)
        for s in servers.values():
            s.should_exit = True
        loop.call_later(STOP_GRACE_S, abort_lingering)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop, sig.name)
    tasks = {name: asyncio.create_task(s.serve(), name=name) for name, s in servers.items()}
    info_path = cfg.state_dir / "sandbox.json"
    try:
        while not all(s.started for s in servers.values()):
            done = [n for n, t in tasks.items() if t.done()]
            if done:  # a server gave up (port in use): stop the others too
                stop("startup failure")
                break
            await asyncio.sleep(0.05)
        else:
            urls = {"crm": f"https://{cfg.host}:{cfg.crm_port}", "cs": f"https://{cfg.host}:{cfg.cs_port}",
                    "slack": f"http://{cfg.host}:{cfg.slack_port}"}
            for name, url in urls.items():
                log.info("%s sandbox listening on %s", name, url)
            info = {"pid": os.getpid(), "host": cfg.host, "crm_port": cfg.crm_port, "cs_port": cfg.cs_port,
                    "slack_port": cfg.slack_port, "ca": str(tls_files.ca.resolve()), "accounts": cfg.accounts,
                    "seed": cfg.seed, "started_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
            tmp = info_path.with_suffix(".tmp")
            tmp.write_text(json.dumps(info, indent=2))
            tmp.replace(info_path)  # atomic: a poller never reads half a file
        results = await asyncio.gather(*tasks.values(), return_exceptions=True)
        failed = [(n, r) for n, r in zip(tasks, results, strict=True) if isinstance(r, BaseException)]
        if failed or not all(s.started for s in servers.values()):
            raise SandboxError(f"a server failed to start or crashed: {failed or 'port already in use?'}")
    finally:
        info_path.unlink(missing_ok=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def serve(cfg: Config) -> int:
    """Run the three sandboxes until SIGTERM/SIGINT; 0 on a clean stop."""
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    running = read_info(cfg.state_dir)
    if running and running.get("pid") != os.getpid():
        raise SandboxError(f"a sandbox (pid {running['pid']}) already runs on state folder {cfg.state_dir}")
    if cfg.reset:
        removed = wipe_state(cfg.state_dir)
        log.info("reset: removed %s", ", ".join(removed) or "nothing")
    sandbox = Sandbox(cfg)
    try:
        asyncio.run(_serve(cfg, sandbox))
    finally:
        sandbox.close()
        log.info("stopped; state compacted in %s", cfg.state_dir)
    return 0


def conn_env(info: dict[str, Any], token: str, key: str) -> dict[str, str]:
    """AIRFLOW_CONN_* values (JSON) for salesforce_default, cs_platform_default and slack_alerts."""
    host, ca = info.get("host", "127.0.0.1"), info["ca"]
    crm_url = f"https://{host}:{info['crm_port']}"
    slack_url = f"http://{host}:{info['slack_port']}"
    return {
        "AIRFLOW_CONN_SALESFORCE_DEFAULT": json.dumps({
            "conn_type": "salesforce", "password": token,
            "extra": {"instance_url": crm_url, "auth_type": "session_id", "ca_bundle": ca,
                      "version": "59.0"}}),
        # `verify` is the extra HttpHook itself reads for the CA bundle; `ca_bundle` is kept as the
        # project-wide name of the same setting
        "AIRFLOW_CONN_CS_PLATFORM_DEFAULT": json.dumps({
            "conn_type": "http", "schema": "https", "host": host, "port": int(info["cs_port"]),
            "password": key, "extra": {"ca_bundle": ca, "verify": ca}}),
        "AIRFLOW_CONN_SLACK_ALERTS": json.dumps({
            "conn_type": "slackwebhook", "password": f"{slack_url}/services/T000/B000/XXXX"}),
    }


def main(argv: list[str] | None = None) -> int:
    """CLI: serve | reset | env."""
    parser = argparse.ArgumentParser(prog="python -m shared_record_sandbox",
                                     description="Local Salesforce, CS-platform and Slack sandboxes")
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="start the three sandboxes")
    add_common_args(p_serve)
    add_serve_args(p_serve)
    p_reset = sub.add_parser("reset", help="wipe the state folder (the next serve reseeds)")
    add_common_args(p_reset)
    p_env = sub.add_parser("env", help="print export lines for the Airflow connections of a running sandbox")
    add_common_args(p_env)
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("SANDBOX_LOG_LEVEL", "INFO"), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s sandbox: %(message)s")
    try:
        if args.command == "serve":
            return serve(config_from_args(args))
        state = Path(args.state_dir).resolve()
        if args.command == "reset":
            running = read_info(state)
            if running:
                raise SandboxError(f"a sandbox (pid {running['pid']}) is running on {state}: stop it first, "
                                   "or POST /__admin/reset to reseed it in place")
            removed = wipe_state(state)
            print(f"removed {', '.join(removed) or 'nothing'} from {state}")
            return 0
        info = read_info(state)
        if not info:
            raise SandboxError(f"no running sandbox in {state} (sandbox.json missing or its pid is gone)")
        env = conn_env(info, os.environ.get("CRM_SANDBOX_TOKEN") or DEFAULT_TOKEN,
                       os.environ.get("CS_SANDBOX_KEY") or DEFAULT_KEY)
        env["AIRFLOW_CONN_SHARED_RECORD_LEDGER"] = json.dumps(
            {"conn_type": "sqlite", "extra": {"url": f"sqlite:///{state / 'shared_record_ledger.db'}"}})
        for name, value in env.items():
            print(f"export {name}='{value}'")
        return 0
    except SandboxError as exc:
        log.error("%s", exc)
        return 2
