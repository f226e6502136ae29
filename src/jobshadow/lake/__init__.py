"""Iceberg table definitions: schemas, labels, row conversion (no catalog access — see govern)."""
