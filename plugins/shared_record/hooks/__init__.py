"""Hooks: each owns one connection and its client (CRM, CS platform, ledger). No data transformation here."""
