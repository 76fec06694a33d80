"""Render the field dictionary as Markdown (`docs/field-dictionary.md`), never kept by hand.

    python -m shared_record.dictionary_docs            # rewrite docs/field-dictionary.md
    python -m shared_record.dictionary_docs --check    # exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from shared_record.dictionary import FieldDictionary, FieldSpec, load_dictionary

LAYERS = {
    1: ("Account master", "CRM → CS platform, read-only in the CS platform"),
    2: ("Deal context", "CRM → CS platform at close, a write-once snapshot"),
    3: ("Relationship map", "co-owned, both ways: the AE wins before close, the CSM after"),
    4: ("Health and engagement", "CS platform → CRM, read-only in the CRM"),
}
ARROWS = {"crm_to_cs": "CRM → CS", "cs_to_crm": "CS → CRM", "bidirectional": "CRM ↔ CS"}
DEFAULT_OUTPUT = Path(__file__).resolve().parents[2] / "docs" / "field-dictionary.md"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _owner(f: FieldSpec) -> str:
    if f.phase_owners:
        return f"{f.phase_owners.before_close} before close, {f.phase_owners.after_close} after"
    return f.owner


def _type(f: FieldSpec) -> str:
    notes = [f.type]
    if f.key:
        notes.append("key")
    if f.write_once:
        notes.append("write-once")
    if f.minimum is not None or f.maximum is not None:
        lo = "" if f.minimum is None else f"{f.minimum:g}"
        hi = "" if f.maximum is None else f"{f.maximum:g}"
        notes.append(f"range {lo}..{hi}")
    return ", ".join(notes)


def render(dictionary: FieldDictionary) -> str:
    """The whole dictionary as Markdown: one table per layer, picklist mappings, sync-maintained fields."""
    out = [
        "# Field dictionary",
        "",
        "<!-- Generated from include/field_dictionary/*.yaml by `python -m shared_record.dictionary_docs`."
        " Do not edit: change the YAML through a pull request and regenerate. -->",
        "",
        f"{len(dictionary)} shared fields. Every field has one canonical name, one owner and one direction; "
        "the sync refuses any write the table below does not allow.",
        "",
    ]
    for layer, (title, rule) in LAYERS.items():
        fields = dictionary.for_layer(layer)
        out += [f"## Layer {layer}: {title}", "", f"{rule}.", ""]
        out += ["| name | label | owner | direction | type | CRM (Salesforce) | CS platform | description |",
                "|---|---|---|---|---|---|---|---|"]
        for f in fields:
            out.append(
                f"| `{f.name}` | {_cell(f.label)} | {_owner(f)} | {ARROWS[f.direction]} | {_type(f)} | "
                f"`{f.crm}` | `{f.cs}` | {_cell(f.description)} |"
            )
        out.append("")
        for f in fields:
            if not f.values:
                continue
            out += [f"**`{f.name}` values**", "", "| canonical | CRM | CS platform |", "|---|---|---|"]
            out += [f"| {_cell(v.value)} | {_cell(v.in_system('crm'))} | {_cell(v.in_system('cs'))} |"
                    for v in f.values]
            out.append("")
    if dictionary.sync_fields:
        out += ["## Fields the sync maintains itself", "",
                "Links and stamps written only by the sync engine; never a business value.", "",
                "| system | object | field | description |", "|---|---|---|---|"]
        out += [f"| {s.system} | `{s.object}` | `{s.field}` | {_cell(s.description)} |" for s in dictionary.sync_fields]
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when the output file is stale")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    text = render(load_dictionary())
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run `python -m shared_record.dictionary_docs`", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
