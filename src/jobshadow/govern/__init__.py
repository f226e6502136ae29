"""Governance (curated zone): policy decisions and the append-only audit log."""
