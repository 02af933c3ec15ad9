"""Datastores (SPEC §5): findings, the done-ledger and the git frontier."""
