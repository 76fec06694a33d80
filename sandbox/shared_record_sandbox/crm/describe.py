"""Describe results (global, per object, metadata) built from the org's LIVE schema.

Key sets follow a describe recorded from a real org (wire-protocols.md §1.2); values that the
recording does not settle (e.g. global-describe flags) are the documented neighbours' values.
"""

from __future__ import annotations

from typing import Any

from shared_record_sandbox.crm.org import ObjectIndex, Org

_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "datetime": "xsd:dateTime",
    "date": "xsd:date",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
}
_PREFIX_FALLBACK = "a00"


def _urls(obj: str, version: str) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{obj}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _object_flags(oi: ObjectIndex) -> dict[str, Any]:
    from shared_record_sandbox.schema import KEY_PREFIXES

    deletable = oi.field("IsDeleted") is not None
    return {
        "name": oi.name,
        "label": oi.spec.get("label", oi.name),
        "labelPlural": oi.spec.get("labelPlural", oi.spec.get("label", oi.name) + "s"),
        "keyPrefix": KEY_PREFIXES.get(oi.name, _PREFIX_FALLBACK),
        "custom": oi.name.endswith("__c"),
        "createable": True,
        "updateable": True,
        "deletable": deletable,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "undeletable": deletable,
        "mergeable": oi.name in {"Account", "Contact"},
        "layoutable": True,
        "triggerable": True,
        "feedEnabled": False,
        "activateable": False,
        "customSetting": False,
        "deprecatedAndHidden": False,
    }


def describe_field(f: dict[str, Any]) -> dict[str, Any]:
    """One `fields[]` entry with the full recorded key set."""
    typ = f["type"]
    length = int(f.get("length") or 0)
    if typ == "textarea" and not length:
        length = 131072
    if typ in {"id", "reference"}:
        length = 18
    picklist = f.get("picklist") or []
    numeric = typ in {"double", "currency", "percent"}
    return {
        "name": f["name"],
        "label": f.get("label", f["name"]),
        "type": typ,
        "soapType": _SOAP.get(typ, "xsd:string"),
        "custom": f["name"].endswith("__c"),
        "createable": bool(f.get("createable")),
        "updateable": bool(f.get("updateable")),
        "nillable": bool(f.get("nillable", True)),
        "externalId": bool(f.get("externalId")),
        "unique": False,
        "idLookup": f["name"] == "Id" or bool(f.get("externalId")),
        "length": length,
        "byteLength": length * 3,
        "precision": 18 if numeric else 0,
        "scale": 2 if numeric else 0,
        "digits": 9 if typ == "int" else 0,
        "defaultValue": None,
        "defaultedOnCreate": f["name"]
        in {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "OwnerId"}
        or typ == "boolean",
        "calculated": bool(f.get("calculated")),
        "calculatedFormula": None,
        "autoNumber": False,
        "caseSensitive": False,
        "filterable": True,
        "sortable": typ not in {"textarea", "multipicklist"},
        "groupable": typ not in {"textarea", "double", "currency", "percent", "datetime"},
        "aggregatable": typ != "textarea",
        "nameField": f["name"] == "Name",
        "namePointing": False,
        "referenceTo": list(f.get("referenceTo") or []),
        "relationshipName": f.get("relationshipName"),
        "restrictedPicklist": bool(picklist) and f.get("restricted", True),
        "dependentPicklist": False,
        "controllerName": None,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in picklist
        ],
        "htmlFormatted": False,
        "encrypted": False,
        "deprecatedAndHidden": False,
        "inlineHelpText": None,
        "permissionable": bool(f.get("nillable", True)) and f["name"] not in {"Id", "Name"},
        "polymorphicForeignKey": len(f.get("referenceTo") or []) > 1,
        "queryByDistance": False,
        "writeRequiresMasterRead": False,
        "extraTypeInfo": None,
    }


def describe_object(org: Org, oi: ObjectIndex, version: str) -> dict[str, Any]:
    """`GET /sobjects/{obj}/describe`."""
    out = _object_flags(oi)
    out["childRelationships"] = [
        {
            "childSObject": child,
            "field": fk,
            "relationshipName": oi.child_names[rel],
            "cascadeDelete": False,
            "restrictedDelete": False,
            "deprecatedAndHidden": False,
        }
        for rel, (child, fk) in oi.children.items()
    ]
    out["recordTypeInfos"] = [
        {
            "active": True,
            "available": True,
            "defaultRecordTypeMapping": True,
            "master": True,
            "name": "Master",
            "recordTypeId": "012000000000000AAA",
            "developerName": "Master",
        }
    ]
    out["urls"] = _urls(oi.name, version)
    out["fields"] = [describe_field(f) for f in oi.spec["fields"]]
    return out


def describe_global(org: Org, version: str) -> dict[str, Any]:
    """`GET /sobjects`."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [dict(_object_flags(oi), urls=_urls(oi.name, version)) for oi in org.objects()],
    }


def metadata(org: Org, oi: ObjectIndex, version: str) -> dict[str, Any]:
    """`GET /sobjects/{obj}/`: basic object info and recently viewed items (none here)."""
    return {"objectDescribe": dict(_object_flags(oi), urls=_urls(oi.name, version)), "recentItems": []}
