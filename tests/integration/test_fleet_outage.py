"""A dependency lost in the middle of a run (SPEC §11). etcd: the worker stops
writing, keeps retrying with backoff instead of exiting, and finishes the run
once etcd is back. PostgreSQL: the same, once the database is back. Either way:
the findings of a local scan, no duplicate rows."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from integration.etcd_server import EtcdServer, kill_etcd, restart_etcd, start_etcd, stop_etcd
from integration.fleet_support import (
    Fleet,
    duplicates,
    fleet_env,
    local_fingerprints,
    make_tree,
    status,
    stored_fingerprints,
)
from integration.pg_server import PgServer, PgServerError, start_server, stop_server
from support import run_cli

LEASE_TTL_S = 2
OUTAGE_S = 6.0
"""Longer than the lease TTL: the worker must notice, stop and wait."""
DEADLINE_S = 120.0
TEMPLATE = "outage_template"


@pytest.fixture
def own_etcd() -> Iterator[list[EtcdServer]]:
    """An etcd for this test alone (it is killed and restarted); the list holds
    the current process."""
    servers = [start_etcd()]
    try:
        yield servers
    finally:
        stop_etcd(servers[-1])


def ledger_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as db:
        row = db.execute("SELECT count(*) FROM done_ledger").fetchone()
    assert row is not None
    return int(row[0])


def wait_until(condition: Callable[[], bool], *, what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@dataclass
class Scenario:
    """One worker on a fresh run over the generated tree, with what a local scan
    of the tree finds."""

    env: dict[str, str]
    run_id: int
    tree: Path
    expected: set[tuple[str, str]]
    fleet: Fleet

    @property
    def worker(self) -> subprocess.Popen[bytes]:
        return self.fleet.processes[1]

    def complete(self) -> bool:
        return bool(status(self.env, self.run_id)["complete"])


@contextlib.contextmanager
def one_worker(tmp_path: Path, *, etcd: str, namespace: str, dsn: str) -> Iterator[Scenario]:
    tree = tmp_path / "tree"
    tree.mkdir()
    make_tree(tree)
    logs = tmp_path / "logs"
    logs.mkdir()
    env = fleet_env(tmp_path, etcd=etcd, namespace=namespace, dsn=dsn, ttl_s=LEASE_TTL_S)
    expected = local_fingerprints(env, "fs", str(tree))
    proc = run_cli(
        "run", "create", "fs", str(tree), "--files-per-shard=50", "--format=json", env=env
    )
    assert proc.returncode == 0, proc.stderr
    created = json.loads(proc.stdout)
    fleet = Fleet({**env, "LEAKMESH_POLICY_HASH": created["policy_hash"]}, logs)
    try:
        fleet.start(1, created["run_id"])
        wait_until(lambda: ledger_rows(dsn) >= 30, what="the first pages")
        yield Scenario(env, created["run_id"], tree, expected, fleet)
    finally:
        fleet.stop_all()


@pytest.fixture
def scenario(pg_dsn: str, own_etcd: list[EtcdServer], tmp_path: Path) -> Iterator[Scenario]:
    with one_worker(
        tmp_path, etcd=own_etcd[0].endpoint, namespace="/leakmesh-outage", dsn=pg_dsn
    ) as started:
        yield started


def finished_as_a_local_scan(scenario: Scenario, dsn: str) -> None:
    wait_until(scenario.complete, what="the run to complete")
    assert scenario.worker.wait(timeout=60) == 0
    final = status(scenario.env, scenario.run_id)
    assert set(final["states"]) == {"done"}, final
    assert stored_fingerprints(dsn, str(scenario.tree.resolve())) == scenario.expected
    assert duplicates(dsn) == (0, 0)


@pytest.mark.timeout(300)
def test_an_etcd_outage_longer_than_the_lease_stops_writes_until_etcd_is_back(
    scenario: Scenario, own_etcd: list[EtcdServer], pg_dsn: str
) -> None:
    kill_etcd(own_etcd[0])
    killed = time.monotonic()
    # The worker notices (refused etcd calls, then its keepalive gives the lease
    # up after a TTL) and settles its shards before it reports the lease lost:
    # from then on it writes nothing.
    wait_until(
        lambda: any(scenario.fleet.events("worker.lease_lost")),
        what="the worker to give its lease up",
        timeout_s=LEASE_TTL_S * 3,
    )
    written = ledger_rows(pg_dsn)
    time.sleep(max(1.0, OUTAGE_S - (time.monotonic() - killed)))
    assert scenario.worker.poll() is None, "the worker must wait for etcd, not exit"
    assert ledger_rows(pg_dsn) == written, "no write while etcd is away"
    retries = scenario.fleet.events("worker.coordinator_unavailable")
    delays = [float(e["retry_in_s"]) for e in retries]  # type: ignore[arg-type]
    assert len(delays) >= 2 and delays[-1] > delays[0], f"no backoff: {delays}"

    own_etcd.append(restart_etcd(own_etcd[0]))
    finished_as_a_local_scan(scenario, pg_dsn)
    assert any(scenario.fleet.events("worker.coordinator_available"))


@pytest.mark.timeout(300)
def test_an_etcd_blip_within_the_lease_gives_failed_shards_back_and_the_run_completes(
    scenario: Scenario, own_etcd: list[EtcdServer], pg_dsn: str
) -> None:
    """The lease outlives the outage (etcd restores leases on restart): the
    shards whose end could not be recorded are still owned by this worker, which
    must give them back, or nobody could ever finish them."""
    kill_etcd(own_etcd[0])
    wait_until(
        lambda: any(scenario.fleet.events("worker.commit_failed")),
        what="a page commit to fail",
        timeout_s=LEASE_TTL_S,
    )
    own_etcd.append(restart_etcd(own_etcd[0]))
    finished_as_a_local_scan(scenario, pg_dsn)
    assert any(scenario.fleet.events("worker.coordinator_available"))
    assert not any(scenario.fleet.events("worker.lease_lost"))


@pytest.fixture
def own_pg() -> Iterator[PgServer]:
    """A PostgreSQL for this test alone (it crashes and starts again), durable as
    a production server is: what it acknowledged survives the crash."""
    server = start_server(durable=True)
    try:
        server.create_migrated_template(TEMPLATE)
        yield server
    finally:
        with contextlib.suppress(PgServerError):  # already stopped by a failed test
            stop_server(server)


@pytest.mark.timeout(300)
def test_a_database_lost_mid_run_is_waited_out_and_the_run_finishes(
    own_pg: PgServer, etcd_server: EtcdServer, etcd_namespace: str, tmp_path: Path
) -> None:
    """The database is the record of what was scanned: while it is away the worker
    writes nothing, gives its shards back and checks it again with backoff; once
    it is back (restarted after a crash) the same worker finishes the run."""
    dsn = own_pg.create_database("outage", template=TEMPLATE)
    with one_worker(
        tmp_path, etcd=etcd_server.endpoint, namespace=etcd_namespace, dsn=dsn
    ) as scenario:
        own_pg.stop(mode="immediate")

        def waits() -> list[dict[str, object]]:
            return list(scenario.fleet.events("worker.store_unavailable"))

        wait_until(lambda: len(waits()) >= 3, what="three checks of the lost database")
        assert scenario.worker.poll() is None, "the worker must wait for the database"
        assert [w["failures"] for w in waits()][:3] == [1, 2, 3]
        assert all("\n" not in str(w["error"]) for w in waits())
        own_pg.resume()
        finished_as_a_local_scan(scenario, dsn)
        assert len(list(scenario.fleet.events("worker.store_available"))) == 1
        # Nothing but JSON lines on the log stream: the driver's own complaints
        # about its lost connections are not printed.
        [log] = scenario.fleet.logs.glob("worker1-*.log")
        assert [x for x in log.read_text().splitlines() if not x.startswith("{")] == []
