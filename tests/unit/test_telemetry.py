from __future__ import annotations

import asyncio
import io
import json
import re
import threading
from collections.abc import Mapping
from typing import ClassVar

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st
from msgspec import Struct

from leakmesh.worker.telemetry import (
    EVENT_TYPES,
    CommitBeginEvent,
    CommitFinishEvent,
    CommitMetaEvent,
    DiagnosticEvent,
    FindingEvent,
    IdentityEvent,
    LogSink,
    ProgressEvent,
    SummaryEvent,
    TelemetryRecorder,
    TelemetryStats,
)
from leakmesh.worker.telemetry_fields import (
    FIELD_POLICY,
    Category,
    FieldPolicy,
    TelemetryEvent,
    digest,
    sanitize,
)

DIGEST_RE = re.compile(r"len=\d+,hash=[0-9a-f]{16}")

# The canaries avoid runs of 6 hex digits where possible, so that a window of
# one cannot turn up inside a hash by chance.
CANARY_PATH = "/home/alice/CANARY-PATH-7f3a"
CANARY_EMAIL = "canary.person@example.org"
CANARY_NAME = "Canary Person Zoë"
CANARY_SUBJECT = "Add CANARY_SUBJECT credentials for prod"
CANARY_REPO = "https://x-token:ghp_CanaryRepoTokenXYZ@vcs.canary-corp.invalid/acme/canary-repo.git"
CANARY_SECRET = "ghp_K9zQWERTYuiopCanarySecretZxcv4821"
CANARY_DIAGNOSTIC = f"failed to read {CANARY_PATH}: token {CANARY_SECRET} rejected"
CANARY_WHERE = "/srv/mirrors/acme/canary-where"
CANARY_DATE = "2031-07-19T04:05:06+02:00"
CANARY_FINGERPRINT = "fp-canary-Zq9rWmXp"
CANARY_COMMIT = "c0ffee1234567890abcdef1234567890abcdef12"
CANARIES = (
    CANARY_PATH,
    CANARY_EMAIL,
    CANARY_NAME,
    CANARY_SUBJECT,
    CANARY_REPO,
    CANARY_SECRET,
    CANARY_DIAGNOSTIC,
    CANARY_WHERE,
    CANARY_DATE,
    CANARY_FINGERPRINT,
    CANARY_COMMIT,
)


def every_event() -> list[TelemetryEvent]:
    return [
        FindingEvent(
            rule_id="github-pat",
            fingerprint=CANARY_FINGERPRINT,
            path=CANARY_PATH,
            line=42,
            repo=CANARY_REPO,
            commit=CANARY_COMMIT,
        ),
        ProgressEvent(shard_id=7, items=100, bytes=4096),
        SummaryEvent(
            items_scanned=10, bytes_scanned=2048, items_skipped=1, findings_emitted=3, duration_ms=5
        ),
        DiagnosticEvent(message=CANARY_DIAGNOSTIC, where=CANARY_WHERE),
        CommitMetaEvent(
            repo=CANARY_REPO, commit=CANARY_COMMIT, date=CANARY_DATE, subject=CANARY_SUBJECT
        ),
        IdentityEvent(author_name=CANARY_NAME, author_email=CANARY_EMAIL),
        CommitBeginEvent(repo=CANARY_REPO, commit=CANARY_COMMIT, blobs=12),
        CommitFinishEvent(repo=CANARY_REPO, commit=CANARY_COMMIT, blobs=12),
    ]


def windows(text: str, size: int = 6) -> set[str]:
    return {text[i : i + size] for i in range(len(text) - size + 1)}


class Warnings:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, event: str, /, **fields: str) -> None:
        self.calls.append((event, fields))


class FailingSink:
    name = "failing"

    async def emit(self, record: Mapping[str, str | int]) -> None:
        raise RuntimeError(f"sink broke on {CANARY_SECRET}")


class ListSink:
    def __init__(self, name: str = "list") -> None:
        self.name = name
        self.records: list[dict[str, str | int]] = []

    async def emit(self, record: Mapping[str, str | int]) -> None:
        self.records.append(dict(record))


class GatedSink:
    """Blocks every emit until the gate opens."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = asyncio.Event()
        self.entered = asyncio.Event()
        self.records: list[dict[str, str | int]] = []

    async def emit(self, record: Mapping[str, str | int]) -> None:
        self.entered.set()
        await self.gate.wait()
        self.records.append(dict(record))


def run_all(events: list[TelemetryEvent]) -> tuple[str, TelemetryStats]:
    stream = io.StringIO()
    recorder = TelemetryRecorder(sinks=[LogSink(stream=stream)], warn=Warnings())

    async def scenario() -> None:
        runner = asyncio.create_task(recorder.run())
        for event in events:
            recorder.record(event)
        await recorder.close()
        await runner

    asyncio.run(scenario())
    return stream.getvalue(), recorder.stats()


# ---------------------------------------------------------------- canaries


def test_no_canary_reaches_the_log_stream() -> None:
    output, stats = run_all(every_event())
    assert stats == TelemetryStats(recorded=8, emitted=8, dropped=0, sink_failures=0)
    for canary in CANARIES:
        assert canary not in output
        for window in windows(canary):
            assert window not in output, (canary, window)
    # Also as JSON could escape them: the decoded values hold none either.
    values = [str(v) for line in output.splitlines() for v in json.loads(line).values()]
    for canary in CANARIES:
        assert not any(window in value for value in values for window in windows(canary))


def test_log_lines_show_ids_and_counters_and_digest_the_rest() -> None:
    output, _ = run_all(every_event())
    records = [json.loads(line) for line in output.splitlines()]
    assert [r["event"] for r in records] == [t.event for t in EVENT_TYPES]
    finding = records[0]
    assert list(finding) == [
        "event",
        "category",
        "rule_id",
        "fingerprint",
        "path",
        "line",
        "repo",
        "commit",
    ]
    assert finding["category"] == "core"
    assert finding["rule_id"] == "github-pat"
    assert finding["line"] == 42
    for label in ("fingerprint", "path", "repo", "commit"):
        assert DIGEST_RE.fullmatch(finding[label])
    assert records[1] == {
        "event": "telemetry.progress",
        "category": "core",
        "shard_id": 7,
        "items": 100,
        "bytes": 4096,
    }
    identity = records[5]
    assert identity["category"] == "git"
    assert identity["author_email"] == digest(CANARY_EMAIL, label="author_email")
    assert records[6]["category"] == "progress"
    assert records[6]["blobs"] == 12


def test_absent_optional_fields_are_left_out() -> None:
    record = sanitize(FindingEvent(rule_id="r", fingerprint="f", path="a.txt", line=1))
    assert set(record) == {"event", "category", "rule_id", "fingerprint", "path", "line"}


# ---------------------------------------------------------------- digests


def test_digest_is_pinned_and_computed_from_blake3_derive_key() -> None:
    value = "src/config/settings.py"
    raw = blake3.blake3(
        value.encode(), derive_key_context="leakmesh telemetry 2026 field:path"
    ).hexdigest()
    assert raw[:16] == "d15849bc98d3b13b"
    assert digest(value, label="path") == "len=22,hash=d15849bc98d3b13b"
    assert sanitize(FindingEvent(rule_id="r", fingerprint="f", path=value, line=1))["path"] == (
        "len=22,hash=d15849bc98d3b13b"
    )


def test_same_value_under_two_labels_gives_different_hashes() -> None:
    value = "acme/payments"
    assert digest(value, label="repo") != digest(value, label="path")
    assert digest(value, label="repo") == digest(value, label="repo")
    assert digest(value, label="repo") != digest(value, label="repo", key_context="other")
    begin = sanitize(CommitBeginEvent(repo=value, commit=value, blobs=1))
    assert begin["repo"] != begin["commit"]


@pytest.mark.parametrize(
    ("value", "length"),
    [("", 0), ("abc", 3), ("é", 2), ("日本語", 9), ("Zoë 🔑", 9), ("\udcff", 3)],
)
def test_length_is_utf8_bytes(value: str, length: int) -> None:
    assert digest(value, label="path").startswith(f"len={length},hash=")


def test_every_event_field_is_declared() -> None:
    for event_type in EVENT_TYPES:
        for name in event_type.__struct_fields__:
            assert name in FIELD_POLICY, (event_type.__name__, name)


class _FutureEvent(Struct, frozen=True, kw_only=True):
    event: ClassVar[str] = "telemetry.future"
    category: ClassVar[Category] = Category.CORE
    hostname: str
    retries: int


def test_undeclared_fields_are_digested() -> None:
    assert "hostname" not in FIELD_POLICY and "retries" not in FIELD_POLICY
    record = sanitize(_FutureEvent(hostname="build-host-01", retries=3))
    assert record["hostname"] == digest("build-host-01", label="hostname")
    assert record["retries"] == digest("3", label="retries")


def test_a_kept_string_that_is_not_an_identifier_is_digested() -> None:
    assert FIELD_POLICY["rule_id"] is FieldPolicy.KEEP
    odd = f"rule from {CANARY_PATH}"
    record = sanitize(FindingEvent(rule_id=odd, fingerprint="f", path="p", line=1))
    assert record["rule_id"] == digest(odd, label="rule_id")


_DIGEST_ALPHABET = frozenset("len=,hash0123456789abcdef")


@given(
    value=st.text(min_size=6).filter(lambda v: not set(v) <= _DIGEST_ALPHABET),
    label=st.sampled_from(["path", "repo", "message", "author_email", "unknown_field"]),
)
def test_digest_never_contains_the_value(value: str, label: str) -> None:
    out = digest(value, label=label)
    assert DIGEST_RE.fullmatch(out)
    assert value not in out
    record = sanitize(DiagnosticEvent(message=value, where=value))
    # The values only: the keys and the event name are ours and may share text with it.
    for label in ("message", "where"):
        shown = json.dumps(record[label])
        assert DIGEST_RE.fullmatch(str(record[label]))
        assert value not in shown and json.dumps(value)[1:-1] not in shown


@given(value=st.text())
def test_digest_format_for_any_text(value: str) -> None:
    assert DIGEST_RE.fullmatch(digest(value, label="subject"))


# ---------------------------------------------------------------- recorder


def test_first_sink_failure_per_category_warns_once() -> None:
    warnings = Warnings()
    healthy = ListSink()
    recorder = TelemetryRecorder(sinks=[FailingSink(), healthy], warn=warnings)

    async def scenario() -> None:
        runner = asyncio.create_task(recorder.run())
        for line in (1, 2, 3):
            recorder.record(FindingEvent(rule_id="r", fingerprint="f", path="p", line=line))
        recorder.record(CommitBeginEvent(repo="r", commit="c", blobs=1))
        await recorder.close()
        await runner

    asyncio.run(scenario())
    assert warnings.calls == [
        (
            "telemetry.sink_failed",
            {"sink": "failing", "category": "core", "error_type": "RuntimeError"},
        ),
        (
            "telemetry.sink_failed",
            {"sink": "failing", "category": "progress", "error_type": "RuntimeError"},
        ),
    ]
    assert CANARY_SECRET not in repr(warnings.calls)
    assert len(healthy.records) == 4  # one failing sink does not starve the others
    assert recorder.stats() == TelemetryStats(recorded=4, emitted=4, dropped=0, sink_failures=4)


def test_a_failing_warn_callable_is_absorbed() -> None:
    def broken_warn(event: str, /, **fields: str) -> None:
        raise ValueError("warn broke")

    recorder = TelemetryRecorder(sinks=[FailingSink()], warn=broken_warn)
    recorder.record(ProgressEvent(shard_id=1, items=1, bytes=1))
    asyncio.run(recorder.close())
    assert recorder.stats().sink_failures == 1


def test_full_queue_drops_without_blocking() -> None:
    sink = GatedSink()
    recorder = TelemetryRecorder(sinks=[sink], warn=Warnings(), capacity=2)

    async def scenario() -> None:
        runner = asyncio.create_task(recorder.run())
        recorder.record(ProgressEvent(shard_id=1, items=0, bytes=0))
        await sink.entered.wait()  # the first event is in flight, out of the queue
        for i in range(10):  # synchronous: would hang the test if record() awaited the sink
            recorder.record(ProgressEvent(shard_id=1, items=i, bytes=0))
        assert recorder.stats().dropped == 8
        sink.gate.set()
        await recorder.close()
        await runner

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert [r["items"] for r in sink.records] == [0, 0, 1]
    assert recorder.stats() == TelemetryStats(recorded=3, emitted=3, dropped=8, sink_failures=0)


def test_record_from_sync_context_before_run() -> None:
    sink = ListSink()
    recorder = TelemetryRecorder(sinks=[sink], warn=Warnings(), capacity=3)
    for i in range(5):
        recorder.record(ProgressEvent(shard_id=2, items=i, bytes=0))

    async def scenario() -> None:
        runner = asyncio.create_task(recorder.run())
        await recorder.close()
        await runner

    asyncio.run(scenario())
    assert [r["items"] for r in sink.records] == [0, 1, 2]
    assert recorder.stats() == TelemetryStats(recorded=3, emitted=3, dropped=2, sink_failures=0)


def test_close_without_run_delivers_what_is_queued() -> None:
    sink = ListSink()
    recorder = TelemetryRecorder(sinks=[sink], warn=Warnings())
    recorder.record(IdentityEvent(author_name="n", author_email="e"))
    asyncio.run(recorder.close())
    assert len(sink.records) == 1
    recorder.record(IdentityEvent(author_name="n", author_email="e"))  # after close: dropped
    assert recorder.stats().dropped == 1


def test_record_from_another_thread_while_running() -> None:
    sink = ListSink()
    recorder = TelemetryRecorder(sinks=[sink], warn=Warnings())

    def produce() -> None:
        for i in range(50):
            recorder.record(ProgressEvent(shard_id=3, items=i, bytes=0))

    async def scenario() -> None:
        runner = asyncio.create_task(recorder.run())
        await asyncio.sleep(0)  # run() has started and owns the loop
        thread = threading.Thread(target=produce)
        thread.start()
        await asyncio.to_thread(thread.join)
        await recorder.close()
        await runner

    asyncio.run(scenario())
    assert [r["items"] for r in sink.records] == list(range(50))


def test_a_hanging_sink_times_out_and_close_is_bounded() -> None:
    class HangingSink:
        name = "hanging"

        async def emit(self, record: Mapping[str, str | int]) -> None:
            await asyncio.Event().wait()

    warnings = Warnings()
    recorder = TelemetryRecorder(sinks=[HangingSink()], warn=warnings, emit_timeout=0.05)

    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        runner = asyncio.create_task(recorder.run())
        for i in range(100):
            recorder.record(ProgressEvent(shard_id=4, items=i, bytes=0))
        start = loop.time()
        await recorder.close(timeout=0.2)
        elapsed = loop.time() - start
        await runner
        return elapsed

    elapsed = asyncio.run(scenario())
    assert elapsed < 1.0
    stats = recorder.stats()
    assert stats.emitted == 0
    assert stats.sink_failures >= 1 and stats.dropped >= 1
    assert stats.sink_failures + stats.dropped == 100
    assert warnings.calls == [
        (
            "telemetry.sink_failed",
            {"sink": "hanging", "category": "core", "error_type": "TimeoutError"},
        )
    ]


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        TelemetryRecorder(sinks=[], warn=Warnings(), capacity=0)


def test_emit_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="emit_timeout"):
        TelemetryRecorder(sinks=[], warn=Warnings(), emit_timeout=0)


def test_a_cancelled_run_counts_what_it_never_sent() -> None:
    sink = GatedSink()
    recorder = TelemetryRecorder(sinks=[sink], warn=Warnings())

    async def scenario() -> None:
        runner = asyncio.create_task(recorder.run())
        for i in range(3):
            recorder.record(ProgressEvent(shard_id=5, items=i, bytes=0))
        await sink.entered.wait()
        runner.cancel()
        with pytest.raises(asyncio.CancelledError):
            await runner
        recorder.record(ProgressEvent(shard_id=5, items=9, bytes=0))  # nobody would send it
        await recorder.close()  # already stopped: returns at once

    asyncio.run(asyncio.wait_for(scenario(), timeout=10))
    assert recorder.stats() == TelemetryStats(recorded=3, emitted=0, dropped=3, sink_failures=0)
