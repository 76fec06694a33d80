"""`make demo`: start the sandboxes, make the edits users would make, run every DAG once through Airflow,
and print what moved where.

Uses the real `airflow dags test` command (SQLite metadata DB in .airflow/, SQLite ledger
.airflow/shared_record_ledger.db) against the sandboxes on 127.0.0.1:8701-8703. If `make sandbox` is already
running, the demo uses it; otherwise it starts the sandboxes and stops them (by PID) when it is done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow_env import airflow_env, ensure_airflow_db  # scripts/ is on sys.path: run as a script

ROOT = Path(__file__).resolve().parents[1]
AIRFLOW_HOME = Path(os.environ.get("AIRFLOW_HOME", ROOT / ".airflow"))
STATE = Path(os.environ.get("SANDBOX_STATE_DIR", ROOT / ".sandbox"))
LEDGER_URL = f"sqlite:///{AIRFLOW_HOME / 'shared_record_ledger.db'}"
DAGS = [p.stem for p in sorted((ROOT / "dags").glob("*.py")) if not p.name.startswith("_")]


def say(text: str = "") -> None:
    print(text, flush=True)


def floor_to(dt: datetime, hours: int) -> datetime:
    dt = dt.replace(minute=0, second=0, microsecond=0)
    return dt - timedelta(hours=dt.hour % hours)


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pick_accounts(crm) -> dict[str, dict]:
    """Deterministic demo accounts: customers with a CS company; one renewing within 120 days for the health story."""
    today = datetime.now(UTC).date()
    customers = crm.call("GET", "/__admin/records/Account", params={"Type": "Customer"})
    customers = [a for a in customers["records"] if not a.get("IsDeleted") and a.get("CSM_Owner__c")]
    customers.sort(key=lambda a: a["Id"])
    renewing = [a for a in customers if a.get("Renewal_Date__c")
                and today < datetime.fromisoformat(a["Renewal_Date__c"]).date() <= today + timedelta(days=100)]
    others = [a for a in customers if a not in renewing[:1]]
    if not renewing:
        raise SystemExit("seed data has no customer renewing within 100 days; reset the sandbox (make clean)")
    return {"tier": others[0], "arr": others[1], "bad": others[2], "hand_edit": others[3], "deleted": others[4],
            "red": renewing[0]}


def make_edits(sandbox, hour_as_of: datetime, health_as_of: datetime) -> list[str]:
    crm, cs = sandbox.admin("crm"), sandbox.admin("cs")
    acc = pick_accounts(crm)
    tiers = ["Strategic", "Enterprise", "Mid-Market", "SMB"]
    stamp = iso(hour_as_of)
    story = []

    a = acc["tier"]
    new_tier = tiers[(tiers.index(a["Tier__c"]) + 1) % len(tiers)] if a.get("Tier__c") in tiers else "Enterprise"
    crm.call("PATCH", f"/__admin/records/Account/{a['Id']}", json={"fields": {"Tier__c": new_tier}, "as_of": stamp})
    story.append(f"AE moved {a['Name']} from tier {a.get('Tier__c')} to {new_tier} in Salesforce")

    a = acc["arr"]
    new_arr = round(float(a.get("Renewal_ARR__c") or 0) + 12_000, 2)
    crm.call("PATCH", f"/__admin/records/Account/{a['Id']}",
             json={"fields": {"Renewal_ARR__c": new_arr}, "as_of": stamp})
    story.append(f"RevOps raised {a['Name']}'s renewal ARR to {new_arr:,.2f} in Salesforce")

    a = acc["bad"]
    crm.call("PATCH", f"/__admin/records/Account/{a['Id']}",
             json={"fields": {"Renewal_ARR__c": -2500}, "as_of": stamp})
    story.append(f"Someone typed a negative renewal ARR (-2,500) on {a['Name']} in Salesforce")

    a = acc["hand_edit"]
    company = cs.call("GET", "/__admin/records/Company", params={"SfdcAccountId": a["Id"]})["records"][0]
    wrong = "Tier 1 - Strategic" if company.get("Tier__gc") != "Tier 1 - Strategic" else "Tier 4 - SMB"
    cs.call("PATCH", f"/__admin/records/Company/{company['Gsid']}",
            json={"fields": {"Tier__gc": wrong}, "as_of": stamp})
    story.append(f"A CSM hand-edited {a['Name']}'s tier to '{wrong}' in the CS platform (read-only there)")

    a = acc["deleted"]
    crm.call("DELETE", f"/__admin/records/Account/{a['Id']}", json={"as_of": stamp})
    story.append(f"{a['Name']} was deleted in Salesforce")

    a = acc["red"]
    company = cs.call("GET", "/__admin/records/Company", params={"SfdcAccountId": a["Id"]})["records"][0]
    cs.call("PATCH", f"/__admin/records/Company/{company['Gsid']}",
            json={"fields": {"CurrentScore": 31, "Health_Color__gc": "Red",
                             "Score_Date__gc": health_as_of.date().isoformat()},
                  "as_of": iso(health_as_of)})
    story.append(f"{a['Name']}'s health dropped to 31 (Red), renewal on {a['Renewal_Date__c']}")
    return story


def run_dag(dag_id: str, logical: datetime, env: dict[str, str]) -> tuple[bool, float]:
    started = time.monotonic()
    log_path = AIRFLOW_HOME / f"demo-{dag_id}.log"
    with log_path.open("w") as log:
        proc = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", dag_id, logical.isoformat()],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    text = log_path.read_text()
    ok = proc.returncode == 0 and "state=success" in text
    return ok, time.monotonic() - started


def main() -> int:
    sys.path.insert(0, str(ROOT / "sandbox"))
    sys.path.insert(0, str(ROOT / "plugins"))
    from shared_record.ledger import Ledger
    from shared_record_sandbox.testing import SandboxProcess

    accounts = int(os.environ.get("SANDBOX_ACCOUNTS", "500"))
    try:
        sandbox = SandboxProcess.attach(STATE)
        say(f"Using the sandboxes already running from {STATE} (make sandbox).")
    except RuntimeError:
        sandbox = SandboxProcess(STATE, accounts=accounts, ports=(
            int(os.environ.get("CRM_SANDBOX_PORT", 8701)), int(os.environ.get("CS_SANDBOX_PORT", 8702)),
            int(os.environ.get("SLACK_SANDBOX_PORT", 8703))))
        say(f"Starting the sandboxes (Salesforce, CS platform, Slack) with {accounts} seeded accounts ...")
        sandbox.start()
    try:
        env = airflow_env(AIRFLOW_HOME, sandbox, LEDGER_URL)
        ensure_airflow_db(env, say)
        now = datetime.now(UTC)
        hour_end = floor_to(now, 1)
        four_end = floor_to(now, 4)
        slack_before = len(sandbox.slack_messages())
        say("\nWhat users did in the last hours:")
        for line in make_edits(sandbox, hour_end - timedelta(minutes=20), four_end - timedelta(minutes=20)):
            say(f"  - {line}")

        ledger = Ledger(LEDGER_URL)
        logical = {"account_master": hour_end + timedelta(minutes=1), "health": four_end + timedelta(minutes=1)}
        say("\nRunning each DAG once with `airflow dags test` (real Airflow, SQLite):")
        failures = 0
        for dag_id in DAGS:
            ok, seconds = run_dag(dag_id, logical.get(dag_id, hour_end + timedelta(minutes=1)), env)
            failures += not ok
            run = ledger.recent_runs(dag_id=dag_id, limit=1)
            say(f"\n  {dag_id}: {'success' if ok else 'FAILED'} in {seconds:.1f}s  "
                f"(log: {AIRFLOW_HOME.name}/demo-{dag_id}.log)")
            if run:
                r = run[0]
                say(f"    window {r['window_start']} → {r['window_end']}")
                say(f"    read {r['records_read']}, changed {r['records_changed']}, written {r['records_written']}, "
                    f"skipped {r['records_skipped']}, rejected {r['records_rejected']}, "
                    f"kept aside {r['kept_aside']}, violations {r['violations']}")
                say(f"    API calls: {json.dumps(r['api_calls'], sort_keys=True)}")
        say("\nWhat moved where (the plan lines of each run's log):")
        for dag_id in DAGS:
            for line in (AIRFLOW_HOME / f"demo-{dag_id}.log").read_text().splitlines():
                if "plan: " in line:
                    say(f"  {dag_id}: " + line.split("plan: ", 1)[1].split(" [shared_record]")[0])
        for k in ledger.kept_aside():
            say(f"\n  Kept aside (not written, not lost): {k['record_key']} {k['field']} = {k['value']}: {k['reason']}")
        for v in ledger.violations():
            say(f"  Ownership violation: {v['record_key']} {v['field']}: CS had {v['found_value']!r}, "
                f"CRM value {v['owner_value']!r} written back")
        messages = sandbox.slack_messages()[slack_before:]
        say(f"\nSlack received {len(messages)} alert(s) (.sandbox/slack.jsonl):")
        if not messages:
            say("  (none new: an alert goes out once per change, and an earlier `make demo` made the same edits "
                "and sent them; `make clean` starts the sandboxes and the ledger over)")
        for m in messages:
            text = (m.get("payload") or {}).get("text", "")
            say("  > " + text.splitlines()[0] if text else f"  > {m}")
        say("\nLedger: " + LEDGER_URL.removeprefix("sqlite:///") + " — try: sqlite3 it 'SELECT * FROM health_history "
            "LIMIT 5'")
        return 1 if failures else 0
    finally:
        sandbox.stop()


if __name__ == "__main__":
    sys.exit(main())
