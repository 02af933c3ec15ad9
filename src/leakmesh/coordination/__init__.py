"""Coordination (SPEC §6): runs, shards, leases and fences, behind one protocol
with an etcd implementation and an in-memory one."""
