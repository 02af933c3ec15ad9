"""The edge between leakmesh and libpq: driver errors translated into our own
(one line, no password), and the warning for a remote server reached without
TLS."""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Mapping

import psycopg
from psycopg.conninfo import conninfo_to_dict

from leakmesh.store.dsn import redact
from leakmesh.store.errors import StoreError, StoreUnavailable
from leakmesh.store.pg_connections import SourceClosed

logger = logging.getLogger("leakmesh.store")

_UNAVAILABLE_STATES = frozenset({"53300", "57P01", "57P02", "57P03"})
_PLAINTEXT_SSLMODES = frozenset({"", "disable", "allow", "prefer"})


def unencrypted_remote_hosts(dsn: str, *, environ: Mapping[str, str] | None = None) -> list[str]:
    """The hosts of `dsn` that are not local and would be reached without requiring
    TLS (sslmode absent, ``disable``, ``allow`` or ``prefer``); empty when there is
    nothing to warn about. `environ` (default: the process environment) supplies
    libpq's PGHOST / PGHOSTADDR / PGSSLMODE when the DSN leaves them out."""
    env = os.environ if environ is None else environ
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        raise StoreError(f"invalid PostgreSQL DSN {redact(dsn)!r}") from None
    sslmode = str(params.get("sslmode") or env.get("PGSSLMODE", "")).strip().lower()
    if sslmode not in _PLAINTEXT_SSLMODES:
        return []
    hosts = str(params.get("host") or env.get("PGHOST", "")).split(",")
    addrs = str(params.get("hostaddr") or env.get("PGHOSTADDR", "")).split(",")
    remote = []
    for i in range(max(len(hosts), len(addrs))):
        host = hosts[i].strip() if i < len(hosts) else ""
        addr = addrs[i].strip() if i < len(addrs) else ""
        target = addr or host
        if target and not _is_local(target):
            remote.append(redact(host or addr))
    return remote


def warn_if_unencrypted(dsn: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Log one warning (logger ``leakmesh.store``) when `dsn` reaches a non-local host
    without requiring TLS; True when it did."""
    hosts = unencrypted_remote_hosts(dsn, environ=environ)
    if not hosts:
        return False
    logger.warning(
        "PostgreSQL datastore host %s is not local and the DSN does not require TLS: "
        "credentials and findings may cross the network unencrypted "
        "(add sslmode=verify-full, or at least sslmode=require)",
        ", ".join(hosts),
    )
    return True


def _is_local(host: str) -> bool:
    if host.startswith(("/", "@")):  # a unix socket directory, or an abstract socket
        return True
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def dsn_password(dsn: str) -> str:
    try:
        return str(conninfo_to_dict(dsn).get("password") or "")
    except psycopg.Error:
        return ""


def translate(exc: psycopg.Error, where: str, password: str) -> StoreError:
    """The store error for a driver error: one line, no password."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    message = redact("; ".join(lines) or type(exc).__name__)
    if password:
        message = message.replace(password, "***")
    if isinstance(exc, SourceClosed):
        return StoreError(f"{where}: the datastore is closed")
    state = exc.sqlstate or ""
    # A pool's timeout is an OperationalError without a state, like a lost link.
    unavailable = (
        (isinstance(exc, psycopg.OperationalError) and not state)
        or state.startswith("08")
        or state in _UNAVAILABLE_STATES
    )
    cls = StoreUnavailable if unavailable else StoreError
    return cls(f"{where}: {message}")
