"""The field dictionary: the shipped YAML is valid and complete; each kind of bad file fails with file, entry, reason.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest
import yaml
from shared_record.dictionary import LOAD_BEARING, default_dictionary_dir, load_dictionary
from shared_record.dictionary_docs import DEFAULT_OUTPUT, render
from shared_record.errors import DictionaryError
from shared_record_sandbox.schema import CRM_OBJECTS, CS_OBJECTS

SHIPPED = default_dictionary_dir()


def test_shipped_dictionary_loads_with_the_six_load_bearing_fields():
    d = load_dictionary()
    for name, (owner, direction) in LOAD_BEARING.items():
        assert (d[name].owner, d[name].direction) == (owner, direction)
    assert d["champion_contact_id"].phase_owners.before_close == "ae"
    assert d["champion_contact_id"].phase_owners.after_close == "csm"
    assert d["committed_use_cases"].write_once
    assert {f.layer for f in d} == {1, 2, 3, 4}


def test_every_dictionary_field_exists_in_both_sandbox_schemas():
    """The dictionary maps real fields: each CRM/CS field it names is in that system's schema."""
    d = load_dictionary()
    crm = {(o, f["name"]) for o, spec in CRM_OBJECTS.items() for f in spec["fields"]}
    cs = {(o, f["fieldName"]) for o, spec in CS_OBJECTS.items() for f in spec["fields"]}
    for f in d:
        crm_field = f.crm.field.split(".")[0]
        rel_ok = "." in f.crm.field or f.crm.field == "OpportunityContactRoles"
        assert rel_ok or (f.crm.object, crm_field) in crm, f"{f.name}: {f.crm} not in the CRM schema"
        assert (f.cs.object, f.cs.field) in cs, f"{f.name}: {f.cs} not in the CS schema"
    for s in d.sync_fields:
        assert (s.object, s.field) in cs


def test_picklists_match_the_systems_values():
    d = load_dictionary()
    crm_fields = {(o, f["name"]): f for o, spec in CRM_OBJECTS.items() for f in spec["fields"]}
    cs_fields = {(o, f["fieldName"]): f for o, spec in CS_OBJECTS.items() for f in spec["fields"]}
    for f in d:
        if not f.values:
            continue
        assert {v.in_system("crm") for v in f.values} == set(crm_fields[(f.crm.object, f.crm.field)]["picklist"])
        assert {v.in_system("cs") for v in f.values} == set(cs_fields[(f.cs.object, f.cs.field)]["picklist"])


def test_generated_markdown_is_current():
    """docs/field-dictionary.md is generated; regenerate with `make docs` when this fails."""
    assert DEFAULT_OUTPUT.read_text(encoding="utf-8") == render(load_dictionary()), (
        "docs/field-dictionary.md is stale: run `make docs`"
    )


@pytest.fixture()
def dict_dir(tmp_path: Path) -> Path:
    target = tmp_path / "field_dictionary"
    shutil.copytree(SHIPPED, target)
    return target


def _edit(folder: Path, filename: str, fn) -> None:
    path = folder / filename
    doc = yaml.safe_load(path.read_text())
    fn(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _entry(doc: dict, name: str) -> dict:
    return next(e for e in doc["fields"] if e["name"] == name)


BAD_EDITS = {
    "unknown key": ("layer1_account_master.yaml", lambda d: _entry(d, "tier").update(colour="blue"),
                    "entry 7 (tier)", "colour: unknown key"),
    "missing required key": ("layer1_account_master.yaml", lambda d: _entry(d, "website").pop("owner"),
                             "entry 6 (website)", "owner: Field required"),
    "bad direction": ("layer4_health.yaml", lambda d: _entry(d, "nps").update(direction="sideways"),
                      "entry 4 (nps)", "direction"),
    "origin contradicts direction": ("layer4_health.yaml", lambda d: _entry(d, "nps").update(origin="crm"),
                                     "entry 4 (nps)", "direction cs_to_crm requires origin 'cs'"),
    "name not snake_case": ("layer1_account_master.yaml", lambda d: _entry(d, "website").update(name="WebSite"),
                            "entry 6", "must be snake_case"),
    "picklist without values": ("layer1_account_master.yaml", lambda d: _entry(d, "tier").pop("values"),
                                "entry 7 (tier)", "must list its values"),
    "co-owned without phase owners": (
        "layer3_relationship_map.yaml", lambda d: _entry(d, "champion_stability").pop("phase_owners"),
        "entry 3 (champion_stability)", "must name phase_owners"),
    "two names for one concept": (
        "layer4_health.yaml", lambda d: _entry(d, "nps").update(label="tier"),
        "entry 4 (nps)", "names the same concept as 'tier'"),
    "two entries map one system field": (
        "layer4_health.yaml", lambda d: _entry(d, "csat").update(crm={"object": "Account", "field": "NPS__c"}),
        "entry 5 (csat)", "Account.NPS__c is already mapped by 'nps'"),
    "duplicate canonical name": (
        "layer4_health.yaml", lambda d: _entry(d, "csat").update(name="renewal_arr"),
        "entry 5 (renewal_arr)", "already defined in layer1_account_master.yaml"),
    "load-bearing field misowned": (
        "layer1_account_master.yaml", lambda d: _entry(d, "renewal_arr").update(owner="ae"),
        "renewal_arr", "must be owner revops"),
    "load-bearing field missing": (
        "layer1_account_master.yaml", lambda d: d["fields"].remove(_entry(d, "contract_end_date")),
        "contract_end_date", "load-bearing field is missing"),
    "minimum on a text field": ("layer1_account_master.yaml", lambda d: _entry(d, "website").update(minimum=0),
                                "entry 6 (website)", "only apply to numeric types"),
}


@pytest.mark.parametrize("case", sorted(BAD_EDITS))
def test_bad_dictionary_fails_with_file_entry_and_reason(dict_dir: Path, case: str):
    filename, edit, entry, reason = BAD_EDITS[case]
    _edit(dict_dir, filename, edit)
    with pytest.raises(DictionaryError) as err:
        load_dictionary(dict_dir)
    message = str(err.value)
    assert filename in message or "field_dictionary" in message, message
    assert entry in message, message
    assert reason in message, message


def test_not_yaml_names_the_line(dict_dir: Path):
    (dict_dir / "layer4_health.yaml").write_text("fields:\n  - name: nps\n    label: [unclosed\n")
    with pytest.raises(DictionaryError, match=r"layer4_health\.yaml: line \d+: not valid YAML"):
        load_dictionary(dict_dir)


def test_file_without_fields_list(dict_dir: Path):
    (dict_dir / "extra.yaml").write_text(textwrap.dedent("""\
        field:
          - name: x
        """))
    with pytest.raises(DictionaryError, match=r"extra\.yaml: file: must be a mapping with a top-level 'fields:'"):
        load_dictionary(dict_dir)


def test_empty_folder(tmp_path: Path):
    with pytest.raises(DictionaryError, match="no \\*.yaml field dictionary files"):
        load_dictionary(tmp_path)


def test_an_edit_is_picked_up_without_restart(dict_dir: Path):
    assert load_dictionary(dict_dir)["nps"].label == "NPS"
    _edit(dict_dir, "layer4_health.yaml", lambda d: _entry(d, "nps").update(label="Net Promoter Score"))
    assert load_dictionary(dict_dir)["nps"].label == "Net Promoter Score"
