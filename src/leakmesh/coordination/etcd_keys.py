"""The etcd coordinator's keys.

Layout under the namespace (SPEC §6)::

    <ns>/meta/<run id, 20 digits>                  RunSpec (written last)
    <ns>/runs/<run id>/shards/<shard id>/spec      ShardSpec (never changes)
    <ns>/runs/<run id>/shards/<shard id>/state     ShardRecord: state, fence, cursor
    <ns>/runs/<run id>/index/open/<shard id>       "pending" or "active"; gone when done or parked
    <ns>/runs/<run id>/index/owner/<shard id>      lease token, bound to the owner's lease

The two `index/` families are what acquiring reads (in one request): only the
shards still open and their owners, however many shards the run has done. Every
transaction that moves a shard's state writes its open key too. A shard is owned
while its owner key exists: etcd deletes the key when the owner's lease expires,
so an `active` open key without an owner is an orphan. Acquire is one
transaction (owner key absent and state unchanged since read → owner key under
my lease, fence + 1); every later write is a transaction comparing the owner
key's value with my token, so a worker whose lease expired, or whose shard
another worker took, writes nothing. Run metadata has its own prefix so that
listing runs reads no shard.
"""

from __future__ import annotations

from msgspec import Struct


class EtcdKeys(Struct, frozen=True):
    """Every key the etcd coordinator reads or writes, under one namespace."""

    namespace: bytes

    def metas(self) -> bytes:
        return self.namespace + b"/meta/"

    def meta(self, run_id: int) -> bytes:
        return self.metas() + f"{run_id:020d}".encode()

    def run(self, run_id: int) -> bytes:
        return self.namespace + f"/runs/{run_id:020d}".encode()

    def shards(self, run_id: int) -> bytes:
        return self.run(run_id) + b"/shards/"

    def shard(self, run_id: int, shard_id: str, part: str) -> bytes:
        return self.shards(run_id) + f"{shard_id}/{part}".encode()

    def index(self, run_id: int, family: str = "") -> bytes:
        """`index/` (both families) or `index/<family>/`."""
        return self.run(run_id) + (f"/index/{family}/" if family else "/index/").encode()

    def open(self, run_id: int, shard_id: str) -> bytes:
        return self.index(run_id, "open") + shard_id.encode()

    def owner(self, run_id: int, shard_id: str) -> bytes:
        return self.index(run_id, "owner") + shard_id.encode()
