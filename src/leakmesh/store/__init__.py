"""Datastores (SPEC §5): findings, the done-ledger and the git frontier."""

from leakmesh.store.psycopg_versions import register as _register_psycopg_versions

# Before any module of this package imports psycopg (see psycopg_versions).
_register_psycopg_versions()
