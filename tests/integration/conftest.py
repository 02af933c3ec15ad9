"""Real-server fixtures: one PostgreSQL per test session (see pg_server.py), a
template database migrated once, and a fresh database per test cloned from it;
one etcd per test session (etcd_server.py), a fresh namespace per test.

Missing server binaries make these fixtures FAIL (never skip): a real-backend
test that did not run must not look like a pass. scripts/test installs them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from integration.etcd_server import EtcdServer, start_etcd, start_etcd_cluster, stop_etcd
from integration.pg_server import PgServer, start_server, stop_server
from integration.server_setup import started

TEMPLATE = "leakmesh_template"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A running PostgreSQL with a migrated ``leakmesh_template`` database."""
    server = started(start_server)
    try:
        server.create_migrated_template(TEMPLATE)
        yield server
    finally:
        stop_server(server)


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> str:
    """The DSN of a fresh database with the current schema, for this test only."""
    return pg_server.create_database("test", template=TEMPLATE)


@pytest.fixture
def pg_empty_dsn(pg_server: PgServer) -> str:
    """The DSN of a fresh database without any leakmesh schema."""
    return pg_server.create_database("empty")


@pytest.fixture(scope="session")
def etcd_server() -> Iterator[EtcdServer]:
    server = started(start_etcd)
    try:
        yield server
    finally:
        stop_etcd(server)


@pytest.fixture
def etcd_cluster() -> Iterator[list[EtcdServer]]:
    """Three etcd members of one cluster, for this test only."""
    servers = started(start_etcd_cluster)
    try:
        yield servers
    finally:
        for server in servers:
            stop_etcd(server)


@pytest.fixture
def etcd_namespace() -> str:
    """A namespace no other test uses: tests share the server, never keys."""
    return f"/leakmesh-test/{uuid.uuid4().hex[:12]}"
