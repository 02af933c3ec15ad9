"""Telemetry recorder (SPEC §8): coordination events in, sanitized records out to sinks.

The runtime calls :meth:`TelemetryRecorder.record`, which never blocks and never
raises: events wait in a bounded queue and are dropped (and counted) when it is
full. :meth:`TelemetryRecorder.run` drains the queue, sanitizes each event
(``telemetry_fields``) and hands the record to every sink; a failing sink is
counted, and reported once per (sink, category) with its exception type only,
since an exception message may quote the data it failed on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final, Literal, Protocol, TextIO

from msgspec import Struct

from leakmesh.worker.telemetry_fields import (
    DEFAULT_KEY_CONTEXT,
    EVENT_TYPES,
    Category,
    CommitBeginEvent,
    CommitFinishEvent,
    CommitMetaEvent,
    DiagnosticEvent,
    FindingEvent,
    IdentityEvent,
    ProgressEvent,
    SummaryEvent,
    TelemetryEvent,
    sanitize,
)

__all__ = [
    "EVENT_TYPES",
    "Category",
    "CommitBeginEvent",
    "CommitFinishEvent",
    "CommitMetaEvent",
    "DiagnosticEvent",
    "FindingEvent",
    "IdentityEvent",
    "LogSink",
    "ProgressEvent",
    "Sink",
    "SummaryEvent",
    "TelemetryEvent",
    "TelemetryRecorder",
    "TelemetryStats",
    "Warn",
    "sanitize",
]


class Sink(Protocol):
    """Where sanitized records go. It never sees an event, only its record."""

    @property
    def name(self) -> str: ...

    async def emit(self, record: Mapping[str, str | int]) -> None: ...


class LogSink(Struct, frozen=True, kw_only=True):
    """One JSON object per line, keys in record order (event, category, fields)."""

    stream: TextIO
    name: str = "log"

    async def emit(self, record: Mapping[str, str | int]) -> None:
        line = json.dumps(dict(record), ensure_ascii=True, separators=(",", ":"))
        self.stream.write(line + "\n")
        self.stream.flush()


class Warn(Protocol):
    def __call__(self, event: str, /, **fields: str) -> None: ...


class TelemetryStats(Struct, frozen=True, kw_only=True):
    recorded: int
    """Events accepted into the queue."""
    emitted: int
    """Records a sink accepted (one record sent to two sinks counts twice)."""
    dropped: int
    """Events lost: queue full, recorded after close, or still queued at the close deadline."""
    sink_failures: int


class _Stop:
    """Queued by close(): everything recorded before it is delivered first."""


_STOP: Final = _Stop()
_CLOSE_GRACE_S: Final = 1.0


class TelemetryRecorder:
    def __init__(
        self,
        *,
        sinks: Sequence[Sink],
        warn: Warn,
        capacity: int = 1024,
        emit_timeout: float = 5.0,
        key_context: str = DEFAULT_KEY_CONTEXT,
    ) -> None:
        if capacity < 1:
            raise ValueError("telemetry capacity must be at least 1")
        if emit_timeout <= 0:
            raise ValueError("telemetry emit_timeout must be positive")
        # Names read once: reporting a failure must not itself be able to fail.
        self._sinks = tuple((sink, sink.name) for sink in sinks)
        self._warn = warn
        self._capacity = capacity
        self._emit_timeout = emit_timeout
        self._key_context = key_context
        # Unbounded underneath, capacity enforced by _enqueue: close() must always
        # be able to queue its stop marker behind a full queue.
        self._queue: asyncio.Queue[TelemetryEvent | _Stop] = asyncio.Queue()
        self._stopped = asyncio.Event()
        self._state: Literal["idle", "running", "stopped"] = "idle"
        self._closing = False
        self._deadline: float | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._warned: set[tuple[str, str]] = set()
        self._recorded = 0
        self._emitted = 0
        self._dropped = 0
        self._sink_failures = 0

    def stats(self) -> TelemetryStats:
        return TelemetryStats(
            recorded=self._recorded,
            emitted=self._emitted,
            dropped=self._dropped,
            sink_failures=self._sink_failures,
        )

    def record(self, event: TelemetryEvent) -> None:
        """Queue ``event``; from any thread, before or while :meth:`run` runs."""
        try:
            loop = self._loop
            if loop is not None and threading.get_ident() != self._loop_thread:
                # asyncio.Queue is not thread-safe: the loop's own thread enqueues.
                loop.call_soon_threadsafe(self._enqueue, event)
            else:
                self._enqueue(event)
        except Exception:
            # A closed loop, or anything else: the runtime must not fail because of telemetry.
            self._dropped += 1

    def _enqueue(self, event: TelemetryEvent) -> None:
        # Nothing drains a stopped recorder (closed, or its run() cancelled).
        if self._closing or self._state == "stopped" or self._queue.qsize() >= self._capacity:
            self._dropped += 1
            return
        self._queue.put_nowait(event)
        self._recorded += 1

    async def run(self) -> None:
        """Deliver events until :meth:`close`; run it as a task beside the runtime.

        A second concurrent call (a task started after close() began draining)
        only waits for the first to finish.
        """
        if self._state == "running":
            await self._stopped.wait()
        if self._state == "stopped":
            return
        self._state = "running"
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        try:
            while not isinstance(event := await self._queue.get(), _Stop):
                if self._remaining() == 0.0:
                    self._dropped += 1
                else:
                    await self._deliver(event)
        finally:
            self._loop = None
            self._state = "stopped"
            # Cancelled before the stop marker: what is left will never be sent.
            while not self._queue.empty():
                if not isinstance(self._queue.get_nowait(), _Stop):
                    self._dropped += 1
            self._stopped.set()

    async def close(self, *, timeout: float = 5.0) -> None:
        """Refuse new events, deliver the queued ones within ``timeout`` seconds, stop.

        Events still queued at the deadline are dropped. When :meth:`run` was never
        started, the queued events are delivered here.
        """
        if self._state == "stopped":
            return
        if not self._closing:
            self._closing = True
            self._deadline = asyncio.get_running_loop().time() + timeout
            self._queue.put_nowait(_STOP)
        if self._state == "idle":
            await self.run()
            return
        # run() honours the deadline; the grace only covers a sink that ignores cancellation.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout + _CLOSE_GRACE_S):
                await self._stopped.wait()

    def _remaining(self) -> float | None:
        """Seconds left before the close deadline, None when not closing."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - asyncio.get_running_loop().time())

    async def _deliver(self, event: TelemetryEvent) -> None:
        try:
            record = MappingProxyType(sanitize(event, key_context=self._key_context))
            category = str(event.category)
        except Exception as exc:
            self._dropped += 1
            self._warn_once(
                ("<sanitize>", "*"), "telemetry.sanitize_failed", error_type=type(exc).__name__
            )
            return
        for sink, name in self._sinks:
            remaining = self._remaining()
            budget = self._emit_timeout if remaining is None else min(self._emit_timeout, remaining)
            try:
                async with asyncio.timeout(budget):
                    await sink.emit(record)
            except Exception as exc:
                self._sink_failures += 1
                self._warn_once(
                    (name, category),
                    "telemetry.sink_failed",
                    sink=name,
                    category=category,
                    error_type=type(exc).__name__,
                )
            else:
                self._emitted += 1

    def _warn_once(self, key: tuple[str, str], event: str, **fields: str) -> None:
        if key in self._warned:
            return
        self._warned.add(key)
        with contextlib.suppress(Exception):
            self._warn(event, **fields)
