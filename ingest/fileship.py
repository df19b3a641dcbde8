"""Ship the numbered lines of one file: raw-logs messages, or the dead-letter topic.

Blank lines are skipped (the worker would skip them too). A line longer than
`MAX_MESSAGE_BYTES` cannot be shipped: it goes to the dead-letter topic instead, as a
`rejected_message` whose source is `<file name>:<line number>`. A skipped or rejected
line ends the current message, so that the `line` header (number of a message's first
line, the next ones following one by one) stays exact. Lines are counted in the `ingest`
stage metrics.

Every line is scrubbed first (`ingest.scrub`: clear credentials become keyed hashes) when
the sender is given the pipeline's hasher (the CLI always gives it); without, lines go as read.
"""

from __future__ import annotations

from collections.abc import Callable

from apim import metrics
from ingest.kafka import MAX_MESSAGE_BYTES, LineSender, Shipper, rejected_message
from ingest.scrub import CredentialScrubber

TOO_LONG = f"line longer than {MAX_MESSAGE_BYTES} bytes"


class FileSender:
    """One file's lines to a `Shipper`; `flush()` sends the message being filled."""

    def __init__(
        self,
        shipper: Shipper,
        raw_topic: str,
        dlq_topic: str,
        fmt: str,
        source: str,
        hasher: Callable[[str], str] | None = None,
    ) -> None:
        """`hasher`: the pipeline's credential hasher, to scrub each line with."""
        self._scrub = CredentialScrubber(hasher).scrub if hasher is not None else None
        self._shipper = shipper
        self._dlq_topic = dlq_topic
        self._fmt = fmt
        self._source = source
        self._lines = LineSender(shipper, raw_topic, fmt, source)
        self._next: int | None = None
        self._received = metrics.EVENTS_RECEIVED.labels(stage=metrics.INGEST)
        self._sent = metrics.RunningTotal(metrics.EVENTS_SENT.labels(stage=metrics.INGEST))
        self.rejected = 0

    @property
    def sent(self) -> int:
        """Lines handed to the shipper so far (in raw-logs messages)."""
        return self._lines.sent_lines

    async def add(self, number: int, line: bytes) -> None:
        if not line.strip():
            return
        self._received.inc()
        if self._scrub is not None:
            line = self._scrub(line)
        if len(line) > MAX_MESSAGE_BYTES:
            message = rejected_message(f"{self._source}:{number}", self._fmt, TOO_LONG, line)
            await self._shipper.send(self._dlq_topic, message, [])
            self.rejected += 1
            metrics.count_errors(metrics.INGEST, metrics.TOO_LONG)
            return
        if number != self._next:
            await self._lines.flush()
        await self._lines.add(number, line)
        self._next = number + 1
        self._sent.update(self._lines.sent_lines)

    async def flush(self) -> None:
        await self._lines.flush()
        self._sent.update(self._lines.sent_lines)
