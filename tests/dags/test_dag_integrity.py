"""Every DAG imports cleanly and follows the house policy; a broken dictionary becomes a visible import error."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DAG_FILES = sorted(p for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}


def test_dag_id_is_the_file_name(dagbag):
    assert sorted(dagbag.dag_ids) == sorted(p.stem for p in DAG_FILES)


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.stem)
def test_policy(dagbag, path):
    dag = dagbag.dags.get(path.stem)
    assert dag is not None
    assert "shared-record" in dag.tags and any(t.startswith("layer-") or t == "drift" for t in dag.tags)
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.doc_md and len(dag.doc_md) > 100, "doc_md shows the module docstring in the UI"
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable", "windows need real data intervals"
    assert {"dry_run", "full_reconcile"} <= set(dag.params.keys()) or "drift" in dag.tags
    for t in dag.tasks:
        assert t.owner == "revops-data"
        assert t.retries >= 2
        assert t.retry_exponential_backoff
        assert t.on_failure_callback, f"{t.task_id} has no failure callback: a failure must reach Slack"
        assert t.max_active_tis_per_dag == 1, "runs of one layer never overlap, backfills included"


def test_dag_files_do_no_io_at_parse_time():
    """Thin DAG files: no hooks, connections, variables or HTTP at module level."""
    forbidden = ("Variable.get", "get_connection", "requests.", "Hook(", "Ledger(")
    for path in DAG_FILES:
        top_level = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith((" ", "\t"))]
        for needle in forbidden:
            assert not any(needle in ln for ln in top_level), f"{path.name}: {needle} at parse time"


def test_bad_dictionary_is_an_import_error_not_a_half_sync(tmp_path, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    bad = tmp_path / "field_dictionary"
    shutil.copytree(ROOT / "include" / "field_dictionary", bad)
    path = bad / "layer1_account_master.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["fields"][6]["direction"] = "cs_to_crm"  # tier suddenly flowing the wrong way
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    monkeypatch.setenv("SHARED_RECORD_DICTIONARY_DIR", str(bad))
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert set(Path(p).stem for p in bag.import_errors) == {p.stem for p in DAG_FILES}
    message = next(iter(bag.import_errors.values()))
    assert "layer1_account_master.yaml" in message and "entry 7 (tier)" in message
    assert "requires origin 'cs'" in message
    assert bag.dag_ids == []
