from __future__ import annotations

import argparse
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.pretty import pretty_repr

from leakmesh.cli import worker_cmd
from leakmesh.cli.main import build_parser
from leakmesh.engine.fingerprint import DEFAULT_TENANT_KEY
from leakmesh.store.dsn import parse_dsn
from leakmesh.store.migrate import MigrationPolicy
from leakmesh.worker.config import WorkerConfig, resolve_worker_config
from leakmesh.worker.options import (
    DEFAULT_MAX_BYTES,
    WORKER_OPTIONS,
    Backend,
    SourceKind,
    WorkerMode,
)
from leakmesh.worker.parsers import parse_endpoints
from leakmesh.worker.settings import ConfigError, byte_size

README = Path(__file__).resolve().parents[2] / "README.md"

# Canaries: must never appear in an error, a repr or a log line.
KEY_CANARY = "5ec7e75ec7e7" * 5 + "abcd"  # valid 32-byte hex key
PASSWORD_CANARY = "PwCanary-7Qx9"
FINDINGS_DSN = f"postgresql://lm:{PASSWORD_CANARY}@db.internal:5432/findings"
LEDGER_DSN = f"postgres://lm:{PASSWORD_CANARY}@db.internal/ledger"
GIT_KV_DSN = f"postgresql://lm:{PASSWORD_CANARY}@db.internal/frontier"

CONNECTOR_ENV: dict[str, str] = {
    "LEAKMESH_ETCD_ENDPOINTS": "http://10.0.0.1:2379,etcd-2:2379",
    "LEAKMESH_ETCD_NAMESPACE": "/leakmesh/prod/",
    "LEAKMESH_FINDINGS_DSN": FINDINGS_DSN,
    "LEAKMESH_LEDGER_DSN": LEDGER_DSN,
    "LEAKMESH_TENANT_ID": "0x" + "AB" * 32,
    "LEAKMESH_RUN_ID": "7",
    "LEAKMESH_WORKER_ID": "3",
    "LEAKMESH_POLICY_HASH": "CD" * 32,
    "LEAKMESH_TENANT_SECRET_KEY": KEY_CANARY,
}
GIT_ENV: dict[str, str] = {
    "LEAKMESH_GIT_KV_DSN": GIT_KV_DSN,
    "LEAKMESH_MIRROR_ROOT": "/var/lib/leakmesh/mirrors",
}
DIRECT_ENV: dict[str, str] = {"LEAKMESH_WORKER_MODE": "direct", "LEAKMESH_WORKER_SOURCE": "fs"}


def resolve(
    environ: Mapping[str, str] | None = None,
    *,
    flags: Mapping[str, str | None] | None = None,
    positional: Sequence[str] = (),
) -> WorkerConfig:
    return resolve_worker_config(
        flags=dict(flags or {}), positional=list(positional), environ=dict(environ or {})
    )


def config_error(
    environ: Mapping[str, str] | None = None,
    *,
    flags: Mapping[str, str | None] | None = None,
    positional: Sequence[str] = (),
) -> str:
    with pytest.raises(ConfigError) as info:
        resolve(environ, flags=flags, positional=positional)
    message = str(info.value)
    assert "\n" not in message
    assert KEY_CANARY not in message.lower()
    assert PASSWORD_CANARY not in message
    return message


# ---------------------------------------------------------------- a full configuration


def test_connector_configuration_is_typed_and_normalised() -> None:
    config = resolve(CONNECTOR_ENV)
    assert config.mode is WorkerMode.CONNECTOR
    assert config.backend is Backend.PRODUCTION
    assert config.source is None
    assert config.path is None
    assert config.etcd_endpoints == (("10.0.0.1", 2379), ("etcd-2", 2379))
    assert config.etcd_namespace == "/leakmesh/prod"
    assert config.findings_dsn == FINDINGS_DSN
    assert config.ledger_dsn == LEDGER_DSN
    assert config.tenant_id == "ab" * 32
    assert (config.run_id, config.worker_id) == (7, 3)
    assert config.policy_hash == "cd" * 32
    assert config.tenant_secret_key == bytes.fromhex(KEY_CANARY)
    assert config.engine.tenant_key == bytes.fromhex(KEY_CANARY)
    assert (config.max_items, config.max_bytes, config.commit_queue_capacity) == (
        4096,
        64 << 20,
        64,
    )
    assert (config.lease_ttl_s, config.poll_interval_s, config.exit_when_done) == (10, 1.0, True)
    assert config.schema_policy is MigrationPolicy.VALIDATE
    assert config.jobs == 0


def test_direct_configuration_defaults() -> None:
    config = resolve(positional=["fs"], flags={"--mode": "direct"})
    assert (config.mode, config.backend, config.source) == (
        WorkerMode.DIRECT,
        Backend.LOCAL,
        SourceKind.FS,
    )
    assert config.path == Path(".")
    assert config.tenant_id == "0" * 64
    assert config.tenant_secret_key is None
    assert config.engine.tenant_key == DEFAULT_TENANT_KEY
    assert config.max_bytes == DEFAULT_MAX_BYTES


def test_direct_mode_requires_a_source() -> None:
    message = config_error({"LEAKMESH_WORKER_MODE": "direct"})
    assert "LEAKMESH_WORKER_SOURCE" in message and "--source" in message


# ---------------------------------------------------------------- precedence


@pytest.mark.parametrize(
    ("flag", "env", "value", "attribute", "expected"),
    [
        ("--max-items", "LEAKMESH_MAX_ITEMS", "5", "max_items", 5),
        ("--max-bytes", "LEAKMESH_MAX_BYTES", "1M", "max_bytes", 1 << 20),
        ("--lease-ttl", "LEAKMESH_LEASE_TTL", "30", "lease_ttl_s", 30),
        ("--poll-interval", "LEAKMESH_POLL_INTERVAL", "0.5", "poll_interval_s", 0.5),
        ("--exit-when-done", "LEAKMESH_EXIT_WHEN_DONE", "false", "exit_when_done", False),
        ("--run-id", "LEAKMESH_RUN_ID", "9", "run_id", 9),
        ("--tenant-id", "LEAKMESH_TENANT_ID", "12" * 32, "tenant_id", "12" * 32),
        ("--etcd-namespace", "LEAKMESH_ETCD_NAMESPACE", "ns", "etcd_namespace", "ns"),
        ("--etcd-endpoints", "LEAKMESH_ETCD_ENDPOINTS", "e:1", "etcd_endpoints", (("e", 1),)),
        (
            "--schema-policy",
            "LEAKMESH_SCHEMA_POLICY",
            "dev-auto-migrate",
            "schema_policy",
            "dev-auto-migrate",
        ),
    ],
)
def test_a_flag_beats_its_malformed_variable(
    flag: str, env: str, value: str, attribute: str, expected: object
) -> None:
    config = resolve({**CONNECTOR_ENV, env: "%%malformed%%"}, flags={flag: value})
    assert getattr(config, attribute) == expected


def test_a_flag_beats_a_malformed_secret_key_variable() -> None:
    config = resolve(
        {**CONNECTOR_ENV, "LEAKMESH_TENANT_SECRET_KEY": "not hex"},
        flags={"--tenant-secret-key": "0x" + "42" * 32},
    )
    assert config.tenant_secret_key == b"\x42" * 32


def test_a_variable_beats_the_default() -> None:
    assert resolve({**CONNECTOR_ENV, "LEAKMESH_MAX_ITEMS": "12"}).max_items == 12


def test_a_malformed_variable_without_its_flag_is_named() -> None:
    message = config_error({**CONNECTOR_ENV, "LEAKMESH_MAX_ITEMS": "lots"})
    assert message.startswith("invalid LEAKMESH_MAX_ITEMS")


def test_a_malformed_flag_is_named_as_the_flag() -> None:
    message = config_error(CONNECTOR_ENV, flags={"--max-items": "lots"})
    assert message.startswith("invalid --max-items")


# ---------------------------------------------------------------- ranges

RANGES = [
    # env, attribute, lowest accepted, its value, highest accepted, its value, rejected...
    ("LEAKMESH_MAX_ITEMS", "max_items", "1", 1, "10000000", 10_000_000, ["0", "10000001"]),
    ("LEAKMESH_MAX_BYTES", "max_bytes", "1", 1, "64G", 64 << 30, ["0", str((64 << 30) + 1)]),
    (
        "LEAKMESH_COMMIT_QUEUE_CAPACITY",
        "commit_queue_capacity",
        "1",
        1,
        "65536",
        65_536,
        ["0", "65537"],
    ),
    ("LEAKMESH_LEASE_TTL", "lease_ttl_s", "2", 2, "3600", 3600, ["1", "3601"]),
    (
        "LEAKMESH_POLL_INTERVAL",
        "poll_interval_s",
        "0.05",
        0.05,
        "60",
        60.0,
        ["0.049", "60.01", "nan", "inf", "soon"],
    ),
    ("LEAKMESH_JOBS", "jobs", "0", 0, "1024", 1024, ["-1", "1025"]),
    ("LEAKMESH_RUN_ID", "run_id", "1", 1, str((1 << 63) - 1), (1 << 63) - 1, ["0", "-3"]),
    ("LEAKMESH_WORKER_ID", "worker_id", "1", 1, "42", 42, ["0", "x"]),
]


@pytest.mark.parametrize(
    ("env", "attribute", "low", "low_value", "high", "high_value", "bad"), RANGES
)
def test_range_boundaries(
    env: str,
    attribute: str,
    low: str,
    low_value: object,
    high: str,
    high_value: object,
    bad: list[str],
) -> None:
    assert getattr(resolve({**CONNECTOR_ENV, env: low}), attribute) == low_value
    assert getattr(resolve({**CONNECTOR_ENV, env: high}), attribute) == high_value
    for text in bad:
        assert config_error({**CONNECTOR_ENV, env: text}).startswith(f"invalid {env} ")


def test_max_bytes_accepts_sizes() -> None:
    assert resolve({**CONNECTOR_ENV, "LEAKMESH_MAX_BYTES": "64MiB"}).max_bytes == 64 << 20
    assert resolve({**CONNECTOR_ENV, "LEAKMESH_MAX_BYTES": "512k"}).max_bytes == 512 << 10


# ---------------------------------------------------------------- booleans


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("yes", True),
        ("on", True),
        ("1", True),
        ("TRUE", True),
        ("false", False),
        ("no", False),
        ("off", False),
        ("0", False),
        ("Off", False),
    ],
)
def test_booleans(text: str, value: bool) -> None:
    config = resolve(
        {**CONNECTOR_ENV, "LEAKMESH_EXIT_WHEN_DONE": text, "LEAKMESH_SCAN_BINARY": text}
    )
    assert config.exit_when_done is value
    assert config.content.scan_binary is value


def test_a_bad_boolean_is_named() -> None:
    message = config_error({**CONNECTOR_ENV, "LEAKMESH_EXIT_WHEN_DONE": "maybe"})
    assert message.startswith("invalid LEAKMESH_EXIT_WHEN_DONE")


# ---------------------------------------------------------------- hex values and the key


@pytest.mark.parametrize("prefix", ["", "0x", "0X"])
def test_hex_values_accept_0x_and_are_stored_lowercase(prefix: str) -> None:
    env = {
        **CONNECTOR_ENV,
        "LEAKMESH_TENANT_ID": prefix + "Ab" * 32,
        "LEAKMESH_POLICY_HASH": prefix + "eF" * 32,
        "LEAKMESH_TENANT_SECRET_KEY": prefix + KEY_CANARY.upper(),
    }
    config = resolve(env)
    assert config.tenant_id == "ab" * 32
    assert config.policy_hash == "ef" * 32
    assert config.tenant_secret_key == bytes.fromhex(KEY_CANARY)


@pytest.mark.parametrize(
    ("env", "text"),
    [
        ("LEAKMESH_TENANT_ID", "ab" * 31),
        ("LEAKMESH_TENANT_ID", "zz" * 32),
        ("LEAKMESH_POLICY_HASH", "ab" * 33),
        ("LEAKMESH_TENANT_SECRET_KEY", KEY_CANARY[:-2]),
        ("LEAKMESH_TENANT_SECRET_KEY", KEY_CANARY + "00"),
    ],
)
def test_hex_values_of_the_wrong_length_are_rejected(env: str, text: str) -> None:
    assert config_error({**CONNECTOR_ENV, env: text}).startswith(f"invalid {env}")


@pytest.mark.parametrize("text", ["00" * 32, "0x" + "00" * 32])
def test_an_all_zero_secret_key_is_rejected(text: str) -> None:
    message = config_error({**CONNECTOR_ENV, "LEAKMESH_TENANT_SECRET_KEY": text})
    assert message == "invalid LEAKMESH_TENANT_SECRET_KEY: must not be all zeros"


def test_tenant_key_comparison() -> None:
    config = resolve(CONNECTOR_ENV)
    assert config.tenant_key_matches(bytes.fromhex(KEY_CANARY))
    assert not config.tenant_key_matches(b"\x01" * 32)
    assert not config.tenant_key_matches(b"")
    assert not resolve(DIRECT_ENV).tenant_key_matches(DEFAULT_TENANT_KEY)


# ---------------------------------------------------------------- connector mode fails closed

CONNECTOR_ORDER = [
    "LEAKMESH_ETCD_ENDPOINTS",
    "LEAKMESH_ETCD_NAMESPACE",
    "LEAKMESH_FINDINGS_DSN",
    "LEAKMESH_LEDGER_DSN",
    "LEAKMESH_TENANT_ID",
    "LEAKMESH_RUN_ID",
    "LEAKMESH_WORKER_ID",
    "LEAKMESH_POLICY_HASH",
    "LEAKMESH_TENANT_SECRET_KEY",
]
GIT_ORDER = ["LEAKMESH_GIT_KV_DSN", "LEAKMESH_MIRROR_ROOT"]


def _flag_of(env: str) -> str:
    return next(entry.flag for entry in WORKER_OPTIONS if entry.env == env)


@pytest.mark.parametrize("index", range(len(CONNECTOR_ORDER)))
def test_connector_names_the_first_missing_setting(index: int) -> None:
    missing = CONNECTOR_ORDER[index]
    # Everything from here on is missing: the first of them is named.
    environ = {k: v for k, v in CONNECTOR_ENV.items() if k not in CONNECTOR_ORDER[index:]}
    expected = f"missing {missing} (or {_flag_of(missing)}): required in connector mode"
    assert config_error(environ) == expected
    # Only this one missing: named too.
    assert config_error({k: v for k, v in CONNECTOR_ENV.items() if k != missing}) == expected


@pytest.mark.parametrize("index", range(len(GIT_ORDER)))
def test_connector_git_names_the_first_missing_git_setting(index: int) -> None:
    missing = GIT_ORDER[index]
    environ = {**CONNECTOR_ENV, **GIT_ENV, "LEAKMESH_WORKER_SOURCE": "git"}
    for name in GIT_ORDER[index:]:
        del environ[name]
    message = config_error(environ)
    assert message.startswith(f"missing {missing} (or {_flag_of(missing)}): required")


def test_connector_git_settings_are_checked_after_the_common_ones() -> None:
    environ = {k: v for k, v in CONNECTOR_ENV.items() if k != "LEAKMESH_POLICY_HASH"}
    assert "LEAKMESH_POLICY_HASH" in config_error(environ, positional=["git"])


def test_connector_git_complete() -> None:
    config = resolve({**CONNECTOR_ENV, **GIT_ENV}, positional=["git"])
    assert config.source is SourceKind.GIT
    assert config.mirror_root == Path("/var/lib/leakmesh/mirrors")
    config.require_git_settings()


def test_git_settings_can_be_required_once_the_run_is_known() -> None:
    config = resolve(CONNECTOR_ENV)
    with pytest.raises(ConfigError, match="LEAKMESH_GIT_KV_DSN"):
        config.require_git_settings()


@pytest.mark.parametrize(
    ("environ", "flags", "named"),
    [
        ({**CONNECTOR_ENV, "LEAKMESH_WORKER_BACKEND": "local"}, {}, "LEAKMESH_WORKER_BACKEND"),
        (CONNECTOR_ENV, {"--backend": "local"}, "--backend"),
        ({}, {"--backend": "local", "--mode": "connector"}, "--backend"),
    ],
)
def test_the_local_backend_is_refused_in_connector_mode(
    environ: dict[str, str], flags: dict[str, str], named: str
) -> None:
    message = config_error(environ, flags=flags)
    assert message == f"invalid {named} 'local': connector mode needs the production backend"


def test_the_production_backend_needs_postgresql() -> None:
    environ = {**CONNECTOR_ENV, "LEAKMESH_LEDGER_DSN": "sqlite:///ledger.db"}
    message = config_error(environ)
    assert message.startswith("invalid LEAKMESH_LEDGER_DSN: the production backend needs")


def test_direct_mode_with_the_production_backend_needs_its_datastores() -> None:
    message = config_error({**DIRECT_ENV, "LEAKMESH_WORKER_BACKEND": "production"})
    assert message.startswith("missing LEAKMESH_FINDINGS_DSN (or --findings-dsn)")


def test_direct_mode_with_the_local_backend_takes_sqlite() -> None:
    config = resolve({**DIRECT_ENV, "LEAKMESH_FINDINGS_DSN": "sqlite:///f.db"})
    assert config.findings_dsn == "sqlite:///f.db"


# ---------------------------------------------------------------- positional words


@pytest.mark.parametrize(
    ("positional", "source", "path"),
    [
        (["fs"], SourceKind.FS, Path(".")),
        (["git", "."], SourceKind.GIT, Path(".")),
        (["."], SourceKind.FS, Path(".")),  # source from LEAKMESH_WORKER_SOURCE
    ],
)
def test_positional_words(positional: list[str], source: SourceKind, path: Path) -> None:
    config = resolve(DIRECT_ENV, positional=positional)
    assert (config.source, config.path) == (source, path)


def test_positional_words_beat_the_variables() -> None:
    environ = {**DIRECT_ENV, "LEAKMESH_WORKER_SOURCE": "bogus", "LEAKMESH_WORKER_PATH": "/nope"}
    config = resolve(environ, positional=["git", "."])
    assert (config.source, config.path) == (SourceKind.GIT, Path("."))


@pytest.mark.parametrize(
    ("positional", "flags", "expected"),
    [
        (["fs"], {"--source": "fs"}, "conflicting source"),
        (["git"], {"--source": "fs"}, "conflicting source"),
        (["."], {"--path": "."}, "conflicting path"),
        (["fs", "."], {"--path": "."}, "conflicting path"),
        (["fs", ".", "x"], {}, "too many positional arguments"),
        (["svn", "."], {}, "unknown source 'svn'"),
    ],
)
def test_positional_conflicts(positional: list[str], flags: dict[str, str], expected: str) -> None:
    assert config_error(DIRECT_ENV, flags=flags, positional=positional).startswith(expected)


def test_a_missing_path_is_named(tmp_path: Path) -> None:
    gone = str(tmp_path / "gone")
    assert config_error(DIRECT_ENV, positional=["fs", gone]).startswith("invalid PATH")
    assert config_error(DIRECT_ENV, flags={"--path": gone}).startswith("invalid --path")


def test_a_missing_ignore_file_is_named(tmp_path: Path) -> None:
    message = config_error({**DIRECT_ENV, "LEAKMESH_IGNORE_FILE": str(tmp_path / "none")})
    assert message.startswith("invalid LEAKMESH_IGNORE_FILE")


# ---------------------------------------------------------------- secrets never shown


def test_repr_str_and_describe_hide_the_secrets() -> None:
    config = resolve({**CONNECTOR_ENV, **GIT_ENV})
    key = bytes.fromhex(KEY_CANARY)
    shown = (repr(config), str(config), repr(config.describe()), repr(config.engine))
    # rich's pretty printing reads fields on its own (``__rich_repr__``).
    pretty = (pretty_repr(config), pretty_repr(config.engine), pretty_repr(parse_dsn(FINDINGS_DSN)))
    for text in (*shown, *pretty, repr(parse_dsn(FINDINGS_DSN))):
        assert PASSWORD_CANARY not in text
        assert KEY_CANARY not in text.lower()
        assert repr(key) not in text
    described = config.describe()
    assert described["findings_dsn"] == "postgresql://lm:***@db.internal:5432/findings"
    assert described["tenant_secret_key"] == "set"


@pytest.mark.parametrize(
    ("env", "text"),
    [
        ("LEAKMESH_TENANT_SECRET_KEY", f"CANARY-{KEY_CANARY}"),
        ("LEAKMESH_FINDINGS_DSN", f"mysql://lm:{PASSWORD_CANARY}@db/x"),
        ("LEAKMESH_LEDGER_DSN", f"host=db password={PASSWORD_CANARY}"),
        ("LEAKMESH_GIT_KV_DSN", f"mongodb://lm:{PASSWORD_CANARY}@db/x"),
        ("LEAKMESH_ETCD_ENDPOINTS", f"http://root:{PASSWORD_CANARY}@etcd:2379"),
    ],
)
def test_a_malformed_secret_is_never_echoed(env: str, text: str) -> None:
    # config_error asserts the canaries are absent.
    assert config_error({**CONNECTOR_ENV, env: text}).startswith(f"invalid {env}")


def test_a_secret_flag_is_never_echoed() -> None:
    message = config_error(CONNECTOR_ENV, flags={"--tenant-secret-key": f"zz{KEY_CANARY}"})
    assert message.startswith("invalid --tenant-secret-key")


# ---------------------------------------------------------------- endpoints and namespace


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("localhost:2379", (("localhost", 2379),)),
        ("http://10.1.2.3:2379/", (("10.1.2.3", 2379),)),
        ("HTTP://a.example:1, b:65535", (("a.example", 1), ("b", 65535))),
        ("[::1]:2379", (("::1", 2379),)),
        ("http://[2001:DB8::1]:2380", (("2001:db8::1", 2380),)),
    ],
)
def test_endpoints(text: str, expected: tuple[tuple[str, int], ...]) -> None:
    assert parse_endpoints(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "localhost",
        "localhost:0",
        "localhost:65536",
        "https://etcd:2379",
        "etcd:2379,",
        "etcd:2379/v3",
        "-bad:1",
        "[::g]:1",
        "[nope]:1",
    ],
)
def test_bad_endpoints(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoints(text)


HOSTNAMES = st.from_regex(
    r"[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?){0,3}", fullmatch=True
)
HOSTS = st.one_of(
    HOSTNAMES.map(lambda h: (h, h)),
    st.ip_addresses(v=4).map(lambda ip: (str(ip), str(ip))),
    st.ip_addresses(v=6).map(lambda ip: (f"[{ip.exploded}]", str(ip))),
)


@given(st.lists(st.tuples(HOSTS, st.integers(1, 65535), st.booleans()), min_size=1, max_size=5))
def test_endpoint_lists_round_trip(
    entries: list[tuple[tuple[str, str], int, bool]],
) -> None:
    text = ",".join(
        f"{'http://' if scheme else ''}{written}:{port}"
        for (written, _host), port, scheme in entries
    )
    assert parse_endpoints(text) == tuple((host, port) for (_w, host), port, _s in entries)


@given(st.text(max_size=60))
def test_the_endpoint_parser_raises_only_value_error(text: str) -> None:
    try:
        endpoints = parse_endpoints(text)
    except ValueError:
        return
    assert endpoints and all(1 <= port <= 65535 for _host, port in endpoints)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("lm", "lm"), ("/lm/", "/lm"), ("a/b.c_d-e//", "a/b.c_d-e")],
)
def test_namespaces(text: str, expected: str) -> None:
    assert resolve({**CONNECTOR_ENV, "LEAKMESH_ETCD_NAMESPACE": text}).etcd_namespace == expected


@pytest.mark.parametrize("text", ["/", "///", "a b", "ns*", "n\ts"])
def test_bad_namespaces(text: str) -> None:
    environ = {**CONNECTOR_ENV, "LEAKMESH_ETCD_NAMESPACE": text}
    assert config_error(environ).startswith("invalid LEAKMESH_ETCD_NAMESPACE")


# ---------------------------------------------------------------- byte sizes

UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@given(
    st.integers(0, 1 << 20),
    st.sampled_from(sorted(UNITS)),
    st.sampled_from(["", "b", "B", "iB", "ib"]),
    st.booleans(),
)
def test_byte_sizes(number: int, unit: str, suffix: str, lower: bool) -> None:
    written = f"{number}{unit.lower() if lower else unit}{suffix if unit else ''}"
    value = number * UNITS[unit]
    parse = byte_size(1, 64 << 30)
    if 1 <= value <= 64 << 30:
        assert parse(written) == value
    else:
        with pytest.raises(ValueError, match=r"1\.\.68719476736 bytes"):
            parse(written)


@given(st.text(max_size=30))
def test_the_byte_size_parser_raises_only_value_error(text: str) -> None:
    try:
        value = byte_size(1, 64 << 30)(text)
    except ValueError:
        return
    assert 1 <= value <= 64 << 30


# ---------------------------------------------------------------- the CLI and the README


def _worker_parser() -> argparse.ArgumentParser:
    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            worker: argparse.ArgumentParser = action.choices["worker"]
            return worker
    raise AssertionError("no subcommands")


def test_every_worker_option_is_a_flag_whose_help_names_its_variable() -> None:
    by_flag = {
        flag: action for action in _worker_parser()._actions for flag in action.option_strings
    }
    for entry in WORKER_OPTIONS:
        assert entry.flag in by_flag, entry.flag
        assert str(by_flag[entry.flag].help).endswith(f"[{entry.env}]")
    flags = {entry.flag for entry in WORKER_OPTIONS}
    negations = {"--no-" + flag[2:] for flag in flags}
    assert set(by_flag) - {"-h", "--help"} <= flags | negations


def test_parsed_flags_resolve() -> None:
    args = build_parser().parse_args(
        [
            "worker",
            "--mode=direct",
            "--scan-binary",
            "--no-exit-when-done",
            "--max-bytes=2M",
            "fs",
            ".",
        ]
    )
    flags = worker_cmd.flag_values(args)
    config = resolve({}, flags=flags, positional=args.target)
    assert (config.source, config.path) == (SourceKind.FS, Path("."))
    assert config.content.scan_binary is True
    assert config.exit_when_done is False
    assert config.max_bytes == 2 << 20


def test_unknown_flag_names_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="--max-itmes"):
        resolve(CONNECTOR_ENV, flags={"--max-itmes": "3"})


def _readme_table() -> dict[str, str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Worker configuration", 1)[1]
    section = re.split(r"\n#{1,3} ", section, maxsplit=1)[0]
    rows: dict[str, str] = {}
    for line in section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].startswith("LEAKMESH_"):
            assert cells[0] not in rows, f"{cells[0]} listed twice"
            rows[cells[0]] = cells[1]
    return rows


def test_the_readme_table_lists_exactly_the_worker_variables() -> None:
    rows = _readme_table()
    assert set(rows) == {entry.env for entry in WORKER_OPTIONS}
    for entry in WORKER_OPTIONS:
        assert rows[entry.env] == entry.flag, entry.env


def test_the_readme_says_to_pass_secrets_by_environment() -> None:
    section = README.read_text(encoding="utf-8").split("### Worker configuration", 1)[1]
    assert "not flags" in section and "`ps`" in section


def test_every_variable_the_code_reads_is_in_the_readme() -> None:
    source = Path(__file__).resolve().parents[2] / "src" / "leakmesh"
    read = {
        name
        for module in source.rglob("*.py")
        for name in re.findall(r"\bLEAKMESH_[A-Z0-9_]*[A-Z0-9]\b", module.read_text("utf-8"))
    }
    documented = set(re.findall(r"\bLEAKMESH_[A-Z0-9_]*[A-Z0-9]\b", README.read_text("utf-8")))
    assert read, "no LEAKMESH_ variable found in the sources"
    assert sorted(read - documented) == []
