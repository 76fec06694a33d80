"""The objects and fields each sandbox serves, as the real systems describe them.

This is the *starting* schema of the emulated orgs. The admin API can rename, remove or retype a
field at run time (to exercise the drift DAG); the live schema is kept in the store's metadata, and
this module only provides the defaults a fresh sandbox starts from.

Field specs are plain dicts so they can be stored as JSON:
  CRM: {"name", "label", "type" (Salesforce describe type), "updateable", "createable", "nillable",
        "picklist" (list of values), "referenceTo" (list), "relationshipName", "calculated", "externalId"}
  CS:  {"fieldName", "label", "dataType" (Gainsight dataType), "updateable", "createable", "nillable",
        "picklist" (list of values), "lookup" (target object for GSID lookups), "readOnly"}
"""

from __future__ import annotations

import copy
from typing import Any

Field = dict[str, Any]

TIERS_CRM = ["Strategic", "Enterprise", "Mid-Market", "SMB"]
TIERS_CS = ["Tier 1 - Strategic", "Tier 2 - Enterprise", "Tier 3 - Mid-Market", "Tier 4 - SMB"]
HEALTH_COLORS = ["Green", "Yellow", "Red"]
INDUSTRIES = [
    "Software", "Financial Services", "Healthcare", "Retail", "Manufacturing", "Education",
    "Media", "Telecommunications", "Logistics", "Energy",
]
ACCOUNT_TYPES = ["Prospect", "Customer", "Former Customer", "Partner"]
CONTACT_ROLES = [
    "Champion", "Executive Sponsor", "Decision Maker", "Technical Evaluator", "Influencer", "End User",
]
ENGAGEMENT_LEVELS = ["High", "Medium", "Low", "None"]
CHAMPION_STABILITY = ["Stable", "At Risk", "Changed"]
OPPORTUNITY_STAGES = [
    "Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost",
]
OPPORTUNITY_TYPES = ["New Business", "Expansion", "Renewal"]
USE_CASES = [
    "Revenue Forecasting", "Pipeline Analytics", "Churn Prediction", "Customer 360",
    "Usage Billing", "Workflow Automation", "Executive Reporting", "Data Warehouse Sync",
]
COMPLEXITY = ["Low", "Medium", "High"]
OCR_ROLES = [
    "Business User", "Decision Maker", "Economic Buyer", "Economic Decision Maker", "Evaluator",
    "Executive Sponsor", "Influencer", "Technical Buyer", "Other",
]
CS_STATUS = ["Active", "Inactive", "Churned"]
CS_STAGE = ["New Customer", "Onboarding", "Adopting", "Renewing", "Churned"]

# Salesforce key prefixes (first three characters of every record Id).
KEY_PREFIXES = {
    "User": "005",
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "OpportunityContactRole": "00K",
}


def _sf(name: str, label: str, type_: str, **kw: Any) -> Field:
    system = name in {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp", "MasterRecordId"}
    calculated = kw.pop("calculated", False)
    spec: Field = {
        "name": name,
        "label": label,
        "type": type_,
        "updateable": not system and not calculated and kw.pop("updateable", True),
        "createable": not system and not calculated and kw.pop("createable", True),
        "nillable": kw.pop("nillable", type_ not in {"id", "boolean"} and name != "Name"),
        "calculated": calculated,
        "externalId": kw.pop("externalId", False),
        "picklist": kw.pop("picklist", None),
        "referenceTo": kw.pop("referenceTo", []),
        "relationshipName": kw.pop("relationshipName", None),
        "length": kw.pop("length", 255 if type_ in {"string", "picklist", "email", "url", "phone"} else 0),
    }
    if kw:
        raise TypeError(f"unknown field options {sorted(kw)} for {name}")
    return spec


def _sf_system(with_deleted: bool = True) -> list[Field]:
    fields = [_sf("Id", "Record ID", "id")]
    if with_deleted:
        fields.append(_sf("IsDeleted", "Deleted", "boolean"))
    fields += [
        _sf("CreatedDate", "Created Date", "datetime"),
        _sf("LastModifiedDate", "Last Modified Date", "datetime"),
        _sf("SystemModstamp", "System Modstamp", "datetime"),
    ]
    return fields


CRM_OBJECTS: dict[str, dict[str, Any]] = {
    "User": {
        "label": "User",
        "fields": _sf_system(with_deleted=False)
        + [
            _sf("Name", "Full Name", "string"),
            _sf("Email", "Email", "email"),
            _sf("Title", "Title", "string"),
            _sf("IsActive", "Active", "boolean"),
        ],
    },
    "Account": {
        "label": "Account",
        "fields": _sf_system()
        + [
            _sf("MasterRecordId", "Master Record ID", "reference", referenceTo=["Account"],
                relationshipName="MasterRecord"),
            _sf("Name", "Account Name", "string"),
            _sf("Type", "Account Type", "picklist", picklist=ACCOUNT_TYPES),
            _sf("Industry", "Industry", "picklist", picklist=INDUSTRIES),
            _sf("BillingCountry", "Billing Country", "string"),
            _sf("Website", "Website", "url"),
            _sf("NumberOfEmployees", "Employees", "int"),
            _sf("OwnerId", "Account Owner ID", "reference", referenceTo=["User"], relationshipName="Owner"),
            _sf("Tier__c", "Tier", "picklist", picklist=TIERS_CRM),
            _sf("CSM_Owner__c", "CSM Owner", "reference", referenceTo=["User"], relationshipName="CSM_Owner__r"),
            _sf("Contract_Start_Date__c", "Contract Start Date", "date"),
            _sf("Contract_End_Date__c", "Contract End Date", "date"),
            _sf("Contract_Value__c", "Contract Value", "currency"),
            _sf("Renewal_ARR__c", "Renewal ARR", "currency"),
            _sf("Renewal_Date__c", "Renewal Date", "date"),
            _sf("Champion_Contact__c", "Champion Contact", "reference", referenceTo=["Contact"],
                relationshipName="Champion_Contact__r"),
            _sf("Executive_Sponsor__c", "Executive Sponsor", "reference", referenceTo=["Contact"],
                relationshipName="Executive_Sponsor__r"),
            _sf("Champion_Stability__c", "Champion Stability", "picklist", picklist=CHAMPION_STABILITY),
            _sf("Health_Score__c", "Health Score", "double"),
            _sf("Health_Color__c", "Health Color", "picklist", picklist=HEALTH_COLORS),
            _sf("Product_Usage__c", "Product Usage %", "percent"),
            _sf("NPS__c", "NPS", "double"),
            _sf("CSAT__c", "CSAT", "double"),
            _sf("Open_Tickets__c", "Open Support Tickets", "double"),
            _sf("Health_Score_Date__c", "Health Score Date", "date"),
        ],
    },
    "Contact": {
        "label": "Contact",
        "fields": _sf_system()
        + [
            _sf("MasterRecordId", "Master Record ID", "reference", referenceTo=["Contact"],
                relationshipName="MasterRecord"),
            _sf("AccountId", "Account ID", "reference", referenceTo=["Account"], relationshipName="Account"),
            _sf("FirstName", "First Name", "string"),
            _sf("LastName", "Last Name", "string"),
            _sf("Name", "Full Name", "string", calculated=True),
            _sf("Email", "Email", "email"),
            _sf("Phone", "Business Phone", "phone"),
            _sf("Title", "Title", "string"),
            _sf("OwnerId", "Contact Owner ID", "reference", referenceTo=["User"], relationshipName="Owner"),
            _sf("Contact_Role__c", "Contact Role", "picklist", picklist=CONTACT_ROLES),
            _sf("Engagement_Level__c", "Engagement Level", "picklist", picklist=ENGAGEMENT_LEVELS),
        ],
    },
    "Opportunity": {
        "label": "Opportunity",
        "fields": _sf_system()
        + [
            _sf("AccountId", "Account ID", "reference", referenceTo=["Account"], relationshipName="Account"),
            _sf("Name", "Name", "string"),
            _sf("Type", "Opportunity Type", "picklist", picklist=OPPORTUNITY_TYPES),
            _sf("StageName", "Stage", "picklist", picklist=OPPORTUNITY_STAGES),
            _sf("IsClosed", "Closed", "boolean", calculated=True),
            _sf("IsWon", "Won", "boolean", calculated=True),
            _sf("CloseDate", "Close Date", "date"),
            _sf("Amount", "Amount", "currency"),
            _sf("OwnerId", "Opportunity Owner ID", "reference", referenceTo=["User"], relationshipName="Owner"),
            _sf("Committed_Use_Cases__c", "Committed Use Cases", "multipicklist", picklist=USE_CASES),
            _sf("Promises_Made__c", "Promises Made", "textarea"),
            _sf("Discount_Depth__c", "Discount Depth", "percent"),
            _sf("ICP_Fit_Score__c", "ICP Fit Score", "double"),
            _sf("AE_Red_Flags__c", "AE Red Flags", "textarea"),
            _sf("Implementation_Complexity__c", "Implementation Complexity", "picklist", picklist=COMPLEXITY),
        ],
    },
    "OpportunityContactRole": {
        "label": "Opportunity Contact Role",
        "fields": _sf_system()
        + [
            _sf("OpportunityId", "Opportunity ID", "reference", referenceTo=["Opportunity"],
                relationshipName="Opportunity"),
            _sf("ContactId", "Contact ID", "reference", referenceTo=["Contact"], relationshipName="Contact"),
            _sf("Role", "Role", "picklist", picklist=OCR_ROLES),
            _sf("IsPrimary", "Primary", "boolean"),
        ],
    },
}


def _gs(name: str, label: str, data_type: str, **kw: Any) -> Field:
    system = name in {"Gsid", "CreatedDate", "ModifiedDate"}
    read_only = system or kw.pop("readOnly", False)
    spec: Field = {
        "fieldName": name,
        "label": label,
        "dataType": data_type,
        "readOnly": read_only,
        "createable": not read_only,
        "updateable": not read_only,
        "nillable": kw.pop("nillable", name not in {"Gsid", "Name"}),
        "picklist": kw.pop("picklist", None),
        "lookup": kw.pop("lookup", None),
        "length": kw.pop("length", 255 if data_type in {"STRING", "EMAIL", "URL", "PICKLIST", "SFDCID"} else 0),
    }
    if kw:
        raise TypeError(f"unknown field options {sorted(kw)} for {name}")
    return spec


def _gs_system() -> list[Field]:
    return [
        _gs("Gsid", "GSID", "GSID"),
        _gs("CreatedDate", "Created Date", "DATETIME"),
        _gs("ModifiedDate", "Modified Date", "DATETIME"),
    ]


CS_OBJECTS: dict[str, dict[str, Any]] = {
    "Company": {
        "label": "Company",
        "fields": _gs_system()
        + [
            _gs("Name", "Name", "STRING"),
            _gs("SfdcAccountId", "SFDC Account ID", "SFDCID"),
            _gs("Industry", "Industry", "PICKLIST", picklist=INDUSTRIES),
            _gs("Employees", "Employees", "NUMBER"),
            _gs("Country__gc", "Country", "STRING"),
            _gs("Website__gc", "Website", "URL"),
            _gs("Status", "Status", "PICKLIST", picklist=CS_STATUS),
            _gs("Stage", "Stage", "PICKLIST", picklist=CS_STAGE),
            _gs("Tier__gc", "Tier", "PICKLIST", picklist=TIERS_CS),
            _gs("AE_Owner_Name__gc", "AE Owner", "STRING"),
            _gs("AE_Owner_Email__gc", "AE Owner Email", "EMAIL"),
            _gs("CSM_Owner_Name__gc", "CSM Owner", "STRING"),
            _gs("CSM_Owner_Email__gc", "CSM Owner Email", "EMAIL"),
            _gs("Original_Contract_Date", "Original Contract Date", "DATE"),
            _gs("Contract_End_Date__gc", "Contract End Date", "DATE"),
            _gs("Contract_Value__gc", "Contract Value", "CURRENCY"),
            _gs("Arr", "ARR", "CURRENCY"),
            _gs("Renewal_Date", "Renewal Date", "DATE"),
            _gs("Is_Deleted_In_Crm__gc", "Deleted in CRM", "BOOLEAN"),
            _gs("Merged_Into_Account_Id__gc", "Merged Into Account", "SFDCID"),
            _gs("Champion_Sfdc_Contact_Id__gc", "Champion Contact (SFDC ID)", "SFDCID"),
            _gs("Exec_Sponsor_Sfdc_Contact_Id__gc", "Executive Sponsor (SFDC ID)", "SFDCID"),
            _gs("Champion_Stability__gc", "Champion Stability", "PICKLIST", picklist=CHAMPION_STABILITY),
            _gs("CurrentScore", "Current Score", "NUMBER"),
            _gs("Health_Color__gc", "Health Color", "PICKLIST", picklist=HEALTH_COLORS),
            _gs("Usage_Score__gc", "Product Usage %", "PERCENTAGE"),
            _gs("NPS", "NPS", "NUMBER"),
            _gs("CSAT__gc", "CSAT", "NUMBER"),
            _gs("Open_Tickets__gc", "Open Support Tickets", "NUMBER"),
            _gs("Score_Date__gc", "Score Date", "DATE"),
        ],
    },
    "Person": {
        "label": "Person",
        "fields": _gs_system()
        + [
            _gs("Email", "Email", "EMAIL"),
            _gs("FirstName", "First Name", "STRING"),
            _gs("LastName", "Last Name", "STRING"),
            _gs("Phone__gc", "Phone", "STRING"),
        ],
    },
    "company_person": {
        "label": "Company Person",
        "fields": _gs_system()
        + [
            _gs("Company_ID", "Company ID", "GSID", lookup="Company"),
            _gs("Person_ID", "Person ID", "GSID", lookup="Person"),
            _gs("Sfdc_Contact_Id__gc", "SFDC Contact ID", "SFDCID"),
            _gs("Sfdc_Account_Id__gc", "SFDC Account ID", "SFDCID"),
            _gs("Title", "Title", "STRING"),
            _gs("Role__gc", "Role", "PICKLIST", picklist=CONTACT_ROLES),
            _gs("Engagement_Level__gc", "Engagement Level", "PICKLIST", picklist=ENGAGEMENT_LEVELS),
            _gs("Active", "Active", "BOOLEAN"),
        ],
    },
    "Deal_Context_Snapshot__gc": {
        "label": "Deal Context Snapshot",
        "fields": _gs_system()
        + [
            _gs("Sfdc_Opportunity_Id__gc", "SFDC Opportunity ID", "SFDCID"),
            _gs("Sfdc_Account_Id__gc", "SFDC Account ID", "SFDCID"),
            _gs("Company_ID", "Company ID", "GSID", lookup="Company"),
            _gs("Committed_Use_Cases__gc", "Committed Use Cases", "MULTISELECTDROPDOWNLIST", picklist=USE_CASES),
            _gs("Promises_Made__gc", "Promises Made", "RICHTEXTAREA"),
            _gs("Champion_Map__gc", "Champion Map at Close", "JSON"),
            _gs("Discount_Depth__gc", "Discount Depth", "PERCENTAGE"),
            _gs("ICP_Fit_Score__gc", "ICP Fit Score", "NUMBER"),
            _gs("AE_Red_Flags__gc", "AE Red Flags", "RICHTEXTAREA"),
            _gs("Implementation_Complexity__gc", "Implementation Complexity", "PICKLIST", picklist=COMPLEXITY),
            _gs("Close_Date__gc", "Close Date", "DATE"),
            _gs("Closed_Amount__gc", "Closed Amount", "CURRENCY"),
            _gs("Snapshot_Taken_At__gc", "Snapshot Taken At", "DATETIME"),
        ],
    },
}


def default_crm_schema() -> dict[str, dict[str, Any]]:
    """A fresh, mutable copy of the CRM's starting schema."""
    return copy.deepcopy(CRM_OBJECTS)


def default_cs_schema() -> dict[str, dict[str, Any]]:
    """A fresh, mutable copy of the CS platform's starting schema."""
    return copy.deepcopy(CS_OBJECTS)
