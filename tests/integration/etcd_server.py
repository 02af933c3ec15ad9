"""A throwaway etcd for the integration tests, from the Debian ``etcd-server``
package: a temp data dir, client and peer URLs on free loopback ports. There is no
systemd here; the process is started and stopped directly."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from integration.pg_server import free_port

MISSING_MESSAGE = (
    "etcd not found on PATH: run scripts/test, which installs the Debian etcd-server package"
)
_START_TIMEOUT_S = 30.0


class EtcdServerError(RuntimeError):
    """The test server could not be set up; the message is one line."""


@dataclass
class EtcdServer:
    base: Path
    client_port: int
    peer_port: int
    process: subprocess.Popen[bytes]

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    @property
    def log(self) -> Path:
        return self.base / "etcd.log"

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as reply:
                return bool(json.loads(reply.read()).get("health") == "true")
        except (OSError, ValueError, urllib.error.URLError):
            return False


def start_etcd() -> EtcdServer:
    base = Path(tempfile.mkdtemp(prefix="leakmesh-etcd-"))
    return _launch(base, free_port(), free_port())


def start_etcd_cluster(members: int = 3) -> list[EtcdServer]:
    """A cluster of `members` on loopback, each with its own data dir; returned
    once every member reports healthy (a member has no quorum alone, so all are
    started before any is waited for)."""
    ports = [(free_port(), free_port()) for _ in range(members)]
    cluster = ",".join(f"m{i}=http://127.0.0.1:{peer}" for i, (_, peer) in enumerate(ports))
    servers = [
        _spawn(Path(tempfile.mkdtemp(prefix="leakmesh-etcd-")), client, peer, f"m{i}", cluster)
        for i, (client, peer) in enumerate(ports)
    ]
    try:
        for server in servers:
            _wait_healthy(server)
    except EtcdServerError:
        for server in servers:
            stop_etcd(server)
        raise
    return servers


def kill_etcd(server: EtcdServer) -> None:
    """`kill -9` the server, keeping its data for `restart_etcd`."""
    server.process.kill()
    server.process.wait()


def restart_etcd(server: EtcdServer) -> EtcdServer:
    """The same member again: same data dir, same ports."""
    return _launch(server.base, server.client_port, server.peer_port)


def _launch(base: Path, client_port: int, peer_port: int) -> EtcdServer:
    cluster = f"leakmesh-test=http://127.0.0.1:{peer_port}"
    server = _spawn(base, client_port, peer_port, "leakmesh-test", cluster)
    _wait_healthy(server)
    return server


def _spawn(base: Path, client_port: int, peer_port: int, name: str, cluster: str) -> EtcdServer:
    binary = shutil.which("etcd")
    if binary is None:
        raise EtcdServerError(MISSING_MESSAGE)
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    log = (base / "etcd.log").open("ab")
    process = subprocess.Popen(
        [
            binary,
            f"--name={name}",
            f"--data-dir={base / 'data'}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster={cluster}",
            "--initial-cluster-state=new",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    return EtcdServer(base, client_port, peer_port, process)


def _wait_healthy(server: EtcdServer) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    while not server.healthy():
        if server.process.poll() is not None or time.monotonic() > deadline:
            tail = server.log.read_text(errors="replace").strip().splitlines()[-1:]
            stop_etcd(server)
            raise EtcdServerError(f"etcd did not start: {' '.join(tail) or 'no output'}")
        time.sleep(0.1)


def stop_etcd(server: EtcdServer) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    shutil.rmtree(server.base, ignore_errors=True)
