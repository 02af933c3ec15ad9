"""Coordination errors: etcd client errors are translated into these at the
boundary (`etcd.py`)."""

from __future__ import annotations


class CoordinationError(Exception):
    """A coordination operation failed; the message is one line with no secrets."""


class CoordinatorUnavailable(CoordinationError):
    """The coordinator (etcd) cannot be reached."""


class LeaseLost(CoordinationError):
    """This worker no longer holds the shard (its lease expired, or another worker
    acquired the shard with a higher fence): the write was rejected."""


class UnknownRun(CoordinationError):
    """No run with that id in this namespace."""


class RunExists(CoordinationError):
    """A run with that id was already created."""
