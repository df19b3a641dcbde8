"""One Kafka batch through the worker: parse, enrich, count, write, hand back the dead letters.

Pure orchestration without Faust, so it is tested directly; the Faust agent
(`processors.agents`) only feeds it batches and acks them once it returns.

A raw-logs message holds one or more log lines (newline-separated) and says what they are
in its headers: `format` (a `processors.parsers.PARSERS` name), `source` (file or stream
name) and `line` (number of its first line). Each record gets an id from its position,
`<topic>/<partition>/<offset>/<index>`, which makes every write idempotent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

from apim.event import AccessEvent
from processors.aggregate import UsageAggregator
from processors.enrichment.enricher import Enricher
from processors.parsers import PARSERS, ParseContext, Parser, Rejected, parse_line, parser_for
from processors.parsers.detect import AUTO, detect
from processors.registry.model import encode_change
from processors.registry.topic import Erasure, Update
from processors.sink import DeadLetter, SinkBatch, WarehouseSink
from warehouse.registry_store import Entry, save_registry

MAX_RECORD_TEXT = 64 * 1024
"""Longest record text kept in a dead letter; the reason says when it was cut."""


@dataclass(frozen=True, slots=True)
class RawMessage:
    topic: str
    partition: int
    offset: int
    value: bytes
    headers: Mapping[str, bytes] = field(default_factory=dict)
    kind: Literal["lines", "record", "dead_letter"] = "lines"
    """`lines`: newline-separated lines from our shippers; `record`: one record (a gateway's
    own Kafka message, which may hold newlines); `dead_letter`: a dead-letter topic message
    (those a shipper wrote are stored in the dead_letters table, the worker's own already are)."""

    @property
    def src(self) -> str:
        return f"{self.topic}/{self.partition}"


@dataclass
class _Parsed:
    message: RawMessage
    events: list[tuple[str, AccessEvent]]
    dead_letters: list[DeadLetter]
    """New dead letters: stored, and sent to the dead-letter topic."""
    shipper_letters: list[DeadLetter] = field(default_factory=list)
    """Lines a shipper could not ship, already in the dead-letter topic: only stored."""


@dataclass
class BatchOutcome:
    events: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    skipped_messages: int = 0
    """Messages already counted before (re-deliveries after a restart)."""


class BatchProcessor:
    def __init__(
        self,
        sink: WarehouseSink,
        hash_credential: Callable[[str], str],
        parser_for: Callable[[str], Parser] = parser_for,
        enricher: Enricher | None = None,
    ) -> None:
        self.sink = sink
        self.aggregator = UsageAggregator()
        self.enricher = enricher or Enricher.default(hash_credential)
        self._hash = hash_credential
        self._parser_for = parser_for
        self._lock = threading.Lock()

    def process(self, messages: list[RawMessage]) -> BatchOutcome:
        """Count and store one batch; safe to call again with the same messages."""
        with self._lock:
            try:
                return self._process(messages)
            except BaseException:
                # The cells already count this batch, but it was not stored: forget them so
                # the retry reloads what is stored, as after a restart.
                for src in {m.src for m in messages}:
                    self.aggregator.drop(src)
                raise

    def _process(self, messages: list[RawMessage]) -> BatchOutcome:
        parsers: dict[str, Parser | str] = {}
        parsed = [self._parse(m, parsers) for m in messages]
        self._load_windows(parsed)
        outcome, batch = BatchOutcome(), SinkBatch()
        for item in parsed:
            m = item.message
            if not self.aggregator.apply(m.src, m.offset, (e for _, e in item.events)):
                outcome.skipped_messages += 1
                continue
            batch.events += item.events
            batch.dead_letters += item.dead_letters
            outcome.dead_letters += item.dead_letters
            batch.dead_letters += item.shipper_letters
            batch.progress[m.src] = max(batch.progress.get(m.src, -1), m.offset)
        for src in batch.progress:
            batch.cells += self.aggregator.take_dirty(src)
        self.sink.write(batch)
        for src in batch.progress:
            self.aggregator.evict(src)
        outcome.events = len(batch.events)
        return outcome

    def apply_registry(self, updates: list[Update]) -> None:
        """Registry changes from the registry topic, between two batches: applied to the
        enrichment, saved to the warehouse; an erasure forgets the consumer's cells."""
        with self._lock:
            entries: list[Entry] = []
            for update in updates:
                if isinstance(update, Erasure):
                    self.aggregator.forget_consumer(partial(self._hashes_to, update.consumer_hash))
                    continue
                self.enricher.registry.apply(update)
                value = None if update.entity is None else encode_change(update).decode()
                entries.append((update.kind, update.id, value))
            save_registry(self.sink.wh, entries)

    def _hashes_to(self, digest: str, consumer: str) -> bool:
        return self._hash(consumer) == digest

    def revoke(self, src: str) -> None:
        """Another worker owns this partition now: forget its cells."""
        with self._lock:
            self.aggregator.drop(src)

    def _load_windows(self, parsed: list[_Parsed]) -> None:
        by_src: dict[str, list[AccessEvent]] = {}
        for item in parsed:
            by_src.setdefault(item.message.src, []).extend(e for _, e in item.events)
        for src, events in by_src.items():
            for granularity, windows in self.aggregator.missing_windows(src, events).items():
                rows = self.sink.load_cells(src, granularity, windows)
                self.aggregator.load(src, granularity, windows, rows)

    def _parser(self, fmt: str, parsers: dict[str, Parser | str]) -> Parser | str:
        """The parser of `fmt`, or why there is none; resolved once per format per batch."""
        if fmt not in parsers:
            try:
                parsers[fmt] = self._parser_for(fmt)
            except (KeyError, ValueError) as exc:
                parsers[fmt] = str(exc.args[0]) if exc.args else repr(exc)
        return parsers[fmt]

    def _detected(self, lines: list[bytes], parsers: dict[str, Parser | str]) -> Parser | str:
        """`format: auto`: the format of this message's lines, detected from them alone, so
        a replay after a restart detects the same one (detecting per source across messages
        would not be replay-safe)."""
        detection = detect(lines, PARSERS, self._hash)
        if detection.format is None:
            return detection.reason
        return self._parser(detection.format, parsers)

    def _parse(self, m: RawMessage, parsers: dict[str, Parser | str]) -> _Parsed:
        if m.kind == "dead_letter":
            return _Parsed(m, [], [], _shipper_letters(m))
        fmt = m.headers.get("format", b"").decode(errors="replace")
        source = m.headers.get("source", b"").decode(errors="replace") or f"{m.src}@{m.offset}"
        first_line = m.offset if m.kind == "record" else _int(m.headers.get("line"), 1)
        lines = [m.value] if m.kind == "record" else m.value.split(b"\n")
        if not fmt:
            parser: Parser | str = "message has no 'format' header"
        elif fmt == AUTO:
            parser = self._detected(lines, parsers)
        else:
            parser = self._parser(fmt, parsers)
        item = _Parsed(m, [], [])
        index = 0
        for i, line in enumerate(lines):
            line = line.rstrip(b"\r")
            if not line.strip():
                continue
            ctx = ParseContext(f"{source}:{first_line + i}", self._hash)
            if isinstance(parser, str):
                results: list = [Rejected(parser, line)]
            else:
                results = parse_line(parser, line, ctx)
            for result in results:
                if not isinstance(result, Rejected):
                    result = self._enriched(_checked(result, line), line)
                if isinstance(result, Rejected):
                    letter = _dead_letter(m, index, ctx.source, fmt, result, self.enricher.redact)
                    item.dead_letters.append(letter)
                else:
                    item.events.append((f"{m.src}/{m.offset}/{index}", result))
                index += 1
        return item

    def _enriched(self, result: AccessEvent | Rejected, line: bytes) -> AccessEvent | Rejected:
        if isinstance(result, Rejected):
            return result
        try:
            return self.enricher.enrich(result)
        except Exception as exc:  # an enrichment bug must cost one record, not the worker
            return Rejected(f"enrichment error: {type(exc).__name__}: {exc}", line)


MAX_BYTES = 2**40
MAX_LATENCY_MS = 1e10
_SIZES = ("bytes_in", "bytes_out")
_LATENCIES = ("latency_ms", "upstream_latency_ms", "gateway_latency_ms")


def _checked(event: AccessEvent, line: bytes) -> AccessEvent | Rejected:
    """Values a parser accepted but the warehouse cannot hold, as a rejection (not a stall)."""
    for name in _SIZES:
        value = getattr(event, name)
        if value is not None and not 0 <= value <= MAX_BYTES:
            return Rejected(f"{name}: {value} out of range 0..{MAX_BYTES}", line)
    for name in _LATENCIES:
        value = getattr(event, name)
        if value is not None and not 0 <= value <= MAX_LATENCY_MS:
            return Rejected(f"{name}: {value} out of range 0..{MAX_LATENCY_MS:g} ms", line)
    return event


def _dead_letter(
    m: RawMessage, index: int, source: str, fmt: str, r: Rejected, redact: Callable[[str], str]
) -> DeadLetter:
    text = redact(r.record.decode("utf-8", errors="backslashreplace"))
    reason = r.reason
    if len(text) > MAX_RECORD_TEXT:
        text = text[:MAX_RECORD_TEXT]
        reason += f" (record cut to {MAX_RECORD_TEXT} characters)"
    return DeadLetter(m.src, m.offset, index, source, fmt, reason, text)


def _shipper_letters(m: RawMessage) -> list[DeadLetter]:
    """A shipper's `rejected_message` (JSON) as a dead letter to store; the worker's own
    dead-letter messages are stored already and give nothing."""
    try:
        value = json.loads(m.value)
    except ValueError:
        return []
    if not isinstance(value, dict) or value.get("src") != "shipper":
        return []
    text = [str(value.get(k, "")) for k in ("source", "format", "reason", "record")]
    return [DeadLetter(m.src, m.offset, 0, *text)]


def _int(raw: bytes | None, default: int) -> int:
    try:
        return int(raw) if raw else default
    except ValueError:
        return default
